import logging

from django.contrib.auth import middleware
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from wsi2ml import tokens
from wsi2ml.api import error, is_api
from wsi2ml.text import UNSTORABLE

logger = logging.getLogger(__name__)


class LoginRequiredMiddleware(middleware.LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, but views marked ``login_not_required`` are passed
    through before ``request.user`` is evaluated.

    Django's own version loads the session and the user first, two database queries per request;
    the tile view authorises most requests from a signed grant cookie and must not pay them.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "login_required", True):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class RefuseUnstorableTextMiddleware:
    """Answer 400 to a request with text PostgreSQL cannot store in its URL, query string, form
    fields, cookies or headers.

    Refusing it here covers every view at once: a search, a log-in name, an admin filter, a
    session cookie (``\\000`` in a quoted cookie is a NUL). A query string or form decoded as
    UTF-8 holds no lone surrogate (Django turns bytes that are not UTF-8 into U+FFFD), but a
    multipart form may name another charset (``unicode_escape`` turns ``\\ud800`` into one).
    JSON bodies are checked where the API parses them, with the same pattern.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = _unstorable_in(request)
        if where is None:
            return self.get_response(request)
        message = (
            f"{where} holds a NUL character (%00) or an unpaired UTF-16 surrogate, "
            "which is never valid here."
        )
        if is_api(request):
            return JsonResponse({"error": message}, status=400)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _unstorable_in(request: HttpRequest) -> str | None:
    """Name the first part of ``request`` holding text PostgreSQL cannot store, or None."""
    if UNSTORABLE.search(request.path_info):
        return "The URL"
    # request.POST parses only form bodies (JSON stays unread) and only for POST, as the CSRF
    # check that follows would anyway.
    for what, fields in (
        ("The query parameter", request.GET.lists()),
        ("The form field", request.POST.lists()),
        ("The cookie", ((name, [value]) for name, value in request.COOKIES.items())),
        ("The header", ((name, [value]) for name, value in request.headers.items())),
    ):
        for name, values in fields:
            if UNSTORABLE.search(name):
                return f"The name of a {what.removeprefix('The ')}"
            if any(UNSTORABLE.search(value) for value in values):
                return f"{what} “{name}”"
    return None


class ApiTokenMiddleware:
    """Authenticate API requests that carry ``Authorization: Bearer <token>`` as the token's user.

    Only under /api/ (``is_api``): a page outside it ignores the header, so a token never logs
    anyone in to the web pages. There, any Authorization header must be a valid token: anything
    else is a 401 JSON answer with ``WWW-Authenticate: Bearer``, rather than falling back on the
    session, so that a script learns at once why its token is refused. The session is neither
    read nor written: ``request.user`` is set directly, as no log-in happens. Which views a
    token may change data through is ``wsi2ml.api.api``'s ``token_writes``.

    Runs after AuthenticationMiddleware, whose lazy ``request.user`` it replaces.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization")
        if header is None or not is_api(request):
            return self.get_response(request)
        try:
            token = tokens.api_token_authenticate(header)
        except tokens.ApiTokenInvalid as exc:
            response = exc.response()
            response["WWW-Authenticate"] = "Bearer"
            return response
        except (OperationalError, InterfaceError) as exc:
            logger.error("database unavailable for %s %s: %s", request.method, request.path, exc)
            return error(503, "The database is unavailable; try again in a moment.")
        user = token.user
        request.user = user
        request.auser = _returning(user)
        request.api_token = token
        # CSRF protects a session cookie that the browser sends by itself with a forged
        # cross-site request. A browser never adds an Authorization header by itself, and a
        # cross-site script cannot add one without a CORS preflight, which this site does not
        # grant; so a request carrying a valid token was sent by someone holding the token.
        request._dont_enforce_csrf_checks = True
        return self.get_response(request)


def _returning(user):
    async def auser():
        return user

    return auser
