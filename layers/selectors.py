"""Reads of layers: the list the viewer's layer panel shows, and a layer's features in a box.

Features come out as JSON text, as annotations' do (annotations.selectors): on PostgreSQL the
database writes each Feature (``_FEATURE_SQL``) and the box test uses the GiST index of
migration 0002; elsewhere the ORM reads rows and ``layer_feature`` writes them. The reduced
form above the limit is annotations' own (``cells_reduced``), counted by class.
"""

import json
from string import Template

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.urls import reverse

from annotations.selectors import Viewport, annotation_layers, cells_count_inside, cells_reduced
from jobs.models import Job
from layers.models import Layer, LayerCell, LayerFeature
from layers.permissions import visible_layers
from slides.models import Slide

DEFAULT_LIMIT = 2000
MAX_LIMIT = 50_000
MAX_LAYERS = 200  # uploaded layers listed per slide: the list's cost stays bounded


def slide_layers(*, user: AbstractBaseUser, slide: Slide) -> list[dict]:
    """The layers ``user`` sees on ``slide``: the human annotation layers as
    annotations.selectors.annotation_layers gives them, then the uploaded ones, oldest first."""
    uploaded = list(
        visible_layers(user, slide)
        .select_related("uploaded_by")
        .order_by("created_at", "id")[:MAX_LAYERS]
    )
    job_ids = [layer.job_id for layer in uploaded if layer.job_id]
    jobs = {job.pk: job for job in Job.objects.filter(pk__in=job_ids)}
    human = annotation_layers(user=user, slide=slide)
    return human + [layer_json(layer, job=jobs.get(layer.job_id)) for layer in uploaded]


def layer_job(layer: Layer) -> Job | None:
    """The job importing (or that imported) the layer, if it had one."""
    return Job.objects.filter(pk=layer.job_id).first() if layer.job_id else None


def layer_json(layer: Layer, *, job: Job | None = None) -> dict:
    """What the API says of one uploaded layer (``id`` "layer-<pk>", as the panel names it)."""
    state, message = layer.state, layer.message
    # A job that failed outside the import (its worker stopped too often, an unexpected
    # error) leaves the layer as it was: the job says how it ended.
    if job is not None and job.state == Job.State.FAILED and state != Layer.State.FAILED:
        state, message = Layer.State.FAILED, job.message
    return {
        "id": f"layer-{layer.pk}",
        "layer": layer.pk,
        "kind": layer.kind,
        "name": layer.name,
        "project": layer.project_id,
        "slide": layer.slide_id,
        "count": layer.feature_count,
        "state": state,
        "message": message,
        "format": layer.format,
        "source": layer.source_name,
        "uploadedBy": layer.uploaded_by.get_username(),
        "createdAt": layer.created_at.isoformat(),
        "classes": layer.classes,
        "unknownClasses": [c["name"] for c in layer.classes if c["label"] is None and c["name"]],
        "measurements": layer.measurements,
        "scoreName": layer.score_name,
        "job": None if job is None else {"id": job.pk, "state": job.state, "done": job.done},
        "editable": False,
        "featuresUrl": reverse("layers:layer_features", args=[layer.pk]),
    }


# --- Features in a box ------------------------------------------------------------------------


def layer_features_in_box(
    *, layer: Layer, bbox: tuple[float, float, float, float], limit: int = DEFAULT_LIMIT
) -> Viewport:
    """The layer's features whose bounding box meets ``bbox``, or above ``limit`` of them the
    reduced form (counts per cell and class), as annotations' viewport gives it."""
    cells = LayerCell.objects.filter(layer=layer)
    if cells_count_inside(bbox=bbox, cells=cells) > limit:
        return _reduced(layer, bbox)
    if connection.vendor == "postgresql":
        features = _features_postgresql(layer, bbox, limit + 1)
    else:
        features = _features_orm(layer, bbox, limit + 1)
    if len(features) > limit:
        return _reduced(layer, bbox)
    return Viewport(reduced=False, features=features, total=len(features))


