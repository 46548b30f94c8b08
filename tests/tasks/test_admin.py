"""Delegating through the Django admin: batch delegation with preview, inlines, actions."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from tasks import roles
from tasks.models import Assignment, AssignmentSlide, DelegationEvent, Project, Task
from tests import factories

pytestmark = pytest.mark.django_db

DELEGATE = "admin:tasks_task_delegate"


@pytest.fixture
def people(db):
    return [factories.user_create(f"pathologist{i}", role=roles.ANNOTATOR) for i in range(3)]


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
    newcomer = factories.user_create("newcomer", role=roles.ANNOTATOR)
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


# --- Case patterns ------------------------------------------------------------------------------


def test_a_case_pattern_re2_cannot_run_is_a_form_error_that_says_why(
    client_for, manager, project, slides, people
):
    data = {**delegation(project, slides, people), "case_pattern": r"(?<=CASE-)\d+"}

    page = client_for(manager).post(reverse(DELEGATE), {**data, "confirm": "1"})

    assert page.status_code == 200
    [error] = page.context["form"].errors["case_pattern"]
    assert "look-ahead and look-behind are not supported" in error
    assert not Task.objects.exists()


def test_a_backtracking_case_pattern_previews_at_once(client_for, manager, project, slides, people):
    data = {**delegation(project, slides, people), "case_pattern": r"(.|.)*!", "overlap": 1}

    page = client_for(manager).post(reverse(DELEGATE), {**data, "preview": "Preview"})

    assert page.status_code == 200
    assert sum(len(share) for _, share in page.context["plan"]) == len(slides)


# --- Who is offered as an assignee ----------------------------------------------------------------


@pytest.fixture
def bystanders(manager):
    """People who may not be given annotation work: a manager, a reviewer, a former annotator."""
    reviewer = factories.user_create("reviewer", role=roles.REVIEWER)
    former = factories.user_create("former", role=roles.ANNOTATOR, is_active=False)
    return [manager, reviewer, former]


def test_the_delegation_form_offers_only_active_annotators(
    client_for, manager, people, bystanders, admin_user
):
    page = client_for(manager).get(reverse(DELEGATE))

    offered = set(page.context["form"].fields["annotators"].queryset)
    assert offered == set(people)


def test_a_crafted_delegation_to_a_manager_is_a_form_error(
    client_for, manager, project, slides, people, bystanders
):
    data = {**delegation(project, slides, people[:1]), "overlap": 1}
    data["annotators"] = [people[0].pk, manager.pk]

    page = client_for(manager).post(reverse(DELEGATE), {**data, "confirm": "1"})

    assert page.status_code == 200
    assert "Select a valid choice" in page.context["form"].errors["annotators"][0]
    assert not Task.objects.exists() and not Assignment.objects.exists()


@pytest.fixture
def round_one(client_for, admin_user, project, slides, people):
    client_for(admin_user).post(
        reverse(DELEGATE), {**delegation(project, slides, people[:2]), "confirm": "1"}
    )
    return Task.objects.get(name="Round 1")


def test_reassign_offers_only_annotators_and_refuses_a_crafted_manager(
    client_for, manager, round_one, people, bystanders
):
    first = round_one.assignments.order_by("id").first()
    holder = first.assignee
    url = reverse("admin:tasks_assignment_changelist")
    client = client_for(manager)

    form = client.post(url, {"action": "reassign", "_selected_action": [first.pk]})
    crafted = client.post(
        url,
        {
            "action": "reassign",
            "_selected_action": [first.pk],
            "apply": "1",
            "assignee": manager.pk,
        },
    )

    assert set(form.context["form"].fields["assignee"].queryset) == set(people)
    assert crafted.status_code == 200
    assert "Select a valid choice" in crafted.context["form"].errors["assignee"][0]
    first.refresh_from_db()
    assert first.assignee == holder
    assert not DelegationEvent.objects.filter(action="reassigned").exists()


def test_the_assignment_change_form_refuses_a_manager(
    client_for, manager, round_one, people, bystanders
):
    first = round_one.assignments.order_by("id").first()
    holder = first.assignee
    url = reverse("admin:tasks_assignment_change", args=[first.pk])

    page = client_for(manager).post(url, {"assignee": manager.pk, "slides": []})

    assert page.status_code == 200
    assert "Select a valid choice" in str(page.context["adminform"].form.errors["assignee"])
    first.refresh_from_db()
    assert first.assignee == holder


def test_the_assignment_add_form_refuses_a_manager(
    client_for, manager, round_one, people, bystanders
):
    url = reverse("admin:tasks_assignment_add")
    client = client_for(manager)
    for outsider in bystanders:
        page = client.post(url, {"task": round_one.pk, "assignee": outsider.pk, "slides": []})

        assert page.status_code == 200
        assert page.context["adminform"].form.errors["assignee"]
    assert not Assignment.objects.filter(assignee__in=bystanders).exists()


def test_the_assignment_add_form_refuses_an_annotator_for_a_review_task(
    client_for, manager, project, people
):
    annotation = Task.objects.create(project=project, name="Round 1")
    review = Task.objects.create(
        project=project, name="Review", kind=Task.Kind.REVIEW, reviewed_task=annotation
    )

    page = client_for(manager).post(
        reverse("admin:tasks_assignment_add"),
        {"task": review.pk, "assignee": people[0].pk, "slides": []},
    )

    assert page.status_code == 200
    [error] = page.context["adminform"].form.errors["assignee"]
    assert "Only active members of the Reviewer role may be given review work" in error
    assert not Assignment.objects.exists()


def task_change_data(task, **assignees):
    """The task's change form as posted, with new inline assignment rows for ``assignees``."""
    existing = list(task.assignments.order_by("id"))
    rows = existing + list(assignees.values())
    data = {
        "project": task.project_id,
        "name": task.name,
        "kind": task.kind,
        "instructions": task.instructions,
        "due_date": "",
        "task_slides-TOTAL_FORMS": 0,
        "task_slides-INITIAL_FORMS": 0,
        "assignments-TOTAL_FORMS": len(rows),
        "assignments-INITIAL_FORMS": len(existing),
    }
    for i, row in enumerate(rows):
        if isinstance(row, Assignment):
            data |= {f"assignments-{i}-id": row.pk, f"assignments-{i}-assignee": row.assignee_id}
        else:
            data[f"assignments-{i}-assignee"] = row.pk
        data[f"assignments-{i}-task"] = task.pk
    return data


