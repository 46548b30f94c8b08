from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.JOB_STALE_SECONDS)


class JobQuerySet(models.QuerySet):
    def stale(self, *, now: datetime) -> "JobQuerySet":
        """Running jobs that have not beaten for JOB_STALE_SECONDS: their worker has stopped."""
        beat = Q(heartbeat_at__lt=_stale_before(now)) | Q(heartbeat_at__isnull=True)
        return self.filter(beat, state=Job.State.RUNNING)


class Job(models.Model):
    """A piece of long work run by a worker (jobs.services), with its progress and outcome."""

    class Kind(models.TextChoices):
        SCAN_SLIDES = "scan_slides", "Scan slides"
        COMPUTE_AGREEMENT = "compute_agreement", "Compute agreement"
        IMPORT_LAYER = "import_layer", "Import a layer"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    FINAL_STATES = (State.SUCCEEDED, State.FAILED)

    kind = models.CharField(max_length=40, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True, help_text="None: not known yet.")
    message = models.TextField(
        blank=True, help_text="The outcome, or why the job failed, for the person who started it."
    )
    result = models.JSONField(null=True, blank=True)
    # A job outlives its author's account: it is part of what happened to the data.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a worker has started the job."
    )

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("jobs:job", args=[self.pk])

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES

    def is_stale(self, *, now: datetime) -> bool:
        """Whether the job is one of ``Job.objects.stale(now=now)``."""
        if self.state != self.State.RUNNING:
            return False
        return self.heartbeat_at is None or self.heartbeat_at < _stale_before(now)

    @property
    def percent(self) -> int | None:
        """How far the job has got, 0-100; None while the amount of work is not known."""
        if self.state == self.State.SUCCEEDED:
            return 100
        if not self.total:
            return None
        return min(100, self.done * 100 // self.total)
