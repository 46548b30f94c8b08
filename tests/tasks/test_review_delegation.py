"""Review tasks: what they review, who may review which slide (never their own work), batch
delegation of review, the admin's forms, and the reviewer's status page.

The work under review is ``outlines`` (tests/tasks/conftest.py): pathologist holds slides 0 and
1, other-annotator slides 1 and 2, all annotated but pathologist's slide 1; slide 3 is nobody's.
"""

import re

import pytest
from django.urls import reverse

from tasks import delegation, roles, selectors, services
from tasks.models import Assignment, AssignmentSlide, DelegationEvent, Project, Task
from tests import factories

pytestmark = pytest.mark.django_db

OWN_WORK = "nobody reviews their own work"


def can_view(user, slide) -> bool:
    user = type(user).objects.get(pk=user.pk)  # a fresh object: guardian caches permissions
    return user.has_perm("slides.view_slide", slide)


def review_of(task: Task, *, name="Review", chosen=()) -> Task:
    review = Task.objects.create(
        project=task.project, name=name, kind=Task.Kind.REVIEW, reviewed_task=task
    )
    review.reviewed_assignments.set(chosen)
    return review


def check(**changes):
    """services.review_task_check of a new review task of ``outlines``, with ``changes``."""
    values = {"task": None, "kind": Task.Kind.REVIEW, "reviewed_assignments": []} | changes
    return services.review_task_check(**values)


# --- What a review task reviews -----------------------------------------------------------------


def test_a_review_task_of_an_annotation_task_of_its_project_is_accepted(outlines, project):
    task, mine, _ = outlines

    check(project=project, reviewed_task=task, reviewed_assignments=[mine])


@pytest.mark.parametrize(
    ("case", "field", "message"),
    [
        ("none", "reviewed_task", "A review task reviews an annotation task: choose it."),
        ("other project", "reviewed_task", "belongs to the project “Elsewhere”"),
        ("review task", "reviewed_task", "“Review” is a review task"),
        ("other assignment", "reviewed_assignments", "Only assignments of “Tumour outlines”"),
        ("annotation kind", "reviewed_task", "Only a review task reviews another task"),
    ],
)
def test_a_review_task_that_does_not_fit_is_refused_on_its_field(
    outlines, project, reviewer, admin_user, case, field, message
):
    task, mine, _ = outlines
    elsewhere = Project.objects.create(name="Elsewhere")
    foreign = Task.objects.create(project=elsewhere, name="Foreign")
    other_round = Task.objects.create(project=project, name="Round 2")
    stranger = Assignment.objects.create(task=other_round, assignee=reviewer)
    values = {
        "none": {"reviewed_task": None},
        "other project": {"reviewed_task": foreign},
        "review task": {"reviewed_task": review_of(task)},
        "other assignment": {
            "reviewed_task": task,
            "reviewed_assignments": [mine, stranger],
        },
        "annotation kind": {"reviewed_task": task, "kind": Task.Kind.ANNOTATION},
    }[case]

    with pytest.raises(services.DelegationError, match=message) as refused:
        check(project=project, **values)

    assert refused.value.field == field


def test_a_task_cannot_review_itself(project):
    task = Task.objects.create(project=project, name="Round 2")

    with pytest.raises(services.DelegationError, match="cannot review itself"):
        check(task=task, project=project, reviewed_task=task)


def test_a_task_with_assignments_keeps_its_kind(outlines, project):
    task, _, _ = outlines

    with pytest.raises(
        services.DelegationError, match="kind of a task with assignments"
    ) as refused:
        services.review_task_check(
            task=task, project=project, kind=Task.Kind.REVIEW, reviewed_task=None
        )

    assert refused.value.field == "kind"


# --- Nobody reviews their own work --------------------------------------------------------------


