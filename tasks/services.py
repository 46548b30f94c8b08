"""Writes to projects, tasks and assignments; every delegation change syncs slide permissions
and leaves a DelegationEvent."""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm, remove_perm

from slides.models import Slide
from slides.permissions import VIEW_SLIDE
from tasks import delegation, roles, selectors
from tasks.models import Assignment, AssignmentSlide, DelegationEvent, Project, Task, TaskSlide


class DelegationError(ValueError):
    """A delegation change that cannot be made; the message is for the person who asked."""


def slide_permissions_sync(*, users: Iterable[AbstractBaseUser]) -> None:
    """Make each user's view permissions on slides equal to the slides of their assignments.

    View permissions on slides are owned by delegation: one granted by hand is removed here.
    """
    for user in {u.pk: u for u in users}.values():
        wanted = set(
            AssignmentSlide.objects.filter(assignment__assignee=user).values_list(
                "slide_id", flat=True
            )
        )
        held = {
            int(pk)
            for pk in UserObjectPermission.objects.filter(
                user=user,
                permission__codename="view_slide",
                content_type__app_label="slides",
            ).values_list("object_pk", flat=True)
        }
        if wanted - held:
            assign_perm(VIEW_SLIDE, user, Slide.objects.filter(pk__in=wanted - held))
        if held - wanted:
            remove_perm(VIEW_SLIDE, user, Slide.objects.filter(pk__in=held - wanted))


def _record(action, *, actor, task=None, assignee=None, **details) -> None:
    DelegationEvent.objects.create(
        action=action, actor=actor, task=task, assignee=assignee, details=details
    )


def _slide_names(slides: Iterable[Slide]) -> list[str]:
    return [slide.name for slide in slides]


def assignee_check(*, kind: str, assignees: Iterable[AbstractBaseUser]) -> None:
    """Refuse anyone who may not be given work of this kind of task (see tasks.roles)."""
    people = list(assignees)
    allowed = set(
        selectors.assignable_users(kind=kind)
        .filter(pk__in=[p.pk for p in people])
        .values_list("pk", flat=True)
    )
    refused = [person.get_username() for person in people if person.pk not in allowed]
    if not refused:
        return
    label = Task.Kind(kind).label.lower()
    role = roles.ASSIGNEE_ROLES.get(kind)
    if role is None:
        raise DelegationError(f"Nobody may be given assignments of {label} tasks yet.")
    raise DelegationError(
        f"Only active members of the {role} role may be given {label} work; "
        f"{', '.join(refused)} {'is' if len(refused) == 1 else 'are'} not."
    )


@transaction.atomic
def task_add_slides(*, task: Task, slides: Sequence[Slide], actor) -> list[Slide]:
    """Append slides to the task in the given order; return those that were new to it."""
    present = set(task.task_slides.values_list("slide_id", flat=True))
    new = [slide for slide in slides if slide.pk not in present]
    start = (task.task_slides.aggregate(m=Max("order"))["m"] or 0) + 1
    TaskSlide.objects.bulk_create(
        TaskSlide(task=task, slide=slide, order=start + i) for i, slide in enumerate(new)
    )
    if new:
        _record(
            DelegationEvent.Action.SLIDES_ADDED, actor=actor, task=task, slides=_slide_names(new)
        )
    return new


@transaction.atomic
def task_remove_slides(*, task: Task, slides: Sequence[Slide], actor) -> None:
    """Take slides out of the task and out of its assignments; revoke what no longer applies."""
    ids = [slide.pk for slide in slides]
    affected = list(
        Assignment.objects.filter(task=task, assignment_slides__slide_id__in=ids)
        .select_related("assignee")
        .distinct()
    )
    AssignmentSlide.objects.filter(assignment__task=task, slide_id__in=ids).delete()
    TaskSlide.objects.filter(task=task, slide_id__in=ids).delete()
    _record(
        DelegationEvent.Action.SLIDES_REMOVED, actor=actor, task=task, slides=_slide_names(slides)
    )
    slide_permissions_sync(users=[a.assignee for a in affected])


def _task_order(task: Task) -> dict[int, int]:
    return dict(task.task_slides.values_list("slide_id", "order"))


