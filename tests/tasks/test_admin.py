"""Delegating through the Django admin: batch delegation with preview, inlines, actions."""

import pytest
from django.urls import reverse

from tasks.models import Assignment, AssignmentSlide, DelegationEvent, Task
from tests import factories

pytestmark = pytest.mark.django_db

DELEGATE = "admin:tasks_task_delegate"


@pytest.fixture
def people(db):
    return [factories.user_create(f"pathologist{i}") for i in range(3)]


def delegation(project, slides, people):
    return {
        "project": project.pk,
        "task_name": "Round 1",
        "instructions": "Outline tumour.",
        "slides": [s.pk for s in slides],
        "annotators": [p.pk for p in people],
        "overlap": 2,
        "case_pattern": "",
    }


def test_preview_shows_shares_and_saves_nothing(client_for, manager, project, slides, people):
    page = client_for(manager).post(
        reverse(DELEGATE), {**delegation(project, slides, people), "preview": "Preview"}
    )

    assert page.status_code == 200
    shares = {user.username: len(share) for user, share in page.context["plan"]}
    assert shares == {"pathologist0": 3, "pathologist1": 3, "pathologist2": 2}
    assert "Create task and assignments" in page.content.decode()
    assert not Task.objects.exists()


def test_confirm_creates_task_assignments_and_summary(client_for, manager, project, slides, people):
    client = client_for(manager)

    response = client.post(
        reverse(DELEGATE), {**delegation(project, slides, people), "confirm": "1"}, follow=True
    )

    task = Task.objects.get(name="Round 1")
    assert task.created_by == manager
    assert task.assignments.count() == 3
    assert AssignmentSlide.objects.filter(assignment__task=task).count() == 8
    text = response.content.decode()
    assert "slides per annotator" in text and "pathologist0: 3" in text
    assert DelegationEvent.objects.filter(action="batch", actor=manager).exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"overlap": 4}, "needs at least 4 annotators"),
        ({"slides": []}, "This field is required"),
        ({"annotators": []}, "This field is required"),
        ({"case_pattern": "CASE-("}, "not a valid regular expression"),
        ({"overlap": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_input_is_a_form_error(client_for, manager, project, slides, people, changes, message):
    page = client_for(manager).post(
        reverse(DELEGATE), {**delegation(project, slides, people), **changes, "confirm": "1"}
    )

    assert page.status_code == 200
    assert message in page.content.decode()
    assert not Task.objects.exists() and not Assignment.objects.exists()


def test_duplicate_task_name_is_a_form_error(client_for, manager, project, slides, people):
    Task.objects.create(project=project, name="Round 1")

    page = client_for(manager).post(
        reverse(DELEGATE), {**delegation(project, slides, people), "confirm": "1"}
    )

    assert "already has a task with that name" in page.content.decode()


def test_slide_action_preselects_slides(client_for, admin_user, slides):
    response = client_for(admin_user).post(
        reverse("admin:slides_slide_changelist"),
        {"action": "delegate", "_selected_action": [slides[0].pk, slides[2].pk]},
    )

    assert response.status_code == 302
    page = client_for(admin_user).get(response["Location"])
    assert sorted(page.context["form"].initial["slides"]) == sorted([slides[0].pk, slides[2].pk])


def test_task_changelist_shows_progress(client_for, manager, project, slides, people):
    client = client_for(manager)
    client.post(reverse(DELEGATE), {**delegation(project, slides, people), "confirm": "1"})

    page = client.get(reverse("admin:tasks_task_changelist"))

    assert page.status_code == 200
    assert "0/8" in page.content.decode()


def test_removing_a_slide_inline_revokes_it(client_for, admin_user, project, slides, people):
    client = client_for(admin_user)
    client.post(reverse(DELEGATE), {**delegation(project, slides, people), "confirm": "1"})
    task = Task.objects.get()
    task_slides = list(task.task_slides.order_by("order"))
    assignments = list(task.assignments.order_by("id"))
    data = {
        "project": project.pk,
        "name": task.name,
        "kind": task.kind,
        "instructions": task.instructions,
        "due_date": "",
        "task_slides-TOTAL_FORMS": len(task_slides),
        "task_slides-INITIAL_FORMS": len(task_slides),
        "assignments-TOTAL_FORMS": len(assignments),
        "assignments-INITIAL_FORMS": len(assignments),
    }
    for i, ts in enumerate(task_slides):
        data |= {
            f"task_slides-{i}-id": ts.pk,
            f"task_slides-{i}-task": task.pk,
            f"task_slides-{i}-slide": ts.slide_id,
            f"task_slides-{i}-order": ts.order,
        }
    data["task_slides-0-DELETE"] = "on"
    for i, a in enumerate(assignments):
        data |= {f"assignments-{i}-id": a.pk, f"assignments-{i}-task": task.pk}
        data[f"assignments-{i}-assignee"] = a.assignee_id

    response = client.post(reverse("admin:tasks_task_change", args=[task.pk]), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    removed = task_slides[0].slide
    assert not AssignmentSlide.objects.filter(slide=removed).exists()
    for person in people:
        fresh = type(person).objects.get(pk=person.pk)
        assert not fresh.has_perm("slides.view_slide", removed)


def test_close_and_reopen_actions(client_for, admin_user, project, slides, people):
    client = client_for(admin_user)
    client.post(reverse(DELEGATE), {**delegation(project, slides, people), "confirm": "1"})
    ids = list(Assignment.objects.values_list("pk", flat=True))
    url = reverse("admin:tasks_assignment_changelist")

    client.post(url, {"action": "close", "_selected_action": ids})
    assert set(Assignment.objects.values_list("state", flat=True)) == {"completed"}
    client.post(url, {"action": "reopen", "_selected_action": ids})
    assert set(Assignment.objects.values_list("state", flat=True)) == {"reopened"}


def test_reassign_action_asks_for_the_new_assignee(client_for, admin_user, project, slides, people):
    client = client_for(admin_user)
    client.post(reverse(DELEGATE), {**delegation(project, slides, people[:2]), "confirm": "1"})
    newcomer = factories.user_create("newcomer")
    first = Assignment.objects.order_by("id").first()
    url = reverse("admin:tasks_assignment_changelist")

    form = client.post(url, {"action": "reassign", "_selected_action": [first.pk]})
    assert form.status_code == 200 and "New assignee" in form.content.decode()
    client.post(
        url,
        {
            "action": "reassign",
            "_selected_action": [first.pk],
            "apply": "1",
            "assignee": newcomer.pk,
        },
    )

    first.refresh_from_db()
    assert first.assignee == newcomer
    assert DelegationEvent.objects.filter(action="reassigned", assignee=newcomer).exists()


def test_adding_slides_inline_is_recorded(client_for, admin_user, project, slides):
    client = client_for(admin_user)
    task = Task.objects.create(project=project, name="Inline")
    data = {
        "project": project.pk,
        "name": task.name,
        "kind": task.kind,
        "instructions": "",
        "due_date": "",
        "task_slides-TOTAL_FORMS": 2,
        "task_slides-INITIAL_FORMS": 0,
        "task_slides-0-slide": slides[0].pk,
        "task_slides-0-order": 1,
        "task_slides-1-slide": slides[1].pk,
        "task_slides-1-order": 2,
        "assignments-TOTAL_FORMS": 0,
        "assignments-INITIAL_FORMS": 0,
    }

    response = client.post(reverse("admin:tasks_task_change", args=[task.pk]), data)

    assert response.status_code == 302
    assert list(task.slides.order_by("task_slides__order")) == slides[:2]
    event = DelegationEvent.objects.get(action="slides_added", task=task)
    assert event.actor == admin_user
    assert event.details["slides"] == [slides[0].name, slides[1].name]
