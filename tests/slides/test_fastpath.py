"""The WSGI fast path answers granted tile requests itself and passes everything else to Django."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from slides import grants
from slides.fastpath import TileFastPath
from wsi2ml.wsgi import application

pytestmark = pytest.mark.django_db


class Reply:
    def __init__(self, app, environ):
        self.chunks = list(app(environ, self.start_response))

    def start_response(self, status, headers):
        self.status = int(status.split()[0])
        self.headers = dict(headers)

    @property
    def body(self):
        return b"".join(self.chunks)


def django_never_called(environ, start_response):
    raise AssertionError("the request reached Django")


def django_stub(environ, start_response):
    start_response("299 Passed On", [])
    return [b"django"]


@pytest.fixture
def granted_cookies(client_for, annotator_with_slide, slide):
    client = client_for(annotator_with_slide)
    client.get(reverse("slides:viewer", args=[slide.pk]))
    return "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())


def tile_environ(slide, cookies="", level=9, col=0, row=0, method="get", **extra):
    url = reverse("slides:tile", args=[slide.pk, level, col, row])
    return getattr(RequestFactory(), method)(url, HTTP_COOKIE=cookies, **extra).environ


def test_granted_tile_is_served_without_django(slide, granted_cookies, django_assert_num_queries):
    reply = None
    with django_assert_num_queries(1):  # the slide's path, read once per process and cached
        reply = Reply(TileFastPath(django_never_called), tile_environ(slide, granted_cookies))
    with django_assert_num_queries(0):
        again = Reply(TileFastPath(django_never_called), tile_environ(slide, granted_cookies))

    assert reply.status == again.status == 200
    assert reply.body[:2] == b"\xff\xd8"
    assert reply.headers["Content-Type"] == "image/jpeg"
    assert reply.headers["Content-Length"] == str(len(reply.body))
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Cache-Control"].startswith("private, max-age=")


def test_fast_path_serves_what_the_tile_view_serves(admin_user, slide, granted_cookies):
    admin = Client()  # not client_for: logging its annotator out would void the grant
    admin.force_login(admin_user)
    viewed = admin.get(reverse("slides:tile", args=[slide.pk, 9, 1, 0]))

    fast = Reply(application, tile_environ(slide, granted_cookies, col=1))

    assert fast.status == 200
    assert fast.body == viewed.content
    assert fast.headers["ETag"] == viewed["ETag"]


def test_conditional_request_answers_304(slide, granted_cookies):
    first = Reply(TileFastPath(django_never_called), tile_environ(slide, granted_cookies))
    environ = tile_environ(slide, granted_cookies, HTTP_IF_NONE_MATCH=first.headers["ETag"])

    again = Reply(TileFastPath(django_never_called), environ)

    assert again.status == 304
    assert again.body == b""


@pytest.mark.parametrize(
    "case",
    ["no grant", "forged grant", "other url", "post", "missing tile", "plain http", "bad host"],
)
def test_everything_else_passes_to_django(slide, granted_cookies, settings, case):
    environ = {
        "no grant": lambda: tile_environ(slide),
        "forged grant": lambda: tile_environ(slide, f"{grants.COOKIE_NAME}=1:2:3:x:y"),
        "other url": lambda: RequestFactory().get("/slides/", HTTP_COOKIE=granted_cookies).environ,
        "post": lambda: tile_environ(slide, granted_cookies, method="post"),
        "missing tile": lambda: tile_environ(slide, granted_cookies, level=9, col=99),
        "plain http": lambda: tile_environ(slide, granted_cookies),
        "bad host": lambda: tile_environ(slide, granted_cookies, HTTP_HOST="evil.example"),
    }[case]()
    if case == "plain http":
        settings.SECURE_SSL_REDIRECT = True

    reply = Reply(TileFastPath(django_stub), environ)

    assert reply.status == 299
    assert reply.body == b"django"


@pytest.mark.django_db(transaction=True)  # Django's handler may close the connection
def test_missing_tile_gets_djangos_404(slide, granted_cookies):
    reply = Reply(application, tile_environ(slide, granted_cookies, level=9, col=99))
    assert reply.status == 404


def test_hsts_header_on_https(slide, granted_cookies, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    environ = tile_environ(slide, granted_cookies, secure=True)

    reply = Reply(TileFastPath(django_never_called), environ)

    assert reply.headers["Strict-Transport-Security"].startswith("max-age=3600")
