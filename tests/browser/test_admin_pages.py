"""Every admin page the product adds or customises, in a real browser: no script error, no CSP
violation, and the delegation form's filter widgets at work."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.urls import reverse
from playwright.sync_api import expect

from annotations import services as annotation_services
from tasks import roles, services
from tasks.models import DelegationEvent, Label, Project, Task
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[100, 100], [500, 100], [500, 400], [100, 400], [100, 100]]],
}
POINT = {"type": "Point", "coordinates": [900, 600]}
LINE = {"type": "LineString", "coordinates": [[700, 100], [1100, 300], [900, 700]]}

# What the Project manager role does not carry (tasks.roles): annotations, log-in records, adding
# users, and scanning folders for slides.
MANAGER_MAY_NOT = (
    "/admin/annotations/",
    "/admin/axes/",
    "/admin/auth/user/add/",
    "/admin/slides/slide/scan/",
)

# The pages whose layout the product chooses (django-axes' are its own).
OUR_LISTS = ("/admin/tasks/", "/admin/slides/", "/admin/annotations/", "/admin/auth/user/")


@pytest.fixture
def world(slides_root, admin_user):
    """A project with a label, a task on three slides given to one of two annotators, three
    annotations (a square, a point, a line) with their history, delegation records and
    django-axes' three kinds of rows."""
    annotators = [factories.user_create(f"pathologist{i}", role=roles.ANNOTATOR) for i in (1, 2)]
    project = Project.objects.create(name="Breast")
    label = Label.objects.create(project=project, name="Tumour", colour="#d62728", shortcut="1")
    slides = [
        factories.slide_create(slides_root, f"CASE-0{i}-A.tiff", 1200, 800, seed=i)
        for i in range(3)
    ]
    task = Task.objects.create(project=project, name="Round 1")
    services.task_add_slides(task=task, slides=slides, actor=admin_user)
    assignment = services.assignment_create(
        task=task, assignee=annotators[0], slides=slides, actor=admin_user
    )
    annotation, _ = annotation_services.annotation_create(
        slide=slides[0],
        assignment=assignment,
        author=annotators[0],
        label=label,
        kind="polygon",
        geometry=SQUARE,
    )
    for kind, shape in (("point", POINT), ("line", LINE)):
        annotation_services.annotation_create(
            slide=slides[0],
            assignment=assignment,
            author=annotators[0],
            label=label,
            kind=kind,
            geometry=shape,
        )
    attempt = {"ip_address": "10.0.0.1", "user_agent": "test", "username": "someone"}
    AccessAttempt.objects.create(**attempt, failures_since_start=3)
    AccessFailureLog.objects.create(**attempt, locked_out=False)
    AccessLog.objects.create(**attempt)
    return {
        "annotators": annotators,
        "project": project,
        "slides": slides,
        "task": task,
        "assignment": assignment,
        "annotation": annotation,  # the square
        "revision": annotation.revisions.get(),
        "event": DelegationEvent.objects.order_by("id").first(),
        "attempt": AccessAttempt.objects.get(),
        "failure": AccessFailureLog.objects.get(),
        "access": AccessLog.objects.get(),
    }


def admin_pages(world, admin_user) -> list[str]:
    """The admin pages of every model the product registers or re-registers, and its own."""
    ids = f"{world['slides'][0].pk},{world['slides'][2].pk}"
    pages = [
        reverse("admin:index"),
        reverse("admin:slides_slide_changelist"),
        reverse("admin:slides_slide_change", args=[world["slides"][0].pk]),
        reverse("admin:slides_slide_scan"),
        reverse("admin:tasks_task_delegate"),
        reverse("admin:tasks_task_delegate") + f"?slides={ids}",
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_user_add"),
        reverse("admin:auth_user_change", args=[world["annotators"][0].pk]),
    ]
    objects = {
        "tasks_project": world["project"],
        "tasks_task": world["task"],
        "tasks_assignment": world["assignment"],
        "tasks_delegationevent": world["event"],
        "annotations_annotation": world["annotation"],
        "annotations_annotationrevision": world["revision"],
        "axes_accessattempt": world["attempt"],
        "axes_accessfailurelog": world["failure"],
        "axes_accesslog": world["access"],
    }
    for name, obj in objects.items():
        pages += [
            reverse(f"admin:{name}_changelist"),
            reverse(f"admin:{name}_change", args=[obj.pk]),
        ]
    pages += [reverse(f"admin:{name}_add") for name in ("tasks_project", "tasks_task")]
    pages.append(reverse("admin:tasks_assignment_add"))
    return pages


