from django.conf import settings
from django.db import models
from django.utils import timezone

from tasks.models import Project


class ExportQuerySet(models.QuerySet):
    def history(self, project: Project) -> "ExportQuerySet":
        """The project's exports, newest first, with who made them."""
        return self.filter(project=project).select_related("user").order_by("-created_at", "-id")


class Export(models.Model):
    """One download of a project's export: who asked, when, with which options, and what it held.

    ``parameters`` are the export's canonical query parameters (ExportOptions.query()), so that
    the same export can be downloaded again; ``content_sha256`` is the writer's content hash,
    equal for two downloads of unchanged data. A record is written when the download starts and
    finished when it ends, however it ends.
    """

    class State(models.TextChoices):
        STARTED = "started", "Started"
        COMPLETE = "complete", "Complete"
        # The person stopped the download (or the connection broke) before the end.
        INTERRUPTED = "interrupted", "Interrupted"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="exports")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exports"
    )
    # Given by export_start, so that the file name tells the same time.
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.STARTED)
    parameters = models.JSONField(default=dict, blank=True)
    # {"features": n, "per_class": {class: n}, "per_slide": {slide id: n}, "dropped": {reason: n}}:
    # the plan's when started, those written once complete.
    counts = models.JSONField(default=dict, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)
    bytes = models.BigIntegerField(default=0)
    file_name = models.CharField(max_length=255)
    # Why a failed export failed, for the administrator.
    error = models.TextField(blank=True)

    objects = ExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="export_by_project")]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_state_display()})"
