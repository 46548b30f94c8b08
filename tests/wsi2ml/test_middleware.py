"""RefuseUnstorableTextMiddleware: NUL or a lone surrogate anywhere in a request is a 400.

Without it the annotator's own slide search, a session cookie and a multipart log-in form in
the ``unicode_escape`` charset took them to PostgreSQL, where psycopg2 raises ValueError ("A
string literal cannot contain NUL") or UnicodeEncodeError: a server error. Pages whose forms
prohibit NUL (Django's CharField does) answered 200 and ignored it; now every page gives the
same 400.
"""

import pytest
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict_client():
    """A client that answers a server error with its 500 page instead of raising it."""
    return Client(raise_request_exception=False)


def assert_plain_400(response, where):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert f"{where} holds a NUL character (%00) or an unpaired" in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/slides/?search=%00",
        "/slides/?vendor=a%00b",
        "/work/slides/?search=%00",
        "/work/slides/?show=%00",
        "/projects/?page=%00",
    ],
)
def test_a_nul_in_a_search_is_a_400_for_an_annotator(strict_client, annotator, url):
    strict_client.force_login(annotator)

    response = strict_client.get(url)

    name = url.split("?")[1].split("=")[0]
    assert_plain_400(response, f"The query parameter “{name}”")


@pytest.mark.parametrize(
    "model",
    [
        "slides/slide",
        "tasks/project",
        "tasks/task",
        "tasks/assignment",
        "annotations/annotation",
        "annotations/annotationrevision",
        "auth/user",
    ],
)
def test_a_nul_in_an_admin_search_is_a_400(strict_client, admin_user, model):
    strict_client.force_login(admin_user)

    response = strict_client.get(f"/admin/{model}/", {"q": "tumour\x00"})

    assert_plain_400(response, "The query parameter “q”")


def test_a_nul_in_the_log_in_form_is_a_400_and_no_log_in(strict_client, annotator):
    response = strict_client.post(
        reverse("login"), {"username": "annotator\x00", "password": factories.PASSWORD}
    )

    assert_plain_400(response, "The form field “username”")
    assert "_auth_user_id" not in strict_client.session


def test_a_surrogate_in_a_form_of_another_charset_is_a_400(strict_client, annotator):
    # Django decodes multipart fields with the charset the request names; this one turns the
    # six characters \ud800 into a lone surrogate.
    body = (
        b'--x\r\nContent-Disposition: form-data; name="username"\r\n\r\n\\ud800\r\n'
        b'--x\r\nContent-Disposition: form-data; name="password"\r\n\r\nx\r\n--x--\r\n'
    )
    content_type = "multipart/form-data; boundary=x; charset=unicode_escape"

    response = strict_client.generic("POST", reverse("login"), body, content_type=content_type)

    assert_plain_400(response, "The form field “username”")


def test_a_nul_in_a_form_field_name_is_a_400(strict_client, annotator):
    response = strict_client.post(reverse("login"), {"user\x00name": "annotator"})

    assert_plain_400(response, "The name of a form field")


def test_a_nul_in_the_session_cookie_is_a_400(strict_client):
    # Sent quoted as "abcdefgh\000ijkl"; Django's cookie parser turns \000 back into NUL.
    strict_client.cookies["sessionid"] = "abcdefgh\x00ijklmnop"

    response = strict_client.get(reverse("slides:list"))

    assert_plain_400(response, "The cookie “sessionid”")


def test_a_nul_in_a_header_is_a_400(strict_client, annotator):
    strict_client.force_login(annotator)

    response = strict_client.get(reverse("home"), headers={"user-agent": "probe\x00"})

    assert_plain_400(response, "The header “User-Agent”")


def test_a_nul_in_the_url_is_a_400(strict_client, admin_user):
    strict_client.force_login(admin_user)

    response = strict_client.get("/admin/tasks/task/1%00/change/")

    assert_plain_400(response, "The URL")


def test_under_the_api_the_400_is_json(strict_client, annotator):
    strict_client.force_login(annotator)

    response = strict_client.get("/api/slides/1/annotations", {"bbox": "0,0,1,1\x00"})

    assert response.status_code == 400
    assert response.json() == {
        "error": "The query parameter “bbox” holds a NUL character (%00) or an unpaired UTF-16 "
        "surrogate, which is never valid here."
    }


def test_other_characters_pass_unchanged(client, annotator, slide):
    client.force_login(annotator)

    # Invalid UTF-8 (here a UTF-8-encoded lone surrogate) is decoded by Django to U+FFFD.
    response = client.get("/slides/?search=%ED%A0%80%C2%B2%FF&vendor=é")

    assert response.status_code == 200
    assert response.context["form"]["search"].value() == "\ufffd\ufffd\ufffd²\ufffd"