def fits(page) -> bool:
    """Whether the page is no wider than the window, and a change list's table no wider than
    its part of the page (so that no column is cut)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth &&"
        " (!document.querySelector('#result_list') ||"
        " document.querySelector('#result_list').scrollWidth"
        " <= document.querySelector('.results').clientWidth)"
    )


def visit(page, live_server, path: str) -> None:
    """Open the page and wait until its scripts have run and its eager images have arrived.
    Not "networkidle": that also waits on connections the browser keeps for itself, and once
    in CI it waited past 30 s on a page with nothing left to load."""
    response = page.goto(f"{live_server.url}{path}", wait_until="load")
    assert response.status == 200, path
    page.wait_for_function(
        "() => [...document.images].every(image => image.loading === 'lazy' || image.complete)"
    )


def test_every_admin_page_loads_without_script_errors_for_the_admin(
    log_in, admin_user, world, live_server, problems, artifacts
):
    page = log_in(admin_user, reverse("admin:index"))

    too_wide = []
    for path in admin_pages(world, admin_user):
        visit(page, live_server, path)
        name = path.strip("/").replace("/", "_").replace("?", "_").replace("=", "_")
        page.screenshot(path=artifacts / f"admin-{name}.png", full_page=True)
        if path.startswith(OUR_LISTS) and not fits(page):
            too_wide.append(path)

    assert problems == []
    assert too_wide == []  # pages or columns cut at 1280 px wide


def test_the_admin_pages_a_manager_may_see_load_without_script_errors(
    log_in, manager, admin_user, world, live_server, problems
):
    page = log_in(manager, reverse("admin:index"))
    allowed = [
        path for path in admin_pages(world, admin_user) if not path.startswith(MANAGER_MAY_NOT)
    ]

    for path in allowed:
        visit(page, live_server, path)

    assert problems == []


def test_the_reassign_action_asks_in_a_page_without_script_errors(
    log_in, admin_user, world, live_server, problems, artifacts
):
    page = log_in(admin_user, reverse("admin:tasks_assignment_changelist"))

    page.locator(f"input[name=_selected_action][value='{world['assignment'].pk}']").check()
    page.locator("select[name=action]").select_option("reassign")
    page.get_by_role("button", name="Go").click()

    expect(page.get_by_label("New assignee")).to_be_visible()
    page.screenshot(path=artifacts / "admin-reassign.png", full_page=True)
    page.get_by_label("New assignee").select_option(label="pathologist2")
    page.get_by_role("button", name="Reassign").click()
    expect(page.locator(".messagelist")).to_contain_text("Reassigned 1 assignment(s).")
    world["assignment"].refresh_from_db()
    assert world["assignment"].assignee == world["annotators"][1]
    assert problems == []


def test_the_delegation_form_filters_and_chooses_all(
    log_in, manager, world, live_server, problems, artifacts
):
    factories.user_create("bystander", role=roles.REVIEWER)
    page = log_in(manager, reverse("admin:tasks_task_delegate"))

    # The filter acts on key presses, as when someone types.
    page.locator("#id_slides_input").press_sequentially("CASE-01")
    expect(page.locator("#id_slides_from option")).to_have_text(["CASE-01-A.tiff"])
    page.locator("#id_slides_input").fill("")
    page.locator("#id_slides_add_all").click()
    page.locator("#id_annotators_add_all").click()
    expect(page.locator("#id_slides_to option")).to_have_count(3)
    expect(page.locator("#id_annotators_to option")).to_have_text(["pathologist1", "pathologist2"])
    page.screenshot(path=artifacts / "admin-delegate-chosen.png", full_page=True)
    page.get_by_label("Project").select_option(label="Breast")
    page.get_by_label("Task name").fill("Round 2")
    page.get_by_role("button", name="Preview").click()

    expect(page.locator("#delegation-preview .share-count")).to_have_text(["2", "1"])
    page.get_by_role("button", name="Create task and assignments").click()
    expect(page.locator(".messagelist")).to_contain_text("slides per annotator")
    task = Task.objects.get(name="Round 2")
    assert set(task.assignments.values_list("assignee__username", flat=True)) == {
        "pathologist1",
        "pathologist2",
    }
    assert problems == []


def test_the_task_and_assignment_forms_read_cleanly(
    log_in, manager, world, live_server, problems, artifacts
):
    task_page = reverse("admin:tasks_task_change", args=[world["task"].pk])
    page = log_in(manager, task_page)

    # No caption repeating the task and slide over each inline row, no user-account icons.
    expect(page.get_by_text("Breast / Round 1: CASE-00-A.tiff")).to_be_hidden()
    expect(page.get_by_text("Breast / Round 1 — pathologist1")).to_be_hidden()
    expect(page.locator("#assignments-group .related-widget-wrapper-link")).to_have_count(0)
    expect(page.locator("#task_slides-group .related-widget-wrapper-link")).to_have_count(0)
    page.get_by_role("link", name="Choose slides").click()

    page.wait_for_url(
        f"**{reverse('admin:tasks_assignment_change', args=[world['assignment'].pk])}"
    )
    label = page.locator("label[for=id_slides]").bounding_box()
    picker = page.locator(".selector").bounding_box()
    assert label["x"] + label["width"] <= picker["x"], (label, picker)
    expect(page.locator(".field-assignee .related-widget-wrapper-link")).to_have_count(0)
    page.screenshot(path=artifacts / "admin-assignment-form.png", full_page=True)
    assert problems == []


def test_the_annotation_list_previews_every_kind_of_shape(
    log_in, admin_user, world, live_server, problems, artifacts
):
    page = log_in(admin_user, reverse("admin:index"))
    thumbnails = []
    page.on(
        "response",
        lambda response: "thumbnail" in response.url and thumbnails.append(response.status),
    )
    visit(page, live_server, reverse("admin:annotations_annotation_changelist"))

    previews = page.locator("#result_list svg.wsi2ml-preview")
    expect(previews).to_have_count(3)
    assert thumbnails and set(thumbnails) == {200}
    for i in range(3):
        box = previews.nth(i).locator("path.shape").bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0
    page.screenshot(path=artifacts / "admin-annotation-previews.png", full_page=True)
    assert fits(page)
    assert problems == []