def test_a_reviewer_is_refused_the_slides_they_annotate(outlines, slides, pathologist, admin_user):
    review = review_of(outlines[0])

    with pytest.raises(services.DelegationError) as refused:
        services.assignment_create(
            task=review, assignee=pathologist, slides=slides[1:3], actor=admin_user
        )

    assert str(refused.value) == (
        f"pathologist annotates “CASE-01-B.tiff” in “Tumour outlines”: {OWN_WORK}."
    )
    assert not review.assignments.exists()
    assert not can_view(pathologist, slides[2])


def test_a_reviewer_may_review_the_slides_of_others(outlines, slides, pathologist, admin_user):
    review = review_of(outlines[0])

    assignment = services.assignment_create(
        task=review, assignee=pathologist, slides=[slides[2]], actor=admin_user
    )

    assert list(assignment.assignment_slides.values_list("slide", flat=True)) == [slides[2].pk]


def test_only_the_chosen_assignments_count_as_the_reviewers_own_work(
    outlines, slides, pathologist, admin_user
):
    _, mine, theirs = outlines
    review = review_of(outlines[0], chosen=[theirs])

    services.assignment_create(
        task=review, assignee=pathologist, slides=slides[1:3], actor=admin_user
    )
    of_mine = review_of(outlines[0], name="Of mine", chosen=[mine])
    with pytest.raises(services.DelegationError, match=OWN_WORK):
        services.assignment_create(
            task=of_mine, assignee=pathologist, slides=[slides[0]], actor=admin_user
        )


def test_adding_an_own_slide_to_a_review_share_is_refused(
    outlines, slides, pathologist, admin_user
):
    review = review_of(outlines[0])
    share = services.assignment_create(
        task=review, assignee=pathologist, slides=[slides[2]], actor=admin_user
    )

    with pytest.raises(services.DelegationError, match=re.escape("annotates “CASE-01-A.tiff”")):
        services.assignment_set_slides(assignment=share, slides=slides[:3], actor=admin_user)

    assert [s.slide_id for s in share.assignment_slides.all()] == [slides[2].pk]
    assert not can_view(type(pathologist).objects.get(pk=pathologist.pk), slides[3])


def test_reassigning_a_review_to_the_annotator_is_refused(
    outlines, slides, reviewer, other_annotator, admin_user
):
    review = review_of(outlines[0])
    share = services.assignment_create(
        task=review, assignee=reviewer, slides=slides[:2], actor=admin_user
    )

    with pytest.raises(services.DelegationError) as refused:
        services.assignment_reassign(assignment=share, assignee=other_annotator, actor=admin_user)

    assert "other-annotator annotates “CASE-01-B.tiff” in “Tumour outlines”" in str(refused.value)
    assert Assignment.objects.get(pk=share.pk).assignee == reviewer
    assert not DelegationEvent.objects.filter(action="reassigned").exists()


def test_reassigning_annotation_work_to_its_reviewer_is_refused(
    outlines, slides, reviewer, admin_user
):
    task, mine, _ = outlines
    reviewer.groups.add(factories.role_group(roles.ANNOTATOR))
    review = review_of(task, name="Second opinion")
    services.assignment_create(task=review, assignee=reviewer, slides=[slides[0]], actor=admin_user)

    with pytest.raises(services.DelegationError) as refused:
        services.assignment_reassign(assignment=mine, assignee=reviewer, actor=admin_user)

    assert str(refused.value) == (
        f"reviewer reviews “CASE-01-A.tiff” in “Second opinion”: {OWN_WORK}."
    )
    assert Assignment.objects.get(pk=mine.pk).assignee.username == "pathologist"


