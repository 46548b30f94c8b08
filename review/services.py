"""Writes of reviews. Each change is one transaction that first locks the review assignment's
slide (so that verdicts, marking reviewed and sending back on it apply one by one), checks who
may change it (permissions.review_refusal) and what was sent, and changes nothing when it
refuses. The reviewed annotation is never changed."""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotations import geometry
from annotations.models import Annotation
from annotations.services import COMMENT_MAX
from review.models import SendBack, Verdict
from review.permissions import review_refusal
from tasks import services as task_services
from tasks.models import Assignment, AssignmentSlide, DelegationEvent, Label
from wsi2ml.api import ApiError

NOTE_MAX = 10_000


class ReviewError(ApiError, ValueError):
    """A review change that cannot be made as asked (400); the message says why."""


class ReviewRefused(ApiError):
    """A review change this person may not make now (403); the message says why."""

    status = 403


def _lock_item(*, review_assignment: Assignment, slide_id: int) -> AssignmentSlide:
    """Re-read the review assignment's slide, locked, with its assignment as it is now."""
    item = (
        AssignmentSlide.objects.select_for_update(of=("self",))
        .select_related("assignment__task", "slide")
        .filter(assignment=review_assignment, slide_id=slide_id)
        .first()
    )
    if item is None:
        raise ReviewError("No such slide in this review.", status=404)
    return item


def _check_may_review(actor: AbstractBaseUser, item: AssignmentSlide) -> None:
    refusal = review_refusal(user=actor, assignment=item.assignment, slide_state=item.state)
    if refusal:
        raise ReviewRefused(refusal)


