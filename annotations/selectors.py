"""Reads of annotations: viewport queries, their reduced (clustered) form, stats and history.

A viewport answer can hold tens of thousands of features, so features come out of here as JSON
text, ready to be joined into a response. On PostgreSQL the database writes each Feature's text
(``_FEATURE_SQL``) and the bounding-box test uses the GiST index of migration 0002; elsewhere
(SQLite for the quick-start demo) the ORM reads rows and ``annotation_feature`` writes them.
Both produce the same Feature, described in docs/annotations-spec.md.
"""

import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from string import Template

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, QuerySet, Sum
from django.urls import reverse

from annotations.models import Annotation, AnnotationCell, AnnotationRevision
from annotations.permissions import (
    ALL,
    edit_refusal,
    on_slide_filter,
    visible_assignment_ids,
    visible_filter,
)
from slides.models import Slide
from tasks.models import Assignment, AssignmentSlide, Label

DEFAULT_LIMIT = 2000
MAX_LIMIT = 50_000
REDUCED_GRID = 64  # the reduced form has at most about this many cells across the box


@dataclass(frozen=True)
class Viewport:
    """What a viewport query found: features as JSON texts, or grid cells when too many."""

    reduced: bool
    features: list[str]
    total: int
    cell_size: int | None = None

    def to_json(self) -> str:
        head = {"type": "FeatureCollection", "reduced": self.reduced, "total": self.total}
        if self.cell_size is not None:
            head["cell_size"] = self.cell_size
        return json.dumps(head)[:-1] + ', "features": [' + ",".join(self.features) + "]}"


# --- One feature -------------------------------------------------------------------------------


def _timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as PostgreSQL writes it in _FEATURE_SQL."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def label_json(label: Label | None) -> dict | None:
    if label is None:
        return None
    return {"id": label.pk, "name": label.name, "colour": label.colour}


def labels_config(labels) -> list[dict]:
    """The labels as the editor and the reviewer's viewer take them, with keys and help text."""
    return [
        {
            "id": label.pk,
            "name": label.name,
            "colour": label.colour,
            "shortcut": label.shortcut,
            "description": label.description,
        }
        for label in labels
    ]


def annotation_feature(annotation: Annotation) -> dict:
    """The GeoJSON Feature of one annotation (with ``repaired`` after a write that repaired)."""
    properties = {
        "uuid": str(annotation.uuid),
        "kind": annotation.kind,
        "label": label_json(annotation.label),
        "assignment": annotation.assignment_id,
        "author": annotation.author.get_username(),
        "version": annotation.version,
        "name": annotation.name,
        "comment": annotation.comment,
        "area_px": annotation.area_px,
        "area_um2": annotation.area_um2,
        "length_px": annotation.length_px,
        "length_um": annotation.length_um,
        "deleted": annotation.is_deleted,
        "updated_at": _timestamp(annotation.updated_at),
    }
    if getattr(annotation, "repaired", ""):
        properties["repaired"] = annotation.repaired
    return {
        "type": "Feature",
        "id": annotation.pk,
        "geometry": annotation.geometry,
        "properties": properties,
    }


# --- Viewport ----------------------------------------------------------------------------------