def test_new_annotation_work_on_a_slide_one_reviews_is_refused_unless_not_reviewed(
    outlines, slides, reviewer, admin_user
):
    task, mine, _ = outlines
    reviewer.groups.add(factories.role_group(roles.ANNOTATOR))
    every = review_of(task, name="Every")
    services.assignment_create(task=every, assignee=reviewer, slides=[slides[2]], actor=admin_user)

    with pytest.raises(
        services.DelegationError, match=re.escape("reviewer reviews “CASE-02-A.tiff”")
    ):
        services.assignment_create(
            task=task, assignee=reviewer, slides=[slides[2]], actor=admin_user
        )
    every.reviewed_assignments.set([mine])  # now it reviews pathologist's work only
    services.assignment_create(task=task, assignee=reviewer, slides=[slides[2]], actor=admin_user)


def test_changing_what_a_review_task_reviews_may_not_give_a_reviewer_their_work(
    outlines, slides, pathologist, project, admin_user
):
    task, mine, theirs = outlines
    review = review_of(task, chosen=[theirs])
    services.assignment_create(
        task=review, assignee=pathologist, slides=[slides[1]], actor=admin_user
    )

    with pytest.raises(services.DelegationError) as refused:
        services.review_task_check(
            task=review,
            project=project,
            kind=Task.Kind.REVIEW,
            reviewed_task=task,
            reviewed_assignments=[mine, theirs],
        )

    assert refused.value.field == "reviewed_assignments"
    assert "pathologist annotates “CASE-01-B.tiff” in “Tumour outlines”" in str(refused.value)


def test_the_last_chosen_assignment_of_a_review_cannot_be_deleted(outlines, admin_user):
    task, mine, theirs = outlines
    review_of(task, chosen=[mine, theirs])
    only_theirs = review_of(task, name="Only theirs", chosen=[theirs])

    services.assignment_delete(assignment=mine, actor=admin_user)
    with pytest.raises(
        services.DelegationError, match="“Only theirs”, “Review” review only this assignment"
    ):
        services.assignment_delete(assignment=theirs, actor=admin_user)

    assert list(only_theirs.reviewed_assignments.all()) == [theirs]


# --- The reviewer's view of slides --------------------------------------------------------------


def test_a_reviewer_sees_exactly_the_slides_under_review_until_unassigned(
    outlines, slides, reviewer, admin_user
):
    review = review_of(outlines[0])

    share = services.assignment_create(
        task=review, assignee=reviewer, slides=slides[1:3], actor=admin_user
    )
    assert [can_view(reviewer, s) for s in slides] == [False, True, True, False]
    services.assignment_set_slides(assignment=share, slides=[slides[2]], actor=admin_user)
    assert [can_view(reviewer, s) for s in slides] == [False, False, True, False]
    services.assignment_delete(assignment=share, actor=admin_user)
    assert not any(can_view(reviewer, s) for s in slides)


def test_the_reviewed_work_of_a_slide_is_the_reviewed_assignments_holding_it(
    outlines, slides, reviewer, pathologist, admin_user
):
    task, mine, theirs = outlines
    review = review_of(task)
    share = services.assignment_create(
        task=review, assignee=reviewer, slides=slides[:3], actor=admin_user
    )
    own = services.assignment_create(
        task=review, assignee=pathologist, slides=[slides[2]], actor=admin_user
    )

    def work(assignment, slide):
        return set(selectors.reviewed_work(assignment=assignment, slide_id=slide.pk))

    assert work(share, slides[0]) == {mine}
    assert work(share, slides[1]) == {mine, theirs}
    assert work(own, slides[2]) == {theirs}
    assert work(theirs, slides[2]) == set()  # an annotation assignment reviews nothing
    review.reviewed_assignments.set([theirs])
    assert work(share, slides[0]) == set()


# --- Batch delegation of review -----------------------------------------------------------------


@pytest.fixture
def reviewers(pathologist, other_annotator, reviewer):
    return [pathologist, other_annotator, reviewer]


def shares_of(task: Task) -> dict[str, list[str]]:
    rows = AssignmentSlide.objects.filter(assignment__task=task).order_by("slide__name")
    shares: dict[str, list[str]] = {}
    for username, name in rows.values_list("assignment__assignee__username", "slide__name"):
        shares.setdefault(username, []).append(name)
    return shares


