"""What reviewers say about annotations: verdicts, with their history, and slides sent back.

A reviewer's share of a review task is an ordinary ``tasks.Assignment`` (the "review
assignment"); the slides they review are its AssignmentSlide rows, and "reviewed" is such a row
marked done. Regions a reviewer finds missing are ordinary annotations of the review assignment.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotations.models import Annotation, GeoJSONField
from slides.models import Slide
from tasks.models import Assignment, Label


class VerdictQuerySet(models.QuerySet):
    def current(self) -> "VerdictQuerySet":
        return self.filter(is_current=True)


class Verdict(models.Model):
    """One reviewer's judgement of one annotation, as given at one moment.

    Rows are never changed but to end them: a new verdict on the same annotation in the same
    review assignment (or a new comment) ends the current row and adds one, and withdrawing
    ends it without a successor. The rows of an (annotation, review assignment) are therefore
    its history, and at most one of them is current. The annotation itself is never changed:
    a corrected region is kept here.
    """

    class Kind(models.TextChoices):
        AGREE = "agree", "Agree"
        WRONG_LABEL = "wrong_label", "Wrong label"
        WRONG_REGION = "wrong_region", "Wrong region"
        REJECT = "reject", "Reject"

    class End(models.TextChoices):
        REPLACED = "replaced", "Replaced"
        WITHDRAWN = "withdrawn", "Withdrawn"

    annotation = models.ForeignKey(Annotation, on_delete=models.PROTECT, related_name="verdicts")
    review_assignment = models.ForeignKey(
        Assignment, on_delete=models.PROTECT, related_name="verdicts"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="verdicts"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The label the annotation should have (wrong_label only).
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The corrected region (wrong_region only): GeoJSON in level-0 pixels, cleaned as any
    # annotation geometry of the annotation's kind is.
    geometry = GeoJSONField(null=True, blank=True)
    comment = models.TextField(blank=True)
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once, when the row stops being current: how, when and by whom.
    ended = models.CharField(max_length=16, choices=End.choices, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    objects = VerdictQuerySet.as_manager()

    class Meta:
        ordering = ["annotation", "review_assignment", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["annotation", "review_assignment"],
                condition=Q(is_current=True),
                name="verdict_one_current",
            ),
            models.CheckConstraint(
                condition=Q(kind="wrong_label", label__isnull=False)
                | (~Q(kind="wrong_label") & Q(label__isnull=True)),
                name="verdict_label_only_for_wrong_label",
            ),
            models.CheckConstraint(
                condition=Q(kind="wrong_region", geometry__isnull=False)
                | (~Q(kind="wrong_region") & Q(geometry__isnull=True)),
                name="verdict_geometry_only_for_wrong_region",
            ),
            models.CheckConstraint(
                condition=Q(is_current=True, ended="") | (Q(is_current=False) & ~Q(ended="")),
                name="verdict_ended_unless_current",
            ),
        ]
        indexes = [
            # The items of a review slide and the feedback of an annotator read current rows.
            models.Index(
                fields=["review_assignment", "annotation"],
                condition=Q(is_current=True),
                name="verdict_current_by_review",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on #{self.annotation_id} by {self.reviewer}"


class SendBack(models.Model):
    """A reviewer sending one annotator's slide back for more work, and why."""

    review_assignment = models.ForeignKey(
        Assignment, on_delete=models.PROTECT, related_name="send_backs_given"
    )
    # The reviewed annotator's assignment, whose slide was reopened.
    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="send_backs")
    slide = models.ForeignKey(Slide, on_delete=models.PROTECT, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="send_backs_given"
    )
    note = models.TextField()
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(note=""), name="sendback_has_note")]
        indexes = [models.Index(fields=["assignment", "slide"], name="sendback_by_work")]

    def __str__(self) -> str:
        return f"{self.slide} sent back to {self.assignment.assignee} by {self.reviewer}"
