"""Annotations in the admin: to look at, never to change. Edits go through the editor (and so
through annotations.services, which keeps history and density cells); nothing a user does in
the product hard-deletes an annotation."""

from django.contrib import admin

from annotations.models import Annotation, AnnotationRevision


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AnnotationRevisionInline(ReadOnlyMixin, admin.TabularInline):
    model = AnnotationRevision
    fields = ["version", "action", "actor", "at", "label_before", "label_after", "comment_after"]
    readonly_fields = fields
    extra = 0
    ordering = ["version", "id"]


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "slide",
        "label",
        "kind",
        "author",
        "assignment",
        "version",
        "is_deleted",
        "updated_at",
    ]
    list_filter = ["is_deleted", "kind", "label__project", "label", "assignment__task"]
    list_select_related = ["slide", "label__project", "author", "assignment__task__project"]
    search_fields = ["=id", "=uuid", "slide__name", "author__username", "name", "comment"]
    date_hierarchy = "updated_at"
    fieldsets = [
        (None, {"fields": ["uuid", "slide", "assignment", "author", "label", "kind"]}),
        ("Text", {"fields": ["name", "comment"]}),
        (
            "Geometry",
            {
                "fields": [
                    "geometry",
                    ("x0", "y0", "x1", "y1"),
                    "vertex_count",
                    ("area_px", "area_um2"),
                    ("length_px", "length_um"),
                ]
            },
        ),
        ("State", {"fields": ["version", "is_deleted", "created_at", "updated_at"]}),
    ]
    inlines = [AnnotationRevisionInline]


@admin.register(AnnotationRevision)
class AnnotationRevisionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "annotation", "version", "action", "actor", "at"]
    list_filter = ["action"]
    list_select_related = ["annotation__label", "actor"]
    search_fields = ["=annotation__id", "actor__username"]
    date_hierarchy = "at"
    fields = [
        "annotation",
        "version",
        "action",
        "actor",
        "at",
        "label_before",
        "label_after",
        "comment_before",
        "comment_after",
        "geometry_before",
        "geometry_after",
    ]