def test_a_review_batch_gives_each_annotated_slide_to_k_reviewers_never_its_annotator(
    outlines, slides, reviewers, project, admin_user
):
    task, _, _ = outlines
    extra = factories.user_create("extra", role=roles.REVIEWER)

    review = services.batch_delegate_review(
        reviewed_task=task,
        task_name="Review 1",
        reviewers=[*reviewers, extra],
        overlap=2,
        actor=admin_user,
    )

    assert (review.kind, review.reviewed_task, review.project) == ("review", task, project)
    assert list(review.slides.order_by("task_slides__order")) == slides[:3]  # not slide 3
    shares = shares_of(review)
    annotators = {0: {"pathologist"}, 1: {"pathologist", "other-annotator"}, 2: {"other-annotator"}}
    for i, barred in annotators.items():
        holders = {who for who, names in shares.items() if slides[i].name in names}
        assert len(holders) == 2 and not holders & barred
    loads = [len(names) for names in shares.values()]
    assert sum(loads) == 6 and max(loads) - min(loads) <= 1
    assert set(project.members.all()) >= {*reviewers, extra}
    event = DelegationEvent.objects.get(action="batch", task=review)
    assert event.details["reviewed_task"] == "Tumour outlines" and event.details["kind"] == "review"


def test_a_slide_that_cannot_get_k_other_reviewers_is_named(outlines, reviewers, admin_user):
    task, _, _ = outlines

    with pytest.raises(delegation.PlanError) as refused:
        services.batch_delegate_review(
            reviewed_task=task,
            task_name="Review 1",
            reviewers=reviewers,
            overlap=2,
            actor=admin_user,
        )

    assert str(refused.value).startswith(
        "“CASE-01-B.tiff” cannot go to 2 different reviewers: of the 3 chosen, other-annotator, "
        f"pathologist annotated it and {OWN_WORK}, which leaves 1."
    )
    assert not Task.objects.filter(kind=Task.Kind.REVIEW).exists()
    assert not Assignment.objects.filter(task__kind=Task.Kind.REVIEW).exists()


def test_a_review_batch_of_chosen_assignments_reviews_only_their_annotated_slides(
    outlines, slides, pathologist, reviewer, admin_user
):
    task, mine, _ = outlines

    review = services.batch_delegate_review(
        reviewed_task=task,
        reviewed_assignments=[mine],
        task_name="Review of pathologist",
        reviewers=[pathologist, reviewer],
        overlap=1,
        actor=admin_user,
    )

    assert list(review.reviewed_assignments.all()) == [mine]
    assert shares_of(review) == {"reviewer": [slides[0].name]}  # slide 1 is not started


def test_nothing_annotated_is_nothing_to_review(outlines, reviewer, admin_user):
    task, _, _ = outlines
    AssignmentSlide.objects.update(state=AssignmentSlide.State.NOT_STARTED)

    with pytest.raises(delegation.PlanError, match="Nothing of “Tumour outlines” is annotated"):
        services.batch_plan_review(reviewed_task=task, reviewers=[reviewer], overlap=1)


def test_a_review_batch_keeps_cases_together_away_from_their_annotators(
    outlines, reviewers, admin_user
):
    task, _, _ = outlines
    extra = factories.user_create("extra", role=roles.REVIEWER)

    shares = services.batch_plan_review(
        reviewed_task=task,
        reviewers=[*reviewers, extra],
        overlap=1,
        case_pattern=r"CASE-(\d+)",
    )

    case_one = [
        who
        for who, share in shares.items()
        if {s.name for s in share} >= {"CASE-01-A.tiff", "CASE-01-B.tiff"}
    ]
    assert [u.username for u in case_one] in (["reviewer"], ["extra"])


# --- The status page ----------------------------------------------------------------------------


