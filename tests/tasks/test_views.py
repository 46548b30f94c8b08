"""The pathologist's status page, Continue, Done/next and reopen, and the project overview."""

import csv
import io

import pytest
from django.urls import reverse

from tasks import services
from tasks.models import Assignment, AssignmentSlide, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def assignment(project, slides, annotator, admin_user):
    task = Task.objects.create(
        project=project, name="Round 1", instructions="Outline every tumour."
    )
    return services.assignment_create(
        task=task, assignee=annotator, slides=slides[:3], actor=admin_user
    )


def work_url(item):
    return reverse("tasks:work", args=[item.assignment_id, item.slide_id])


def items(assignment):
    return list(assignment.assignment_slides.order_by("order", "id"))


def test_status_page_shows_progress_instructions_and_labels(client_for, annotator, assignment):
    services.work_done(item=items(assignment)[0])

    page = client_for(annotator).get(reverse("home"))

    assert page.status_code == 200
    text = page.content.decode()
    assert "1 / 3 slides done" in text
    assert "Outline every tumour." in text
    assert "Tumour" in text and "#d62728" in text
    assert 'id="continue-button"' in text


def test_continue_opens_the_first_slide_not_started(client_for, annotator, assignment):
    response = client_for(annotator).get(reverse("tasks:continue"))

    assert response.status_code == 302
    assert response["Location"] == work_url(items(assignment)[0])


def test_continue_prefers_the_slide_in_progress(client_for, annotator, assignment):
    services.work_open(item=items(assignment)[2])

    response = client_for(annotator).get(reverse("tasks:continue"))

    assert response["Location"] == work_url(items(assignment)[2])


def test_continue_skips_done_slides_in_task_order(client_for, annotator, assignment):
    first, second, _ = items(assignment)
    services.work_done(item=first)

    response = client_for(annotator).get(reverse("tasks:continue"))

    assert response["Location"] == work_url(second)