def test_the_task_inline_refuses_a_manager_as_a_new_assignee(
    client_for, manager, round_one, bystanders
):
    url = reverse("admin:tasks_task_change", args=[round_one.pk])

    page = client_for(manager).post(url, task_change_data(round_one, new=manager))

    assert page.status_code == 200
    [inline] = [f for f in page.context["inline_admin_formsets"] if f.formset.model is Assignment]
    assert any("assignee" in form.errors for form in inline.formset.forms)
    assert not Assignment.objects.filter(assignee=manager).exists()


def test_the_task_inline_takes_a_new_annotator(client_for, manager, round_one, people):
    url = reverse("admin:tasks_task_change", args=[round_one.pk])

    response = client_for(manager).post(url, task_change_data(round_one, new=people[2]))

    assert response.status_code == 302
    assert round_one.assignments.filter(assignee=people[2]).exists()


def test_the_assignment_pages_offer_only_active_annotators(
    client_for, manager, round_one, people, bystanders
):
    client = client_for(manager)
    first = round_one.assignments.order_by("id").first()

    change = client.get(reverse("admin:tasks_assignment_change", args=[first.pk]))
    task = client.get(reverse("admin:tasks_task_change", args=[round_one.pk]))

    assert set(change.context["adminform"].form.fields["assignee"].queryset) == set(people)
    [inline] = [f for f in task.context["inline_admin_formsets"] if f.formset.model is Assignment]
    assert set(inline.formset.empty_form.fields["assignee"].queryset) == set(people)
    for page in (change, task):
        html = page.content.decode()
        assert f">{people[0].username}</option>" in html
        assert not any(f">{b.username}</option>" in html for b in bystanders)