@transaction.atomic
def assignment_set_slides(*, assignment: Assignment, slides: Sequence[Slide], actor) -> None:
    """Make the assignment cover exactly these slides (added to the task if needed).

    Progress on slides that stay is kept; slides taken away lose their progress row.
    """
    task_add_slides(task=assignment.task, slides=slides, actor=actor)
    order = _task_order(assignment.task)
    current = set(assignment.assignment_slides.values_list("slide_id", flat=True))
    wanted = {slide.pk for slide in slides}
    AssignmentSlide.objects.bulk_create(
        AssignmentSlide(assignment=assignment, slide=slide, order=order[slide.pk])
        for slide in slides
        if slide.pk not in current
    )
    removed = current - wanted
    assignment.assignment_slides.filter(slide_id__in=removed).delete()
    if wanted - current or removed:
        _record(
            DelegationEvent.Action.ASSIGNED,
            actor=actor,
            task=assignment.task,
            assignee=assignment.assignee,
            added=_slide_names(s for s in slides if s.pk not in current),
            removed=_slide_names(Slide.objects.filter(pk__in=removed)),
        )
    slide_permissions_sync(users=[assignment.assignee])


@transaction.atomic
def assignment_create(*, task: Task, assignee, slides: Sequence[Slide], actor) -> Assignment:
    """Give ``assignee`` a share of ``task`` made of ``slides``."""
    assignee_check(kind=task.kind, assignees=[assignee])
    if Assignment.objects.filter(task=task, assignee=assignee).exists():
        raise DelegationError(f"{assignee} already has an assignment in {task}.")
    assignment = Assignment.objects.create(task=task, assignee=assignee)
    assignment_set_slides(assignment=assignment, slides=slides, actor=actor)
    return assignment


@transaction.atomic
def assignment_delete(*, assignment: Assignment, actor) -> None:
    """Remove the assignment and the slide permissions it alone granted."""
    assignee, task = assignment.assignee, assignment.task
    slides = _slide_names(Slide.objects.filter(assignment_slides__assignment=assignment))
    assignment.delete()
    _record(
        DelegationEvent.Action.UNASSIGNED, actor=actor, task=task, assignee=assignee, slides=slides
    )
    slide_permissions_sync(users=[assignee])


@transaction.atomic
def assignment_reassign(*, assignment: Assignment, assignee, actor) -> Assignment:
    """Hand the assignment, with its progress, to another person."""
    previous = assignment.assignee
    if previous.pk == assignee.pk:
        return assignment
    assignee_check(kind=assignment.task.kind, assignees=[assignee])
    if Assignment.objects.filter(task=assignment.task, assignee=assignee).exists():
        raise DelegationError(f"{assignee} already has an assignment in {assignment.task}.")
    assignment.assignee = assignee
    assignment.save(update_fields=["assignee", "updated_at"])
    _record(
        DelegationEvent.Action.REASSIGNED,
        actor=actor,
        task=assignment.task,
        assignee=assignee,
        previous=previous.get_username(),
    )
    slide_permissions_sync(users=[previous, assignee])
    return assignment


def _assignment_change_state(*, assignment: Assignment, state, completed_at, action, actor):
    assignment.state = state
    assignment.completed_at = completed_at
    assignment.save(update_fields=["state", "completed_at", "updated_at"])
    _record(action, actor=actor, task=assignment.task, assignee=assignment.assignee)
    return assignment


@transaction.atomic
def assignment_close(*, assignment: Assignment, actor) -> Assignment:
    return _assignment_change_state(
        assignment=assignment,
        state=Assignment.State.COMPLETED,
        completed_at=timezone.now(),
        action=DelegationEvent.Action.CLOSED,
        actor=actor,
    )


@transaction.atomic
def assignment_reopen(*, assignment: Assignment, actor) -> Assignment:
    return _assignment_change_state(
        assignment=assignment,
        state=Assignment.State.REOPENED,
        completed_at=None,
        action=DelegationEvent.Action.REOPENED,
        actor=actor,
    )


def batch_plan(*, slides: Sequence[Slide], annotators: Sequence, overlap: int, case_pattern: str):
    """The shares a batch delegation would create: {annotator: [slides]} (raises PlanError)."""
    units = delegation.group_into_cases([(s, s.name) for s in slides], case_pattern)
    return delegation.plan(units, list(annotators), overlap)


@transaction.atomic
def batch_delegate(
    *,
    project: Project,
    task_name: str,
    slides: Sequence[Slide],
    annotators: Sequence,
    overlap: int,
    case_pattern: str = "",
    instructions: str = "",
    actor,
) -> Task:
    """Create a task over ``slides`` and share them out (see tasks.delegation)."""
    shares = batch_plan(
        slides=slides, annotators=annotators, overlap=overlap, case_pattern=case_pattern
    )
    if Task.objects.filter(project=project, name=task_name).exists():
        raise DelegationError(f"The project already has a task named {task_name!r}.")
    assignee_check(kind=Task.Kind.ANNOTATION, assignees=annotators)
    task = Task.objects.create(
        project=project, name=task_name, instructions=instructions, created_by=actor
    )
    task_add_slides(task=task, slides=slides, actor=actor)
    for annotator, share in shares.items():
        if share:
            assignment_create(task=task, assignee=annotator, slides=share, actor=actor)
    project.members.add(*annotators)
    _record(
        DelegationEvent.Action.BATCH,
        actor=actor,
        task=task,
        overlap=overlap,
        case_pattern=case_pattern,
        shares={a.get_username(): len(s) for a, s in shares.items()},
    )
    return task


