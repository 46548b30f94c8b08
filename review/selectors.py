"""Reads of reviews: the items of a review slide, a verdict's history, the feedback an
annotator sees, and the agreement of the verdicts on each annotation.

Every list is bounded (MAX_REVIEW_ITEMS, MAX_HISTORY, MAX_FEEDBACK, MAX_SENT_BACK); the counts
next to a bounded list are of everything, so that "37 of 120 reviewed" stays true past the bound.
"""

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db.models import Count, QuerySet
from django.urls import reverse

from annotations import selectors as annotation_selectors
from annotations.models import Annotation
from review import agreement
from review.models import SendBack, Verdict
from review.permissions import reviewed_work
from slides.models import Slide
from tasks.models import Assignment, AssignmentSlide

MAX_REVIEW_ITEMS = 5000
MAX_HISTORY = 1000
MAX_FEEDBACK = 5000
MAX_SENT_BACK = 100
# Ids per query of annotation_agreement: PostgreSQL takes far more, but one IN list of a whole
# project's annotations would make one request's memory unbounded.
AGREEMENT_CHUNK = 10_000
# Reversed in place of an id, then cut off, to give the review page its URL prefixes.
_ID_PLACEHOLDER = 999999999


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as the annotation API writes its times."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _verdict(pk, annotation_id, kind, label_id, geometry, comment, reviewer, at) -> dict:
    return {
        "id": pk,
        "annotation": annotation_id,
        "verdict": kind,
        "label": label_id,
        "geometry": geometry,
        "comment": comment,
        "reviewer": reviewer,
        "at": timestamp(at),
    }


def verdict_json(verdict: Verdict) -> dict:
    """A verdict as the review API sends it."""
    return _verdict(
        verdict.pk,
        verdict.annotation_id,
        verdict.kind,
        verdict.label_id,
        verdict.geometry,
        verdict.comment,
        verdict.reviewer.get_username(),
        verdict.created_at,
    )


_VERDICT_VALUES = (
    "pk", "annotation_id", "kind", "label_id", "geometry", "comment", "reviewer__username",
    "created_at",
)  # fmt: skip


def verdicts_json(verdicts: QuerySet[Verdict]) -> list[dict]:
    """The verdicts as verdict_json has them, read as plain values: the items of a slide of
    5,000 annotations with 4,000 verdicts took 0.16 s so, 0.5 s as model instances."""
    return [_verdict(*row) for row in verdicts.values_list(*_VERDICT_VALUES)]


def sent_back_json(row: SendBack) -> dict:
    """A slide sent back, as the reviewer's side of the API sends it."""
    return {
        "assignment": row.assignment_id,
        "annotator": row.assignment.assignee.get_username(),
        "note": row.note,
        "reviewer": row.reviewer.get_username(),
        "at": timestamp(row.at),
    }


def _latest(queryset: QuerySet, bound: int) -> list:
    """The ``bound`` latest rows of ``queryset`` (by id), oldest first."""
    return list(reversed(queryset.order_by("-id")[:bound]))


# --- The reviewer's view -----------------------------------------------------------------------


def under_review(*, review_assignment: Assignment, slide: Slide | int) -> QuerySet[Annotation]:
    """The live annotations ``review_assignment`` reviews on ``slide``."""
    work = reviewed_work(review_assignment=review_assignment, slide=slide)
    return Annotation.objects.filter(slide=slide, is_deleted=False, assignment__in=work)


def review_items(*, item: AssignmentSlide) -> dict:
    """The annotations under review on a review assignment's slide (``item``), ordered by
    annotator and id, each with the current verdict of this review assignment; at most
    MAX_REVIEW_ITEMS of them, ``truncated`` saying whether there were more."""
    review_assignment = item.assignment
    annotations = under_review(review_assignment=review_assignment, slide=item.slide_id)
    rows = list(
        annotations.order_by("assignment__assignee__username", "id").values_list(
            "pk", "assignment_id", "assignment__assignee__username", "label_id", "kind", "name",
            "x0", "y0", "x1", "y1",
        )[: MAX_REVIEW_ITEMS + 1]
    )  # fmt: skip
    truncated = len(rows) > MAX_REVIEW_ITEMS
    rows = rows[:MAX_REVIEW_ITEMS]
    current = Verdict.objects.current().filter(review_assignment=review_assignment)
    listed = current.filter(annotation_id__in=[row[0] for row in rows])
    verdicts = {verdict["annotation"]: verdict for verdict in verdicts_json(listed)}
    items = [
        {
            "annotation": pk,
            "assignment": assignment_id,
            "annotator": annotator,
            "label": label_id,
            "kind": kind,
            "name": name,
            "bbox": [x0, y0, x1, y1],
            "verdict": verdicts.get(pk),
        }
        for pk, assignment_id, annotator, label_id, kind, name, x0, y0, x1, y1 in rows
    ]
    return {
        "items": items,
        "reviewed": current.filter(annotation__in=annotations).count(),
        "total": annotations.count(),
        "truncated": truncated,
        "slide": review_slide(item=item),
    }


def review_slide(*, item: AssignmentSlide) -> dict:
    """The state of a review assignment's slide and what its reviewer sent back from it."""
    sent = SendBack.objects.filter(
        review_assignment_id=item.assignment_id, slide_id=item.slide_id
    ).select_related("assignment__assignee", "reviewer")
    return {
        "state": item.state,
        "sentBack": [sent_back_json(row) for row in _latest(sent, MAX_SENT_BACK)],
    }


