"""The annotation editing API: JSON in, JSON out, every refusal ``{"error": ...}``.

See docs/annotations-spec.md for the contract and README.md (Annotation API) for examples; the
plumbing (errors, bodies, parameters) is wsi2ml.api's, shared with every other API.
"""

import math
import uuid

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict

from annotations import selectors, services
from annotations.models import Annotation
from annotations.permissions import assignments_visible_to, get_annotation_for_user
from slides.models import Slide
from slides.permissions import get_slide_for_user
from tasks.models import Assignment, Label
from wsi2ml.api import ApiError, api, int_param, json_body, json_object, lookup, optional_int


def _labels_of(assignment: Assignment) -> QuerySet[Label]:
    return Label.objects.filter(project_id=assignment.task.project_id)


def _kind(value: object) -> str:
    if value not in Annotation.Kind.values:
        raise ApiError(f"kind must be one of {', '.join(Annotation.Kind.values)}.", field="kind")
    return value


def _uuid(value: object) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value if isinstance(value, str) else "not a string")
    except ValueError as exc:
        message = "uuid must be a UUID such as crypto.randomUUID() gives."
        raise ApiError(message, field="uuid") from exc


def _version(value: object, field: str = "version") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiError(f"{field} must be the annotation's version, a whole number.", field=field)
    return value


def _viewport_query(query: QueryDict, slide: Slide) -> dict:
    limit = selectors.MAX_LIMIT
    return {
        "bbox": bbox_param(query.get("bbox"), slide),
        "label_ids": [int_param(p, "label") for p in query.get("label", "").split(",") if p],
        "assignment_id": optional_int(query, "assignment"),
        "limit": int_param(query.get("limit", str(selectors.DEFAULT_LIMIT)), "limit", 1, limit),
    }


def bbox_param(raw: str | None, slide: Slide) -> tuple[float, float, float, float]:
    """The ``bbox`` query parameter, clamped to the slide (the whole slide when absent)."""
    if raw is None:
        return (0.0, 0.0, float(slide.width or 2**31), float(slide.height or 2**31))
    try:
        x0, y0, x1, y1 = (float(part) for part in raw.split(","))
    except ValueError as exc:
        raise ApiError("bbox must be four numbers: x0,y0,x1,y1.", field="bbox") from exc
    if not all(map(math.isfinite, (x0, y0, x1, y1))):
        raise ApiError("bbox must be four finite numbers.", field="bbox")
    if x1 < x0 or y1 < y0:
        raise ApiError("bbox must have x0 ≤ x1 and y0 ≤ y1.", field="bbox")
    # Nothing lies outside the slide; clamping keeps absurd numbers out of the SQL.
    width, height = float(slide.width or 2**31), float(slide.height or 2**31)
    return (
        min(max(x0, 0.0), width),
        min(max(y0, 0.0), height),
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
    )


def _feature(annotation: Annotation, status: int = 200) -> JsonResponse:
    return JsonResponse(selectors.annotation_feature(annotation), status=status)


# --- Views -------------------------------------------------------------------------------------


@api("GET", "POST")
def slide_annotations(request: HttpRequest, slide_id: int) -> HttpResponse:
    """GET: the annotations in a viewport (or their reduced form); POST: create one."""
    slide = get_slide_for_user(request.user, slide_id)
    if request.method == "POST":
        return _create(request, slide)
    query = _viewport_query(request.GET, slide)
    viewport = selectors.annotations_in_box(user=request.user, slide=slide, **query)
    return HttpResponse(viewport.to_json(), content_type="application/json")


def _create(request: HttpRequest, slide: Slide) -> HttpResponse:
    feature = json_object(json_body(request), "The body")
    properties = json_object(feature.get("properties", {}), "properties")
    visible = assignments_visible_to(request.user, slide)
    assignment = lookup(visible, properties.get("assignment"), "assignment")
    annotation, created = services.annotation_create(
        slide=slide,
        assignment=assignment,
        author=request.user,
        label=lookup(_labels_of(assignment), properties.get("label"), "label"),
        kind=_kind(properties.get("kind")),
        geometry=feature.get("geometry"),
        name=properties.get("name", ""),
        comment=properties.get("comment", ""),
        uuid=_uuid(properties.get("uuid")),
    )
    return _feature(annotation, 201 if created else 200)


@api("GET")
def slide_stats(request: HttpRequest, slide_id: int) -> HttpResponse:
    """Count and area per label over the whole slide."""
    slide = get_slide_for_user(request.user, slide_id)
    assignment_id = optional_int(request.GET, "assignment")
    stats = selectors.annotation_stats(user=request.user, slide=slide, assignment_id=assignment_id)
    return JsonResponse(stats)


@api("GET", "PATCH", "DELETE")
def annotation(request: HttpRequest, annotation_id: int) -> HttpResponse:
    """GET: one annotation; PATCH: change it at a version; DELETE: soft-delete it."""
    found = get_annotation_for_user(request.user, annotation_id)
    if request.method == "PATCH":
        return _update(request, found)
    if request.method == "DELETE":
        version = optional_int(request.GET, "version")
        deleted = services.annotation_delete(annotation=found, actor=request.user, version=version)
        return _feature(deleted)
    return _feature(found)


def _update(request: HttpRequest, found: Annotation) -> HttpResponse:
    body = json_object(json_body(request), "The body")
    properties = json_object(body.get("properties", {}), "properties")
    changes = {key: properties[key] for key in ("name", "comment") if key in properties}
    if "geometry" in body:
        changes["geometry"] = body["geometry"]
    if "label" in properties:
        changes["label"] = lookup(_labels_of(found.assignment), properties["label"], "label")
    if "kind" in properties:
        changes["kind"] = _kind(properties["kind"])
    updated = services.annotation_update(
        annotation=found,
        actor=request.user,
        version=_version(body.get("version", properties.get("version"))),
        **changes,
    )
    return _feature(updated)


@api("POST")
def annotation_restore(request: HttpRequest, annotation_id: int) -> HttpResponse:
    """Bring back a deleted annotation."""
    found = get_annotation_for_user(request.user, annotation_id)
    body = json_object(json_body(request, required=False), "The body")
    version = _version(body["version"]) if "version" in body else None
    restored = services.annotation_restore(annotation=found, actor=request.user, version=version)
    return _feature(restored)


@api("GET")
def annotation_history(request: HttpRequest, annotation_id: int) -> HttpResponse:
    """Every change of one annotation, oldest first."""
    found = get_annotation_for_user(request.user, annotation_id)
    return JsonResponse({"revisions": selectors.annotation_history(found)})
