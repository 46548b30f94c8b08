"""The product's error pages in a real browser, with DEBUG off as in the quick start: its own
layout, a way back to one's work, and never Django's technical page listing the URL patterns."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def debug_off(settings):
    settings.DEBUG = False


def expect_product_error_page(page, *, status: int, heading: str, response) -> None:
    assert response.status == status
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("link", name="WSI2ML")).to_be_visible()
    assert "URLconf" not in page.content()  # Django's technical 404 names the URL patterns


def test_an_annotator_opening_a_slide_not_theirs_sees_the_404_page_and_finds_home(
    page, live_server, log_in, annotator, slide, problems, artifacts
):
    log_in(annotator)

    response = page.goto(live_server.url + reverse("slides:viewer", args=[slide.pk]))

    expect_product_error_page(page, status=404, heading="Not found", response=response)
    expect(page.get_by_role("alert")).to_contain_text("has not been shared with you")
    page.screenshot(path=artifacts / "error-404.png")
    page.get_by_role("link", name="Back to my work").click()
    page.wait_for_url(live_server.url + reverse("home"))
    assert problems == []


def test_an_annotator_opening_the_projects_sees_the_403_page_saying_why(
    page, live_server, log_in, annotator, problems, artifacts
):
    log_in(annotator)

    response = page.goto(live_server.url + reverse("tasks:project_list"))

    expect_product_error_page(page, status=403, heading="You may not do this", response=response)
    expect(page.get_by_role("alert")).to_contain_text(
        "Only project managers see the progress of projects."
    )
    page.screenshot(path=artifacts / "error-403.png")
    page.get_by_role("link", name="Back to my work").click()
    page.wait_for_url(live_server.url + reverse("home"))
    assert problems == []


def test_a_failing_page_shows_the_500_page_with_the_layout(
    page, live_server, log_in, annotator, monkeypatch, problems, artifacts
):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("slides.selectors.slide_list_for_user", broken)
    log_in(annotator)

    response = page.goto(live_server.url + reverse("slides:list"))

    expect_product_error_page(
        page, status=500, heading="Something went wrong on our side", response=response
    )
    expect(page.get_by_role("link", name="Back to my work")).to_have_attribute(
        "href", reverse("home")
    )
    page.screenshot(path=artifacts / "error-500.png")
    assert problems == []