def test_review_work_shows_on_the_status_page_with_progress_and_continue(
    outlines, slides, reviewer, admin_user
):
    review = review_of(outlines[0])
    share = services.assignment_create(
        task=review, assignee=reviewer, slides=slides[1:3], actor=admin_user
    )
    services.work_done(item=share.assignment_slides.get(slide=slides[1]))

    [listed] = selectors.assignments_of(reviewer)
    following = selectors.next_slide_for(reviewer)

    assert (listed, listed.done, listed.total) == (share, 1, 2)
    assert (following.assignment, following.slide) == (share, slides[2])
    assert selectors.work_url_name(following.assignment) == "review:work"
    assert selectors.work_url_name(outlines[1]) == "annotations:work"


# --- The admin ----------------------------------------------------------------------------------

DELEGATE_REVIEW = reverse("admin:tasks_task_delegate") + "?kind=review"


def review_batch(task, reviewers, **changes):
    return {
        "reviewed_task": task.pk,
        "reviewed_assignments": [],
        "task_name": "Review 1",
        "instructions": "Check the outlines.",
        "reviewers": [r.pk for r in reviewers],
        "overlap": 1,
        "case_pattern": "",
    } | changes


def test_the_review_delegation_previews_then_creates(
    client_for, admin_user, outlines, slides, reviewers
):
    client = client_for(admin_user)
    data = review_batch(outlines[0], reviewers)

    preview = client.post(DELEGATE_REVIEW, {**data, "preview": "Preview"})
    assert preview.status_code == 200 and not Task.objects.filter(kind="review").exists()
    planned = {user.username: [s.name for s in share] for user, share in preview.context["plan"]}
    assert sum(len(share) for share in planned.values()) == 3
    assert ">Reviewer</th>" in preview.content.decode()

    done = client.post(DELEGATE_REVIEW, {**data, "confirm": "1"}, follow=True)
    review = Task.objects.get(kind="review")
    assert shares_of(review) == {who: sorted(names) for who, names in planned.items() if names}
    assert "slides per reviewer" in done.content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"overlap": 3}, None, "“CASE-01-A.tiff” cannot go to 3 different reviewers"),
        ({"reviewed_assignments": ["foreign"]}, "reviewed_assignments", "Only assignments of"),
        ({"reviewed_task": "review"}, "reviewed_task", "Select a valid choice"),
        ({"task_name": "Tumour outlines"}, "task_name", "already has a task with that name"),
    ],
)
def test_a_review_delegation_that_cannot_be_made_is_a_form_error(
    client_for, admin_user, outlines, project, reviewer, reviewers, changes, field, message
):
    other = Task.objects.create(project=project, name="Round 2")
    foreign = services.assignment_create(
        task=other, assignee=outlines[1].assignee, slides=[], actor=admin_user
    )
    ids = {"foreign": foreign.pk, "review": review_of(outlines[0]).pk}
    data = review_batch(outlines[0], reviewers)
    for key, value in changes.items():
        data[key] = (
            [ids.get(v, v) for v in value] if isinstance(value, list) else ids.get(value, value)
        )
    tasks, events = Task.objects.count(), DelegationEvent.objects.count()

    page = client_for(admin_user).post(DELEGATE_REVIEW, {**data, "confirm": "1"})

    assert page.status_code == 200
    errors = page.context["form"].errors
    assert message in " ".join(errors[field or "__all__"])
    assert (Task.objects.count(), DelegationEvent.objects.count()) == (tasks, events)


def test_the_review_delegation_offers_only_active_reviewers(
    client_for, manager, outlines, reviewers
):
    factories.user_create("annotator-only", role=roles.ANNOTATOR)
    factories.user_create("former", role=roles.REVIEWER, is_active=False)

    page = client_for(manager).get(DELEGATE_REVIEW)

    assert set(page.context["form"].fields["reviewers"].queryset) == set(reviewers)
    assert "Delegate review" in page.content.decode()