def annotations_in_box(
    *,
    user: AbstractBaseUser,
    slide: Slide,
    bbox: tuple[float, float, float, float],
    label_ids: Sequence[int] = (),
    assignment_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Viewport:
    """Live annotations whose bounding box meets ``bbox``, that ``user`` may see.

    When more than ``limit`` match, the answer is the reduced form (see annotation_cells_in_box).
    """
    visible = visible_assignment_ids(user, slide)
    query = {"label_ids": label_ids, "assignment_id": assignment_id, "visible": visible}
    if _at_least_in_box(slide=slide, bbox=bbox, **query) > limit:
        # Known from the cells alone: no need to write limit + 1 features to find out.
        return _cells_in_box(slide=slide, bbox=bbox, **query)
    if connection.vendor == "postgresql":
        features = _features_postgresql(slide, bbox, label_ids, assignment_id, visible, limit + 1)
    else:
        features = _features_orm(slide, bbox, label_ids, assignment_id, visible, limit + 1)
    if len(features) > limit:
        return _cells_in_box(slide=slide, bbox=bbox, **query)
    return Viewport(reduced=False, features=features, total=len(features))


def _at_least_in_box(*, slide, bbox, label_ids, assignment_id, visible) -> int:
    """A lower bound of the annotations meeting ``bbox`` (see cells_count_inside)."""
    cells = AnnotationCell.objects.filter(visible_filter(visible), slide=slide)
    return cells_count_inside(bbox=bbox, cells=_filtered(cells, label_ids, assignment_id))


def cells_count_inside(*, bbox: tuple[float, float, float, float], cells: QuerySet) -> int:
    """The sum of ``count`` over the ``cells`` (rows on AnnotationCell's grid: gx, gy, count)
    wholly inside ``bbox``: a lower bound of the features meeting it.

    A feature counted in such a cell has the centre of its bounding box inside ``bbox``, so
    it certainly meets it. Zoomed out over a crowded slide this spares writing limit + 1
    features only to throw them away (20,000 of them take 300 ms); zoomed in, where no cell
    lies wholly inside the box, it costs nothing.
    """
    size = AnnotationCell.CELL_SIZE
    gx0, gy0 = math.ceil(bbox[0] / size), math.ceil(bbox[1] / size)
    gx1, gy1 = math.floor(bbox[2] / size) - 1, math.floor(bbox[3] / size) - 1
    if gx1 < gx0 or gy1 < gy0:
        return 0
    inside = cells.filter(gx__range=(gx0, gx1), gy__range=(gy0, gy1), count__gt=0)
    return inside.aggregate(n=Sum("count"))["n"] or 0


def _features_orm(slide, bbox, label_ids, assignment_id, visible, limit) -> list[str]:
    x0, y0, x1, y1 = bbox
    annotations = Annotation.objects.filter(
        visible_filter(visible),
        slide=slide,
        is_deleted=False,
        x0__lte=x1,
        x1__gte=x0,
        y0__lte=y1,
        y1__gte=y0,
    )
    annotations = _filtered(annotations, label_ids, assignment_id)
    annotations = annotations.select_related("label", "author")[:limit]
    return [json.dumps(annotation_feature(a)) for a in annotations]


def _filtered(queryset: QuerySet, label_ids: Sequence[int], assignment_id: int | None):
    if label_ids:
        queryset = queryset.filter(label_id__in=label_ids)
    if assignment_id is not None:
        queryset = queryset.filter(assignment_id=assignment_id)
    return queryset


# One Feature's JSON text per row, equal to json.dumps(annotation_feature(a)) once parsed.
# Plain concatenation: json_build_object took twice as long, and fetching the columns to write
# the text in Python was 10-20 % slower. Strings go through to_json() to be escaped; nullable
# numbers through COALESCE, since || with NULL gives NULL. The slide id is cast to the column's
# bigint: btree_gist's int8 operator class has no cross-type equality, and compared as an
# integer the index's leading slide_id column goes unused (every slide's boxes get walked).
_FEATURE_SQL = Template("""
SELECT '{"type": "Feature", "id": ' || a.id
    || ', "geometry": ' || a.geometry::text
    || ', "properties": {"uuid": "' || a.uuid::text
    || '", "kind": ' || to_json(a.kind)::text
    || ', "label": {"id": ' || l.id || ', "name": ' || to_json(l.name)::text
    || ', "colour": ' || to_json(l.colour)::text
    || '}, "assignment": ' || a.assignment_id
    || ', "author": ' || to_json(u.${username})::text
    || ', "version": ' || a.version
    || ', "name": ' || to_json(a.name)::text
    || ', "comment": ' || to_json(a.comment)::text
    || ', "area_px": ' || a.area_px
    || ', "area_um2": ' || COALESCE(a.area_um2::text, 'null')
    || ', "length_px": ' || a.length_px
    || ', "length_um": ' || COALESCE(a.length_um::text, 'null')
    || ', "deleted": ' || CASE WHEN a.is_deleted THEN 'true' ELSE 'false' END
    || ', "updated_at": "'
    || to_char(a.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    || '"}}'
FROM ${annotation} a
JOIN ${label} l ON l.id = a.label_id
JOIN ${user} u ON u.id = a.author_id
WHERE a.slide_id = %s::bigint AND NOT a.is_deleted
  AND box(point(a.x0, a.y0), point(a.x1, a.y1)) && box(point(%s, %s), point(%s, %s))
""")


def _features_postgresql(slide, bbox, label_ids, assignment_id, visible, limit) -> list[str]:
    sql, params = features_sql(slide, bbox, label_ids, assignment_id, visible, limit)
    with transaction.atomic(), connection.cursor() as cursor:
        # The planner cannot estimate how many boxes overlap, and picks a bitmap scan, which
        # reads every match in the index before LIMIT applies (17 ms for 200,000 boxes); a
        # plain index scan stops at the limit.
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def features_sql(slide, bbox, label_ids, assignment_id, visible, limit) -> tuple[str, list]:
    """The PostgreSQL viewport query and its parameters: one Feature's JSON text per row."""
    User = get_user_model()
    quote = connection.ops.quote_name
    sql = _FEATURE_SQL.substitute(
        username=quote(User._meta.get_field(User.USERNAME_FIELD).column),
        annotation=quote(Annotation._meta.db_table),
        label=quote(Label._meta.db_table),
        user=quote(User._meta.db_table),
    )
    params: list = [slide.pk, *bbox]
    if label_ids:
        sql += " AND a.label_id = ANY(%s)"
        params.append(list(label_ids))
    if assignment_id is not None:
        sql += " AND a.assignment_id = %s"
        params.append(assignment_id)
    if visible is not ALL:
        sql += " AND a.assignment_id = ANY(%s)"
        params.append(sorted(visible))
    # No ORDER BY: sorting would read every match before the limit could stop the scan.
    sql += " LIMIT %s"
    params.append(limit)
    return sql, params


# --- Reduced form and stats --------------------------------------------------------------------


def annotation_cells_in_box(
    *,
    user: AbstractBaseUser,
    slide: Slide,
    bbox: tuple[float, float, float, float],
    label_ids: Sequence[int] = (),
    assignment_id: int | None = None,
) -> Viewport:
    """The reduced form of the annotations in ``bbox`` that ``user`` sees (see _cells_in_box)."""
    visible = visible_assignment_ids(user, slide)
    return _cells_in_box(
        slide=slide, bbox=bbox, label_ids=label_ids, assignment_id=assignment_id, visible=visible
    )


def _cells_in_box(*, slide, bbox, label_ids, assignment_id, visible) -> Viewport:
    """Counts of live annotations per grid cell over ``bbox``, from AnnotationCell, per label
    (see cells_reduced)."""
    cells = AnnotationCell.objects.filter(visible_filter(visible), slide=slide)
    return cells_reduced(
        slide=slide,
        bbox=bbox,
        cells=_filtered(cells, label_ids, assignment_id),
        key="label_id",
        labels=_labels_json,
    )


def _labels_json(label_ids: set) -> dict:
    return {
        label.pk: json.dumps(label_json(label)) for label in Label.objects.filter(pk__in=label_ids)
    }


def cells_reduced(
    *,
    slide: Slide,
    bbox: tuple[float, float, float, float],
    cells: QuerySet,
    key: str,
    labels: Callable[[set], dict],
) -> Viewport:
    """The reduced form over ``bbox`` of ``cells``: rows on AnnotationCell's grid with gx, gy,
    count and a ``key`` column (a label id, a layer's class name) that the counts are kept by.

    Cells are merged k × k so that at most about REDUCED_GRID cross the box; each answer
    feature is one merged cell's square with its count, counts per key and dominant key, whose
    ``label`` is ``labels(keys)[key]`` (JSON text; null when missing). A feature counts in the
    cell holding the centre of its bounding box.
    """
    size = AnnotationCell.CELL_SIZE
    gx0, gy0 = math.floor(bbox[0] / size), math.floor(bbox[1] / size)
    gx1, gy1 = math.floor(bbox[2] / size), math.floor(bbox[3] / size)
    k = max(1, math.ceil(max(gx1 - gx0 + 1, gy1 - gy0 + 1) / REDUCED_GRID))
    rows = (
        cells.filter(gx__range=(gx0, gx1), gy__range=(gy0, gy1), count__gt=0)
        .annotate(mx=F("gx") / k, my=F("gy") / k)
        .values_list("mx", "my", key)
        .annotate(n=Sum("count"))
        .order_by()
    )
    merged: dict[tuple[int, int], dict] = defaultdict(dict)
    for mx, my, group, n in _raw_rows(rows):
        merged[mx, my][group] = int(n)
    shown = labels(_label_ids(merged))
    features = [
        _cell_feature(slide, mx, my, k * size, counts, shown)
        for (mx, my), counts in sorted(merged.items())
    ]
    total = sum(n for counts in merged.values() for n in counts.values())
    return Viewport(reduced=True, features=features, total=total, cell_size=k * size)


def _raw_rows(queryset: QuerySet) -> list[tuple]:
    """Run the queryset's SQL as it is: the ORM's per-value converters cost more than the
    query for the thousands of rows of a whole slide."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _label_ids(merged: dict) -> set[int]:
    return {label_id for counts in merged.values() for label_id in counts}


def _cell_feature(slide, mx, my, span, counts, labels) -> str:
    """One merged cell's Feature as JSON text (written by hand: thousands per answer)."""
    x0, y0 = mx * span, my * span
    x1, y1 = x0 + span, y0 + span
    if slide.width and slide.height:
        x1, y1 = min(x1, slide.width), min(y1, slide.height)
    # The most frequent; of equal ones the first in order (the lowest label id).
    dominant = max(sorted(counts), key=counts.__getitem__)
    ring = f"[[{x0}, {y0}], [{x1}, {y0}], [{x1}, {y1}], [{x0}, {y1}], [{x0}, {y0}]]"
    per_label = ", ".join(f"{json.dumps(str(group))}: {n}" for group, n in sorted(counts.items()))
    return (
        f'{{"type": "Feature", "geometry": {{"type": "Polygon", "coordinates": [{ring}]}}, '
        f'"properties": {{"cluster": true, "count": {sum(counts.values())}, '
        f'"label": {labels.get(dominant, "null")}, "counts": {{{per_label}}}}}}}'
    )


def annotation_stats(
    *, user: AbstractBaseUser, slide: Slide, assignment_id: int | None = None
) -> dict:
    """Count and area per label of the live annotations of the slide that ``user`` sees."""
    visible = visible_assignment_ids(user, slide)
    cells = AnnotationCell.objects.filter(visible_filter(visible), slide=slide, count__gt=0)
    cells = _filtered(cells, (), assignment_id)
    sums = {
        row["label_id"]: row
        for row in cells.values("label_id").annotate(n=Sum("count"), area=Sum("area_px")).order_by()
    }
    scale = slide.mpp_x * slide.mpp_y if slide.mpp_x and slide.mpp_y else None
    labels = [
        {
            **label_json(label),
            "count": sums[label.pk]["n"],
            "area_px": round(sums[label.pk]["area"], 2),
            "area_um2": None if scale is None else round(sums[label.pk]["area"] * scale, 2),
        }
        for label in Label.objects.filter(pk__in=sums)
    ]
    return {"labels": labels, "total": sum(label["count"] for label in labels)}


# --- Layers ------------------------------------------------------------------------------------

# A slide rarely holds more than a few assignments; the bound keeps one request's cost fixed.
MAX_LAYERS = 200
# One colour per person, the same on every slide and page (by user id): ten that stay apart on
# H&E's pinks and purples.
PERSON_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#17becf",
    "#bcbd22",
    "#e377c2",
    "#8c564b",
    "#393b79",
)


