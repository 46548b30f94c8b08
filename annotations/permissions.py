"""Who may see and who may change which annotation."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from annotations.models import Annotation
from slides.permissions import user_can_view_slide
from tasks.models import Assignment
from tasks.permissions import is_manager


def user_sees_all_annotations(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Staff and project managers see every annotation of the slides they can see."""
    return user.is_authenticated and is_manager(user)


def assignments_visible_to(user: AbstractBaseUser) -> QuerySet[Assignment]:
    """The assignments whose annotations ``user`` sees: their own, or every one for managers.

    An id outside this set is answered as if it did not exist, so that nobody learns which
    other people's assignments there are.
    """
    assignments = Assignment.objects.select_related("task")
    if user_sees_all_annotations(user):
        return assignments
    return assignments.filter(assignee_id=user.pk)


def get_annotation_for_user(
    user: AbstractBaseUser | AnonymousUser, annotation_id: int
) -> Annotation:
    """Return the annotation (deleted or not); 404 when it does not exist or is not visible.

    Visible means: the user sees its slide, and it belongs to one of the user's own
    assignments unless the user is a manager.
    """
    annotation = (
        Annotation.objects.select_related("slide", "assignment__task", "label", "author")
        .filter(pk=annotation_id)
        .first()
    )
    if annotation is None or not user_can_view_slide(user, annotation.slide):
        raise Http404("No such annotation.")
    if annotation.assignment.assignee_id != user.pk and not user_sees_all_annotations(user):
        raise Http404("No such annotation.")
    return annotation


def check_can_write(user: AbstractBaseUser, assignment: Assignment) -> None:
    """Raise PermissionDenied unless ``user`` may change annotations of ``assignment`` now."""
    if assignment.assignee_id != user.pk:
        raise PermissionDenied("Only the assignee may change the annotations of an assignment.")
    if not assignment.is_open:
        raise PermissionDenied(
            "This assignment is completed; ask a manager to reopen it before changing it."
        )
