"""Who may follow which job, on its page and in the API: one table of persona × job × answer."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from jobs.models import Job
from tasks import roles
from tasks.models import Project
from tests import factories

pytestmark = pytest.mark.django_db


def staff_with(username: str, *codenames: str):
    user = factories.user_create(username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def people(scanner, project):
    """``scanner`` started the scan; ``manager`` (a member of ``project``) its agreement job."""
    manager = factories.user_create("manager", is_staff=True, role=roles.PROJECT_MANAGER)
    project.members.add(manager)
    other_manager = factories.user_create(
        "other-manager", is_staff=True, role=roles.PROJECT_MANAGER
    )
    Project.objects.create(name="Lung nodules").members.add(other_manager)
    return {
        "scanner": scanner,
        "colleague": staff_with("colleague", "add_slide", "change_slide"),
        "staff-without-scan": staff_with("viewer", "view_slide", "change_slide"),
        "manager": manager,
        "other-manager": other_manager,
        "superuser": factories.user_create("root", is_staff=True, is_superuser=True),
        "annotator": factories.user_create("pathologist", role=roles.ANNOTATOR),
        "outsider": factories.user_create("outsider"),
    }


@pytest.fixture
def jobs(people, project):
    return {
        "scan": Job.objects.create(
            kind=Job.Kind.SCAN_SLIDES, params={"folder": ""}, created_by=people["scanner"]
        ),
        "agreement": Job.objects.create(
            kind=Job.Kind.COMPUTE_AGREEMENT,
            params={"project": project.pk},
            created_by=people["manager"],
        ),
    }


FOLLOWS = [
    ("scanner", "scan", 200),  # who started it
    ("colleague", "scan", 200),  # staff who may scan
    ("staff-without-scan", "scan", 404),
    ("manager", "scan", 404),  # may rename slides, not scan
    ("superuser", "scan", 200),
    ("annotator", "scan", 404),
    ("outsider", "scan", 404),
    ("manager", "agreement", 200),  # who started it
    ("other-manager", "agreement", 404),  # manages another project
    ("scanner", "agreement", 404),
    ("superuser", "agreement", 200),
    ("annotator", "agreement", 404),
    ("outsider", "agreement", 404),
]


@pytest.mark.parametrize(("persona", "kind", "status"), FOLLOWS)
def test_who_may_follow_a_job_on_its_page(client, people, jobs, persona, kind, status):
    client.force_login(people[persona])

    response = client.get(reverse("jobs:job", args=[jobs[kind].pk]))

    assert response.status_code == status


@pytest.mark.parametrize(("persona", "kind", "status"), FOLLOWS)
def test_who_may_follow_a_job_in_the_api(client, people, jobs, persona, kind, status):
    client.force_login(people[persona])

    response = client.get(reverse("jobs_api:job", args=[jobs[kind].pk]))

    assert response.status_code == status
    if status == 404:  # the same answer as for a job that does not exist
        assert response.json() == {"error": "No such job."}


def test_a_job_that_does_not_exist_is_the_same_404(client, people):
    client.force_login(people["scanner"])

    page = client.get(reverse("jobs:job", args=[999_999]))
    api = client.get(reverse("jobs_api:job", args=[999_999]))

    assert page.status_code == api.status_code == 404
    assert api.json() == {"error": "No such job."}


def test_anonymous_people_are_sent_to_log_in_or_told_to(client, jobs):
    page = client.get(reverse("jobs:job", args=[jobs["scan"].pk]))
    api = client.get(reverse("jobs_api:job", args=[jobs["scan"].pk]))

    assert page.status_code == 302
    assert page["Location"].startswith(reverse("login"))
    assert api.status_code == 401
    assert api.json() == {"error": "Log in to use the API."}