def person_colour(user_id: int) -> str:
    return PERSON_COLOURS[user_id % len(PERSON_COLOURS)]


def annotation_layers(*, user: AbstractBaseUser, slide: Slide) -> list[dict]:
    """One layer per assignment whose annotations ``user`` sees on ``slide``: their own first,
    then by task and annotator. Each says how many live annotations it holds and whether the
    user may edit it now (permissions.edit_refusal)."""
    visible = visible_assignment_ids(user, slide)
    assignments = (
        Assignment.objects.filter(visible_filter(visible, "pk"), on_slide_filter(slide))
        .select_related("task", "assignee")
        .order_by("task__created_at", "task_id", "assignee__username")[:MAX_LAYERS]
    )
    assignments = list(assignments)
    counts = dict(
        AnnotationCell.objects.filter(
            slide=slide, assignment_id__in=[a.pk for a in assignments], count__gt=0
        )
        .values_list("assignment_id")
        .annotate(n=Sum("count"))
        .order_by()
    )
    states = dict(
        AssignmentSlide.objects.filter(
            slide=slide, assignment_id__in=[a.pk for a in assignments]
        ).values_list("assignment_id", "state")
    )
    layers = [_layer(user, slide, a, counts.get(a.pk, 0), states.get(a.pk)) for a in assignments]
    return sorted(layers, key=lambda layer: not layer["own"])


