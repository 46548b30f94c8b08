"""The plumbing every JSON API of WSI2ML shares: one decorator, one error type, body parsing.

A view decorated with ``api(...)`` answers JSON whatever happens: 401 to anonymous callers
(not the log-in redirect), 405, 403 for a change sent with an API token to a view that takes
none, 415 for a body that is not JSON, 503 when the database cannot be reached (the browser
retries 5xx answers later), and every refusal raised inside it, as
``{"error": message, "field"?: ..., ...payload}``. Domain errors of every app subclass
``ApiError``, so that a new API (review, exports) reuses this module unchanged.
"""

import json
import logging
import math
import re
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.views import csrf

from slides.converters import parse_number
from wsi2ml.text import UNSTORABLE

logger = logging.getLogger(__name__)

MAX_ID = 2**63 - 1
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
JSON = "application/json"
MULTIPART = "multipart/form-data"
# The JSON escapes of NUL and of UTF-16 surrogates (paired or not); a literal prefix, so that
# searching 2 MB takes about a millisecond.
UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class ApiError(Exception):
    """A request refused with ``status`` and a message for the person who sent it.

    ``field`` names the part of the request at fault; ``payload()`` adds keys to the answer
    (a conflict sends the current state along).
    """

    status = 400

    def __init__(self, message: str, *, status: int | None = None, field: str = "", **payload):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = payload
        if status is not None:
            self.status = status

    def payload(self) -> dict:
        return self.extra

    def response(self) -> JsonResponse:
        return error(self.status, self.message, self.field, **self.payload())


def error(status: int, message: str, field: str = "", **extra) -> JsonResponse:
    body = {"error": message, **({"field": field} if field else {}), **extra}
    return JsonResponse(body, status=status)


def is_api(request: HttpRequest) -> bool:
    """Whether ``request`` is for the JSON API, whose every answer, errors included, is JSON."""
    return request.path_info.startswith("/api/")


def api(*methods: str, token_writes: bool = False, multipart: bool = False) -> Callable:
    """Answer only ``methods``, only to a logged-in user, and every refusal as JSON.

    A request authenticated by an API token (wsi2ml.middleware.ApiTokenMiddleware) may only
    read (GET, HEAD, OPTIONS) unless ``token_writes`` says the view accepts its changes. Bodies
    are JSON, or with ``multipart`` also multipart/form-data (a file upload).
    """

    def decorate(view: Callable) -> Callable:
        @login_not_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                return _answer(
                    request,
                    methods,
                    lambda: view(request, *args, **kwargs),
                    token_writes=token_writes,
                    multipart=multipart,
                )
            except (OperationalError, InterfaceError) as exc:
                # Also raised by request.user, whose session and user are read on first use.
                logger.error(
                    "database unavailable for %s %s: %s", request.method, request.path, exc
                )
                return error(503, "The database is unavailable; try again in a moment.")

        return wrapper

    return decorate


def _answer(
    request: HttpRequest,
    methods: tuple[str, ...],
    view: Callable,
    *,
    token_writes: bool,
    multipart: bool = False,
) -> HttpResponse:
    """Check who asks, how and with what body; run ``view``; turn its refusals into JSON."""
    if not request.user.is_authenticated:
        return error(401, "Log in to use the API.")
    if request.method not in methods:
        response = error(405, f"Use {' or '.join(methods)} here.")
        response["Allow"] = ", ".join(methods)
        return response
    if _token_write(request) and not token_writes:
        return error(
            403,
            f"API tokens are read only here: {request.method} needs a logged-in browser session.",
        )
    accepted = (JSON, MULTIPART) if multipart else (JSON,)
    if _has_body(request) and request.content_type not in accepted:
        sent = request.content_type or "no Content-Type"
        wanted = f"JSON with Content-Type: {JSON}" + (f" or as {MULTIPART}" if multipart else "")
        return error(415, f"Send the body as {wanted} (this one is {sent}).")
    try:
        return view()
    except ApiError as exc:
        return exc.response()
    except Http404 as exc:
        return error(404, str(exc) or "Not found.")
    except PermissionDenied as exc:
        return error(403, str(exc) or "You may not do this.")


def _token_write(request: HttpRequest) -> bool:
    """Whether ``request`` comes with an API token and may change something."""
    return getattr(request, "api_token", None) is not None and request.method not in SAFE_METHODS


def _has_body(request: HttpRequest) -> bool:
    """Whether the request sends a body; without Content-Length Django reads none either."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    return request.META.get("CONTENT_LENGTH", "") not in ("", "0")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON for the API, Django's page everywhere else."""
    if is_api(request):
        return error(
            403, f"CSRF check failed ({reason}): send the csrftoken cookie in X-CSRFToken."
        )
    return csrf.csrf_failure(request, reason)


# --- Reading requests --------------------------------------------------------------------------


def json_body(request: HttpRequest, *, required: bool = True) -> object:
    """The parsed JSON body, at most ANNOTATION_MAX_BODY_BYTES, holding only storable text."""
    limit = settings.ANNOTATION_MAX_BODY_BYTES
    too_large = ApiError(f"The request body is larger than {limit} bytes.", status=413)
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
        raise ApiError("The request body is not valid JSON.") from exc
    if UNSTORABLE_ESCAPE.search(text):
        check_storable(parsed)
    return parsed


def check_storable(document: object) -> None:
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


def _unstorable(path: tuple | None, *, key: bool) -> ApiError:
    parts = []
    while path is not None:
        path, part = path
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    where = "".join(reversed(parts)).removeprefix(".")
    what = f"A key of {where or 'the body'}" if key else where or "The body"
    message = f"{what} holds a NUL character or an unpaired UTF-16 surrogate; send text without."
    return ApiError(message, field=where)


def json_object(value: object, field: str) -> dict:
    if not isinstance(value, dict):
        raise ApiError(f"{field} must be a JSON object.", field=field)
    return value


def parse_id(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ApiError(f"{field} must be a positive whole number.", field=field)
    return value


def int_param(raw: str, field: str, low: int = 1, high: int = MAX_ID) -> int:
    value = parse_number(raw, low=low, high=high)
    if value is None:
        raise ApiError(f"{field} must be a whole number between {low} and {high}.", field=field)
    return value


def parse_float(raw: str) -> float | None:
    """A finite number written as text ("0.5", "1e-3"), or None (not a number, NaN, infinite,
    or longer than any number needs)."""
    try:
        value = float(raw) if len(raw) <= 40 else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def float_param(raw: str, field: str, low: float, high: float) -> float:
    value = parse_float(raw)
    if value is None or not low <= value <= high:
        raise ApiError(f"{field} must be a number from {low:g} to {high:g}.", field=field)
    return value


def optional_int(query: QueryDict, field: str) -> int | None:
    return int_param(query[field], field) if query.get(field) else None


def lookup(queryset: QuerySet, value: object, field: str):
    """The row of ``queryset`` with id ``value``.

    ``queryset`` holds only what the user may see: a row outside it gets the same answer as an
    id that exists nowhere, so the answer tells nothing about other people's data.
    """
    found = queryset.filter(pk=parse_id(value, field)).first()
    if found is None:
        raise ApiError(f"No {field} {value}.", field=field)
    return found