def test_the_assignment_add_page_offers_annotators_and_reviewers_only(
    client_for, manager, round_one, people, bystanders
):
    # The task is chosen on the same page: whoever may do some kind of work is offered, and
    # the form then checks the task's kind.
    add = client_for(manager).get(reverse("admin:tasks_assignment_add"))

    reviewer = next(b for b in bystanders if b.username == "reviewer")
    assert set(add.context["adminform"].form.fields["assignee"].queryset) == {*people, reviewer}
    html = add.content.decode()
    assert ">manager</option>" not in html and ">former</option>" not in html


def test_a_share_held_by_someone_who_lost_the_role_can_still_be_edited(
    client_for, manager, round_one, people, slides
):
    first = round_one.assignments.order_by("id").first()
    first.assignee.groups.clear()
    kept = list(first.assignment_slides.values_list("slide_id", flat=True))[:1]
    url = reverse("admin:tasks_assignment_change", args=[first.pk])

    response = client_for(manager).post(url, {"assignee": first.assignee_id, "slides": kept})

    assert response.status_code == 302
    assert list(first.assignment_slides.values_list("slide_id", flat=True)) == kept


# --- Ids in the query string --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("%C2%B2", []),  # '²': str.isdigit() says yes, int() says no
        ("%D9%A3", []),  # an Arabic-Indic three, which int() would take
        ("99999999999999999999999", []),
        ("-1,,abc, 2", []),
        ("{first},{first},0,{second}", ["first", "second"]),
    ],
)
def test_delegate_keeps_only_ascii_slide_ids_from_the_query_string(
    client_for, manager, slides, query, kept
):
    ids = {"first": slides[0].pk, "second": slides[1].pk}

    page = client_for(manager).get(reverse(DELEGATE) + "?slides=" + query.format(**ids))

    assert page.status_code == 200
    assert page.context["form"].initial["slides"] == [ids[k] for k in kept]


# --- How the admin pages read ---------------------------------------------------------------------


def test_the_delegation_page_loads_the_admin_javascript_catalogue(client_for, manager):
    html = client_for(manager).get(reverse(DELEGATE)).content.decode()

    # SelectFilter2.js calls interpolate() and gettext(), which the catalogue defines.
    assert f'<script src="{reverse("admin:jsi18n")}"></script>' in html
    assert "admin/js/SelectFilter2.js" in html
    assert "tasks/admin.css" in html


def test_the_pickers_have_an_element_of_their_own_so_the_label_stays_first(client_for, manager):
    page = client_for(manager).get(reverse(DELEGATE))

    for name in ("slides", "annotators"):
        rendered = str(page.context["form"][name])
        assert rendered.startswith("<div><select") and rendered.endswith("</select></div>")


def test_assignee_selects_carry_no_user_account_icons(client_for, manager, round_one):
    client = client_for(manager)
    first = round_one.assignments.order_by("id").first()

    task = client.get(reverse("admin:tasks_task_change", args=[round_one.pk])).content.decode()
    change = client.get(reverse("admin:tasks_assignment_change", args=[first.pk])).content.decode()
    add = client.get(reverse("admin:tasks_assignment_add")).content.decode()

    assert 'id="add_id_assignments-0-assignee"' not in task
    assert 'id="change_id_task_slides-0-slide"' not in task
    assert 'id="add_id_project"' in task  # a project can still be made from a new task
    for html in (change, add):
        assert "add_id_assignee" not in html and "change_id_assignee" not in html
        assert "delete_id_assignee" not in html and "view_id_assignee" not in html
    link = reverse("admin:tasks_assignment_change", args=[first.pk])
    assert f'<a href="{link}">Choose slides</a>' in task
    project = client.get(reverse("admin:tasks_project_change", args=[round_one.project_id]))
    assert 'id="add_id_members"' not in project.content.decode()


