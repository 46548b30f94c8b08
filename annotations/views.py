"""The annotation editing API: JSON in, JSON out, every refusal ``{"error": ...}``.

See docs/annotations-spec.md for the contract and README.md (Annotation API) for examples.
"""

import json
import logging
import math
import re
import uuid
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.views import csrf

from annotations import selectors, services
from annotations.geometry import GeometryError
from annotations.models import Annotation
from annotations.permissions import assignments_visible_to, get_annotation_for_user
from slides.converters import parse_number
from slides.models import Slide
from slides.permissions import get_slide_for_user
from tasks.models import Assignment, Label
from wsi2ml.text import UNSTORABLE

logger = logging.getLogger(__name__)

MAX_ID = 2**63 - 1
JSON = "application/json"
# The JSON escapes of NUL and of UTF-16 surrogates (paired or not); a literal prefix, so that
# searching 2 MB takes about a millisecond.
UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


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

    Anonymous callers get 401 rather than the log-in redirect of LoginRequiredMiddleware; a
    body that is not JSON gets 415; a database that cannot be reached, 503 (the editor retries
    5xx answers later).
    """

    def decorate(view: Callable) -> Callable:
        @login_not_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                return _answer(request, methods, lambda: view(request, *args, **kwargs))
            except (OperationalError, InterfaceError) as exc:
                # Also raised by request.user, whose session and user are read on first use.
                logger.error(
                    "database unavailable for %s %s: %s", request.method, request.path, exc
                )
                return error(503, "The database is unavailable; try again in a moment.")

        return wrapper

    return decorate


def _answer(request: HttpRequest, methods: tuple[str, ...], view: Callable) -> HttpResponse:
    """Check who asks, how and with what body; run ``view``; turn its refusals into JSON."""
    if not request.user.is_authenticated:
        return error(401, "Log in to use the annotation API.")
    if request.method not in methods:
        response = error(405, f"Use {' or '.join(methods)} here.")
        response["Allow"] = ", ".join(methods)
        return response
    if _has_body(request) and request.content_type != JSON:
        sent = request.content_type or "no Content-Type"
        return error(415, f"Send the body as JSON with Content-Type: {JSON} (this one is {sent}).")
    try:
        return view()
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
        return error(409, exc.message, current=selectors.annotation_feature(exc.current))


def _has_body(request: HttpRequest) -> bool:
    """Whether the request sends a body; without Content-Length Django reads none either."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    return request.META.get("CONTENT_LENGTH", "") not in ("", "0")


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
        # Decoded strictly, not with json.loads' "surrogatepass": bytes of a lone surrogate are
        # not UTF-8. Only a \u escape can then spell a string PostgreSQL cannot store.
        text = body.decode(json.detect_encoding(body))
        parsed = json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise Refusal(400, "The request body is not valid JSON.") from exc
    if UNSTORABLE_ESCAPE.search(text):
        _check_storable(parsed)
    return parsed


def _check_storable(document: object) -> None:
    """Refuse a JSON document holding, anywhere, a string PostgreSQL cannot store.

    One walk over everything parsed, keys included, rather than a check per field: no text of
    a body can reach a query unchecked. Iterative, because nesting is as deep as the body allows;
    paths are linked tuples, formatted only for the refusal, so that the walk over a body of
    150,000 coordinate pairs (1.8 MB) costs about 0.15 s rather than 0.5 s.
    """
    search = UNSTORABLE.search
    pending: list[tuple[tuple | None, object]] = [(None, document)]
    while pending:
        path, item = pending.pop()
        if type(item) is dict:
            children = iter(item.items())
        elif type(item) is list:
            children = enumerate(item)
        else:
            if type(item) is str and search(item):
                raise _unstorable(path, key=False)
            continue
        for key, child in children:
            if type(key) is str and search(key):
                raise _unstorable(path, key=True)
            if type(child) is str and search(child):
                raise _unstorable((path, key), key=False)
            if type(child) in (list, dict):
                pending.append(((path, key), child))


def _unstorable(path: tuple | None, *, key: bool) -> Refusal:
    parts = []
    while path is not None:
        path, part = path
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    where = "".join(reversed(parts)).removeprefix(".")
    what = f"A key of {where or 'the body'}" if key else where or "The body"
    message = f"{what} holds a NUL character or an unpaired UTF-16 surrogate; send text without."
    return Refusal(400, message, where)


def _object(value: object, field: str) -> dict:
    if not isinstance(value, dict):
        raise Refusal(400, f"{field} must be a JSON object.", field)
    return value


def _id(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Refusal(400, f"{field} must be a positive whole number.", field)
    return value


def _int_param(raw: str, field: str, low: int = 1, high: int = MAX_ID) -> int:
    value = parse_number(raw, low=low, high=high)
    if value is None:
        raise Refusal(400, f"{field} must be a whole number between {low} and {high}.", field)
    return value


def _lookup(queryset: QuerySet, value: object, field: str):
    """The row of ``queryset`` with id ``value``.

    ``queryset`` holds only what the user may see: a row outside it gets the same answer as an
    id that exists nowhere, so the answer tells nothing about other people's data.
    """
    found = queryset.filter(pk=_id(value, field)).first()
    if found is None:
        raise Refusal(400, f"No {field} {value}.", field)
    return found


def _labels_of(assignment: Assignment) -> QuerySet[Label]:
    return Label.objects.filter(project_id=assignment.task.project_id)


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
    visible = assignments_visible_to(request.user)
    assignment = _lookup(visible, properties.get("assignment"), "assignment")
    annotation, created = services.annotation_create(
        slide=slide,
        assignment=assignment,
        author=request.user,
        label=_lookup(_labels_of(assignment), properties.get("label"), "label"),
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
        changes["label"] = _lookup(_labels_of(found.assignment), properties["label"], "label")
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
