"""A project manager follows agreement in a real browser: overview summary, project page with
its chart, a slide's page and its link to both layers; no script error, no CSP violation."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def task(slides_root, project):
    slides = [factories.slide_create(slides_root, f"case-{i}.tiff", 1200, 800, i) for i in (1, 2)]
    people = [factories.user_create(name) for name in ("pathologist", "second")]
    task, assignments = factories.annotation_task_create(
        project=project, name="Round 1", slides=slides, annotators=people
    )
    tumour = project.labels.get(name="Tumour")
    for assignment, x in zip(assignments, (100, 150), strict=True):
        factories.annotation_draw(
            assignment=assignment, slide=slides[0], label=tumour, geometry=factories.square(x, 100)
        )
    return task


def test_a_manager_follows_agreement_down_to_a_slide(
    log_in, manager, project, task, live_server, problems, artifacts
):
    page = log_in(manager, reverse("tasks:project_overview", args=[project.pk]))

    summary = page.locator("#agreement-summary")
    expect(summary.locator("tr[data-task]")).to_contain_text("0.500")
    summary.screenshot(path=artifacts / "agreement-summary.png")
    summary.get_by_role("link", name="Agreement in Round 1").click()

    expect(page.get_by_role("heading", name="Round 1")).to_be_visible()
    chart = page.get_by_role("img", name="Dice and F1 per annotator pair in Round 1")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["width"] > 300
    page.screenshot(path=artifacts / "agreement-project.png", full_page=True)
    page.get_by_role("link", name="Agreement on case-1.tiff").click()

    expect(page.get_by_role("heading", name="Agreement on case-1.tiff")).to_be_visible()
    expect(page.locator("tr[data-label=all]")).to_contain_text("0.500")
    page.screenshot(path=artifacts / "agreement-slide.png", full_page=True)
    link = page.get_by_role("link", name="Open the slide with both layers")
    assert "?layers=assignment-" in link.get_attribute("href")
    assert problems == []
