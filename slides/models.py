from django.db import models
from django.urls import reverse


class SlideQuerySet(models.QuerySet):
    def readable(self) -> "SlideQuerySet":
        return self.filter(status=Slide.Status.OK)

    def under(self, folder: str) -> "SlideQuerySet":
        """Slides whose path lies in ``folder`` (relative to SLIDES_ROOT; "" is the whole root)."""
        folder = folder.strip("/")
        return self.filter(path__startswith=f"{folder}/") if folder else self.all()


class Slide(models.Model):
    """A whole-slide image file under SLIDES_ROOT and what OpenSlide reads from it."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        UNREADABLE = "unreadable", "Unreadable"
        MISSING = "missing", "Missing"

    path = models.CharField(
        max_length=1024, unique=True, help_text="Path relative to SLIDES_ROOT, with / separators."
    )
    name = models.CharField(max_length=255)
    file_size = models.BigIntegerField()
    file_mtime = models.DateTimeField()
    quickhash = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="OpenSlide quickhash-1 fingerprint."
    )
    vendor = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    level_count = models.PositiveSmallIntegerField(null=True, blank=True)
    level_dimensions = models.JSONField(default=list, blank=True)
    level_downsamples = models.JSONField(default=list, blank=True)
    mpp_x = models.FloatField(null=True, blank=True, help_text="Micrometres per pixel, level 0.")
    mpp_y = models.FloatField(null=True, blank=True)
    objective_power = models.FloatField(null=True, blank=True)
    bounds_x = models.PositiveIntegerField(null=True, blank=True)
    bounds_y = models.PositiveIntegerField(null=True, blank=True)
    bounds_width = models.PositiveIntegerField(null=True, blank=True)
    bounds_height = models.PositiveIntegerField(null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    associated_images = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    scanned_at = models.DateTimeField(null=True, blank=True)

    objects = SlideQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["vendor"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("slides:viewer", args=[self.pk])

    @property
    def mpp(self) -> float | None:
        """Mean micrometres per pixel at level 0, or None when the file does not say."""
        if self.mpp_x and self.mpp_y:
            return (self.mpp_x + self.mpp_y) / 2
        return self.mpp_x or self.mpp_y or None

    @property
    def is_readable(self) -> bool:
        return self.status == self.Status.OK