def task_form(task, **changes):
    """The task's change form as posted, with no inline rows changed."""
    data = {
        "project": task.project_id,
        "name": task.name,
        "kind": task.kind,
        "reviewed_task": task.reviewed_task_id or "",
        "reviewed_assignments": list(task.reviewed_assignments.values_list("pk", flat=True)),
        "instructions": task.instructions,
        "due_date": "",
        "task_slides-TOTAL_FORMS": 0,
        "task_slides-INITIAL_FORMS": 0,
        "assignments-TOTAL_FORMS": 0,
        "assignments-INITIAL_FORMS": 0,
    }
    return data | changes


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"reviewed_task": ""}, "reviewed_task", "A review task reviews an annotation task"),
        ({"reviewed_task": "foreign"}, "reviewed_task", "a review task reviews a task of its own"),
        ({"reviewed_task": "itself"}, "reviewed_task", "Select a valid choice"),
        ({"reviewed_assignments": ["round 2"]}, "reviewed_assignments", "Only assignments of"),
        ({"kind": "annotation"}, "reviewed_task", "Only a review task reviews another task"),
    ],
)
def test_the_task_form_refuses_review_fields_that_do_not_fit(
    client_for, admin_user, outlines, project, changes, field, message
):
    review = review_of(outlines[0])
    foreign = Task.objects.create(project=Project.objects.create(name="Elsewhere"), name="F")
    other = Task.objects.create(project=project, name="Round 2")
    round_two = Assignment.objects.create(task=other, assignee=outlines[1].assignee)
    ids = {"foreign": foreign.pk, "itself": review.pk, "round 2": round_two.pk}
    data = task_form(review)
    for key, value in changes.items():
        data[key] = (
            [ids.get(v, v) for v in value] if isinstance(value, list) else ids.get(value, value)
        )

    page = client_for(admin_user).post(reverse("admin:tasks_task_change", args=[review.pk]), data)

    assert page.status_code == 200
    assert message in " ".join(page.context["adminform"].form.errors[field])
    review.refresh_from_db()
    assert (review.kind, review.reviewed_task) == ("review", outlines[0])


def test_the_task_form_refuses_a_reviewed_work_holding_a_reviewers_own_slides(
    client_for, admin_user, outlines, slides, pathologist
):
    task, _, theirs = outlines
    review = review_of(task, chosen=[theirs])
    services.assignment_create(
        task=review, assignee=pathologist, slides=[slides[1]], actor=admin_user
    )
    data = task_form(review, reviewed_assignments=[])  # none chosen: all, pathologist's too

    page = client_for(admin_user).post(reverse("admin:tasks_task_change", args=[review.pk]), data)

    assert page.status_code == 200
    [error] = page.context["adminform"].form.errors["reviewed_assignments"]
    assert "pathologist annotates “CASE-01-B.tiff” in “Tumour outlines” and reviews it" in error
    assert list(review.reviewed_assignments.all()) == [theirs]


def test_the_review_task_page_shows_what_it_reviews(client_for, manager, outlines):
    review = review_of(outlines[0], chosen=[outlines[2]])

    page = client_for(manager).get(reverse("admin:tasks_task_change", args=[review.pk]))
    listing = client_for(manager).get(reverse("admin:tasks_task_changelist"), {"kind": "review"})

    html = page.content.decode()
    assert "What a review task reviews" in html
    assert 'class="selectfilter"' in html  # reviewed assignments in the two-list picker
    assert 'id="add_id_reviewed_task"' not in html
    chosen = page.context["adminform"].form["reviewed_assignments"].value()
    assert chosen == [outlines[2].pk]
    assert [t.name for t in listing.context["cl"].result_list] == ["Review"]
    assert '<td class="field-reviews">Tumour outlines</td>' in listing.content.decode()