def test_the_assignment_list_shows_short_project_and_last_opened_columns(
    client_for, manager, round_one
):
    first = round_one.assignments.order_by("id").first()
    opened = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    first.assignment_slides.update(last_opened_at=opened)

    page = client_for(manager).get(reverse("admin:tasks_assignment_changelist"))

    html = page.content.decode()
    assert '<td class="field-last_activity">2026-03-04 05:06</td>' in html
    assert f'<td class="field-project">{round_one.project.name}</td>' in html
    assert "Last opened" in html


def test_the_assignee_filters_list_only_assignees(client_for, manager, round_one, people):
    factories.user_create("bystander", role=roles.ANNOTATOR)
    client = client_for(manager)

    for url in (
        reverse("admin:tasks_assignment_changelist"),
        reverse("admin:tasks_task_changelist"),
    ):
        [assignee_filter] = [
            spec for spec in client.get(url).context["cl"].filter_specs if spec.title == "assignee"
        ]
        offered = {label for _, label in assignee_filter.lookup_choices}
        assert offered == {people[0].username, people[1].username}


def test_delegation_events_read_as_sentences(client_for, manager, round_one, people):
    page = client_for(manager).get(reverse("admin:tasks_delegationevent_changelist"))
    batch = DelegationEvent.objects.get(action="batch")
    detail = client_for(manager).get(reverse("admin:tasks_delegationevent_change", args=[batch.pk]))

    html = page.content.decode()
    assert "Added 4 slides: CASE-01-A.tiff, CASE-01-B.tiff, CASE-02-A.tiff, CASE-03-A.tiff" in html
    assert "Shares: pathologist0 4 slides, pathologist1 4 slides" in html
    assert "Each slide to 2 annotator(s)" in html
    assert '{"added"' not in html and "&quot;added&quot;" not in html
    assert "Shares: pathologist0 4 slides" in detail.content.decode()


def test_delegation_details_list_a_few_names_and_escape_them(client_for, manager, project):
    names = [f"<b>slide-{i}</b>" for i in range(7)]
    DelegationEvent.objects.create(
        action=DelegationEvent.Action.SLIDES_ADDED, actor=manager, details={"slides": names}
    )

    html = client_for(manager).get(reverse("admin:tasks_delegationevent_changelist")).content
    text = html.decode()

    assert "7 slides: &lt;b&gt;slide-0&lt;/b&gt;" in text and "and 2 more" in text
    assert "<b>slide-0</b>" not in text


@pytest.fixture
def staff(manager, people, bystanders):
    factories.user_create("nobody")
    return manager


def test_the_user_list_shows_roles_and_filters_by_them(client_for, admin_user, staff, people):
    client = client_for(admin_user)

    page = client.get(reverse("admin:auth_user_changelist"))
    annotators = client.get(reverse("admin:auth_user_changelist"), {"role": roles.ANNOTATOR})
    managers = client.get(reverse("admin:auth_user_changelist"), {"role": roles.PROJECT_MANAGER})
    nobody = client.get(reverse("admin:auth_user_changelist"), {"role": "none"})

    assert '<td class="field-role_names">Project manager</td>' in page.content.decode()
    assert {u.username for u in annotators.context["cl"].result_list} == {
        *(p.username for p in people),
        "former",
    }
    assert [u.username for u in managers.context["cl"].result_list] == ["manager"]
    assert {u.username for u in nobody.context["cl"].result_list} == {"admin", "nobody"}


def test_a_manager_who_makes_a_project_follows_it(client_for, manager):
    data = {
        "name": "Lung nodules",
        "description": "",
        "labels-TOTAL_FORMS": "0",
        "labels-INITIAL_FORMS": "0",
        "labels-MIN_NUM_FORMS": "0",
        "labels-MAX_NUM_FORMS": "1000",
    }

    response = client_for(manager).post(reverse("admin:tasks_project_add"), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    made = Project.objects.get(name="Lung nodules")
    assert list(made.members.all()) == [manager]
    overview = client_for(manager).get(reverse("tasks:project_overview", args=[made.pk]))
    assert overview.status_code == 200
