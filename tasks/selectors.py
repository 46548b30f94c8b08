"""Reads of tasks and progress."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from tasks import roles
from tasks.models import Assignment, AssignmentSlide, Label, Project, Task, TaskSlide

DONE = AssignmentSlide.State.DONE
REVIEW = Task.Kind.REVIEW
# A slide of the work under review counts as annotated once its annotator has opened it or
# stored an annotation on it (tasks.services.work_open and work_start move it out of "not
# started"): the progress row says so without tasks reading the annotations app, which depends
# on tasks and not the other way. A slide opened and left empty counts: "nothing to outline
# here" is a finding a reviewer may check.
ANNOTATED_STATES = (AssignmentSlide.State.IN_PROGRESS, DONE)


def with_progress(assignments: QuerySet[Assignment]) -> QuerySet[Assignment]:
    """Annotate ``total``, ``done`` and ``last_activity`` on each assignment."""
    return assignments.annotate(
        total=Count("assignment_slides", distinct=True),
        done=Count("assignment_slides", filter=Q(assignment_slides__state=DONE), distinct=True),
        last_activity=Max("assignment_slides__last_opened_at"),
    )


def assignable_users(*, kind: str | None = None) -> QuerySet:
    """The people who may be given assignments of tasks of ``kind`` (of any kind, if None)."""
    return get_user_model().objects.filter(roles.assignees_filter(kind)).order_by("username")


def assignments_of(user: AbstractBaseUser) -> QuerySet[Assignment]:
    """The user's assignments of every kind (annotation and review), with progress."""
    return with_progress(
        Assignment.objects.filter(assignee=user)
        .select_related("task", "task__project")
        .order_by("task__created_at", "task_id")
    )


def next_slide_for(user: AbstractBaseUser) -> AssignmentSlide | None:
    """The slide *Continue* opens: the one in progress, else the next not started, in task order."""
    open_items = (
        AssignmentSlide.objects.filter(assignment__assignee=user)
        .exclude(assignment__state=Assignment.State.COMPLETED)
        .select_related("assignment__task", "slide")
        .order_by("assignment__task__created_at", "assignment__task_id", "order", "id")
    )
    in_progress = (
        open_items.filter(state=AssignmentSlide.State.IN_PROGRESS)
        .order_by("-last_opened_at", "order")
        .first()
    )
    return in_progress or open_items.filter(state=AssignmentSlide.State.NOT_STARTED).first()


# The work page of each kind of task: the annotation editor, or the reviewer's viewer.
WORK_URL_NAMES = {Task.Kind.ANNOTATION: "annotations:work", Task.Kind.REVIEW: "review:work"}


def work_url_name(assignment: Assignment) -> str:
    """The URL name of the page where the assignee works on a slide of ``assignment``; it takes
    the arguments (assignment id, slide id)."""
    return WORK_URL_NAMES[Task.Kind(assignment.task.kind)]


def done_slide_of(
    *, user: AbstractBaseUser, assignment_id: int, slide_id: int
) -> AssignmentSlide | None:
    """The user's own progress row on this slide of this assignment, if it is done."""
    return (
        AssignmentSlide.objects.filter(
            assignment_id=assignment_id, slide_id=slide_id, assignment__assignee=user, state=DONE
        )
        .select_related("slide", "assignment__task")
        .first()
    )


def next_slide_in(assignment: Assignment, after: AssignmentSlide) -> AssignmentSlide | None:
    """The next slide not yet done after ``after`` in order, else the first not done."""
    pending = assignment.assignment_slides.exclude(state=DONE).exclude(pk=after.pk)
    later = pending.filter(Q(order__gt=after.order) | Q(order=after.order, id__gt=after.id))
    return later.select_related("slide").first() or pending.select_related("slide").first()


def open_work_on(*, user: AbstractBaseUser, slide_id: int) -> QuerySet[AssignmentSlide]:
    """The user's own progress rows on this slide in assignments that are not completed."""
    return (
        AssignmentSlide.objects.filter(assignment__assignee=user, slide_id=slide_id)
        .exclude(assignment__state=Assignment.State.COMPLETED)
        .select_related("assignment__task")
        .order_by("assignment__task__created_at", "assignment__task_id")
    )