def _check_text(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ReviewError(f"{field} must be text of at most {limit} characters.", field=field)
    return value


def _lock_current(*, annotation: Annotation, review_assignment: Assignment) -> Verdict | None:
    return (
        Verdict.objects.current()
        .select_for_update()
        .filter(annotation=annotation, review_assignment=review_assignment)
        .first()
    )


def _end(verdict: Verdict, *, how: str, actor: AbstractBaseUser) -> None:
    verdict.is_current = False
    verdict.ended, verdict.ended_at, verdict.ended_by = how, timezone.now(), actor
    verdict.save(update_fields=["is_current", "ended", "ended_at", "ended_by"])


def _replace(current: Verdict | None, new: Verdict, *, actor: AbstractBaseUser) -> Verdict:
    """End ``current`` (if any) and store ``new`` as the current verdict in its place."""
    if current is not None:
        _end(current, how=Verdict.End.REPLACED, actor=actor)
    new.save()
    return new


# --- Verdicts ----------------------------------------------------------------------------------


def _corrected(raw: object, annotation: Annotation) -> geometry.CleanGeometry:
    slide = annotation.slide
    return geometry.clean(
        raw,
        kind=annotation.kind,
        width=slide.width,
        height=slide.height,
        mpp_x=slide.mpp_x,
        mpp_y=slide.mpp_y,
        max_vertices=settings.ANNOTATION_MAX_VERTICES,
    )


def _check_label(kind: str, label: Label | None, annotation: Annotation, project_id: int) -> None:
    if kind != Verdict.Kind.WRONG_LABEL:
        if label is not None:
            raise ReviewError("Only a wrong_label verdict names a label.", field="label")
        return
    if label is None:
        raise ReviewError(
            "A wrong_label verdict names the label the annotation should have.", field="label"
        )
    # Another project's label is answered as an unknown id is, as the annotations API does.
    if label.project_id != project_id:
        raise ReviewError(f"No label {label.pk}.", field="label")
    if label.is_archived:
        raise ReviewError(f"Label “{label.name}” is archived.", field="label")
    if label.pk == annotation.label_id:
        raise ReviewError(
            f"The annotation is labelled “{label.name}” already: choose the label it should "
            "have, or agree.",
            field="label",
        )


@transaction.atomic
def verdict_set(
    *,
    review_assignment: Assignment,
    annotation: Annotation,
    reviewer: AbstractBaseUser,
    kind: str,
    label: Label | None = None,
    geometry: object = None,
    comment: str = "",
) -> Verdict:
    """Give ``annotation`` (under review by ``review_assignment``) a verdict of ``kind`` as its
    current one; the verdict it replaces stays in the history.

    wrong_label names ``label`` (an active label of the project, not the annotation's own);
    wrong_region sends a corrected ``geometry``, cleaned like any geometry of the annotation's
    kind (repaired, clipped to the slide; ``repaired`` on the result says what was done). The
    same verdict sent again (a retry) returns the current one unchanged.
    """
    item = _lock_item(review_assignment=review_assignment, slide_id=annotation.slide_id)
    _check_may_review(reviewer, item)
    if not isinstance(kind, str) or kind not in Verdict.Kind.values:
        raise ReviewError(
            f"verdict must be one of {', '.join(Verdict.Kind.values)}.", field="verdict"
        )
    if annotation.is_deleted:
        raise ReviewError(
            "This annotation was deleted by its annotator: there is nothing left to review.",
            field="annotation",
        )
    _check_label(kind, label, annotation, item.assignment.task.project_id)
    if kind == Verdict.Kind.WRONG_REGION and geometry is None:
        raise ReviewError("A wrong_region verdict sends the corrected geometry.", field="geometry")
    if kind != Verdict.Kind.WRONG_REGION and geometry is not None:
        raise ReviewError("Only a wrong_region verdict sends a geometry.", field="geometry")
    shape = _corrected(geometry, annotation) if kind == Verdict.Kind.WRONG_REGION else None
    comment = _check_text(comment, "comment", COMMENT_MAX)
    current = _lock_current(annotation=annotation, review_assignment=review_assignment)
    new = Verdict(
        annotation=annotation,
        review_assignment=review_assignment,
        reviewer=reviewer,
        kind=kind,
        label=label,
        geometry=shape.geojson if shape else None,
        comment=comment,
    )
    if current is not None and _same(current, new):
        current.repaired = ""
        return current
    verdict = _replace(current, new, actor=reviewer)
    verdict.repaired = shape.repaired if shape else ""
    return verdict


def _same(a: Verdict, b: Verdict) -> bool:
    fields = ("reviewer_id", "kind", "label_id", "geometry", "comment")
    return all(getattr(a, name) == getattr(b, name) for name in fields)


@transaction.atomic
def verdict_comment(
    *, review_assignment: Assignment, annotation: Annotation, reviewer: AbstractBaseUser, comment
) -> Verdict:
    """Change only the comment of the current verdict; the verdict as it was stays in the
    history. Refused when there is no verdict yet."""
    item = _lock_item(review_assignment=review_assignment, slide_id=annotation.slide_id)
    _check_may_review(reviewer, item)
    comment = _check_text(comment, "comment", COMMENT_MAX)
    current = _lock_current(annotation=annotation, review_assignment=review_assignment)
    if current is None:
        raise ReviewError("Give a verdict first.", field="comment")
    if current.comment == comment and current.reviewer_id == reviewer.pk:
        return current
    new = Verdict(
        annotation=annotation,
        review_assignment=review_assignment,
        reviewer=reviewer,
        kind=current.kind,
        label_id=current.label_id,
        geometry=current.geometry,
        comment=comment,
    )
    return _replace(current, new, actor=reviewer)


@transaction.atomic
def verdict_withdraw(
    *, review_assignment: Assignment, annotation: Annotation, reviewer: AbstractBaseUser
) -> None:
    """End the current verdict without a successor (it stays in the history). Without one,
    nothing changes: a withdrawal sent twice is answered alike."""
    item = _lock_item(review_assignment=review_assignment, slide_id=annotation.slide_id)
    _check_may_review(reviewer, item)
    current = _lock_current(annotation=annotation, review_assignment=review_assignment)
    if current is not None:
        _end(current, how=Verdict.End.WITHDRAWN, actor=reviewer)


# --- Slides ------------------------------------------------------------------------------------


@transaction.atomic
def slide_mark_reviewed(*, item: AssignmentSlide, actor: AbstractBaseUser) -> AssignmentSlide:
    """Mark the review assignment's slide reviewed (done; the last one completes the review
    assignment). Nothing else is needed: items without a verdict may stay so. Marking a slide
    reviewed twice changes nothing."""
    locked = _lock_item(review_assignment=item.assignment, slide_id=item.slide_id)
    if locked.state == AssignmentSlide.State.DONE and locked.assignment.assignee_id == actor.pk:
        return locked
    _check_may_review(actor, locked)
    task_services.work_done(item=locked)
    return locked


@transaction.atomic
def slide_reopen_review(*, item: AssignmentSlide, actor: AbstractBaseUser) -> AssignmentSlide:
    """Take a slide marked reviewed back into review (reopening a completed review assignment),
    as an annotator reopens a slide marked done. Only the reviewer; a slide not marked reviewed
    stays as it is."""
    locked = _lock_item(review_assignment=item.assignment, slide_id=item.slide_id)
    if locked.assignment.assignee_id != actor.pk:
        raise ReviewRefused("Only the reviewer of this review assignment may reopen its slides.")
    if locked.state == AssignmentSlide.State.DONE:
        task_services.work_reopen(item=locked, actor=actor)
    return locked


@transaction.atomic
def slide_send_back(
    *, item: AssignmentSlide, assignment: Assignment, reviewer: AbstractBaseUser, note: object
) -> SendBack:
    """Send the slide of ``item`` (a review assignment's slide) back to the annotator of
    ``assignment`` (work it reviews) with a ``note`` saying why: their slide is in progress
    again, their assignment reopened if it was completed, and a DelegationEvent says so."""
    locked = _lock_item(review_assignment=item.assignment, slide_id=item.slide_id)
    _check_may_review(reviewer, locked)
    if not isinstance(note, str) or not note.strip():
        raise ReviewError("Say in a note what the annotator should look at again.", field="note")
    note = _check_text(note.strip(), "note", NOTE_MAX)
    work = (
        AssignmentSlide.objects.select_for_update(of=("self",))
        .select_related("assignment__task", "assignment__assignee")
        .filter(assignment=assignment, slide_id=item.slide_id)
        .first()
    )
    if work is None:
        raise ReviewError("No such assignment under this review.", status=404)
    task_services.work_reopen(item=work, actor=reviewer)
    sent = SendBack.objects.create(
        review_assignment=locked.assignment,
        assignment=work.assignment,
        slide_id=locked.slide_id,
        reviewer=reviewer,
        note=note,
    )
    DelegationEvent.objects.create(
        action=DelegationEvent.Action.SENT_BACK,
        actor=reviewer,
        task=work.assignment.task,
        assignee=work.assignment.assignee,
        details={
            "slides": [locked.slide.name],
            "note": note,
            "review_task": locked.assignment.task.name,
        },
    )
    return sent
