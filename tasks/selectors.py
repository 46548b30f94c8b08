"""Reads of tasks and progress."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet

from tasks import roles
from tasks.models import Assignment, AssignmentSlide, Label, Project, TaskSlide

DONE = AssignmentSlide.State.DONE


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
        .select_related("assignment", "slide")
        .order_by("assignment__task__created_at", "assignment__task_id", "order", "id")
    )
    in_progress = (
        open_items.filter(state=AssignmentSlide.State.IN_PROGRESS)
        .order_by("-last_opened_at", "order")
        .first()
    )
    return in_progress or open_items.filter(state=AssignmentSlide.State.NOT_STARTED).first()


def next_slide_in(assignment: Assignment, after: AssignmentSlide) -> AssignmentSlide | None:
    """The next slide not yet done after ``after`` in order, else the first not done."""
    pending = assignment.assignment_slides.exclude(state=DONE).exclude(pk=after.pk)
    later = pending.filter(Q(order__gt=after.order) | Q(order=after.order, id__gt=after.id))
    return later.select_related("slide").first() or pending.select_related("slide").first()


def project_overview(project: Project) -> dict:
    """Progress per task and per person, and the slides nobody has been given."""
    tasks = project.tasks.annotate(
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