# --- The annotator's own progress --------------------------------------------------------------

# The work page (tasks/static/tasks/work.js, told this number by the page) sends a heartbeat this
# often while it is visible; a heartbeat counts at most this much time.
HEARTBEAT_SECONDS = 60


@transaction.atomic
def work_open(*, item: AssignmentSlide) -> None:
    """Record that the assignee opened this slide: it and its assignment are now in progress."""
    now = timezone.now()
    if item.state == AssignmentSlide.State.NOT_STARTED:
        item.state = AssignmentSlide.State.IN_PROGRESS
    item.last_opened_at = item.time_counted_at = now
    item.save(update_fields=["state", "last_opened_at", "time_counted_at"])
    _assignment_start(item.assignment)


@transaction.atomic
def work_start(*, assignment: Assignment, slide: Slide) -> None:
    """Record that work began on the slide without opening it (an annotation was stored).

    A slide not started, and its assignment if new, are now in progress; any other state stays.
    Called by annotations.services on every create, so it costs one UPDATE when there is
    nothing to change.
    """
    started = AssignmentSlide.objects.filter(
        assignment=assignment, slide=slide, state=AssignmentSlide.State.NOT_STARTED
    ).update(state=AssignmentSlide.State.IN_PROGRESS)
    if started:
        now = timezone.now()
        Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.NEW).update(
            state=Assignment.State.IN_PROGRESS, started_at=now, updated_at=now
        )


def _assignment_start(assignment: Assignment) -> None:
    if assignment.state == Assignment.State.NEW:
        assignment.state = Assignment.State.IN_PROGRESS
        assignment.started_at = timezone.now()
        assignment.save(update_fields=["state", "started_at", "updated_at"])


@transaction.atomic
def work_done(*, item: AssignmentSlide) -> None:
    """Mark the slide done; when it was the last one, the assignment is completed."""
    item.state = AssignmentSlide.State.DONE
    item.done_at = timezone.now()
    item.save(update_fields=["state", "done_at"])
    assignment = item.assignment
    _assignment_start(assignment)
    pending = assignment.assignment_slides.exclude(state=AssignmentSlide.State.DONE)
    if not pending.exists() and assignment.state != Assignment.State.COMPLETED:
        assignment.state = Assignment.State.COMPLETED
        assignment.completed_at = item.done_at
        assignment.save(update_fields=["state", "completed_at", "updated_at"])


@transaction.atomic
def work_reopen(*, item: AssignmentSlide, actor) -> None:
    """Take a done slide back into work, reopening its assignment if it was completed."""
    item.state = AssignmentSlide.State.IN_PROGRESS
    item.done_at = None
    item.save(update_fields=["state", "done_at"])
    if item.assignment.state == Assignment.State.COMPLETED:
        assignment_reopen(assignment=item.assignment, actor=actor)


@transaction.atomic
def work_add_time(
    *, item: AssignmentSlide, seconds: int | None = None, now: datetime | None = None
) -> timedelta:
    """Count the time since the page opened or the last heartbeat was counted; return the total.

    By the server's clock, capped by wall time: a heartbeat adds the time since the last count,
    at most HEARTBEAT_SECONDS, so heartbeats sent faster add no more than the time between them
    and a long gap (the person left) adds one interval. ``seconds``, the time the page reports
    it was visible, may only lower that. The row is locked while counting, so that two
    heartbeats at once cannot both count the same interval.
    """
    now = now or timezone.now()
    row = AssignmentSlide.objects.select_for_update().get(pk=item.pk)
    since = row.time_counted_at or now
    counted = min(max(now - since, timedelta()), timedelta(seconds=HEARTBEAT_SECONDS))
    if seconds is not None:
        counted = min(counted, timedelta(seconds=seconds))
    row.time_spent += counted
    row.time_counted_at = max(since, now)
    row.last_opened_at = now
    row.save(update_fields=["time_spent", "time_counted_at", "last_opened_at"])
    item.time_spent, item.time_counted_at = row.time_spent, row.time_counted_at
    item.last_opened_at = row.last_opened_at
    return row.time_spent
