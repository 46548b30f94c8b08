"""Who may see and who may change which annotation.

The one visibility rule: ``visible_assignment_ids`` says whose annotations (which assignments)
a person sees on a slide, and every read of annotations asks it, the ORM queries and the raw
viewport SQL alike. The one edit rule: ``edit_refusal`` says why a person may not change the
annotations of an assignment on a slide now; the editor's page and the services both ask it.
"""

from typing import Final

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from annotations.models import Annotation, AnnotationCell
from slides.models import Slide
from slides.permissions import user_can_view_slide
from tasks import selectors as task_selectors
from tasks.models import Assignment, AssignmentSlide, Task
from tasks.permissions import managed_projects


class _All:
    """Every assignment: what a superuser sees (no filter at all)."""

    def __repr__(self) -> str:
        return "ALL"


ALL: Final = _All()
Visible = frozenset[int] | _All


def visible_assignment_ids(user: AbstractBaseUser | AnonymousUser, slide: Slide) -> Visible:
    """The assignments whose annotations on ``slide`` ``user`` sees, or ALL.

    Everyone sees their own assignments; a reviewer, the work their review assignments holding
    the slide revise (never their own: that is theirs anyway); a manager, every assignment on
    the slide of the projects they manage (tasks.permissions.managed_projects); a superuser,
    everything. Nobody else's: annotators do not see each other (review stays blind). The
    caller has checked that the user may see the slide.
    """
    if not (user.is_authenticated and user.is_active):
        return frozenset()
    if user.is_superuser:
        return ALL
    ids = set(Assignment.objects.filter(assignee=user).values_list("pk", flat=True))
    managed = Assignment.objects.filter(
        on_slide_filter(slide), task__project__in=managed_projects(user)
    )
    ids.update(managed.values_list("pk", flat=True))
    reviews = Assignment.objects.filter(
        assignee=user, task__kind=Task.Kind.REVIEW, assignment_slides__slide=slide
    ).select_related("task")
    for review in reviews:
        reviewed = task_selectors.reviewed_work(assignment=review, slide_id=slide.pk)
        ids.update(reviewed.values_list("pk", flat=True))
    return frozenset(ids)


def on_slide_filter(slide: Slide) -> Q:
    """Assignments that hold ``slide``, or hold annotations on it (the slide may have been
    taken out of the assignment since)."""
    holding = AssignmentSlide.objects.filter(slide=slide).values("assignment_id")
    annotated = AnnotationCell.objects.filter(slide=slide, count__gt=0).values("assignment_id")
    return Q(pk__in=holding) | Q(pk__in=annotated)


def visible_filter(visible: Visible, field: str = "assignment_id") -> Q:
    """A filter keeping the rows (annotations, cells) of the visible assignments."""
    return Q() if visible is ALL else Q(**{f"{field}__in": sorted(visible)})


def assignments_visible_to(user: AbstractBaseUser, slide: Slide) -> QuerySet[Assignment]:
    """The assignments whose annotations ``user`` sees on ``slide``.

    An id outside this set is answered as if it did not exist, so that nobody learns which
    other people's assignments there are.
    """
    visible = visible_assignment_ids(user, slide)
    return Assignment.objects.select_related("task").filter(visible_filter(visible, "pk"))


def get_annotation_for_user(
    user: AbstractBaseUser | AnonymousUser, annotation_id: int
) -> Annotation:
    """Return the annotation (deleted or not); 404 when it does not exist or is not visible.

    Visible means: the user sees its slide, and its assignment is one of the visible ones.
    """
    annotation = (
        Annotation.objects.select_related("slide", "assignment__task", "label", "author")
        .filter(pk=annotation_id)
        .first()
    )
    if annotation is None or not user_can_view_slide(user, annotation.slide):
        raise Http404("No such annotation.")
    visible = visible_assignment_ids(user, annotation.slide)
    if visible is not ALL and annotation.assignment_id not in visible:
        raise Http404("No such annotation.")
    return annotation


def edit_refusal(
    *, user: AbstractBaseUser, assignment: Assignment, slide_state: str | None = None
) -> str:
    """Why ``user`` may not change annotations of ``assignment`` now ("" when they may).

    ``slide_state`` is the state of the slide in the assignment (AssignmentSlide.state), when
    a slide is concerned: a slide marked done is read-only until reopened.
    """
    if assignment.assignee_id != user.pk:
        return "Only the assignee may change the annotations of an assignment."
    if not assignment.is_open:
        return "This assignment is completed; ask a manager to reopen it before changing it."
    if slide_state == AssignmentSlide.State.DONE:
        return "This slide is marked done; reopen it to change its annotations."
    return ""


def check_can_write(
    user: AbstractBaseUser, assignment: Assignment, slide_state: str | None = None
) -> None:
    """Raise PermissionDenied with the reason of edit_refusal, if there is one."""
    refusal = edit_refusal(user=user, assignment=assignment, slide_state=slide_state)
    if refusal:
        raise PermissionDenied(refusal)
