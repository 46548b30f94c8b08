"""Writes to projects, tasks and assignments; every delegation change syncs slide permissions
and leaves a DelegationEvent, and none gives anyone their own work to review."""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm, remove_perm

from slides.models import Slide
from slides.permissions import VIEW_SLIDE
from tasks import delegation, roles, selectors
from tasks.models import Assignment, AssignmentSlide, DelegationEvent, Project, Task, TaskSlide


class DelegationError(ValueError):
    """A delegation change that cannot be made; the message is for the person who asked, and
    ``field`` names the form field it is about ("" when it is about the whole form)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


REVIEW = Task.Kind.REVIEW
# How many slide names a refusal lists before "and n more".
NAMES_SHOWN = 5


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


def _quoted(names: Sequence[str]) -> str:
    shown = ", ".join(f"“{name}”" for name in names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _per_task(rows: Iterable[AssignmentSlide]) -> str:
    """“a.svs”, “b.svs” in “Round 1”; “c.svs” in “Round 2”: the rows' slides by task."""
    names: dict[str, list[str]] = {}
    for row in rows:
        names.setdefault(row.assignment.task.name, []).append(row.slide.name)
    return "; ".join(f"{_quoted(slides)} in “{task}”" for task, slides in names.items())


OWN_WORK = "nobody reviews their own work"


# --- Review tasks -------------------------------------------------------------------------------


def review_task_check(
    *,
    task: Task | None,
    project: Project | None,
    kind: str,
    reviewed_task: Task | None,
    reviewed_assignments: Sequence[Assignment] = (),
) -> None:
    """Refuse review fields that do not fit the task: the one rule for the admin's task form and
    the services. Raise DelegationError naming the field.

    ``task`` is the stored task being changed (None for a new one); the other arguments are its
    values as they are to be. A review task names an annotation task of its own project and,
    optionally, some of that task's assignments; an annotation task names neither. A change of
    the reviewed work may not have anyone review their own work, and a task with assignments
    keeps its kind (its assignees were chosen for that kind of work).
    """
    if task is not None and task.pk is not None:
        _kind_change_check(task=task, kind=kind)
    if kind != REVIEW:
        if reviewed_task is not None:
            raise DelegationError(
                "Only a review task reviews another task: leave this empty, or make the task a "
                "review task.",
                field="reviewed_task",
            )
        if reviewed_assignments:
            raise DelegationError(
                "Only a review task reviews assignments: leave this empty.",
                field="reviewed_assignments",
            )
        return
    _reviewed_task_check(task=task, project=project, reviewed_task=reviewed_task)
    outside = [a for a in reviewed_assignments if a.task_id != reviewed_task.pk]
    if outside:
        raise DelegationError(
            f"Only assignments of “{reviewed_task.name}” can be reviewed here; "
            f"{_quoted([str(a) for a in outside])} {'is' if len(outside) == 1 else 'are'} not.",
            field="reviewed_assignments",
        )
    if task is not None and task.pk is not None:
        scope = selectors.reviewed_scope(
            reviewed_task_id=reviewed_task.pk, chosen=[a.pk for a in reviewed_assignments]
        )
        _own_work_of_reviewers_check(task=task, scope=scope)


def _kind_change_check(*, task: Task, kind: str) -> None:
    stored = Task.objects.filter(pk=task.pk).values_list("kind", flat=True).first()
    if stored is None or stored == kind:
        return
    if task.assignments.exists():
        raise DelegationError(
            "The kind of a task with assignments cannot change: its assignees were chosen for "
            f"{Task.Kind(stored).label.lower()} work.",
            field="kind",
        )
    if task.review_tasks.exists():
        names = _quoted(list(task.review_tasks.values_list("name", flat=True)))
        raise DelegationError(
            f"{names} review{'s' if task.review_tasks.count() == 1 else ''} this task, which "
            "must therefore stay an annotation task.",
            field="kind",
        )


def _reviewed_task_check(*, task: Task | None, project, reviewed_task: Task | None) -> None:
    if reviewed_task is None:
        raise DelegationError(
            "A review task reviews an annotation task: choose it.", field="reviewed_task"
        )
    if task is not None and reviewed_task.pk == task.pk:
        raise DelegationError("A task cannot review itself.", field="reviewed_task")
    if reviewed_task.kind != Task.Kind.ANNOTATION:
        raise DelegationError(
            f"“{reviewed_task.name}” is a review task: a review task reviews an annotation task.",
            field="reviewed_task",
        )
    if project is not None and reviewed_task.project_id != project.pk:
        raise DelegationError(
            f"“{reviewed_task.name}” belongs to the project “{reviewed_task.project.name}”: a "
            f"review task reviews a task of its own project (“{project.name}”).",
            field="reviewed_task",
        )


