"""Annotations in the admin: to look at, never to change. Edits go through the editor (and so
through annotations.services, which keeps history and density cells); nothing a user does in
the product hard-deletes an annotation."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from annotations import geometry
from annotations.models import Annotation, AnnotationRevision
from slides.admin import short_date, short_datetime
from tasks.admin import ADMIN_CSS

# The preview's longer side, in CSS pixels, in the list and on an annotation's page; the
# thumbnail asked of the slide is that size.
LIST_PREVIEW, PAGE_PREVIEW = 96, 480
# Enough to show any shape's outline at these sizes; a stored shape may have 20,000 vertices.
PREVIEW_POINTS = 200
# A shape smaller than this on the preview (CSS px) is ringed so that it can be found.
RING_BELOW, RING_RADIUS = 8, 7

PREVIEW_SVG = (
    '<svg class="wsi2ml-preview" width="{width}" height="{height}"'
    ' viewBox="0 0 {slide_width} {slide_height}" role="img"><title>{title}</title>'
    '<image href="{src}" width="{slide_width}" height="{slide_height}"'
    ' preserveAspectRatio="none"/>'
    '<path class="halo {classes}" d="{path}"/>'
    '<path class="shape {classes}" d="{path}" stroke="{colour}" fill="{colour}"/>{ring}</svg>'
)


def preview_svg(annotation: Annotation, *, size: int) -> str:
    """The annotation drawn over its slide's thumbnail, as inline SVG in level-0 pixels (the
    viewBox), so that the shape needs no scaling; "—" for a slide that cannot be shown."""
    slide = annotation.slide
    if not (slide.is_readable and slide.width and slide.height):
        return "—"
    scale = size / max(slide.width, slide.height)
    longest = max(annotation.x1 - annotation.x0, annotation.y1 - annotation.y0) * scale
    ring = ""
    if longest < RING_BELOW:
        ring = format_html(
            '<circle class="marker" cx="{}" cy="{}" r="{}" stroke="{}"/>',
            round((annotation.x0 + annotation.x1) / 2),
            round((annotation.y0 + annotation.y1) / 2),
            round(RING_RADIUS / scale),
            annotation.label.colour,
        )
    shape = geometry.KIND_SHAPES.get(annotation.kind, geometry.POLYGONAL)
    classes = {geometry.POINT: "point open", geometry.LINE: "open"}.get(shape, "")
    path = geometry.preview_path(annotation.geometry, max_points=PREVIEW_POINTS)
    return format_html(
        PREVIEW_SVG,
        width=round(slide.width * scale),
        height=round(slide.height * scale),
        slide_width=slide.width,
        slide_height=slide.height,
        title=f"{annotation.label.name} {annotation.get_kind_display().lower()} on {slide.name}",
        src=reverse("slides:thumbnail", args=[slide.pk]) + f"?size={size}",
        classes=classes,
        path=path,
        colour=annotation.label.colour,
        ring=ring,
    )


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
        "preview",
        "id",
        "slide",
        "label_name",
        "author",
        "updated",
        "deleted",
    ]
    # The kind shows in the preview (and in the filter): the columns fit at 1280 px wide.
    list_display_links = ["preview", "id"]
    list_filter = ["is_deleted", "kind", "label__project", "label", "assignment__task"]
    list_select_related = ["slide", "label__project", "author", "assignment__task__project"]
    search_fields = ["=id", "=uuid", "slide__name", "author__username", "name", "comment"]
    date_hierarchy = "updated_at"
    list_per_page = 50  # a thumbnail each
    fieldsets = [
        (None, {"fields": ["uuid", "slide", "assignment", "author", "label", "kind"]}),
        ("Text", {"fields": ["name", "comment"]}),
        (
            "Geometry",
            {
                "fields": [
                    "large_preview",
                    "bounds",
                    "vertex_count",
                    ("area_px", "area_um2"),
                    ("length_px", "length_um"),
                ]
            },
        ),
        ("GeoJSON", {"fields": ["geometry"], "classes": ["collapse"]}),
        ("State", {"fields": ["version", "is_deleted", "created_at", "updated_at"]}),
    ]
    readonly_fields = ["large_preview", "bounds"]
    inlines = [AnnotationRevisionInline]

    class Media:
        css = ADMIN_CSS

    @admin.display(description="shape")
    def preview(self, annotation):
        return preview_svg(annotation, size=LIST_PREVIEW)

    @admin.display(description="on the slide")
    def large_preview(self, annotation):
        return preview_svg(annotation, size=PAGE_PREVIEW)

    @admin.display(description="label", ordering="label__name")
    def label_name(self, annotation):
        return annotation.label.name

    @admin.display(description="deleted", boolean=True, ordering="is_deleted")
    def deleted(self, annotation):
        return annotation.is_deleted

    @admin.display(description="bounds (px)")
    def bounds(self, annotation):
        a = annotation
        return f"x {a.x0:,.0f}–{a.x1:,.0f}, y {a.y0:,.0f}–{a.y1:,.0f}"

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, annotation):
        # The day is enough in the list (the date hierarchy above it picks days).
        return short_date(annotation.updated_at)


@admin.register(AnnotationRevision)
class AnnotationRevisionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["annotation", "version", "action", "actor", "when"]
    list_filter = ["action"]
    list_select_related = ["annotation__label", "actor"]
    search_fields = ["=annotation__id", "actor__username"]
    date_hierarchy = "at"

    class Media:
        css = ADMIN_CSS

    @admin.display(description="when", ordering="at")
    def when(self, revision):
        return short_datetime(revision.at)

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
