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
