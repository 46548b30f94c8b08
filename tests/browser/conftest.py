"""Playwright fixtures: Debian's chromium, a fresh 1280x800 page per test, and logging in."""

import os
import shutil
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import Browser, Page, sync_playwright

from slides.services import slide_register_file
from tasks import roles
from tests import factories

# Playwright's sync API runs an event loop in this thread, which makes Django refuse database
# access from the test body ("SynchronousOnlyOperation"); the tests never share it across threads.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 800}
SETTLE_SECONDS = 10


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not CHROMIUM.exists():
        pytest.fail(f"the browser tests drive Debian's chromium: apt-get install {CHROMIUM.name}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def problems() -> list[str]:
    """Script errors and Content-Security-Policy violations seen by ``page``."""
    return []


@pytest.fixture
def page(browser, problems) -> Page:
    """A 1280x800 page in its own context (no cookies shared with other tests)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda message: _record_csp_violation(message.text, problems))
    in_flight = set()
    context.on("request", lambda request: in_flight.add(request))
    context.on("requestfinished", lambda request: in_flight.discard(request))
    context.on("requestfailed", lambda request: in_flight.discard(request))
    yield page
    _settle(context, page, in_flight)
    context.close()


def _settle(context, page: Page, in_flight: set) -> None:
    """Let the server finish what the page asked of it before the test's database is emptied.

    A heartbeat or an autosave still being handled holds locks that the flush between tests
    would wait on while the request waits on the flush: PostgreSQL then breaks the deadlock by
    failing the flush. New requests are refused, and those under way are awaited.
    """
    context.route("**/*", lambda route: route.abort())
    deadline = time.monotonic() + SETTLE_SECONDS
    while in_flight and time.monotonic() < deadline:
        page.wait_for_timeout(50)


def _record_csp_violation(text: str, problems: list[str]) -> None:
    if "Content Security Policy" in text:
        problems.append(f"CSP violation: {text}")


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def log_in(page, live_server):
    """Log in through the login form, then land on ``next_path``."""

    def log_in(user, next_path: str = "/") -> Page:
        page.goto(f"{live_server.url}{reverse('login')}?next={next_path}")
        page.get_by_label("Username").fill(user.get_username())
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}{next_path}")
        return page

    return log_in


@pytest.fixture
def cmu_slide(slides_root, shared_slides, db):
    """The real CMU-1-Small-Region.svs: 2220x2967, 0.499 µm/px, objective power 20."""
    path = slides_root / "CMU-1-Small-Region.svs"
    shutil.copyfile(shared_slides / path.name, path)
    return slide_register_file(path=path, root=slides_root)


@pytest.fixture
def deep_slide(slides_root, db):
    """A synthetic 6000x4000 pyramid without mpp, deep enough for several zoom levels."""
    return factories.slide_create(slides_root, name="deep.tiff", width=6000, height=4000)


@pytest.fixture
def manager(project):
    """A staff member in the Project manager role, with the role's permissions, member of the
    project (managers follow the projects they are members of)."""
    user = factories.user_create("manager", is_staff=True, role=roles.PROJECT_MANAGER)
    project.members.add(user)
    return user


@pytest.fixture
def reviewer(db):
    """A pathologist in the Reviewer role, who revises other people's annotations."""
    return factories.user_create("reviewer", role=roles.REVIEWER)


@pytest.fixture
def reviewed_work(slides_root, manager, reviewer, admin_user):
    """A 1200x800 slide of the project "Breast" (manager is a member), annotated in "Round 1"
    by pathologist (four squares of Tumour, 100 px, along y = 200) and second (one square of
    Stroma at (100, 500)), and reviewed in "Round 1 review" by reviewer. Label colours are none
    of the person colours (annotations.selectors.PERSON_COLOURS), so that colours by label and
    by person always differ."""
    from annotations.models import Annotation
    from tasks import services
    from tasks.models import Label, Project, Task

    project = Project.objects.create(name="Breast")
    project.members.add(manager)
    tumour = Label.objects.create(project=project, name="Tumour", colour="#00e5e5", order=0)
    stroma = Label.objects.create(project=project, name="Stroma", colour="#7fff00", order=1)
    slide = factories.slide_create(slides_root, "case-1.tiff", 1200, 800, seed=1)
    people = [factories.user_create(name) for name in ("pathologist", "second")]
    task, (mine, theirs) = factories.annotation_task_create(
        project=project, name="Round 1", slides=[slide], annotators=people, actor=admin_user
    )
    for x in (100, 300, 500, 700):
        factories.annotation_draw(
            assignment=mine, slide=slide, label=tumour, geometry=factories.square(x, 200)
        )
    factories.annotation_draw(
        assignment=theirs, slide=slide, label=stroma, geometry=factories.square(100, 500)
    )
    review_task = Task.objects.create(
        project=project, name="Round 1 review", kind=Task.Kind.REVIEW, reviewed_task=task
    )
    review = services.assignment_create(
        task=review_task, assignee=reviewer, slides=[slide], actor=admin_user
    )
    return {
        "project": project,
        "slide": slide,
        "labels": {"Tumour": tumour, "Stroma": stroma},
        "pathologist": people[0],
        "second": people[1],
        "task": task,
        "mine": mine,
        "theirs": theirs,
        "review": review,
        "annotations": list(Annotation.objects.filter(assignment=mine).order_by("id")),
    }
