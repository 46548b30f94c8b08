"""Delegation: assignments grant and revoke slide permissions, and every change is logged."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotations import services as annotation_services
from tasks import delegation, roles, services
from tasks.models import Assignment, AssignmentSlide, DelegationEvent, Task
from tests import factories
from wsi2ml import demo

pytestmark = pytest.mark.django_db


def can_view(user, slide) -> bool:
    user = type(user).objects.get(pk=user.pk)  # a fresh object: guardian caches permissions
    return user.has_perm("slides.view_slide", slide)


@pytest.fixture
def colleague(db):
    """A second annotator."""
    return factories.user_create("colleague", role=roles.ANNOTATOR)


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


def test_reassign_moves_permissions_and_progress(task, slides, annotator, colleague, admin_user):
    assignment = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:2], actor=admin_user
    )
    item = assignment.assignment_slides.first()
    services.work_done(item=item)

    services.assignment_reassign(assignment=assignment, assignee=colleague, actor=admin_user)

    assert not can_view(annotator, slides[0])
    assert can_view(colleague, slides[0]) and can_view(colleague, slides[1])
    assert AssignmentSlide.objects.get(pk=item.pk).state == AssignmentSlide.State.DONE


def test_reassign_to_someone_already_in_the_task_is_refused(
    task, slides, annotator, colleague, admin_user
):
    first = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:1], actor=admin_user
    )
    services.assignment_create(task=task, assignee=colleague, slides=slides[1:2], actor=admin_user)

    with pytest.raises(services.DelegationError, match="already has an assignment"):
        services.assignment_reassign(assignment=first, assignee=colleague, actor=admin_user)

    assert Assignment.objects.get(pk=first.pk).assignee == annotator


def test_changing_an_assignments_slides_follows_in_permissions(task, slides, annotator, admin_user):
    assignment = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:2], actor=admin_user
    )

    services.assignment_set_slides(assignment=assignment, slides=slides[1:3], actor=admin_user)

    assert [can_view(annotator, s) for s in slides] == [False, True, True, False]


def test_every_delegation_change_is_recorded(task, slides, annotator, colleague, admin_user):
    assignment = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:1], actor=admin_user
    )
    services.assignment_close(assignment=assignment, actor=admin_user)
    services.assignment_reopen(assignment=assignment, actor=admin_user)
    services.assignment_reassign(assignment=assignment, assignee=colleague, actor=admin_user)
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
        return [factories.user_create(f"annotator{i}", role=roles.ANNOTATOR) for i in range(n)]

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


# --- Who may be given work ----------------------------------------------------------------------


def test_a_manager_cannot_be_given_an_annotation_assignment(task, slides, manager, admin_user):
    with pytest.raises(services.DelegationError, match="Only active members of the Annotator role"):
        services.assignment_create(task=task, assignee=manager, slides=slides, actor=admin_user)

    assert not Assignment.objects.exists()
    assert not can_view(manager, slides[0])


def test_an_annotators_assignment_cannot_be_reassigned_to_a_manager(
    task, slides, annotator, manager, admin_user
):
    assignment = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:2], actor=admin_user
    )

    with pytest.raises(services.DelegationError, match="manager is not"):
        services.assignment_reassign(assignment=assignment, assignee=manager, actor=admin_user)

    assert Assignment.objects.get(pk=assignment.pk).assignee == annotator
    assert not can_view(manager, slides[0])


def test_an_inactive_annotator_cannot_be_given_work(task, slides, colleague, admin_user):
    colleague.is_active = False
    colleague.save()

    with pytest.raises(services.DelegationError, match="colleague is not"):
        services.assignment_create(task=task, assignee=colleague, slides=slides, actor=admin_user)


def test_an_annotator_without_the_reviewer_role_cannot_be_given_review_work(
    project, slides, annotator, admin_user
):
    annotation = Task.objects.create(project=project, name="Round 1")
    review = Task.objects.create(
        project=project, name="Review", kind=Task.Kind.REVIEW, reviewed_task=annotation
    )

    with pytest.raises(services.DelegationError, match="Only active members of the Reviewer role"):
        services.assignment_create(task=review, assignee=annotator, slides=slides, actor=admin_user)

    assert not Assignment.objects.exists()


def test_batch_delegation_with_a_manager_among_the_annotators_creates_nothing(
    project, slides, annotator, manager, admin_user
):
    members = set(project.members.all())

    with pytest.raises(services.DelegationError, match="manager is not"):
        services.batch_delegate(
            project=project,
            task_name="Round 1",
            slides=slides,
            annotators=[annotator, manager],
            overlap=1,
            actor=admin_user,
        )

    assert not Task.objects.exists() and not Assignment.objects.exists()
    assert set(project.members.all()) == members


def test_every_assignee_role_names_a_kind_of_task():
    assert set(roles.ASSIGNEE_ROLES) <= set(Task.Kind.values)
    assert set(roles.ASSIGNEE_ROLES.values()) <= set(roles.ROLE_PERMISSIONS)


# --- Case patterns ------------------------------------------------------------------------------


def test_a_backtracking_pattern_groups_in_linear_time(project, slides_root, admin_user):
    # `(.|.)*!` on this 53-character name held a worker for 31 s with Python's re.
    name = "TCGA-A1-A0SB-01Z-00-DX1.8D7C3E3A-0000-0000-AAAA-x.svs"
    long = factories.slide_create(slides_root, name.replace(".svs", ".tiff"), 600, 400)
    people = [factories.user_create(f"annotator{i}", role=roles.ANNOTATOR) for i in range(2)]

    shares = services.batch_plan(
        slides=[long], annotators=people, overlap=1, case_pattern=r"(.|.)*!"
    )

    assert sum(len(share) for share in shares.values()) == 1


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(?<=CASE-)\d+", "look-ahead and look-behind are not supported"),
        (r"CASE-(?=\d)", "look-ahead and look-behind are not supported"),
        (r"(CASE)-\1", "backreferences are not supported"),
        (r"(?P<case>CASE)(?P=case)", "backreferences are not supported"),
        (r"CASE-\d+\Z", r"write \z for the end of the name"),
        (r"CASE-\d++", "possessive repeats are not supported"),
        (r"\p{L}+", "The case pattern is too complex"),
        (r"((.?){100}b)+", "at most 1000 are allowed"),
        ("CASE-\ud800", "holds a character that is not text"),
    ],
)
def test_a_pattern_re2_cannot_run_in_linear_time_is_refused_with_why(
    project, slides, admin_user, pattern, reason
):
    people = [factories.user_create(f"annotator{i}", role=roles.ANNOTATOR) for i in range(2)]

    with pytest.raises(delegation.PlanError) as refused:
        services.batch_plan(slides=slides, annotators=people, overlap=1, case_pattern=pattern)

    assert reason in str(refused.value)


# --- Time spent, by the server's clock ----------------------------------------------------------


@pytest.fixture
def item(task, slides, annotator, admin_user):
    assignment = services.assignment_create(
        task=task, assignee=annotator, slides=slides[:1], actor=admin_user
    )
    return assignment.assignment_slides.get()


def test_time_counts_from_the_opening_of_the_page_by_the_servers_clock(item, monkeypatch):
    opened = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: opened)
    services.work_open(item=item)

    after_20 = services.work_add_time(item=item, now=opened + timedelta(seconds=20))
    after_20_again = services.work_add_time(item=item, now=opened + timedelta(seconds=20))
    after_an_hour = services.work_add_time(item=item, now=opened + timedelta(hours=1))

    assert after_20 == after_20_again == timedelta(seconds=20)
    assert after_an_hour == timedelta(seconds=20 + services.HEARTBEAT_SECONDS)
    assert AssignmentSlide.objects.get(pk=item.pk).time_spent == after_an_hour


def test_a_heartbeat_before_any_count_only_starts_the_clock(item):
    now = timezone.now()

    first = services.work_add_time(item=item, seconds=60, now=now)
    second = services.work_add_time(item=item, seconds=60, now=now + timedelta(seconds=15))

    assert (first, second) == (timedelta(), timedelta(seconds=15))


def test_a_heartbeat_from_an_earlier_moment_counts_nothing_and_keeps_the_clock(item):
    now = timezone.now()
    services.work_add_time(item=item, now=now)
    services.work_add_time(item=item, now=now + timedelta(seconds=40))

    late = services.work_add_time(item=item, now=now + timedelta(seconds=10))

    assert late == timedelta(seconds=40)
    assert AssignmentSlide.objects.get(pk=item.pk).time_counted_at == now + timedelta(seconds=40)


def test_the_count_locks_the_row_so_two_heartbeats_cannot_count_one_interval_twice(item):
    services.work_open(item=item)

    with CaptureQueriesContext(connection) as queries:
        services.work_add_time(item=item, seconds=60)

    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert any(sql.endswith("FOR UPDATE") for sql in reads), reads


# --- A slide is in progress once it has been opened or annotated --------------------------------


def square(x: float = 100, y: float = 100, size: float = 50) -> dict:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def draw(item, annotator):
    label = item.assignment.task.project.labels.first()
    annotation_services.annotation_create(
        slide=item.slide,
        assignment=item.assignment,
        author=annotator,
        label=label,
        kind="polygon",
        geometry=square(),
    )


def test_storing_an_annotation_starts_its_slide_and_its_assignment(item, annotator):
    draw(item, annotator)

    item.refresh_from_db()
    assignment = Assignment.objects.get(pk=item.assignment_id)
    assert item.state == AssignmentSlide.State.IN_PROGRESS
    assert assignment.state == Assignment.State.IN_PROGRESS
    assert assignment.started_at is not None
    # Drawn, not opened: no time counts and the slide was never opened.
    assert item.last_opened_at is None and item.time_spent == timedelta()


def test_a_bulk_load_of_annotations_starts_its_slide(item, annotator):
    label = item.assignment.task.project.labels.first()

    annotation_services.annotations_bulk_create(
        slide=item.slide,
        assignment=item.assignment,
        author=annotator,
        items=[(label, "polygon", square(x)) for x in (100, 200)],
    )

    assert AssignmentSlide.objects.get(pk=item.pk).state == AssignmentSlide.State.IN_PROGRESS


def test_starting_work_leaves_a_reopened_assignment_reopened(item, annotator, admin_user):
    services.work_done(item=item)
    services.work_reopen(item=item, actor=admin_user)

    services.work_start(assignment=item.assignment, slide=item.slide)

    assert AssignmentSlide.objects.get(pk=item.pk).state == AssignmentSlide.State.IN_PROGRESS
    assert Assignment.objects.get(pk=item.assignment_id).state == Assignment.State.REOPENED


def test_starting_work_on_a_slide_in_progress_writes_one_update(item, annotator):
    services.work_open(item=item)

    with CaptureQueriesContext(connection) as queries:
        services.work_start(assignment=item.assignment, slide=item.slide)

    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(writes) == 1, writes


@pytest.fixture
def demo_task(project, slides, admin_user):
    """The demo's two annotating pathologists, sharing the slides as load_demo shares them."""
    for name in demo.DEMO_ANNOTATORS:
        factories.user_create(name, role=roles.ANNOTATOR)
    task = Task.objects.create(project=project, name="Demo")
    for label in ("Lymphocytes", "Normal gland"):
        project.labels.create(name=label, colour="#1f77b4", order=9)
    for person in get_user_model().objects.filter(username__in=demo.DEMO_ANNOTATORS):
        services.assignment_create(task=task, assignee=person, slides=slides[:2], actor=admin_user)
    return task


def demo_states(task) -> set:
    states = AssignmentSlide.objects.filter(assignment__task=task).values_list("state", flat=True)
    return set(states) | set(task.assignments.values_list("state", flat=True))


def test_the_demo_annotations_leave_their_slides_in_progress(demo_task):
    created = demo.demo_annotations_ensure(task=demo_task)

    assert created > 0
    assert demo_states(demo_task) == {"in_progress"}


def test_loading_the_demo_again_starts_slides_annotated_before_that_rule(demo_task):
    demo.demo_annotations_ensure(task=demo_task)
    # What a demo database loaded before annotating started slides holds.
    AssignmentSlide.objects.update(state=AssignmentSlide.State.NOT_STARTED)
    Assignment.objects.update(state=Assignment.State.NEW, started_at=None)

    created = demo.demo_annotations_ensure(task=demo_task)

    assert created == 0
    assert demo_states(demo_task) == {"in_progress"}
