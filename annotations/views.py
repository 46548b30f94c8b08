"""The annotation editing API: JSON in, JSON out, every refusal ``{"error": ...}``.

See docs/annotations-spec.md for the contract and README.md (Annotation API) for examples.
"""

import json
import math
import uuid
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.views import csrf

from annotations import selectors, services
from annotations.geometry import GeometryError
from annotations.models import Annotation
from annotations.permissions import get_annotation_for_user
from slides.models import Slide
from slides.permissions import get_slide_for_user
from tasks.models import Assignment, Label

MAX_ID = 2**63 - 1


class Refusal(Exception):
    """A request refused with ``status`` and a message for the person who sent it."""

    def __init__(self, status: int, message: str, field: str = ""):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def error(status: int, message: str, field: str = "", **extra) -> JsonResponse:
    body = {"error": message, **({"field": field} if field else {}), **extra}
    return JsonResponse(body, status=status)


def api(*methods: str) -> Callable:
    """Answer only ``methods``, only to a logged-in user, and every refusal as JSON.

    Anonymous callers get 401 rather than the log-in redirect of LoginRequiredMiddleware.
    """

    def decorate(view: Callable) -> Callable:
        @login_not_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return error(401, "Log in to use the annotation API.")
            if request.method not in methods:
                response = error(405, f"Use {' or '.join(methods)} here.")
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except Refusal as exc:
                return error(exc.status, exc.message, exc.field)
            except Http404 as exc:
                return error(404, str(exc) or "Not found.")
            except PermissionDenied as exc:
                return error(403, str(exc) or "You may not do this.")
            except GeometryError as exc:
                return error(400, exc.message, "geometry")
            except services.AnnotationError as exc:
                return error(400, exc.message, exc.field)
            except services.AnnotationConflict as exc:
                current = selectors.annotation_feature(exc.current)
                return error(409, exc.message, current=current)

        return wrapper

    return decorate


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON for the API, Django's page everywhere else."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.app_name == "annotations":
        return error(
            403, f"CSRF check failed ({reason}): send the csrftoken cookie in X-CSRFToken."
        )
    return csrf.csrf_failure(request, reason)


# --- Reading requests --------------------------------------------------------------------------


def _json_body(request: HttpRequest, *, required: bool = True) -> object:
    limit = settings.ANNOTATION_MAX_BODY_BYTES
    too_large = Refusal(413, f"The request body is larger than {limit} bytes.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise too_large
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise too_large from exc
    if len(body) > limit:
        raise too_large
    if not body.strip() and not required:
        return {}
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Refusal(400, "The request body is not valid JSON.") from exc


def _object(value: object, field: str) -> dict:
    if not isinstance(value, dict):
        raise Refusal(400, f"{field} must be a JSON object.", field)
    return value


def _id(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Refusal(400, f"{field} must be a positive whole number.", field)
    return value


def _int_param(raw: str, field: str, low: int = 1, high: int = MAX_ID) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise Refusal(400, f"{field} must be a whole number.", field) from exc
    if not low <= value <= high:
        raise Refusal(400, f"{field} must be between {low} and {high}.", field)
    return value


def _lookup(model, value: object, field: str):
    found = model.objects.filter(pk=_id(value, field)).first()
    if found is None:
        raise Refusal(400, f"No {field} {value}.", field)
    return found


def _kind(value: object) -> str:
    if value not in Annotation.Kind.values:
        raise Refusal(400, f"kind must be one of {', '.join(Annotation.Kind.values)}.", "kind")
    return value


def _uuid(value: object) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value if isinstance(value, str) else "not a string")
    except ValueError as exc:
        message = "uuid must be a UUID such as crypto.randomUUID() gives."
        raise Refusal(400, message, "uuid") from exc


def _version(value: object, field: str = "version") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Refusal(400, f"{field} must be the annotation's version, a whole number.", field)
    return value


def _viewport_query(query: QueryDict, slide: Slide) -> dict:
    limit = selectors.MAX_LIMIT
    return {
        "bbox": _bbox(query.get("bbox"), slide),
        "label_ids": [_int_param(p, "label") for p in query.get("label", "").split(",") if p],
        "assignment_id": _optional_int(query, "assignment"),
        "limit": _int_param(query.get("limit", str(selectors.DEFAULT_LIMIT)), "limit", 1, limit),
    }


def _optional_int(query: QueryDict, field: str) -> int | None:
    return _int_param(query[field], field) if query.get(field) else None


def _bbox(raw: str | None, slide: Slide) -> tuple[float, float, float, float]:
    if raw is None:
        return (0.0, 0.0, float(slide.width or 2**31), float(slide.height or 2**31))
    try:
        x0, y0, x1, y1 = (float(part) for part in raw.split(","))
    except ValueError as exc:
        raise Refusal(400, "bbox must be four numbers: x0,y0,x1,y1.", "bbox") from exc
    if not all(map(math.isfinite, (x0, y0, x1, y1))):
        raise Refusal(400, "bbox must be four finite numbers.", "bbox")
    if x1 < x0 or y1 < y0:
        raise Refusal(400, "bbox must have x0 ≤ x1 and y0 ≤ y1.", "bbox")
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
    feature = _object(_json_body(request), "The body")
    properties = _object(feature.get("properties", {}), "properties")
    annotation, created = services.annotation_create(
        slide=slide,
        assignment=_lookup(Assignment, properties.get("assignment"), "assignment"),
        author=request.user,
        label=_lookup(Label, properties.get("label"), "label"),
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
    assignment_id = _optional_int(request.GET, "assignment")
    stats = selectors.annotation_stats(user=request.user, slide=slide, assignment_id=assignment_id)
    return JsonResponse(stats)


@api("GET", "PATCH", "DELETE")
def annotation(request: HttpRequest, annotation_id: int) -> HttpResponse:
    """GET: one annotation; PATCH: change it at a version; DELETE: soft-delete it."""
    found = get_annotation_for_user(request.user, annotation_id)
    if request.method == "PATCH":
        return _update(request, found)
    if request.method == "DELETE":
        version = _optional_int(request.GET, "version")
        deleted = services.annotation_delete(annotation=found, actor=request.user, version=version)
        return _feature(deleted)
    return _feature(found)


def _update(request: HttpRequest, found: Annotation) -> HttpResponse:
    body = _object(_json_body(request), "The body")
    properties = _object(body.get("properties", {}), "properties")
    changes = {key: properties[key] for key in ("name", "comment") if key in properties}
    if "geometry" in body:
        changes["geometry"] = body["geometry"]
    if "label" in properties:
        changes["label"] = _lookup(Label, properties["label"], "label")
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
    body = _object(_json_body(request, required=False), "The body")
    version = _version(body["version"]) if "version" in body else None
    restored = services.annotation_restore(annotation=found, actor=request.user, version=version)
    return _feature(restored)


@api("GET")
def annotation_history(request: HttpRequest, annotation_id: int) -> HttpResponse:
    """Every change of one annotation, oldest first."""
    found = get_annotation_for_user(request.user, annotation_id)
    return JsonResponse({"revisions": selectors.annotation_history(found)})
