"""Computing a project's agreement as a job: started from the admin's project list by those who
follow the project, run slide by slide, its summary on the job page."""

import pytest
from django.urls import reverse

from jobs.models import Job
from jobs.selectors import job_details, job_links
from jobs.services import job_run
from review import agreement
from tasks import roles
from tasks.models import Project
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:tasks_project_changelist"


@pytest.fixture
def manager(project):
    user = factories.user_create("manager", is_staff=True, role=roles.PROJECT_MANAGER)
    project.members.add(user)
    return user


@pytest.fixture
def annotated(project, slides_root, admin_user):
    """Task "Round 1": two annotators on three slides, their Tumour squares a little apart."""
    slides = [
        factories.slide_create(slides_root, f"case-{i}.tiff", 600, 400, seed=i) for i in (1, 2, 3)
    ]
    people = [factories.user_create(name) for name in ("pathologist", "second")]
    _, assignments = factories.annotation_task_create(
        project=project, name="Round 1", slides=slides, annotators=people, actor=admin_user
    )
    tumour = project.labels.get(name="Tumour")
    for shift, assignment in zip((0, 20), assignments, strict=True):
        for slide in slides:
            factories.annotation_draw(
                assignment=assignment,
                slide=slide,
                label=tumour,
                geometry=factories.square(100 + shift, 100),
            )
    return slides


def start(client, user, *projects):
    client.force_login(user)
    data = {"action": "compute_agreement", "_selected_action": [p.pk for p in projects]}
    return client.post(reverse(CHANGELIST), data)


def test_a_manager_starts_the_agreement_of_their_project_and_lands_on_its_job(
    client, manager, project
):
    response = start(client, manager, project)

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:job", args=[job.pk])
    assert (job.kind, job.params, job.created_by) == (
        Job.Kind.COMPUTE_AGREEMENT,
        {"project": project.pk},
        manager,
    )
    assert job.state == Job.State.QUEUED


def test_projects_the_manager_does_not_follow_are_left_out(client, manager, project):
    other = Project.objects.create(name="Lung nodules")

    response = start(client, manager, project, other)

    assert response.status_code == 302
    assert list(Job.objects.values_list("params", flat=True)) == [{"project": project.pk}]
    page = client.get(response["Location"])
    texts = [str(message) for message in page.context["messages"]]
    assert texts[0].startswith(f"Computing the agreement of {project.name} (")
    assert texts[1] == (
        "1 of the selected projects were left out: you follow only the projects you are a "
        "member of."
    )


def test_the_job_computes_every_slide_and_sums_up_the_figures(manager, project, annotated):
    job = Job.objects.create(
        kind=Job.Kind.COMPUTE_AGREEMENT, params={"project": project.pk}, created_by=manager
    )

    ended = job_run(job_id=job.pk)

    expected = agreement.project_agreement(project=project, budget_seconds=0).tasks[0].overall
    assert ended.state == Job.State.SUCCEEDED
    assert (ended.done, ended.total) == (3, 3)  # one step per slide
    assert ended.message.startswith(
        f"{project.name}: 3 slides with two annotators or more, 3 computed, 0 already cached ("
    )
    (task,) = ended.result["tasks"]
    assert (task["name"], task["slides"]) == ("Round 1", 3)
    assert task["mean_dice"] == pytest.approx(expected.mean_dice) == pytest.approx(0.8)
    assert task["f1"] == pytest.approx(expected.objects.f1)
    details = job_details(ended)
    assert details[0] == "Round 1: mean Dice 0.80, F1 1.00 over 3 slides"
    # The tests' cache is this process's memory, as the demo's is.
    assert details[-1].startswith("The results were kept in the worker's own memory only")
    assert job_links(ended) == [
        {
            "text": "The project's agreement",
            "url": reverse("review:project_agreement", args=[project.pk]),
        }
    ]


def test_the_job_of_a_project_deleted_meanwhile_fails_saying_so(manager, project):
    job = Job.objects.create(
        kind=Job.Kind.COMPUTE_AGREEMENT, params={"project": project.pk}, created_by=manager
    )
    project.delete()

    ended = job_run(job_id=job.pk)

    assert ended.state == Job.State.FAILED
    assert ended.message == "The project no longer exists: nothing was computed."