def test_continue_says_when_everything_is_done(client_for, annotator, assignment):
    for item in items(assignment):
        services.work_done(item=item)
    client = client_for(annotator)

    response = client.get(reverse("tasks:continue"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("home")
    assert "Everything delegated to you is done" in response.content.decode()
    assert Assignment.objects.get(pk=assignment.pk).state == Assignment.State.COMPLETED


def test_done_records_and_opens_the_next_slide(client_for, annotator, assignment):
    first, second, _ = items(assignment)
    client = client_for(annotator)

    response = client.post(reverse("tasks:done", args=[first.assignment_id, first.slide_id]))

    assert response["Location"] == work_url(second)
    first.refresh_from_db()
    assert first.state == AssignmentSlide.State.DONE and first.done_at is not None


def test_last_done_completes_the_assignment_and_returns_home(client_for, annotator, assignment):
    client = client_for(annotator)
    for item in items(assignment):
        response = client.post(reverse("tasks:done", args=[item.assignment_id, item.slide_id]))

    assert response["Location"] == reverse("home")
    assert Assignment.objects.get(pk=assignment.pk).state == Assignment.State.COMPLETED


def editor_config(response) -> dict:
    return response.context["editor_config"]


def test_the_work_page_opens_the_editor_for_writing(client_for, annotator, assignment):
    first = items(assignment)[0]

    response = client_for(annotator).get(work_url(first))

    config = editor_config(response)
    assert config["readOnly"] is False and config["readOnlyReason"] == ""
    assert config["assignmentId"] == assignment.pk and config["slideId"] == first.slide_id
    assert [label["name"] for label in config["labels"]] == ["Tumour", "Stroma", "Necrosis"]
    assert config["urls"]["annotation"] == "/api/annotations/"
    assert 'id="read-only-notice"' not in response.content.decode()


def test_a_slide_marked_done_opens_read_only(client_for, annotator, assignment):
    first = items(assignment)[0]
    services.work_done(item=first)

    response = client_for(annotator).get(work_url(first))

    assert editor_config(response)["readOnly"] is True
    text = response.content.decode()
    assert "Read-only: this slide is marked done; reopen it to edit" in text
    assert 'data-tool="polygon"' not in text


def test_a_completed_assignment_opens_read_only(client_for, annotator, assignment):
    for item in items(assignment):
        services.work_done(item=item)

    response = client_for(annotator).get(work_url(items(assignment)[1]))

    assert editor_config(response)["readOnly"] is True
    assert "Read-only: this assignment is completed" in response.content.decode()


def test_reopen_a_done_slide_reopens_the_assignment(client_for, annotator, assignment):
    client = client_for(annotator)
    for item in items(assignment):
        services.work_done(item=item)
    first = items(assignment)[0]

    response = client.post(reverse("tasks:reopen", args=[first.assignment_id, first.slide_id]))

    assert response["Location"] == work_url(first)
    first.refresh_from_db()
    assert first.state == AssignmentSlide.State.IN_PROGRESS
    assert Assignment.objects.get(pk=assignment.pk).state == Assignment.State.REOPENED


def test_opening_a_slide_starts_it(client_for, annotator, assignment):
    first = items(assignment)[0]

    page = client_for(annotator).get(work_url(first))

    assert page.status_code == 200
    first.refresh_from_db()
    assert first.state == AssignmentSlide.State.IN_PROGRESS
    assert first.last_opened_at is not None
    assert Assignment.objects.get(pk=assignment.pk).state == Assignment.State.IN_PROGRESS
    text = page.content.decode()
    assert "Slide 1 of 3" in text
    assert "Outline every tumour." in text


def test_heartbeat_adds_bounded_time(client_for, annotator, assignment):
    first = items(assignment)[0]
    url = reverse("tasks:heartbeat", args=[first.assignment_id, first.slide_id])
    client = client_for(annotator)

    client.post(url, {"seconds": "30"})
    client.post(url, {"seconds": "100000"})
    bad = client.post(url, {"seconds": "soon"})

    first.refresh_from_db()
    assert first.time_spent.total_seconds() == 30 + services.HEARTBEAT_MAX_SECONDS
    assert bad.status_code == 400


def test_my_slides_filters_todo_and_done(client_for, annotator, assignment):
    first = items(assignment)[0]
    services.work_done(item=first)
    client = client_for(annotator)

    todo = client.get(reverse("tasks:my_slides"), {"show": "todo"}).context["page"].object_list
    done = client.get(reverse("tasks:my_slides"), {"show": "done"}).context["page"].object_list
    found = client.get(reverse("tasks:my_slides"), {"search": "CASE-02"}).context["page"]

    assert first not in list(todo) and len(todo) == 2
    assert list(done) == [first]
    assert [i.slide.name for i in found.object_list] == ["CASE-02-A.tiff"]


def test_overview_shows_progress_per_task_person_and_unassigned(
    client_for, manager, assignment, project, slides
):
    services.work_done(item=items(assignment)[0])

    page = client_for(manager).get(reverse("tasks:project_overview", args=[project.pk]))

    assert page.status_code == 200
    people = list(page.context["people"])
    assert [(p.assignee.username, p.done, p.total) for p in people] == [("annotator", 1, 3)]
    assert list(page.context["unassigned"]) == []
    services.task_add_slides(task=assignment.task, slides=[slides[3]], actor=manager)
    page = client_for(manager).get(reverse("tasks:project_overview", args=[project.pk]))
    assert [i.slide for i in page.context["unassigned"]] == [slides[3]]


def test_overview_csv(client_for, manager, assignment, project):
    services.work_done(item=items(assignment)[0])

    response = client_for(manager).get(
        reverse("tasks:project_overview", args=[project.pk]), {"format": "csv"}
    )

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:6] == ["task", "assignee", "state", "done", "total", "percent"]
    assert rows[1][:6] == ["Round 1", "annotator", "in_progress", "1", "3", "33.3"]