def review_config(*, item: AssignmentSlide) -> dict:
    """What the review work page's script needs besides the editor's config: the items of the
    slide (review_items), the labels a wrong_label verdict may name, and the API's URLs."""
    review_assignment_id, slide_id = item.assignment_id, item.slide_id
    verdict = reverse("review_api:verdict", args=[review_assignment_id, _ID_PLACEHOLDER])
    reviewed = reverse("review_api:slide_reviewed", args=[review_assignment_id, slide_id])
    labels = item.assignment.task.project.labels.active()
    return {
        "reviewAssignmentId": review_assignment_id,
        "slideId": slide_id,
        **review_items(item=item),
        "labels": annotation_selectors.labels_config(labels),
        "urls": {
            "items": reverse("review_api:items", args=[review_assignment_id, slide_id]),
            "verdict": verdict[: verdict.rindex(str(_ID_PLACEHOLDER))],
            "slide": reviewed[: reviewed.rindex("reviewed")],
        },
    }


def verdict_history(*, annotation: Annotation, review_assignment: Assignment) -> dict:
    """Every verdict of ``review_assignment`` on ``annotation``, oldest first, each saying
    whether it is current and, if not, how, when and by whom it ended; the latest MAX_HISTORY."""
    rows = Verdict.objects.filter(
        annotation=annotation, review_assignment=review_assignment
    ).select_related("reviewer", "ended_by")
    latest = _latest(rows, MAX_HISTORY + 1)
    history = [
        {
            **verdict_json(verdict),
            "current": verdict.is_current,
            "ended": None
            if verdict.is_current
            else {
                "how": verdict.ended,
                "at": timestamp(verdict.ended_at),
                "by": verdict.ended_by.get_username() if verdict.ended_by else None,
            },
        }
        for verdict in latest[-MAX_HISTORY:]
    ]
    return {"history": history, "truncated": len(latest) > MAX_HISTORY}


def current_verdict(*, annotation: Annotation, review_assignment: Assignment) -> Verdict | None:
    return (
        Verdict.objects.current()
        .filter(annotation=annotation, review_assignment=review_assignment)
        .select_related("reviewer")
        .first()
    )


# --- The annotator's view ----------------------------------------------------------------------


def feedback_for(*, assignment: Assignment, slide: Slide | int) -> dict:
    """What reviewers said about ``assignment``'s work on ``slide``: the current verdicts on its
    live annotations (at most MAX_FEEDBACK, by annotation), how many of each kind, and the
    notes of the times the slide was sent back (the latest MAX_SENT_BACK, oldest first)."""
    current = Verdict.objects.current().filter(
        annotation__assignment=assignment, annotation__slide=slide, annotation__is_deleted=False
    )
    verdicts = verdicts_json(current.order_by("annotation_id", "id")[: MAX_FEEDBACK + 1])
    counts = dict(current.values_list("kind").annotate(n=Count("id")).order_by())
    sent = SendBack.objects.filter(assignment=assignment, slide=slide).select_related("reviewer")
    return {
        "verdicts": verdicts[:MAX_FEEDBACK],
        "truncated": len(verdicts) > MAX_FEEDBACK,
        # The annotator is told why and by whom; the rest is about themselves.
        "sentBack": [
            {"note": row.note, "reviewer": row.reviewer.get_username(), "at": timestamp(row.at)}
            for row in _latest(sent, MAX_SENT_BACK)
        ],
        "summary": {kind: counts.get(kind, 0) for kind in Verdict.Kind.values},
    }


def has_feedback(*, assignment: Assignment, slide: Slide | int) -> bool:
    """Whether any reviewer gave a verdict on ``assignment``'s live work on ``slide`` or sent
    the slide back."""
    verdicts = Verdict.objects.current().filter(
        annotation__assignment=assignment, annotation__slide=slide, annotation__is_deleted=False
    )
    sent = SendBack.objects.filter(assignment=assignment, slide=slide)
    return verdicts.exists() or sent.exists()


# --- Agreement ---------------------------------------------------------------------------------


def annotation_agreement(*, annotation_ids: Iterable[int]) -> dict[int, dict]:
    """The verdicts on each annotation, taken together: {annotation id: {"verdicts": how many
    current verdicts (one per review assignment), "agree_fraction": agree / all (None without
    verdicts), "consensus": the label most agree and wrong_label verdicts give it (None without
    such votes or on a tie), "tie": bool}} (see review.agreement.consensus_label)."""
    ids = list(dict.fromkeys(annotation_ids))
    votes: dict[int, list[tuple[str, int | None, int]]] = {pk: [] for pk in ids}
    for start in range(0, len(ids), AGREEMENT_CHUNK):
        rows = (
            Verdict.objects.current()
            .filter(annotation_id__in=ids[start : start + AGREEMENT_CHUNK])
            .values_list("annotation_id", "kind", "label_id", "annotation__label_id")
        )
        for annotation_id, kind, label_id, own in rows:
            votes[annotation_id].append((kind, label_id, own))
    result = {}
    for pk, verdicts in votes.items():
        consensus = agreement.consensus_label(verdicts)
        result[pk] = {
            "verdicts": consensus.verdicts,
            "agree_fraction": consensus.agree_fraction,
            "consensus": consensus.label,
            "tie": consensus.tie,
        }
    return result
