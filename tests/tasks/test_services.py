"""Delegation: assignments grant and revoke slide permissions, and every change is logged."""

import pytest
from django.db.models import ProtectedError

from tasks import services
from tasks.models import Assignment, AssignmentSlide, DelegationEvent, Task
from tests import factories

pytestmark = pytest.mark.django_db


def can_view(user, slide) -> bool:
    user = type(user).objects.get(pk=user.pk)  # a fresh object: guardian caches permissions
    return user.has_perm("slides.view_slide", slide)


@pytest.fixture
def task(project, slides, admin_user):
    task = Task.objects.create(project=project, name="Round 1", created_by=admin_user)
    services.task_add_slides(task=task, slides=slides, actor=admin_user)
    return task


def test_assignment_grants_exactly_its_slides(task, slides, annotator, admin_user):
    services.assignment_create(task=task, assignee=annotator, slides=slides[:2], actor=admin_user)

    assert [can_view(annotator, s) for s in slides] == [True, True, False, False]


def test_removing_assignment_revokes(task, slides, annotator, admin_user):
    assignment = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:2], actor=admin_user
    )

    services.assignment_delete(assignment=assignment, actor=admin_user)

    assert not any(can_view(annotator, s) for s in slides)
    assert not Assignment.objects.exists()


def test_removing_slide_from_task_revokes_it(task, slides, annotator, admin_user):
    services.assignment_create(task=task, assignee=annotator, slides=slides, actor=admin_user)

    services.task_remove_slides(task=task, slides=[slides[0]], actor=admin_user)

    assert [can_view(annotator, s) for s in slides] == [False, True, True, True]
    assert AssignmentSlide.objects.filter(slide=slides[0]).count() == 0


def test_overlapping_tasks_keep_the_grant_until_the_last_one_goes(
    project, task, slides, annotator, admin_user
):
    other = Task.objects.create(project=project, name="Round 2")
    first = services.assignment_create(
        task=task, assignee=annotator, slides=[slides[0]], actor=admin_user
    )
    second = services.assignment_create(
        task=other, assignee=annotator, slides=[slides[0]], actor=admin_user
    )

    services.assignment_delete(assignment=first, actor=admin_user)
    assert can_view(annotator, slides[0])
    services.assignment_delete(assignment=second, actor=admin_user)
    assert not can_view(annotator, slides[0])


def test_reassign_moves_permissions_and_progress(task, slides, annotator, outsider, admin_user):
    assignment = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:2], actor=admin_user
    )
    item = assignment.assignment_slides.first()
    services.work_done(item=item)

    services.assignment_reassign(assignment=assignment, assignee=outsider, actor=admin_user)

    assert not can_view(annotator, slides[0])
    assert can_view(outsider, slides[0]) and can_view(outsider, slides[1])
    assert AssignmentSlide.objects.get(pk=item.pk).state == AssignmentSlide.State.DONE


def test_reassign_to_someone_already_in_the_task_is_refused(
    task, slides, annotator, outsider, admin_user
):
    first = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:1], actor=admin_user
    )
    services.assignment_create(task=task, assignee=outsider, slides=slides[1:2], actor=admin_user)

    with pytest.raises(services.DelegationError, match="already has an assignment"):
        services.assignment_reassign(assignment=first, assignee=outsider, actor=admin_user)

    assert Assignment.objects.get(pk=first.pk).assignee == annotator


def test_changing_an_assignments_slides_follows_in_permissions(task, slides, annotator, admin_user):
    assignment = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:2], actor=admin_user
    )

    services.assignment_set_slides(assignment=assignment, slides=slides[1:3], actor=admin_user)

    assert [can_view(annotator, s) for s in slides] == [False, True, True, False]


