"""Verdicts and slides sent back, in the admin: to look at and filter, never to add or change.
Verdicts are given in the reviewer's viewer (through review.services, which keeps their
history); a verdict changed here would have none."""

from django.contrib import admin

from annotations.admin import ReadOnlyMixin
from review.models import SendBack, Verdict
from slides.admin import short_datetime
from tasks.admin import ADMIN_CSS


@admin.register(Verdict)
class VerdictAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["when", "annotation", "kind", "label", "reviewer", "review_task", "current"]
    list_display_links = ["when"]
    list_filter = [
        "kind",
        "is_current",
        ("review_assignment__task", admin.RelatedOnlyFieldListFilter),
        ("reviewer", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["annotation__label", "label", "reviewer", "review_assignment__task"]
    search_fields = ["=annotation__id", "reviewer__username", "comment"]
    date_hierarchy = "created_at"
    fields = [
        "annotation",
        "review_assignment",
        "reviewer",
        "kind",
        "label",
        "comment",
        "geometry",
        "is_current",
        "created_at",
        "ended",
        "ended_at",
        "ended_by",
    ]
    readonly_fields = fields

    class Media:
        css = ADMIN_CSS

    @admin.display(description="when", ordering="created_at")
    def when(self, verdict):
        return short_datetime(verdict.created_at)

    @admin.display(description="review task", ordering="review_assignment__task__name")
    def review_task(self, verdict):
        return verdict.review_assignment.task.name

    @admin.display(description="current", boolean=True, ordering="is_current")
    def current(self, verdict):
        return verdict.is_current


@admin.register(SendBack)
class SendBackAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["when", "slide", "annotator", "reviewer", "review_task", "note"]
    list_display_links = ["when"]
    list_filter = [
        ("review_assignment__task", admin.RelatedOnlyFieldListFilter),
        ("reviewer", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["slide", "assignment__assignee", "reviewer", "review_assignment__task"]
    search_fields = ["slide__name", "reviewer__username", "assignment__assignee__username", "note"]
    date_hierarchy = "at"
    fields = ["at", "slide", "assignment", "review_assignment", "reviewer", "note"]
    readonly_fields = fields

    class Media:
        css = ADMIN_CSS

    @admin.display(description="when", ordering="at")
    def when(self, sent):
        return short_datetime(sent.at)

    @admin.display(description="annotator", ordering="assignment__assignee__username")
    def annotator(self, sent):
        return sent.assignment.assignee

    @admin.display(description="review task", ordering="review_assignment__task__name")
    def review_task(self, sent):
        return sent.review_assignment.task.name
