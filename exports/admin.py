"""Export records in the admin: to look at and filter, never to add or change. They are written
by exports.services while a download runs; one changed here would no longer tell what was sent."""

from django.contrib import admin

from annotations.admin import ReadOnlyMixin
from exports.models import Export
from slides.admin import short_datetime
from tasks.admin import ADMIN_CSS


@admin.register(Export)
class ExportAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["when", "project", "user", "state", "features", "size", "short_hash"]
    list_display_links = ["when"]
    list_filter = [
        "state",
        ("project", admin.RelatedOnlyFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["project", "user"]
    search_fields = ["file_name", "user__username", "=content_sha256"]
    date_hierarchy = "created_at"
    fields = [
        "project",
        "user",
        "created_at",
        "finished_at",
        "state",
        "file_name",
        "parameters",
        "counts",
        "bytes",
        "content_sha256",
        "error",
    ]
    readonly_fields = fields

    class Media:
        css = ADMIN_CSS

    @admin.display(description="when", ordering="created_at")
    def when(self, export):
        return short_datetime(export.created_at)

    @admin.display(description="features")
    def features(self, export):
        return export.counts.get("features", "—")

    @admin.display(description="bytes", ordering="bytes")
    def size(self, export):
        return f"{export.bytes:,}"

    @admin.display(description="sha256")
    def short_hash(self, export):
        return export.content_sha256[:12] or "—"
