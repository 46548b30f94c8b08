"""The pathologist's status page, Continue, Done/next and reopen, and the project overview."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tasks import roles, services
from tasks.models import Assignment, AssignmentSlide, Task
from tests import factories

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


def heartbeat_url(item):
    return reverse("tasks:heartbeat", args=[item.assignment_id, item.slide_id])


def test_twenty_rapid_heartbeats_add_no_more_than_the_time_they_took(
    client_for, annotator, assignment
):
    first = items(assignment)[0]
    client = client_for(annotator)
    opened = timezone.now()
    client.get(work_url(first))

    answers = [client.post(heartbeat_url(first), {"seconds": "120"}) for _ in range(20)]

    took = timezone.now() - opened
    first.refresh_from_db()
    assert {a.status_code for a in answers} == {200}
    # Each used to add the 120 s it claimed (40 minutes in all); now the server's clock counts.
    assert first.time_spent <= took
    assert answers[-1].json()["time_spent"] == first.time_spent.total_seconds()


def test_heartbeats_count_the_servers_time_between_them_at_most_one_interval(
    client_for, annotator, assignment, monkeypatch
):
    first = items(assignment)[0]
    client = client_for(annotator)
    start = timezone.now()
    clock = {"now": start}
    monkeypatch.setattr(timezone, "now", lambda: clock["now"])
    client.get(work_url(first))

    spent = []
    for gap, sent in [(30, 60), (45, 60), (3600, 60), (50, 10)]:
        clock["now"] += timedelta(seconds=gap)
        spent.append(client.post(heartbeat_url(first), {"seconds": str(sent)}).json()["time_spent"])

    # 30 s; 45 s; an hour away counts one interval; and no more than the page says was visible.
    interval = services.HEARTBEAT_SECONDS
    assert spent == [30, 30 + 45, 30 + 45 + interval, 30 + 45 + interval + 10]


@pytest.mark.parametrize("seconds", ["soon", "", "-5", "²", "٣", "1e3", "9" * 30, " 5"])
def test_a_heartbeat_whose_seconds_are_not_ascii_digits_is_400(
    client_for, annotator, assignment, seconds
):
    first = items(assignment)[0]

    response = client_for(annotator).post(heartbeat_url(first), {"seconds": seconds})

    assert response.status_code == 400
    assert response.json() == {"error": "seconds must be a whole number."}
    first.refresh_from_db()
    assert first.time_spent == timedelta()


def test_the_work_page_tells_the_viewer_the_heartbeat_interval(client_for, annotator, assignment):
    page = client_for(annotator).get(work_url(items(assignment)[0]))

    assert f'data-heartbeat-seconds="{services.HEARTBEAT_SECONDS}"' in page.content.decode()


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


def test_overview_csv_defuses_cells_a_spreadsheet_would_run_as_formulas(
    client_for, manager, project, slides, admin_user
):
    task = Task.objects.create(project=project, name='=HYPERLINK("http://evil.example","x")')
    for name in ["@SUM(1+1)", "+cmd", "-2+3", "\tTAB", "\rCR", "plain"]:
        person = factories.user_create(name, role=roles.ANNOTATOR)
        services.assignment_create(task=task, assignee=person, slides=slides[:2], actor=admin_user)

    response = client_for(manager).get(
        reverse("tasks:project_overview", args=[project.pk]), {"format": "csv"}
    )

    rows = list(csv.reader(io.StringIO(response.content.decode())))[1:]
    assert {row[0] for row in rows} == {"'" + task.name}
    assert sorted(row[1] for row in rows) == sorted(
        ["'@SUM(1+1)", "'+cmd", "'-2+3", "'\tTAB", "'\rCR", "plain"]
    )
    # Numbers stay numbers.
    assert {tuple(row[3:6]) for row in rows} == {("0", "2", "0.0")}
