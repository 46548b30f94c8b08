"""Root URL configuration: what answers where no app's route does."""

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/", "/api/nothing", "/api/slides/1/annotations/", "/api/annotations/x"]
)
def test_an_unknown_api_url_is_a_json_404(client, path):
    client.force_login(factories.user_create("someone"))

    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": f"No API endpoint at {path}."}


def test_an_unknown_api_url_is_a_json_404_without_logging_in(client):
    response = client.post("/api/nothing")

    assert response.status_code == 404
    assert response.json()["error"] == "No API endpoint at /api/nothing."


def test_an_unknown_page_elsewhere_keeps_the_html_404(client):
    client.force_login(factories.user_create("someone"))

    response = client.get("/nothing/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.fixture
def failing_client(client):
    """A logged-in client that gets the 500 page of a failing view rather than its exception."""
    client.raise_request_exception = False
    client.force_login(factories.user_create("someone", is_staff=True))
    return client


def test_an_unexpected_error_under_the_api_is_a_json_500(failing_client, monkeypatch, slide):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("annotations.selectors.annotation_stats", broken)

    response = failing_client.get(f"/api/slides/{slide.pk}/annotations/stats")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "Internal server error; it has been logged."}


def test_an_unexpected_error_elsewhere_keeps_the_html_500(failing_client, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("slides.selectors.slide_list_for_user", broken)

    response = failing_client.get("/slides/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


BROKEN_MULTIPART = "multipart/form-data; boundary="


def test_a_body_django_cannot_parse_is_a_json_400_under_the_api(failing_client, slide):
    response = failing_client.generic(
        "POST", f"/api/slides/{slide.pk}/annotations", b"--\r\n", content_type=BROKEN_MULTIPART
    )

    assert response.status_code == 400
    assert response.json() == {"error": "The request is malformed or too large."}


def test_a_body_django_cannot_parse_is_an_html_400_elsewhere(failing_client):
    response = failing_client.generic(
        "POST", "/accounts/login/", b"--\r\n", content_type=BROKEN_MULTIPART
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