def test_an_annotation_task_with_assignments_has_no_review_fields(client_for, manager, outlines):
    page = client_for(manager).get(reverse("admin:tasks_task_change", args=[outlines[0].pk]))

    assert page.status_code == 200
    assert "What a review task reviews" not in page.content.decode()
    assert "reviewed_task" not in page.context["adminform"].form.fields


def test_the_assignment_add_form_refuses_a_reviewer_their_own_slide(
    client_for, manager, outlines, slides, pathologist
):
    review = review_of(outlines[0])
    services.task_add_slides(task=review, slides=slides[:3], actor=manager)

    page = client_for(manager).post(
        reverse("admin:tasks_assignment_add"),
        {"task": review.pk, "assignee": pathologist.pk, "slides": [slides[0].pk, slides[2].pk]},
    )

    assert page.status_code == 200
    [error] = page.context["adminform"].form.errors["assignee"]
    assert error == f"pathologist annotates “CASE-01-A.tiff” in “Tumour outlines”: {OWN_WORK}."
    assert not review.assignments.exists()


def test_the_assignment_change_form_refuses_own_work_on_the_right_field(
    client_for, manager, outlines, slides, reviewer, pathologist
):
    review = review_of(outlines[0])
    share = services.assignment_create(
        task=review, assignee=reviewer, slides=[slides[2]], actor=manager
    )
    services.task_add_slides(task=review, slides=slides[:3], actor=manager)
    url = reverse("admin:tasks_assignment_change", args=[share.pk])
    client = client_for(manager)

    handed = client.post(url, {"assignee": pathologist.pk, "slides": [slides[0].pk]})
    swapped = client.post(url, {"assignee": pathologist.pk, "slides": [slides[2].pk]})
    grown = client.post(url, {"assignee": pathologist.pk, "slides": [s.pk for s in slides[:3]]})

    assert "annotates “CASE-01-A.tiff”" in handed.context["adminform"].form.errors["assignee"][0]
    assert swapped.status_code == 302  # pathologist, with a slide they did not annotate
    [error] = grown.context["adminform"].form.errors["slides"]
    assert "pathologist annotates “CASE-01-A.tiff”, “CASE-01-B.tiff” in “Tumour outlines”" in error
    share.refresh_from_db()
    assert share.assignee == pathologist
    assert [row.slide_id for row in share.assignment_slides.all()] == [slides[2].pk]


def test_the_reassign_action_refuses_own_work_as_a_form_error_and_moves_nothing(
    client_for, manager, outlines, slides, reviewer, other_annotator
):
    review = review_of(outlines[0])
    share = services.assignment_create(
        task=review, assignee=reviewer, slides=slides[:2], actor=manager
    )
    url = reverse("admin:tasks_assignment_changelist")
    data = {"action": "reassign", "_selected_action": [share.pk], "apply": "1"}

    page = client_for(manager).post(url, {**data, "assignee": other_annotator.pk})

    assert page.status_code == 200
    [error] = page.context["form"].errors["assignee"]
    assert "other-annotator annotates “CASE-01-B.tiff” in “Tumour outlines”" in error
    assert Assignment.objects.get(pk=share.pk).assignee == reviewer
    offered = set(
        page.context["form"].fields["assignee"].queryset.values_list("username", flat=True)
    )
    assert offered == {"reviewer", "pathologist", "other-annotator"}


def test_the_reassign_action_refuses_annotation_work_to_its_reviewer(
    client_for, manager, outlines, slides, reviewer
):
    task, mine, _ = outlines
    reviewer.groups.add(factories.role_group(roles.ANNOTATOR))
    services.assignment_create(
        task=review_of(task), assignee=reviewer, slides=[slides[0]], actor=manager
    )
    url = reverse("admin:tasks_assignment_changelist")
    data = {"action": "reassign", "_selected_action": [mine.pk], "apply": "1"}

    page = client_for(manager).post(url, {**data, "assignee": reviewer.pk})

    assert (
        "reviewer reviews “CASE-01-A.tiff” in “Review”"
        in page.context["form"].errors["assignee"][0]
    )
    assert Assignment.objects.get(pk=mine.pk).assignee.username == "pathologist"


