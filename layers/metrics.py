"""Model versus human: a layer's features against people's annotations on its slide, per label.

For each label the layer's features were mapped to: area Dice and IoU of the two unions, and
objects matched one-to-one by review.agreement's rule (regions at IoU >= a threshold, points
within a distance in µm, by an optimal assignment), with precision, recall and F1 of the model
against the reference, and the model's false positives and the reference's false negatives by
id, for a pathologist to step through. The reference is the live annotations of the chosen
assignments (one annotator's, or a task's annotators' pooled). Features without a mapped label
take no part (their count is reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from django.db.models import TextField
from django.db.models.functions import Cast

from annotations.models import Annotation
from layers.models import Layer, LayerFeature
from review.agreement import (
    IOU_THRESHOLD,
    NO_AREA,
    NO_OBJECTS,
    AgreementTooLarge,
    AreaAgreement,
    ObjectAgreement,
    compare_matched,
    prepare,
)
from tasks.models import Assignment, Label

# A nucleus is about 10 µm across: detections this close to a person's point are the same cell.
POINT_RADIUS_UM = 5.0
# Without the slide's resolution, review.agreement's default in pixels.
POINT_RADIUS_PX = 20.0
# What one comparison reads at most, each side: review.agreement compared 3 x 20,000 cells in
# well under a second; a million-feature layer is compared a region at a time, not whole.
MAX_OBJECTS = 200_000


@dataclass(frozen=True)
class LabelMetrics:
    """One label's figures: the model's features (a) against the reference's annotations (b)."""

    label_id: int | None  # None for all labels pooled
    name: str
    area: AreaAgreement
    objects: ObjectAgreement
    false_positives: tuple[int, ...] = ()  # layer feature ids
    false_negatives: tuple[int, ...] = ()  # annotation ids

    def as_json(self) -> dict:
        area, objects = self.area, self.objects
        return {
            "label": self.label_id,
            "name": self.name,
            "model": objects.count_a,
            "reference": objects.count_b,
            "matched": objects.matched,
            "precision": objects.precision,
            "recall": objects.recall,
            "f1": objects.f1,
            "meanIou": objects.mean_iou,
            "dice": area.dice,
            "iou": area.iou,
            "falsePositives": list(self.false_positives),
            "falseNegatives": list(self.false_negatives),
        }


@dataclass(frozen=True)
class LayerMetrics:
    labels: list[LabelMetrics]
    total: LabelMetrics
    unmapped: int  # features of the layer without a label, left out


def layer_metrics(
    *,
    layer: Layer,
    reference: Sequence[Assignment],
    iou_threshold: float = IOU_THRESHOLD,
    point_radius_um: float = POINT_RADIUS_UM,
    min_score: float | None = None,
) -> LayerMetrics:
    """The layer against the live annotations of ``reference`` on the layer's slide, per label
    of the layer's project (those either side holds), and pooled. Features scoring below
    ``min_score`` (the viewer's threshold) are left out. AgreementTooLarge when either side
    holds more than MAX_OBJECTS."""
    features = LayerFeature.objects.filter(layer=layer)
    if min_score is not None:
        features = features.filter(score__gte=min_score)
    unmapped = features.filter(label__isnull=True).count()
    model = _read(features.filter(label__isnull=False), "layer features")
    people = Annotation.objects.filter(
        slide=layer.slide_id, assignment__in=list(reference), is_deleted=False
    )
    human = _read(people, "annotations")
    slide = layer.slide
    radius = point_radius_um / slide.mpp if slide.mpp else POINT_RADIUS_PX
    labels = Label.objects.filter(project=layer.project_id).order_by("order", "name")
    rows = []
    for label in labels:
        mine, theirs = model[1] == label.pk, human[1] == label.pk
        if not (mine.any() or theirs.any()):
            continue
        area, objects, matching = compare_matched(
            prepare(model[2][mine]),
            prepare(human[2][theirs]),
            threshold=iou_threshold,
            point_radius=radius,
        )
        rows.append(
            LabelMetrics(
                label_id=label.pk,
                name=label.name,
                area=area,
                objects=objects,
                false_positives=tuple(model[0][mine][matching.unmatched_a].tolist()),
                false_negatives=tuple(human[0][theirs][matching.unmatched_b].tolist()),
            )
        )
    total = LabelMetrics(
        label_id=None,
        name="All labels",
        area=sum((r.area for r in rows), NO_AREA),
        objects=sum((r.objects for r in rows), NO_OBJECTS),
        false_positives=tuple(i for r in rows for i in r.false_positives),
        false_negatives=tuple(i for r in rows for i in r.false_negatives),
    )
    return LayerMetrics(labels=rows, total=total, unmapped=unmapped)


def _read(queryset, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, label ids, shapely geometries) of the rows, their GeoJSON parsed in one call."""
    rows = list(
        queryset.annotate(text=Cast("geometry", TextField()))
        .order_by()
        .values_list("pk", "label_id", "text")[: MAX_OBJECTS + 1]
    )
    if len(rows) > MAX_OBJECTS:
        raise AgreementTooLarge(
            f"More than {MAX_OBJECTS:,} {what} to compare on this slide: too many at once."
        )
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, object)
    ids, labels, texts = zip(*rows, strict=True)
    shapes = shapely.from_geojson(np.array(texts, dtype=object))
    return np.array(ids), np.array(labels), shapes
