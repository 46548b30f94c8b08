"""
A WSGI-level fast path for Deep Zoom tiles.

A viewer fetches tiles by the hundred. For a request that carries a valid tile grant (see
slides.grants) the tile is the whole job, and Django's middleware stack — sessions, CSRF,
messages, content security policy, URL resolution — costs more than reading the tile from the
cache. This wrapper answers such requests itself, with the same headers the tile view sends and
the security headers the middleware would add. Anything else (another URL or method, no or an
expired grant, a missing tile or file, a request that must first be redirected to HTTPS) passes
to Django unchanged, where the tile view performs the full check and renders errors.
"""

import re
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host

from slides import grants, tiles
from slides.deepzoom import SlideUnavailable, TileNotFound

TILE_PATH = re.compile(
    r"^/slides/(?P<slide>[0-9]{1,12})_files/(?P<level>[0-9]{1,7})/"
    r"(?P<col>[0-9]{1,7})_(?P<row>[0-9]{1,7})\.jpeg$"
)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def _is_secure(environ: dict) -> bool:
    header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if header is not None:
        name, value = header
        return environ.get(name, "").split(",")[0].strip() == value
    return environ.get("wsgi.url_scheme") == "https"


def _host_allowed(environ: dict) -> bool:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def _headers(reply: tiles.ImageReply, secure: bool) -> list[tuple[str, str]]:
    headers = [
        ("ETag", reply.etag),
        ("Cache-Control", f"private, max-age={settings.TILE_BROWSER_MAX_AGE}"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", settings.SECURE_REFERRER_POLICY),
        ("X-Frame-Options", settings.X_FRAME_OPTIONS),
    ]
    if reply.status == 200:
        headers += [("Content-Type", "image/jpeg"), ("Content-Length", str(len(reply.body)))]
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    return headers


class TileFastPath:
    """Wrap the Django WSGI application; answer granted tile requests before it."""

    def __init__(self, app: WSGIApp):
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = TILE_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        secure = _is_secure(environ)
        if (settings.SECURE_SSL_REDIRECT and not secure) or not _host_allowed(environ):
            return self.app(environ, start_response)
        slide_id = int(match["slide"])
        if not grants.has_tile_grant(parse_cookie(environ.get("HTTP_COOKIE", "")), slide_id):
            return self.app(environ, start_response)
        try:
            reply = tiles.tile_reply(
                slide_id,
                int(match["level"]),
                int(match["col"]),
                int(match["row"]),
                environ.get("HTTP_IF_NONE_MATCH", ""),
            )
        except (SlideUnavailable, TileNotFound):
            return self.app(environ, start_response)
        status = "200 OK" if reply.status == 200 else "304 Not Modified"
        start_response(status, _headers(reply, secure))
        return [reply.body]
