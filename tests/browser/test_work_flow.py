"""Finding one's work and finishing a slide in a real browser: the menu, "Annotate" in the plain
viewer, "Done" asked once with a summary and undone from the next page, states that follow the
work, and a manager's overview with its slide × annotator matrix."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from annotations import services as annotation_services
from tasks import roles, services
from tasks.models import Assignment, AssignmentSlide, Label, Project, Task
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def project(db):
    project = Project.objects.create(name="Breast")
    Label.objects.create(project=project, name="Tumour", colour="#d62728", shortcut="1", order=0)
    Label.objects.create(project=project, name="Stroma", colour="#2ca02c", shortcut="2", order=1)
    return project


@pytest.fixture
def slides(slides_root):
    return [
        factories.slide_create(slides_root, f"case-{i}.tiff", 1200, 800, seed=i) for i in range(3)
    ]


@pytest.fixture
def assignment(project, slides, annotator, admin_user):
    task = Task.objects.create(project=project, name="Round 1")
    return services.assignment_create(
        task=task, assignee=annotator, slides=slides, actor=admin_user
    )


def items(assignment) -> list[AssignmentSlide]:
    return list(assignment.assignment_slides.order_by("order", "id"))


def work_url(live_server, item) -> str:
    return (
        f"{live_server.url}{reverse('annotations:work', args=[item.assignment_id, item.slide_id])}"
    )


def square(x: float, y: float, size: float = 60) -> dict:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def draw(item, annotator, label: str, count: int) -> None:
    for i in range(count):
        annotation_services.annotation_create(
            slide=item.slide,
            assignment=item.assignment,
            author=annotator,
            label=Label.objects.get(name=label),
            kind="polygon",
            geometry=square(100 + 100 * i, 100),
        )


def open_work(page: Page) -> None:
    page.wait_for_function("() => document.body.dataset.viewerReady === '1'")


def test_an_annotators_menu_opens_their_own_slides_in_the_editor(
    log_in, annotator, assignment, live_server, problems
):
    first = items(assignment)[0]
    page = log_in(annotator)
    menu = page.get_by_role("navigation", name="Main")

    expect(menu.get_by_role("link", name="Slides", exact=True)).to_have_count(0)
    menu.get_by_role("link", name="Your slides").click()
    page.get_by_role("link", name=first.slide.name).click()

    page.wait_for_url(work_url(live_server, first))
    expect(page.get_by_role("group", name="Annotation tools")).to_be_visible()
    assert problems == []


def test_staff_keep_the_list_of_every_slide(log_in, admin_user, assignment, live_server, problems):
    page = log_in(admin_user)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Slides").click()

    page.wait_for_url(f"{live_server.url}{reverse('slides:list')}")
    expect(page.get_by_role("link", name="case-2.tiff")).to_be_visible()
    assert problems == []


def test_the_plain_viewer_offers_annotate_on_ones_open_work(
    log_in, annotator, assignment, live_server, problems, artifacts
):
    first = items(assignment)[0]
    page = log_in(annotator, reverse("slides:viewer", args=[first.slide_id]))
    open_work(page)
    page.screenshot(path=artifacts / "viewer-annotate.png")

    page.get_by_role("link", name="Annotate", exact=True).click()

    page.wait_for_url(work_url(live_server, first))
    expect(page.get_by_role("group", name="Annotation tools")).to_be_visible()
    assert problems == []


def test_done_asks_once_with_a_summary_and_the_next_page_can_undo_it(
    log_in, annotator, assignment, live_server, problems, artifacts
):
    first, second, _ = items(assignment)
    draw(first, annotator, "Tumour", 2)
    draw(first, annotator, "Stroma", 1)
    page = log_in(annotator, reverse("annotations:work", args=[assignment.pk, first.slide_id]))
    open_work(page)
    dialog = page.get_by_role("dialog", name="Mark “case-0.tiff” done?")

    page.get_by_role("button", name="Done, next slide").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator("#done-summary")).to_have_text("You have 3 annotations on this slide:")
    rows = dialog.locator("#done-counts tbody tr")
    expect(rows).to_have_text(["Tumour2", "Stroma1"])
    expect(dialog.get_by_role("button", name="Mark done, open the next slide")).to_be_focused()
    page.screenshot(path=artifacts / "done-dialog.png")
    dialog.get_by_role("button", name="Keep working").click()
    expect(dialog).to_be_hidden()
    assert AssignmentSlide.objects.get(pk=first.pk).state == AssignmentSlide.State.IN_PROGRESS

    page.get_by_role("button", name="Done, next slide").click()
    dialog.get_by_role("button", name="Mark done, open the next slide").click()
    page.wait_for_url(work_url(live_server, second))
    assert AssignmentSlide.objects.get(pk=first.pk).state == AssignmentSlide.State.DONE
    notice = page.locator("#undo-done")
    expect(notice).to_contain_text("“case-0.tiff” is marked done.")
    page.screenshot(path=artifacts / "done-undo.png")
    notice.get_by_role("button", name="Undo").click()

    page.wait_for_url(work_url(live_server, first))
    expect(page.get_by_role("button", name="Done, next slide")).to_be_visible()
    assert AssignmentSlide.objects.get(pk=first.pk).state == AssignmentSlide.State.IN_PROGRESS
    assert problems == []


def test_done_waits_for_the_editor_to_save(log_in, annotator, assignment, problems):
    first = items(assignment)[0]
    page = log_in(annotator, reverse("annotations:work", args=[assignment.pk, first.slide_id]))
    open_work(page)
    page.evaluate("() => { document.body.dataset.saveState = 'saving'; }")
    dialog = page.get_by_role("dialog")

    page.get_by_role("button", name="Done, next slide").click()
    expect(dialog.locator("#done-summary")).to_have_text(
        "You have drawn no annotations on this slide."
    )
    confirm = dialog.get_by_role("button", name="Mark done, open the next slide")
    expect(confirm).to_be_disabled()
    expect(dialog.get_by_role("alert")).to_contain_text("not saved yet")
    page.evaluate("() => { document.body.dataset.saveState = 'saved'; }")

    expect(confirm).to_be_enabled()
    expect(dialog.get_by_role("alert")).to_be_hidden()
    assert problems == []


def test_annotated_work_reads_in_progress_on_the_status_page(
    log_in, annotator, assignment, problems
):
    draw(items(assignment)[1], annotator, "Tumour", 1)

    page = log_in(annotator)

    card = page.locator(f"[data-assignment='{assignment.pk}']")
    expect(card.locator(".badge")).to_have_text("In progress")
    page.get_by_role("link", name="All your slides").click()
    states = page.locator(".my-slides tbody td:nth-child(4)")
    expect(states).to_have_text(["Not started", "In progress", "Not started"])
    assert problems == []


@pytest.mark.parametrize("role", [roles.REVIEWER, roles.ML_SPECIALIST])
def test_someone_with_nothing_delegated_reads_one_message(log_in, live_server, problems, db, role):
    person = factories.user_create("person", role=role)
    page = log_in(person)

    page.goto(f"{live_server.url}{reverse('tasks:continue')}")

    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Nothing delegated to you yet")).to_be_visible()
    expect(page.get_by_text("Thank you")).to_have_count(0)
    expect(page.get_by_role("status")).to_have_count(0)
    assert problems == []


def test_a_manager_follows_shares_and_states_and_opens_the_admin(
    log_in, manager, assignment, annotator, slides, live_server, problems, artifacts
):
    second = factories.user_create("second", role=roles.ANNOTATOR)
    theirs = services.assignment_create(
        task=assignment.task, assignee=second, slides=slides[1:], actor=manager
    )
    services.work_done(item=items(assignment)[0])
    services.work_open(item=items(theirs)[0])
    page = log_in(manager, reverse("tasks:project_list"))

    row = page.locator("#project-table tbody tr")
    expect(row).to_contain_text("Breast")
    expect(row.locator("td")).to_have_text(["Breast", "1", "3", "1 / 5", "20%"])
    page.screenshot(path=artifacts / "project-list.png")
    page.get_by_role("link", name="Breast").click()

    matrix = page.get_by_role("table", name="State of each slide of “Round 1” for each annotator.")
    expect(matrix.locator("thead th")).to_have_text(["Slide", "annotator", "second"])
    expect(matrix.locator("tbody th")).to_have_text(["case-0.tiff", "case-1.tiff", "case-2.tiff"])
    expect(matrix.locator("tbody td")).to_have_text(
        ["Done", "Not assigned", "Not started", "In progress", "Not started", "Not started"]
    )
    expect(page.locator("#task-table thead")).to_contain_text("Shares done / total")
    page.screenshot(path=artifacts / "project-overview.png", full_page=True)
    page.locator("#people-table").get_by_role("link", name="second").click()

    page.wait_for_url(
        f"{live_server.url}{reverse('admin:tasks_assignment_change', args=[theirs.pk])}"
    )
    assert Assignment.objects.get(pk=theirs.pk).assignee == second
    assert problems == []