def test_every_delegation_change_is_recorded(task, slides, annotator, outsider, admin_user):
    assignment = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:1], actor=admin_user
    )
    services.assignment_close(assignment=assignment, actor=admin_user)
    services.assignment_reopen(assignment=assignment, actor=admin_user)
    services.assignment_reassign(assignment=assignment, assignee=outsider, actor=admin_user)
    services.assignment_delete(assignment=assignment, actor=admin_user)

    actions = list(DelegationEvent.objects.order_by("id").values_list("action", flat=True))

    assert actions == [
        "slides_added",
        "assigned",
        "closed",
        "reopened",
        "reassigned",
        "unassigned",
    ]
    assert all(e.actor == admin_user for e in DelegationEvent.objects.all())


class TestBatchDelegation:
    def annotators(self, n):
        return [factories.user_create(f"annotator{i}") for i in range(n)]

    def test_every_slide_gets_exactly_k_distinct_annotators(self, project, slides, admin_user):
        people = self.annotators(3)

        task = services.batch_delegate(
            project=project,
            task_name="Batch",
            slides=slides,
            annotators=people,
            overlap=2,
            actor=admin_user,
        )

        for slide in slides:
            owners = AssignmentSlide.objects.filter(assignment__task=task, slide=slide)
            assert owners.values("assignment__assignee").distinct().count() == 2
        loads = [
            AssignmentSlide.objects.filter(assignment__task=task, assignment__assignee=p).count()
            for p in people
        ]
        assert sum(loads) == 8
        assert max(loads) - min(loads) <= 1

    def test_balanced_within_one_for_many_slides(self, slides_root, project, admin_user):
        many = [factories.slide_create(slides_root, f"s{i}.tiff", 300, 200, i) for i in range(13)]
        people = self.annotators(4)

        task = services.batch_delegate(
            project=project,
            task_name="Many",
            slides=many,
            annotators=people,
            overlap=3,
            actor=admin_user,
        )

        loads = [a.assignment_slides.count() for a in task.assignments.all()]
        assert sum(loads) == 39
        assert max(loads) - min(loads) <= 1

    def test_case_grouping_keeps_a_case_with_one_person(self, project, slides, admin_user):
        people = self.annotators(2)

        task = services.batch_delegate(
            project=project,
            task_name="Cases",
            slides=slides,
            annotators=people,
            overlap=1,
            case_pattern=r"CASE-(\d+)",
            actor=admin_user,
        )

        case_one = AssignmentSlide.objects.filter(assignment__task=task, slide__in=slides[:2])
        assert case_one.values("assignment__assignee").distinct().count() == 1
        assert AssignmentSlide.objects.filter(assignment__task=task).count() == 4

    def test_annotators_get_permissions_and_project_membership(self, project, slides, admin_user):
        people = self.annotators(2)

        services.batch_delegate(
            project=project,
            task_name="Grants",
            slides=slides,
            annotators=people,
            overlap=2,
            actor=admin_user,
        )

        assert all(can_view(p, s) for p in people for s in slides)
        assert set(project.members.all()) == set(people)

    @pytest.mark.parametrize(
        ("overlap", "pattern", "message"),
        [(3, "", "needs at least 3 annotators"), (1, "CASE-(", "not a valid regular expression")],
    )
    def test_bad_input_changes_nothing(
        self, project, slides, admin_user, overlap, pattern, message
    ):
        people = self.annotators(2)

        with pytest.raises(ValueError, match=message):
            services.batch_delegate(
                project=project,
                task_name="Bad",
                slides=slides,
                annotators=people,
                overlap=overlap,
                case_pattern=pattern,
                actor=admin_user,
            )

        assert not Task.objects.exists()
        assert not DelegationEvent.objects.exists()


def test_deleting_a_project_or_user_with_work_is_refused(task, slides, annotator, admin_user):
    services.assignment_create(task=task, assignee=annotator, slides=slides[:1], actor=admin_user)

    with pytest.raises(ProtectedError):
        task.project.delete()
    with pytest.raises(ProtectedError):
        annotator.delete()
    assert Assignment.objects.count() == 1
