from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Every job, read only: jobs are started where their work is (the slide list's scan, the
    project list's agreement), and each has its own page with its progress."""

    list_display = ["__str__", "state", "progress", "created_by", "created_at", "page"]
    list_filter = ["kind", "state"]
    readonly_fields = [field.name for field in Job._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        return f"{job.done} of {job.total}" if job.total is not None else "—"

    @admin.display(description="")
    def page(self, job: Job) -> str:
        return format_html('<a href="{}">Progress page</a>', job.get_absolute_url())
