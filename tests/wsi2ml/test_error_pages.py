"""The product's own 400, 403, 404 and 500 pages, as served with DEBUG off (the quick start too)."""

import pytest
from django.template import loader
from django.test import Client, RequestFactory
from django.urls import reverse

from tests import factories
from wsi2ml import views


@pytest.fixture(autouse=True)
def debug_off(settings):
    """Django shows its technical pages instead of these when DEBUG is on."""
    settings.DEBUG = False


def assert_product_page(response, *, heading: str) -> None:
    html = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert heading in html
    assert 'class="navbar-brand"' in html  # the product's layout, not Django's bare page
    assert f'<a href="{reverse("home")}">Back to my work</a>' in html


@pytest.mark.django_db
def test_a_slide_the_annotator_may_not_see_is_the_products_404(client, annotator, slide):
    client.force_login(annotator)

    response = client.get(reverse("slides:viewer", args=[slide.pk]))

    assert response.status_code == 404
    assert_product_page(response, heading="Not found")
    assert f"<code>/slides/{slide.pk}/</code>" in response.content.decode()


@pytest.mark.django_db
def test_an_unknown_page_is_the_products_404(client, annotator):
    client.force_login(annotator)

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert_product_page(response, heading="Not found")


@pytest.mark.django_db
def test_a_page_the_annotator_may_not_open_is_the_products_403_saying_why(client, annotator):
    client.force_login(annotator)

    response = client.get(reverse("tasks:project_list"))

    assert response.status_code == 403
    assert_product_page(response, heading="You may not do this")
    assert "Only project managers see the progress of projects." in response.content.decode()


@pytest.mark.django_db
def test_a_failing_page_is_the_products_500(client, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("slides.selectors.slide_list_for_user", broken)
    client.raise_request_exception = False
    client.force_login(factories.user_create("admin", is_staff=True))

    response = client.get(reverse("slides:list"))

    assert response.status_code == 500
    assert_product_page(response, heading="Something went wrong on our side")
    assert "a bug" not in response.content.decode()


def test_the_500_page_renders_without_request_context_or_database():
    # No django_db mark: any query the layout made (a context processor, a template tag) would
    # fail here, as it would when the database is what failed.
    html = loader.get_template("500.html").render()

    assert "Something went wrong on our side" in html
    assert 'class="navbar-brand"' in html


def test_a_failing_page_outside_the_api_gets_the_500_page_from_its_handler():
    response = views.server_error(RequestFactory().get("/slides/1/"))

    assert response.status_code == 500
    assert_product_page(response, heading="Something went wrong on our side")


def test_a_request_for_an_unknown_host_is_the_products_400(client):
    response = client.get("/", headers={"host": "wsi2ml.attacker.example"})

    assert response.status_code == 400
    assert_product_page(response, heading="The server could not understand this request")


@pytest.mark.django_db
def test_a_broken_form_body_is_the_products_400(client):
    response = client.generic(
        "POST", reverse("login"), b"--\r\n", content_type="multipart/form-data; boundary="
    )

    assert response.status_code == 400
    assert_product_page(response, heading="The server could not understand this request")


@pytest.mark.django_db
def test_a_form_sent_without_its_csrf_token_is_the_products_403(annotator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)

    response = client.post(reverse("logout"))

    assert response.status_code == 403
    assert_product_page(response, heading="This form could not be sent")
