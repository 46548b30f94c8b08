"""Layers uploaded beside the human annotations: a model's predictions, or another tool's
annotations, read from a file (layers.services) and shown read-only in the viewer."""

from django.conf import settings
from django.db import models

from annotations.models import GeoJSONField
from slides.models import Slide
from tasks.models import Label, Project


class Layer(models.Model):
    """One uploaded file's features on one slide, seen with one project's labels and people.

    ``classes`` lists the file's classes as imported: ``[{"name", "label" (id or None),
    "colour", "count"}]``; ``measurements`` the names of its measurements with their range,
    ``[{"name", "min", "max"}]``, which the viewer's colour map and threshold slider need
    without reading the features. ``job_id`` is the jobs.Job importing it (an integer, not a
    foreign key, so that jobs stays free to change: the layer's own state is the truth).
    """

    class Kind(models.TextChoices):
        PREDICTIONS = "predictions", "model predictions"
        IMPORTED = "imported", "imported annotations"

    class State(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        IMPORTING = "importing", "Importing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    slide = models.ForeignKey(Slide, on_delete=models.PROTECT, related_name="layers")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="layers")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PREDICTIONS)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    source_name = models.CharField(max_length=255, help_text="The uploaded file's name.")
    format = models.CharField(max_length=16, blank=True, help_text="qupath, asap or dsa.")
    feature_count = models.PositiveIntegerField(default=0)
    classes = models.JSONField(default=list, blank=True)
    measurements = models.JSONField(default=list, blank=True)
    score_name = models.CharField(
        max_length=200, blank=True, help_text="The measurement each feature's score is."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.UPLOADED)
    message = models.TextField(blank=True, help_text="Why the import failed, or what it did.")
    job_id = models.BigIntegerField(null=True, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slide", "created_at", "id"]
        indexes = [models.Index(fields=["slide", "project"], name="layer_by_slide")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, slide {self.slide_id})"


class LayerFeature(models.Model):
    """One feature of a layer: its geometry (valid, rounded to 0.01 px), what QuPath says of it
    (object type, class, measurements) and the rest of its properties as uploaded."""

    class ObjectType(models.TextChoices):
        ANNOTATION = "annotation", "Annotation"
        DETECTION = "detection", "Detection"
        CELL = "cell", "Cell"
        TILE = "tile", "Tile"

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="features")
    geometry = GeoJSONField()
    nucleus = GeoJSONField(null=True, blank=True)
    object_type = models.CharField(max_length=16, choices=ObjectType.choices)
    class_name = models.CharField(max_length=200, blank=True)
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    measurements = GeoJSONField(default=dict)
    properties = GeoJSONField(default=dict)
    # The layer's score measurement (Layer.score_name) of this feature: the threshold slider's
    # filter, in a column so that the database can apply it.
    score = models.FloatField(null=True, blank=True)
    # Bounding box in level-0 pixels, indexed for viewport queries (migration 0002).
    x0 = models.FloatField()
    y0 = models.FloatField()
    x1 = models.FloatField()
    y1 = models.FloatField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.object_type} #{self.pk} of layer {self.layer_id}"


class LayerCell(models.Model):
    """How many features of one class of a layer have the centre of their bounding box in a
    grid cell (AnnotationCell's grid): the reduced form of a zoomed-out view, written once by
    the import."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="+")
    class_name = models.CharField(max_length=200, blank=True)
    gx = models.IntegerField()
    gy = models.IntegerField()
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["layer", "class_name", "gx", "gy"], name="layercell_unique"
            )
        ]
        indexes = [models.Index(fields=["layer", "gx", "gy"], name="layercell_by_layer")]

    def __str__(self) -> str:
        return f"{self.layer_id} ({self.gx}, {self.gy}): {self.count}"
