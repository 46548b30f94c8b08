"""Who may see and who may change which review.

A review assignment is seen by its assignee (the reviewer) and by the managers of its project
(tasks.permissions.managed_projects), as annotations.permissions.visible_assignment_ids has
it; for anyone else it does not exist (404). Only the reviewer changes it (``review_refusal``
says why not: 403). What a review assignment reviews on a slide is ``reviewed_work``: never the
reviewer's own work.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from annotations.models import Annotation
from slides.models import Slide
from slides.permissions import user_can_view_slide
from tasks import selectors as task_selectors
from tasks.models import Assignment, AssignmentSlide, Task
from tasks.permissions import managed_projects

User = AbstractBaseUser | AnonymousUser


def reviewed_work(*, review_assignment: Assignment, slide: Slide | int) -> QuerySet[Assignment]:
    """The annotators' assignments ``review_assignment`` reviews on ``slide`` (tasks' one
    definition: its task's reviewed work holding the slide, but the reviewer's own)."""
    slide_id = slide if isinstance(slide, int) else slide.pk
    return task_selectors.reviewed_work(assignment=review_assignment, slide_id=slide_id)


def _sees(user: User, assignment: Assignment) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    if assignment.assignee_id == user.pk:
        return True
    return managed_projects(user).filter(pk=assignment.task.project_id).exists()


def get_review_assignment_for_user(user: User, review_assignment_id: int) -> Assignment:
    """The review assignment; 404 when it is not one or ``user`` may not see it."""
    found = (
        Assignment.objects.select_related("task__project", "assignee")
        .filter(pk=review_assignment_id, task__kind=Task.Kind.REVIEW)
        .first()
    )
    if found is None or not _sees(user, found):
        raise Http404("No such review assignment.")
    return found


def get_review_item_for_user(
    user: User, review_assignment_id: int, slide_id: int
) -> AssignmentSlide:
    """The review assignment's progress row for the slide; 404 when the slide is not in it or
    ``user`` may not see the review assignment or the slide."""
    assignment = get_review_assignment_for_user(user, review_assignment_id)
    item = (
        AssignmentSlide.objects.select_related("slide")
        .filter(assignment=assignment, slide_id=slide_id)
        .first()
    )
    if item is None or not user_can_view_slide(user, item.slide):
        raise Http404("No such slide in this review.")
    item.assignment = assignment
    return item


def get_reviewed_annotation(
    user: User, review_assignment: Assignment, annotation_id: int
) -> Annotation:
    """An annotation (deleted or not) under review by ``review_assignment``, which ``user`` has
    been allowed to see (get_review_assignment_for_user); 404 for any other: one outside the
    review, the reviewer's own, one of a slide the review does not hold or ``user`` cannot see."""
    annotation = (
        Annotation.objects.select_related("slide", "label", "assignment__assignee")
        .filter(pk=annotation_id)
        .first()
    )
    if (
        annotation is None
        or not user_can_view_slide(user, annotation.slide)
        or not review_assignment.assignment_slides.filter(slide=annotation.slide).exists()
        or not reviewed_work(review_assignment=review_assignment, slide=annotation.slide)
        .filter(pk=annotation.assignment_id)
        .exists()
    ):
        raise Http404("No such annotation under this review.")
    return annotation


def get_reviewed_assignment(item: AssignmentSlide, assignment_id: int) -> Assignment:
    """An annotator's assignment that the review ``item`` (a review assignment's slide)
    reviews; 404 for any other."""
    found = (
        reviewed_work(review_assignment=item.assignment, slide=item.slide_id)
        .select_related("assignee", "task")
        .filter(pk=assignment_id)
        .first()
    )
    if found is None:
        raise Http404("No such assignment under this review.")
    return found


def get_feedback_assignment_for_user(user: User, assignment_id: int) -> Assignment:
    """An assignment whose reviewers' feedback ``user`` reads: their own, or one of a project
    they manage; 404 for any other (a reviewer does not see other reviewers' verdicts)."""
    found = Assignment.objects.select_related("task").filter(pk=assignment_id).first()
    if found is None or not _sees(user, found):
        raise Http404("No such assignment.")
    return found


def review_refusal(*, user: AbstractBaseUser, assignment: Assignment, slide_state: str) -> str:
    """Why ``user`` may not change the review ``assignment`` on a slide in ``slide_state`` now
    ("" when they may): verdicts, sending back, marking reviewed."""
    if assignment.assignee_id != user.pk:
        return "Only the reviewer of this review assignment may change its review."
    if not assignment.is_open:
        return "This review is completed; ask a manager to reopen it before changing it."
    if slide_state == AssignmentSlide.State.DONE:
        return "This slide is marked reviewed; reopen it to change its review."
    return ""