def _count_per(rows: QuerySet, outer: str, *, distinct: str = "pk") -> Coalesce:
    """A subquery counting ``rows`` whose ``outer`` path is the outer row (0 when none).

    A subquery per figure rather than joins: joining a task's slides and its shares in one
    query would make a row for every pair of them.
    """
    counted = (
        rows.filter(**{outer: OuterRef("pk")})
        .order_by()
        .values(outer)
        .annotate(n=Count(distinct, distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)


def projects_with_progress() -> QuerySet[Project]:
    """Projects not archived, each with ``task_count``, ``slide_count`` (distinct slides over
    its tasks), ``shares`` (slides given to someone, counted once per person) and
    ``shares_done``."""
    shares = AssignmentSlide.objects.all()
    return (
        Project.objects.filter(is_archived=False)
        .annotate(
            task_count=_count_per(Task.objects.all(), "project"),
            slide_count=_count_per(TaskSlide.objects.all(), "task__project", distinct="slide"),
            shares=_count_per(shares, "assignment__task__project"),
            shares_done=_count_per(shares.filter(state=DONE), "assignment__task__project"),
        )
        .order_by("name")
    )


def project_overview(project: Project) -> dict:
    """Progress per task and per person, and the slides nobody has been given.

    A task's ``total`` and ``done`` count shares (a slide given to two people counts twice);
    ``slide_count`` counts its slides.
    """
    tasks = project.tasks.annotate(
        slide_count=_count_per(TaskSlide.objects.all(), "task"),
        total=Count("assignments__assignment_slides", distinct=True),
        done=Count(
            "assignments__assignment_slides",
            filter=Q(assignments__assignment_slides__state=DONE),
            distinct=True,
        ),
        people=Count("assignments", distinct=True),
        last_activity=Max("assignments__assignment_slides__last_opened_at"),
    )
    people = with_progress(
        Assignment.objects.filter(task__project=project).select_related("task", "assignee")
    ).order_by("assignee__username", "task__created_at")
    unassigned = (
        TaskSlide.objects.filter(task__project=project)
        .exclude(
            Exists(
                AssignmentSlide.objects.filter(
                    assignment__task=OuterRef("task"), slide=OuterRef("slide")
                )
            )
        )
        .select_related("task", "slide")
    )
    return {"tasks": tasks, "people": people, "unassigned": unassigned}


# A page of the state matrix shows this many slides (its columns are every assignee of the task),
# so that a task of thousands of slides costs one page of rows and a read of their states.
MATRIX_SLIDES_PER_PAGE = 50


@dataclass(frozen=True)
class MatrixCell:
    state: str  # an AssignmentSlide.State, or "not_assigned"
    label: str


NOT_ASSIGNED = MatrixCell("not_assigned", "Not assigned")


@dataclass(frozen=True)
class MatrixRow:
    task_slide: TaskSlide
    cells: list[MatrixCell]


@dataclass(frozen=True)
class StateMatrix:
    task: Task
    columns: list[Assignment]
    rows: list[MatrixRow]
    page: Page


def state_matrix(*, task: Task, page: str | int | None = None) -> StateMatrix:
    """The task's slides (one page of them) × its assignees: each person's state on each slide."""
    columns = list(task.assignments.select_related("assignee").order_by("assignee__username"))
    slides = task.task_slides.select_related("slide").order_by("order", "id")
    shown = Paginator(slides, MATRIX_SLIDES_PER_PAGE).get_page(page)
    states = {
        (assignment_id, slide_id): state
        for assignment_id, slide_id, state in AssignmentSlide.objects.filter(
            assignment__task=task, slide_id__in=[row.slide_id for row in shown.object_list]
        ).values_list("assignment_id", "slide_id", "state")
    }
    labels = dict(AssignmentSlide.State.choices)

    def cell(assignment: Assignment, slide_id: int) -> MatrixCell:
        state = states.get((assignment.pk, slide_id))
        return NOT_ASSIGNED if state is None else MatrixCell(state, labels[state])

    rows = [
        MatrixRow(row, [cell(assignment, row.slide_id) for assignment in columns])
        for row in shown.object_list
    ]
    return StateMatrix(task=task, columns=columns, rows=rows, page=shown)


def assignment_slides_of(user: AbstractBaseUser, *, search: str = "", show: str = ""):
    """The user's slides across assignments; ``show`` is "todo", "done" or "" for all."""
    items = AssignmentSlide.objects.filter(assignment__assignee=user).select_related(
        "slide", "assignment__task__project"
    )
    if search:
        items = items.filter(
            Q(slide__name__icontains=search) | Q(assignment__task__name__icontains=search)
        )
    if show == "todo":
        items = items.exclude(state=DONE)
    elif show == "done":
        items = items.filter(state=DONE)
    return items.order_by("assignment__task__created_at", "assignment__task_id", "order", "id")


def position_in(item: AssignmentSlide) -> tuple[int, int]:
    """(n, of) for "slide n of m" within the item's assignment."""
    siblings = item.assignment.assignment_slides
    before = siblings.filter(Q(order__lt=item.order) | Q(order=item.order, id__lt=item.id)).count()
    return before + 1, siblings.count()


def labels_by_project(projects) -> dict[int, list]:
    ids = {p.pk for p in projects}
    grouped: dict[int, list] = {pk: [] for pk in ids}
    for label in Label.objects.active().filter(project_id__in=ids):
        grouped[label.project_id].append(label)
    return grouped


# --- Review: which work a review task revises -----------------------------------------------------


def reviewed_scope(*, reviewed_task_id: int | None, chosen: Iterable[int] = ()) -> QuerySet:
    """The assignments reviewed when reviewing ``reviewed_task_id``: the ``chosen`` ones (ids),
    or every assignment of that task when none is chosen. (Task.reviewed_work gives the same
    for a stored review task; this takes values not saved yet, for the checks of a change.)"""
    chosen = list(chosen)
    scope = Assignment.objects.filter(task_id=reviewed_task_id)
    return scope.filter(pk__in=chosen) if chosen else scope


def reviewed_work(*, assignment: Assignment, slide_id: int) -> QuerySet[Assignment]:
    """The work a review assignment revises on one slide: the reviewed assignments holding the
    slide, never one of the reviewer's own (tasks.services refuses that; this is the reader's
    guard too). Empty for an annotation assignment."""
    return (
        assignment.task.reviewed_work()
        .filter(assignment_slides__slide_id=slide_id)
        .exclude(assignee_id=assignment.assignee_id)
    )


def annotated_slides(scope: QuerySet[Assignment], *, task_id: int) -> list:
    """The slides of task ``task_id`` that someone of ``scope`` has annotated (see
    ANNOTATED_STATES), in the task's order."""
    annotated = AssignmentSlide.objects.filter(
        assignment__in=scope, slide_id=OuterRef("slide_id"), state__in=ANNOTATED_STATES
    )
    rows = TaskSlide.objects.filter(task_id=task_id).filter(Exists(annotated))
    return [row.slide for row in rows.select_related("slide").order_by("order", "id")]


def slide_holders(scope: QuerySet[Assignment], *, slide_ids: Iterable[int]) -> dict[int, set]:
    """For each slide, the ids of the people who hold it in an assignment of ``scope``."""
    holders: dict[int, set] = defaultdict(set)
    rows = AssignmentSlide.objects.filter(assignment__in=scope, slide_id__in=list(slide_ids))
    for slide_id, user_id in rows.values_list("slide_id", "assignment__assignee_id"):
        holders[slide_id].add(user_id)
    return holders


def own_work_reviewed(
    scope: QuerySet[Assignment], *, assignee_id: int, slide_ids: Iterable[int]
) -> QuerySet[AssignmentSlide]:
    """The slides, among ``slide_ids``, that ``assignee_id`` holds in an assignment of
    ``scope``: those they may not review."""
    return (
        AssignmentSlide.objects.filter(
            assignment__in=scope, assignment__assignee_id=assignee_id, slide_id__in=slide_ids
        )
        .select_related("slide", "assignment__task")
        .order_by("assignment__task_id", "order", "id")
    )


def own_reviews_of(
    *, task: Task, assignee_id: int, slide_ids: Iterable[int], assignment_id: int | None
) -> QuerySet[AssignmentSlide]:
    """The slides, among ``slide_ids``, that ``assignee_id`` reviews in review tasks of the
    annotation task ``task`` that review (or would review) the assignment ``assignment_id``:
    every review task of ``task`` that chose no assignments, and those that chose this one.
    ``assignment_id`` is None for an assignment not yet made."""
    chosen = Task.reviewed_assignments.through.objects.filter(task_id=OuterRef("assignment__task"))
    covers = ~Exists(chosen)
    if assignment_id is not None:
        covers |= Exists(chosen.filter(assignment_id=assignment_id))
    return (
        AssignmentSlide.objects.filter(
            assignment__task__kind=REVIEW,
            assignment__task__reviewed_task=task,
            assignment__assignee_id=assignee_id,
            slide_id__in=slide_ids,
        )
        .filter(covers)
        .select_related("slide", "assignment__task")
        .order_by("assignment__task_id", "order", "id")
    )


def own_work_in_review_task(
    *, task: Task, scope: QuerySet[Assignment]
) -> QuerySet[AssignmentSlide]:
    """The rows of ``scope`` held by someone who reviews the same slide in ``task`` (a stored
    review task): what a change of its reviewed work to ``scope`` would make people review of
    their own."""
    reviews_it = AssignmentSlide.objects.filter(
        assignment__task=task,
        assignment__assignee_id=OuterRef("assignment__assignee_id"),
        slide_id=OuterRef("slide_id"),
    )
    return (
        AssignmentSlide.objects.filter(assignment__in=scope)
        .filter(Exists(reviews_it))
        .select_related("slide", "assignment__task", "assignment__assignee")
        .order_by("assignment__assignee__username", "order", "id")
    )