def _reduced(layer: Layer, bbox) -> Viewport:
    classes = {c["name"]: c for c in layer.classes}

    def labels(names: set) -> dict:
        return {
            name: json.dumps(
                {
                    "id": classes.get(name, {}).get("label"),
                    "name": name,
                    "colour": classes.get(name, {}).get("colour"),
                }
            )
            for name in names
        }

    cells = LayerCell.objects.filter(layer=layer)
    return cells_reduced(slide=layer.slide, bbox=bbox, cells=cells, key="class_name", labels=labels)


def layer_feature(feature: LayerFeature, colours: dict[str, list[int]]) -> dict:
    """One feature as QuPath writes it: objectType, classification, measurements, then the
    properties as uploaded; ``score`` is the layer's score of it (Layer.score_name)."""
    properties = {"objectType": feature.object_type}
    if feature.class_name:
        properties["classification"] = {
            "name": feature.class_name,
            "color": colours.get(feature.class_name),
            "label": feature.label_id,
        }
    properties["measurements"] = _json(feature.measurements)
    properties["score"] = feature.score
    properties.update(_json(feature.properties))
    out = {
        "type": "Feature",
        "id": feature.pk,
        "geometry": _json(feature.geometry),
        "properties": properties,
    }
    if feature.nucleus is not None:
        out["nucleusGeometry"] = _json(feature.nucleus)
    return out


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def class_colours(layer: Layer) -> dict[str, list[int]]:
    """Each class's colour as QuPath's [r, g, b]."""
    return {
        c["name"]: [int(c["colour"][i : i + 2], 16) for i in (1, 3, 5)]
        for c in layer.classes
        if c.get("colour")
    }


def _features_orm(layer: Layer, bbox, limit: int) -> list[str]:
    x0, y0, x1, y1 = bbox
    rows = LayerFeature.objects.filter(layer=layer, x0__lte=x1, x1__gte=x0, y0__lte=y1, y1__gte=y0)[
        :limit
    ]
    colours = class_colours(layer)
    return [json.dumps(layer_feature(row, colours)) for row in rows]


# One Feature's JSON text per row, equal to json.dumps(layer_feature(f)) once parsed. The
# uploaded properties (compact JSON, never empty of braces) are spliced in after QuPath's keys,
# which the import keeps them free of. Class colours come in as two arrays (a layer has few
# classes). As in annotations' query, the layer id is cast to the column's bigint so that the
# GiST index's leading column is used.
_FEATURE_SQL = Template("""
SELECT '{"type": "Feature", "id": ' || f.id
    || ', "geometry": ' || f.geometry::text
    || ', "properties": {"objectType": "' || f.object_type || '"'
    || CASE WHEN f.class_name = '' THEN '' ELSE
        ', "classification": {"name": ' || to_json(f.class_name)::text
        || ', "color": ' || COALESCE((
            SELECT c.colour FROM unnest(%s::text[], %s::text[]) AS c(name, colour)
            WHERE c.name = f.class_name), 'null')
        || ', "label": ' || COALESCE(f.label_id::text, 'null') || '}' END
    || ', "measurements": ' || f.measurements::text
    || ', "score": ' || COALESCE(f.score::text, 'null')
    || CASE WHEN f.properties::text = '{}' THEN ''
        ELSE ', ' || substr(f.properties::text, 2, length(f.properties::text) - 2) END
    || '}'
    || CASE WHEN f.nucleus IS NULL THEN '' ELSE ', "nucleusGeometry": ' || f.nucleus::text END
    || '}'
FROM ${feature} f
WHERE f.layer_id = %s::bigint
  AND box(point(f.x0, f.y0), point(f.x1, f.y1)) && box(point(%s, %s), point(%s, %s))
LIMIT %s
""")


def _features_postgresql(layer: Layer, bbox, limit: int) -> list[str]:
    colours = class_colours(layer)
    sql = _FEATURE_SQL.substitute(feature=connection.ops.quote_name(LayerFeature._meta.db_table))
    names = list(colours)
    texts = [json.dumps(colours[name]) for name in names]
    with transaction.atomic(), connection.cursor() as cursor:
        # As in annotations.selectors: a plain index scan stops at the limit.
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(sql, [names, texts, layer.pk, *bbox, limit])
        return [row[0] for row in cursor.fetchall()]
