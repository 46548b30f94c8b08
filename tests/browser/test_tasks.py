"""A pathologist's day in a real browser: status page, Continue, Done and next, progress."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tasks import services
from tasks.models import AssignmentSlide, Label, Project, Task
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INSTRUCTIONS = "Outline every region of invasive tumour."


@pytest.fixture
def assignment(slides_root, annotator, admin_user):
    project = Project.objects.create(name="Breast")
    Label.objects.create(project=project, name="Tumour", colour="#d62728", shortcut="1")
    slides = [
        factories.slide_create(slides_root, f"case-{i}.tiff", 1200, 800, seed=i) for i in range(3)
    ]
    task = Task.objects.create(project=project, name="Round 1", instructions=INSTRUCTIONS)
    return services.assignment_create(
        task=task, assignee=annotator, slides=slides, actor=admin_user
    )


def test_continue_done_and_next(log_in, annotator, assignment, live_server, problems, artifacts):
    first, second, _ = assignment.assignment_slides.order_by("order")
    page = log_in(annotator)

    expect(page.locator("#overall-progress")).to_have_text("0 of 3 slides done")
    expect(page.get_by_role("heading", name="Round 1")).to_be_visible()
    page.screenshot(path=artifacts / "status-page.png")
    page.get_by_role("link", name="Continue").click()

    page.wait_for_url(
        f"{live_server.url}{reverse('annotations:work', args=[assignment.pk, first.slide_id])}"
    )
    expect(page.locator("#work-position")).to_contain_text("Slide 1 of 3")
    expect(page.locator("#task-instructions")).to_have_text(INSTRUCTIONS)
    page.wait_for_function("() => document.body.dataset.viewerReady === '1'")
    page.screenshot(path=artifacts / "work-view.png")
    page.get_by_role("button", name="Done, next slide").click()
    dialog = page.get_by_role("dialog", name="Mark “case-0.tiff” done?")
    expect(dialog).to_contain_text("You have drawn no annotations on this slide.")
    dialog.get_by_role("button", name="Mark done, open the next slide").click()

    page.wait_for_url(
        f"{live_server.url}{reverse('annotations:work', args=[assignment.pk, second.slide_id])}"
    )
    expect(page.locator("#work-position")).to_contain_text("Slide 2 of 3")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My work").click()
    expect(page.locator("#overall-progress")).to_have_text("1 of 3 slides done")
    expect(page.locator(".task-progress")).to_have_text("1 / 3 slides done")
    assert AssignmentSlide.objects.get(pk=first.pk).state == AssignmentSlide.State.DONE
    assert problems == []


def test_reopen_a_done_slide(log_in, annotator, assignment, live_server, problems):
    first = assignment.assignment_slides.order_by("order").first()
    services.work_done(item=first)
    page = log_in(annotator, reverse("annotations:work", args=[assignment.pk, first.slide_id]))

    page.get_by_role("button", name="Reopen slide").click()

    expect(page.get_by_role("button", name="Done, next slide")).to_be_visible()
    assert AssignmentSlide.objects.get(pk=first.pk).state == AssignmentSlide.State.IN_PROGRESS
    assert problems == []
