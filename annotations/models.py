import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from slides.models import Slide
from tasks.models import Assignment, Label


class GeoJSONField(models.JSONField):
    """JSON kept as text on PostgreSQL (``json``, not ``jsonb``).

    Viewport queries send stored geometries out as they are; turning jsonb back into text cost
    five times the rest of such a query (18,000 geometries: 220 ms against 45 ms). Nothing
    queries inside a geometry, so jsonb's operators are not missed.
    """

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        # psycopg2 parses json columns itself (it leaves jsonb to Django).
        if value is not None and not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


class Annotation(models.Model):
    """A labelled region (or point, or line) drawn on a slide as part of one assignment.

    The geometry is GeoJSON in level-0 pixel coordinates, origin at the top left, y down.
    Annotations are never deleted from the database by the product: deleting sets
    ``is_deleted`` and leaves a revision, and a restore brings the annotation back.
    """

    class Kind(models.TextChoices):
        POLYGON = "polygon", "Polygon"
        FREEHAND = "freehand", "Freehand"
        RECTANGLE = "rectangle", "Rectangle"
        ELLIPSE = "ellipse", "Ellipse"
        POINT = "point", "Point"
        LINE = "line", "Line"
        BRUSH = "brush", "Brush"

    # Chosen by the browser when the shape is drawn, so that a create sent twice (a retry
    # after a lost response) stores one annotation.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slide = models.ForeignKey(Slide, on_delete=models.PROTECT, related_name="annotations")
    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="annotations")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="annotations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    geometry = GeoJSONField()
    name = models.CharField(max_length=200, blank=True)
    comment = models.TextField(blank=True)

    # Bounding box in level-0 pixels, indexed for viewport queries (see the migrations).
    x0 = models.FloatField()
    y0 = models.FloatField()
    x1 = models.FloatField()
    y1 = models.FloatField()
    vertex_count = models.PositiveIntegerField(default=0)
    area_px = models.FloatField(default=0)
    area_um2 = models.FloatField(null=True, blank=True)
    length_px = models.FloatField(default=0)
    length_um = models.FloatField(null=True, blank=True)

    class Origin(models.TextChoices):
        DRAWN = "drawn", "Drawn in WSI2ML"
        MODEL = "model", "From a model's predictions"
        IMPORTED = "imported", "Imported from another tool's file"

    # Where the annotation started: drawn here, or taken from an uploaded layer (a model's
    # predictions, or another tool's annotations) into a person's assignment to be corrected.
    # ``origin_detail`` says which layer and feature, as they were then (the layer may go).
    # Database defaults too: the benchmarks load annotations with COPY, naming their columns.
    origin = models.CharField(
        max_length=16, choices=Origin.choices, default=Origin.DRAWN, db_default=Origin.DRAWN
    )
    origin_detail = models.JSONField(null=True, blank=True)
    # Whether a person has updated it since it came from its layer (never set for drawn ones).
    # Kept here rather than asked of the history: the export's query took 2.5-3 µs more a row
    # (5 -> 8 µs, 100,100 rows) with an EXISTS over the revisions, planned as a hash of them all.
    origin_changed = models.BooleanField(default=False, db_default=False)

    version = models.PositiveIntegerField(default=1)
    is_deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["assignment", "slide"],
                condition=Q(is_deleted=False),
                name="annotation_live_by_assignment",
            ),
            # Exports read a slide's annotations in id order: without it PostgreSQL sorted each
            # slide's 100,000 rows on disk (70 MB) before the first one, 1.6 s instead of 0.9 s.
            models.Index(
                fields=["slide", "id"],
                condition=Q(is_deleted=False),
                name="annotation_live_by_slide",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.label.name})"


class AnnotationRevision(models.Model):
    """Append-only history: one row for every create, update, delete and restore."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"
        RESTORE = "restore", "Restored"

    annotation = models.ForeignKey(Annotation, on_delete=models.PROTECT, related_name="revisions")
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    # The annotation's version once this change was made.
    version = models.PositiveIntegerField()
    geometry_before = models.JSONField(null=True, blank=True)
    geometry_after = models.JSONField(null=True, blank=True)
    label_before = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    label_after = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment_before = models.TextField(blank=True)
    comment_after = models.TextField(blank=True)

    class Meta:
        ordering = ["annotation", "version", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} #{self.annotation_id} v{self.version}"


class AnnotationCell(models.Model):
    """How many live annotations of one label and assignment have their centre in a grid cell.

    Kept up to date by ``annotations.services`` in the same transaction as the annotation,
    it answers zoomed-out views of slides with very many annotations without reading them.
    The grid is ``CELL_SIZE`` level-0 pixels square.
    """

    CELL_SIZE = 1024

    slide = models.ForeignKey(Slide, on_delete=models.CASCADE, related_name="+")
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")
    gx = models.IntegerField()
    gy = models.IntegerField()
    count = models.IntegerField(default=0)
    area_px = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["slide", "assignment", "label", "gx", "gy"], name="annotationcell_unique"
            )
        ]
        indexes = [models.Index(fields=["slide", "gx", "gy"], name="annotationcell_by_slide")]

    def __str__(self) -> str:
        return f"{self.slide_id} ({self.gx}, {self.gy}): {self.count}"
