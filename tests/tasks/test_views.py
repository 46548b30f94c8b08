"""The pathologist's status page, Continue, Done/next and reopen, and the project overview."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tasks import roles, selectors, services
from tasks.models import Assignment, AssignmentSlide, Project, Task
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
    return reverse("annotations:work", args=[item.assignment_id, item.slide_id])


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


def test_continue_says_once_when_everything_is_done(client_for, annotator, assignment):
    for item in items(assignment):
        services.work_done(item=item)
    client = client_for(annotator)

    response = client.get(reverse("tasks:continue"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("home")
    text = response.content.decode()
    assert text.count("Thank you") == 1
    assert "Every slide delegated to you is done" in text
    assert list(response.context["messages"]) == []
    assert Assignment.objects.get(pk=assignment.pk).state == Assignment.State.COMPLETED


@pytest.mark.parametrize("role", [roles.REVIEWER, roles.ML_SPECIALIST, roles.ANNOTATOR])
def test_someone_with_nothing_delegated_reads_one_clear_message(client_for, db, role):
    person = factories.user_create("person", role=role)

    response = client_for(person).get(reverse("tasks:continue"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("home")
    text = response.content.decode()
    assert "Nothing delegated to you yet" in text
    # It used to say "Everything delegated to you is done. Thank you!" right above.
    assert "is done" not in text and "Thank you" not in text
    assert list(response.context["messages"]) == []


def test_done_records_and_opens_the_next_slide(client_for, annotator, assignment):
    first, second, _ = items(assignment)
    client = client_for(annotator)

    response = client.post(reverse("tasks:done", args=[first.assignment_id, first.slide_id]))

    assert response["Location"] == work_url(second)
    first.refresh_from_db()
    assert first.state == AssignmentSlide.State.DONE and first.done_at is not None


def reopen_url(item):
    return reverse("tasks:reopen", args=[item.assignment_id, item.slide_id])


def test_the_next_slide_offers_to_undo_done_once(client_for, annotator, assignment):
    first, second, _ = items(assignment)
    client = client_for(annotator)

    page = client.post(
        reverse("tasks:done", args=[first.assignment_id, first.slide_id]), follow=True
    )
    again = client.get(work_url(second))

    assert page.redirect_chain[-1][0] == work_url(second)
    assert page.context["undo"] == first
    text = page.content.decode()
    assert f'action="{reopen_url(first)}"' in text and 'id="undo-done-button"' in text
    assert "“CASE-01-A.tiff” is marked done." in text
    assert again.context["undo"] is None
    assert 'id="undo-done-button"' not in again.content.decode()


def test_the_status_page_offers_to_undo_the_last_done(client_for, annotator, assignment):
    client = client_for(annotator)
    for item in items(assignment)[:2]:
        services.work_done(item=item)
    last = items(assignment)[2]

    page = client.post(reverse("tasks:done", args=[last.assignment_id, last.slide_id]), follow=True)
    client.post(reopen_url(last))

    assert page.redirect_chain[-1][0] == reverse("home")
    assert f'action="{reopen_url(last)}"' in page.content.decode()
    last.refresh_from_db()
    assert last.state == AssignmentSlide.State.IN_PROGRESS
    assert Assignment.objects.get(pk=assignment.pk).state == Assignment.State.REOPENED


def test_no_undo_is_offered_for_a_slide_reopened_meanwhile(client_for, annotator, assignment):
    first, second, _ = items(assignment)
    client = client_for(annotator)
    client.post(reverse("tasks:done", args=[first.assignment_id, first.slide_id]))
    services.work_reopen(item=AssignmentSlide.objects.get(pk=first.pk), actor=annotator)

    page = client.get(work_url(second))

    assert page.context["undo"] is None


def test_the_done_button_asks_first_in_a_dialog(client_for, annotator, assignment):
    first = items(assignment)[0]

    text = client_for(annotator).get(work_url(first)).content.decode()

    done = reverse("tasks:done", args=[first.assignment_id, first.slide_id])
    button = text[text.index('id="done-button"') :].split(">", 1)[0]
    assert 'data-bs-target="#done-modal"' in button and 'type="button"' in text
    # The only form that marks the slide done is the dialog's.
    assert text.count(f'action="{done}"') == 1
    assert text.index('id="done-modal"') < text.index(f'action="{done}"')
    # At the end of the bar, after the view controls rather than among them.
    assert text.index('class="viewer-controls"') < text.index('id="done-button"')


def test_last_done_completes_the_assignment_and_returns_home(client_for, annotator, assignment):
    client = client_for(annotator)
    for item in items(assignment):
        response = client.post(reverse("tasks:done", args=[item.assignment_id, item.slide_id]))

    assert response["Location"] == reverse("home")
    assert Assignment.objects.get(pk=assignment.pk).state == Assignment.State.COMPLETED


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


# --- The plain viewer's "Annotate", and the menu ----------------------------------------------


def viewer_url(slide):
    return reverse("slides:viewer", args=[slide.pk])


def test_the_plain_viewer_offers_annotate_for_an_open_assignment(
    client_for, annotator, assignment, slides
):
    response = client_for(annotator).get(viewer_url(slides[0]))

    actions = response.context["viewer_actions"]
    first = items(assignment)[0]
    assert [(a["label"], a["url"]) for a in actions] == [("Annotate", work_url(first))]
    assert f'href="{work_url(first)}"' in response.content.decode()


def test_the_plain_viewer_offers_no_annotate_once_the_assignment_is_closed(
    client_for, annotator, assignment, slides, admin_user
):
    services.assignment_close(assignment=assignment, actor=admin_user)

    response = client_for(annotator).get(viewer_url(slides[0]))

    assert response.context["viewer_actions"] == []
    assert "Annotate" not in response.content.decode()


def test_the_plain_viewer_offers_no_annotate_on_someone_elses_work(
    client_for, admin_user, assignment, slides
):
    response = client_for(admin_user).get(viewer_url(slides[0]))

    assert response.context["viewer_actions"] == []


def test_the_plain_viewer_names_each_task_when_the_slide_is_in_several(
    client_for, annotator, assignment, project, slides, admin_user
):
    other = Task.objects.create(project=project, name="Round 2")
    services.assignment_create(task=other, assignee=annotator, slides=[slides[0]], actor=admin_user)
    services.work_done(item=items(assignment)[0])

    actions = client_for(annotator).get(viewer_url(slides[0])).context["viewer_actions"]

    assert [a["label"] for a in actions] == ["Open your work: Round 1", "Annotate: Round 2"]


def test_the_work_page_itself_offers_no_annotate_link(client_for, annotator, assignment):
    response = client_for(annotator).get(work_url(items(assignment)[0]))

    assert "viewer_actions" not in response.context


def test_an_annotators_menu_leads_to_their_own_slides(client_for, annotator, assignment):
    text = client_for(annotator).get(reverse("home")).content.decode()

    menu = text[text.index('aria-label="Main"') : text.index("</nav>")]
    assert f'href="{reverse("tasks:my_slides")}">Your slides<' in menu
    assert f'href="{reverse("slides:list")}"' not in menu


def test_staffs_menu_keeps_the_list_of_every_slide(client_for, manager):
    text = client_for(manager).get(reverse("home")).content.decode()

    menu = text[text.index('aria-label="Main"') : text.index("</nav>")]
    assert f'href="{reverse("slides:list")}">Slides<' in menu


# --- The project overview and list -------------------------------------------------------------


@pytest.fixture
def shared_task(project, slides, annotator, admin_user):
    """Three slides for two annotators, two each (overlap as in a batch delegation)."""
    second = factories.user_create("second", role=roles.ANNOTATOR)
    task = Task.objects.create(project=project, name="Shared")
    mine = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:2], actor=admin_user
    )
    theirs = services.assignment_create(
        task=task, assignee=second, slides=slides[1:3], actor=admin_user
    )
    return task, mine, theirs


def overview(client, project, **query):
    return client.get(reverse("tasks:project_overview", args=[project.pk]), query)


def test_the_overview_counts_shares_and_slides_apart(client_for, manager, shared_task, project):
    task, mine, _ = shared_task
    services.work_done(item=items(mine)[0])

    page = overview(client_for(manager), project)

    row = next(t for t in page.context["tasks"] if t.pk == task.pk)
    assert (row.slide_count, row.done, row.total, row.people) == (3, 1, 4, 2)
    text = page.content.decode()
    assert "Shares done / total" in text and "Slides done / total" in text


def test_the_overview_links_tasks_and_people_to_their_admin_pages(
    client_for, manager, shared_task, project
):
    task, mine, theirs = shared_task

    text = overview(client_for(manager), project).content.decode()

    assert f'href="{reverse("admin:tasks_task_change", args=[task.pk])}"' in text
    for assignment in (mine, theirs):
        assert f'href="{reverse("admin:tasks_assignment_change", args=[assignment.pk])}"' in text


def test_the_overview_shows_each_persons_state_on_each_slide(
    client_for, manager, shared_task, project, slides
):
    task, mine, theirs = shared_task
    services.work_done(item=items(mine)[0])
    services.work_open(item=items(theirs)[0])

    matrix = overview(client_for(manager), project, task=task.pk).context["matrix"]

    assert [c.assignee.username for c in matrix.columns] == ["annotator", "second"]
    assert [
        (row.task_slide.slide.name, [cell.state for cell in row.cells]) for row in matrix.rows
    ] == [
        (slides[0].name, ["done", "not_assigned"]),
        (slides[1].name, ["not_started", "in_progress"]),
        (slides[2].name, ["not_assigned", "not_started"]),
    ]
    assert [cell.label for cell in matrix.rows[0].cells] == ["Done", "Not assigned"]


def test_the_matrix_shows_a_bounded_page_of_slides(
    client_for, manager, shared_task, project, slides, monkeypatch
):
    monkeypatch.setattr(selectors, "MATRIX_SLIDES_PER_PAGE", 2)
    task = shared_task[0]
    client = client_for(manager)

    first = overview(client, project, task=task.pk)
    second = overview(client, project, task=task.pk, page="2")

    assert [r.task_slide.slide for r in first.context["matrix"].rows] == slides[:2]
    assert [r.task_slide.slide for r in second.context["matrix"].rows] == [slides[2]]
    assert "slides 1–2 of 3" in first.content.decode()


def test_the_matrix_shows_the_first_task_unless_asked(client_for, manager, assignment, project):
    later = Task.objects.create(project=project, name="Later")
    client = client_for(manager)

    assert overview(client, project).context["matrix"].task == assignment.task
    assert overview(client, project, task=later.pk).context["matrix"].task == later


@pytest.mark.parametrize("task", ["abc", "-1", "0", "١", "9" * 40])
def test_a_matrix_task_that_is_not_an_id_is_400(client_for, manager, assignment, project, task):
    response = overview(client_for(manager), project, task=task)

    assert response.status_code == 400
    assert b"task must be the id of one of this project's tasks." in response.content


def test_a_matrix_task_of_another_project_is_404(client_for, manager, assignment, project):
    other = Task.objects.create(project=Project.objects.create(name="Other"), name="Theirs")

    assert overview(client_for(manager), project, task=other.pk).status_code == 404


def test_the_project_list_gives_tasks_slides_and_shares(
    client_for, manager, shared_task, assignment, project
):
    _, mine, _ = shared_task
    services.work_done(item=items(mine)[0])
    Project.objects.create(name="Empty").members.add(manager)
    Project.objects.create(name="Not theirs")

    page = client_for(manager).get(reverse("tasks:project_list"))

    figures = {
        p.name: (p.task_count, p.slide_count, p.shares_done, p.shares)
        for p in page.context["projects"]
    }
    # "Round 1" holds slides 0-2 for annotator; "Shared" slides 0-2 for two people, four shares.
    # A project the manager is not a member of is not listed.
    assert figures == {project.name: (2, 3, 1, 7), "Empty": (0, 0, 0, 0)}
    assert "14%" in page.content.decode()  # 1 of 7
