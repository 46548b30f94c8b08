"""Role × page × expected status for the pages and actions of the task workflow."""

import pytest
from django.urls import reverse

from tasks import roles, services
from tasks.models import Project, Task
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def assignment(project, slides, annotator, admin_user):
    task = Task.objects.create(project=project, name="Round 1")
    project.members.add(annotator)
    return services.assignment_create(
        task=task, assignee=annotator, slides=slides[:2], actor=admin_user
    )


@pytest.fixture
def personas(annotator, assignment, manager, admin_user, project):
    other = factories.user_create("other-annotator")
    other.groups.add(factories.role_group("Annotator"))
    staff = factories.user_create("staff-member", is_staff=True)
    project.members.add(staff)
    elsewhere = factories.user_create("manager-elsewhere", is_staff=True)
    elsewhere.groups.add(factories.role_group("Project manager"))
    Project.objects.create(name="Another project").members.add(elsewhere)
    return {
        "anonymous": None,
        "assignee": annotator,
        "other": other,
        "manager": manager,
        "manager elsewhere": elsewhere,
        "staff": staff,
        "superuser": admin_user,
    }


def pages(assignment, project):
    item = assignment.assignment_slides.first()
    work = (item.assignment_id, item.slide_id)
    return {
        "home": ("get", reverse("home")),
        "continue": ("get", reverse("tasks:continue")),
        "my slides": ("get", reverse("tasks:my_slides")),
        "work": ("get", reverse("annotations:work", args=work)),
        "done": ("post", reverse("tasks:done", args=work)),
        "reopen": ("post", reverse("tasks:reopen", args=work)),
        "heartbeat": ("post", reverse("tasks:heartbeat", args=work)),
        "projects": ("get", reverse("tasks:project_list")),
        "overview": ("get", reverse("tasks:project_overview", args=[project.pk])),
        "delegate": ("get", reverse("admin:tasks_task_delegate")),
        "task admin": ("get", reverse("admin:tasks_task_changelist")),
    }


LOGIN = "login"
ADMIN_LOGIN = "admin login"

# page: (anonymous, assignee, other annotator, manager, manager of another project, staff
# member of the project without a role, superuser). A manager follows only the projects they
# are a member of: another project's overview is answered as if it did not exist.
EXPECTED = {
    "home": (LOGIN, 200, 200, 200, 200, 200, 200),
    "continue": (LOGIN, 302, 302, 302, 302, 302, 302),
    "my slides": (LOGIN, 200, 200, 200, 200, 200, 200),
    "work": (LOGIN, 200, 404, 404, 404, 404, 404),
    "done": (LOGIN, 302, 404, 404, 404, 404, 404),
    "reopen": (LOGIN, 302, 404, 404, 404, 404, 404),
    "heartbeat": (LOGIN, 400, 404, 404, 404, 404, 404),
    "projects": (LOGIN, 403, 403, 200, 200, 200, 200),
    "overview": (LOGIN, 403, 404, 200, 404, 200, 200),
    "delegate": (LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, 200, 403, 200),
    "task admin": (LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, 200, 403, 200),
}
PERSONAS = ["anonymous", "assignee", "other", "manager", "manager elsewhere", "staff", "superuser"]


@pytest.mark.parametrize("page", EXPECTED)
@pytest.mark.parametrize("persona", PERSONAS)
def test_access(client_for, personas, assignment, project, page, persona):
    expected = EXPECTED[page][PERSONAS.index(persona)]
    method, url = pages(assignment, project)[page]

    response = getattr(client_for(personas[persona]), method)(url)

    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif expected == ADMIN_LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    else:
        assert response.status_code == expected


def test_someone_elses_assignment_is_404_even_with_its_slide(client_for, assignment, admin_user):
    other = factories.user_create("another", role=roles.ANNOTATOR)
    item = assignment.assignment_slides.first()
    services.assignment_create(
        task=Task.objects.create(project=assignment.task.project, name="Other"),
        assignee=other,
        slides=[item.slide],
        actor=admin_user,
    )

    response = client_for(other).get(
        reverse("annotations:work", args=[assignment.pk, item.slide_id])
    )

    assert response.status_code == 404