def _layer(user, slide: Slide, assignment: Assignment, count: int, state: str | None) -> dict:
    annotator, task = assignment.assignee, assignment.task
    refusal = edit_refusal(user=user, assignment=assignment, slide_state=state)
    if state is None and not refusal:
        refusal = "This slide is not part of the assignment."
    url = reverse("annotations:slide_annotations", args=[slide.pk])
    return {
        "id": f"assignment-{assignment.pk}",
        "kind": "annotations",
        "assignment": assignment.pk,
        "name": f"{annotator.get_username()} · {task.name}",
        "annotator": {
            "id": annotator.pk,
            "username": annotator.get_username(),
            "name": annotator.get_full_name() or annotator.get_username(),
        },
        "task": {"id": task.pk, "name": task.name, "kind": task.kind, "project": task.project_id},
        "count": int(count),
        "own": assignment.assignee_id == user.pk,
        "editable": not refusal,
        "readOnlyReason": refusal,
        "colour": person_colour(annotator.pk),
        "featuresUrl": f"{url}?assignment={assignment.pk}",
    }


# --- History -----------------------------------------------------------------------------------


def annotation_history(annotation: Annotation) -> list[dict]:
    """Every revision of the annotation, oldest first."""
    revisions = AnnotationRevision.objects.filter(annotation=annotation).select_related(
        "actor", "label_before", "label_after"
    )
    return [
        {
            "id": revision.pk,
            "action": revision.action,
            "actor": revision.actor.get_username(),
            "at": _timestamp(revision.at),
            "version": revision.version,
            "geometry_before": revision.geometry_before,
            "geometry_after": revision.geometry_after,
            "label_before": label_json(revision.label_before),
            "label_after": label_json(revision.label_after),
            "comment_before": revision.comment_before,
            "comment_after": revision.comment_after,
        }
        for revision in revisions.order_by("version", "id")
    ]