def test_a_new_inline_reviewer_who_annotated_a_slide_of_the_task_is_a_row_error(
    client_for, manager, outlines, slides, pathologist, reviewer
):
    review = review_of(outlines[0])
    services.task_add_slides(task=review, slides=slides[:2], actor=manager)
    data = task_form(review)
    data |= {"assignments-TOTAL_FORMS": 2, "assignments-0-assignee": pathologist.pk}
    data |= {"assignments-0-task": review.pk, "assignments-1-assignee": reviewer.pk}
    data |= {"assignments-1-task": review.pk}

    page = client_for(manager).post(reverse("admin:tasks_task_change", args=[review.pk]), data)

    assert page.status_code == 200
    [inline] = [f for f in page.context["inline_admin_formsets"] if f.formset.model is Assignment]
    assert OWN_WORK in inline.formset.forms[0].errors["assignee"][0]
    assert not inline.formset.forms[1].errors
    assert not review.assignments.exists()
    offered = set(inline.formset.empty_form.fields["assignee"].queryset)
    assert offered == {pathologist, reviewer, outlines[2].assignee}  # reviewers only


def test_inline_changes_that_together_give_someone_their_work_save_nothing(
    client_for, manager, outlines, slides, pathologist
):
    review = review_of(outlines[0])
    services.task_add_slides(task=review, slides=[slides[2]], actor=manager)
    data = task_form(review)
    # A new slide (pathologist's) and a new row for pathologist, who would get every slide.
    data |= {"task_slides-TOTAL_FORMS": 2, "task_slides-INITIAL_FORMS": 1}
    stored = review.task_slides.get()
    data |= {"task_slides-0-id": stored.pk, "task_slides-0-task": review.pk}
    data |= {"task_slides-0-slide": slides[2].pk, "task_slides-0-order": stored.order}
    data |= {"task_slides-1-task": review.pk, "task_slides-1-slide": slides[0].pk}
    data |= {"task_slides-1-order": 9, "assignments-TOTAL_FORMS": 1}
    data |= {"assignments-0-assignee": pathologist.pk, "assignments-0-task": review.pk}
    url = reverse("admin:tasks_task_change", args=[review.pk])

    response = client_for(manager).post(url, data, follow=True)

    assert response.redirect_chain[-1][0] == url
    text = response.content.decode()
    assert "Nothing was saved: pathologist annotates “CASE-01-A.tiff”" in text
    assert list(review.slides.all()) == [slides[2]]
    assert not review.assignments.exists()


def test_the_delete_page_protects_the_last_assignment_a_review_chose(
    client_for, admin_user, outlines
):
    _, mine, _ = outlines
    review_of(outlines[0], chosen=[mine])

    page = client_for(admin_user).post(
        reverse("admin:tasks_assignment_delete", args=[mine.pk]), {"post": "yes"}
    )

    assert page.status_code == 200
    assert "“Review” reviews only this assignment" in page.content.decode()
    assert Assignment.objects.filter(pk=mine.pk).exists()


def test_a_review_batch_event_reads_as_sentences(client_for, manager, outlines, reviewers):
    task, mine, _ = outlines
    extra = factories.user_create("extra", role=roles.REVIEWER)
    services.batch_delegate_review(
        reviewed_task=task,
        reviewed_assignments=[mine],
        task_name="Review 1",
        reviewers=[extra],
        overlap=1,
        actor=manager,
    )

    html = client_for(manager).get(reverse("admin:tasks_delegationevent_changelist")).content

    text = html.decode()
    assert "Reviews Tumour outlines (pathologist)" in text
    assert "Each slide to 1 reviewer(s)" in text
    assert "kind:" not in text