def _own_work_of_reviewers_check(*, task: Task, scope) -> None:
    """Refuse a reviewed work ``scope`` for the stored review ``task`` that holds slides its
    reviewers annotate."""
    rows = list(selectors.own_work_in_review_task(task=task, scope=scope))
    if not rows:
        return
    people: dict[str, list[AssignmentSlide]] = {}
    for row in rows:
        people.setdefault(row.assignment.assignee.get_username(), []).append(row)
    clauses = [f"{who} annotates {_per_task(own)}" for who, own in people.items()]
    raise DelegationError(
        f"{'; '.join(clauses)} and reviews {'it' if len(rows) == 1 else 'them'} in this task: "
        f"{OWN_WORK}.",
        field="reviewed_assignments" if task.reviewed_task_id else "reviewed_task",
    )


def own_work_check(
    *, task: Task, assignee, slides: Iterable[Slide], assignment: Assignment | None = None
) -> None:
    """Refuse to let ``assignee`` hold ``slides`` in ``task`` if they would then review their
    own work, in either direction: reviewing slides they annotate in the work ``task`` reviews,
    or annotating (in ``assignment``, None for a new one) slides they review in a review task
    of ``task``. Raise DelegationError naming the slides."""
    slide_ids = [slide.pk for slide in slides]
    if not slide_ids:
        return
    name = assignee.get_username()
    if task.kind == REVIEW:
        own = list(
            selectors.own_work_reviewed(
                task.reviewed_work(), assignee_id=assignee.pk, slide_ids=slide_ids
            )
        )
        if own:
            raise DelegationError(f"{name} annotates {_per_task(own)}: {OWN_WORK}.")
        return
    reviews = list(
        selectors.own_reviews_of(
            task=task,
            assignee_id=assignee.pk,
            slide_ids=slide_ids,
            assignment_id=assignment.pk if assignment is not None else None,
        )
    )
    if reviews:
        raise DelegationError(f"{name} reviews {_per_task(reviews)}: {OWN_WORK}.")


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

    Progress on slides that stay is kept; slides taken away lose their progress row. Refused
    (DelegationError) when the assignee would review their own work.
    """
    own_work_check(
        task=assignment.task, assignee=assignment.assignee, slides=slides, assignment=assignment
    )
    _set_slides(assignment=assignment, slides=slides, actor=actor)


def _set_slides(*, assignment: Assignment, slides: Sequence[Slide], actor) -> None:
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


def assignment_delete_refusal(*, assignment: Assignment) -> str:
    """Why the assignment may not be deleted, or "": it is the last of the assignments a review
    task chose to review, whose deletion would widen that review to every assignment."""
    # Chosen through a subquery: a filter on the same relation as the count would count only
    # the row it matched.
    chosen = Task.reviewed_assignments.through.objects.filter(assignment=assignment)
    alone = Task.objects.filter(pk__in=chosen.values("task_id")).annotate(
        n=Count("reviewed_assignments")
    )
    # Sorted: the query's order is not the same from one database to the next.
    names = sorted(task.name for task in alone if task.n == 1)
    if not names:
        return ""
    return (
        f"{_quoted(names)} review{'s' if len(names) == 1 else ''} only this assignment: "
        f"deleting it would have {'it' if len(names) == 1 else 'them'} review every assignment "
        "of the task. Change what they review first."
    )


@transaction.atomic
def assignment_delete(*, assignment: Assignment, actor) -> None:
    """Remove the assignment and the slide permissions it alone granted."""
    refusal = assignment_delete_refusal(assignment=assignment)
    if refusal:
        raise DelegationError(refusal)
    assignee, task = assignment.assignee, assignment.task
    slides = _slide_names(Slide.objects.filter(assignment_slides__assignment=assignment))
    assignment.delete()
    _record(
        DelegationEvent.Action.UNASSIGNED, actor=actor, task=task, assignee=assignee, slides=slides
    )
    slide_permissions_sync(users=[assignee])


def assignment_reassign_check(
    *, assignment: Assignment, assignee, slides: Sequence[Slide] | None = None
) -> None:
    """Refuse to hand the assignment (holding ``slides``, its own slides if None) to
    ``assignee``: not someone who may do its kind of work, already in the task, or who would
    then review their own work."""
    if assignment.assignee_id != assignee.pk:
        assignee_check(kind=assignment.task.kind, assignees=[assignee])
        if Assignment.objects.filter(task=assignment.task, assignee=assignee).exists():
            raise DelegationError(f"{assignee} already has an assignment in {assignment.task}.")
    if slides is None:
        slides = Slide.objects.filter(assignment_slides__assignment=assignment)
    own_work_check(task=assignment.task, assignee=assignee, slides=slides, assignment=assignment)


@transaction.atomic
def assignment_reassign(*, assignment: Assignment, assignee, actor) -> Assignment:
    """Hand the assignment, with its progress, to another person."""
    if assignment.assignee_id == assignee.pk:
        return assignment
    assignment_reassign_check(assignment=assignment, assignee=assignee)
    return _reassign(assignment=assignment, assignee=assignee, actor=actor)


@transaction.atomic
def assignment_change(
    *, assignment: Assignment, assignee, slides: Sequence[Slide], actor
) -> Assignment:
    """Give the assignment to ``assignee`` and make it cover ``slides``, checked as one change
    (a new assignee may take it with fewer slides than the last one held)."""
    assignment_reassign_check(assignment=assignment, assignee=assignee, slides=slides)
    if assignment.assignee_id != assignee.pk:
        _reassign(assignment=assignment, assignee=assignee, actor=actor)
    _set_slides(assignment=assignment, slides=slides, actor=actor)
    return assignment


def _reassign(*, assignment: Assignment, assignee, actor) -> Assignment:
    previous = assignment.assignee
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
    task = Task(project=project, name=task_name, instructions=instructions, created_by=actor)
    return _batch_create(
        task=task,
        slides=slides,
        shares=shares,
        people=annotators,
        actor=actor,
        overlap=overlap,
        case_pattern=case_pattern,
    )


def batch_plan_review(
    *,
    reviewed_task: Task,
    reviewed_assignments: Sequence[Assignment] = (),
    reviewers: Sequence,
    overlap: int,
    case_pattern: str = "",
) -> dict:
    """The shares a batch delegation of review would create: {reviewer: [slides]}.

    The units are the slides annotated in the reviewed work (the chosen assignments of
    ``reviewed_task``, or all of them; see selectors.ANNOTATED_STATES), in the task's order;
    each goes to ``overlap`` reviewers, never to one who holds the slide in the reviewed work.
    Raises PlanError (a ValueError) saying why when that cannot be done.
    """
    scope = selectors.reviewed_scope(
        reviewed_task_id=reviewed_task.pk, chosen=[a.pk for a in reviewed_assignments]
    )
    slides = selectors.annotated_slides(scope, task_id=reviewed_task.pk)
    if not slides:
        whose = "the chosen assignments" if reviewed_assignments else f"“{reviewed_task.name}”"
        raise delegation.PlanError(
            f"Nothing of {whose} is annotated yet: a slide is ready for review once its "
            "annotator has opened it or drawn on it."
        )
    holders = selectors.slide_holders(scope, slide_ids=[slide.pk for slide in slides])
    excluded = {slide: [r for r in reviewers if r.pk in holders[slide.pk]] for slide in slides}
    units = delegation.group_into_cases([(s, s.name) for s in slides], case_pattern)
    return delegation.plan(units, list(reviewers), overlap, excluded=excluded, noun="reviewer")


@transaction.atomic
def batch_delegate_review(
    *,
    reviewed_task: Task,
    reviewed_assignments: Sequence[Assignment] = (),
    task_name: str,
    reviewers: Sequence,
    overlap: int,
    case_pattern: str = "",
    instructions: str = "",
    actor,
) -> Task:
    """Create a review task of ``reviewed_task`` over its annotated slides and share them
    among ``reviewers``, ``overlap`` per slide (see batch_plan_review)."""
    project = reviewed_task.project
    chosen = list(reviewed_assignments)
    review_task_check(
        task=None,
        project=project,
        kind=REVIEW,
        reviewed_task=reviewed_task,
        reviewed_assignments=chosen,
    )
    shares = batch_plan_review(
        reviewed_task=reviewed_task,
        reviewed_assignments=chosen,
        reviewers=reviewers,
        overlap=overlap,
        case_pattern=case_pattern,
    )
    order = {ts.slide_id: ts.order for ts in reviewed_task.task_slides.all()}
    slides = sorted(
        {slide for share in shares.values() for slide in share}, key=lambda s: order[s.pk]
    )
    task = Task(
        project=project,
        name=task_name,
        instructions=instructions,
        kind=REVIEW,
        reviewed_task=reviewed_task,
        created_by=actor,
    )
    return _batch_create(
        task=task,
        slides=slides,
        shares=shares,
        people=reviewers,
        actor=actor,
        reviewed_assignments=chosen,
        overlap=overlap,
        case_pattern=case_pattern,
        reviewed_task=reviewed_task.name,
        reviewed=[str(a.assignee) for a in chosen],
    )


def _batch_create(
    *, task: Task, slides, shares: dict, people: Sequence, actor, reviewed_assignments=(), **details
) -> Task:
    """Save the new ``task`` over ``slides`` with one assignment per share, add ``people`` to the
    project, and record the batch."""
    if Task.objects.filter(project=task.project, name=task.name).exists():
        raise DelegationError(f"The project already has a task named {task.name!r}.")
    assignee_check(kind=task.kind, assignees=people)
    task.save()
    task.reviewed_assignments.set(reviewed_assignments)
    task_add_slides(task=task, slides=slides, actor=actor)
    for person, share in shares.items():
        if share:
            assignment_create(task=task, assignee=person, slides=share, actor=actor)
    task.project.members.add(*people)
    _record(
        DelegationEvent.Action.BATCH,
        actor=actor,
        task=task,
        kind=task.kind,
        shares={p.get_username(): len(s) for p, s in shares.items()},
        **details,
    )
    return task


# --- The annotator's own progress --------------------------------------------------------------

# The work page (annotations/static/annotations/work.js, told this number by the page) sends a
# heartbeat this often while it is visible; a heartbeat counts at most this much time.
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
