from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from slides.models import Slide

colour_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Enter a colour as #rrggbb.")


class Project(models.Model):
    """A body of annotation work with its own labels, e.g. "Tumour segmentation, breast"."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="projects")
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LabelQuerySet(models.QuerySet):
    def active(self) -> "LabelQuerySet":
        return self.filter(is_archived=False)


class Label(models.Model):
    """A class annotators assign to regions; archived rather than deleted once in use."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    colour = models.CharField(max_length=7, default="#e6194b", validators=[colour_validator])
    shortcut = models.CharField(
        max_length=1, blank=True, help_text="One key that picks this label in the viewer."
    )
    order = models.PositiveSmallIntegerField(default=0)
    description = models.TextField(blank=True, help_text="What to annotate with this label.")
    is_archived = models.BooleanField(default=False)

    objects = LabelQuerySet.as_manager()

    class Meta:
        ordering = ["project", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="label_unique_name"),
            models.UniqueConstraint(
                fields=["project", "shortcut"],
                condition=~Q(shortcut=""),
                name="label_unique_shortcut",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.project})"


class Task(models.Model):
    """A piece of work on a set of slides of one project, shared out as assignments."""

    class Kind(models.TextChoices):
        ANNOTATION = "annotation", "Annotation"
        REVIEW = "review", "Review"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="tasks")
    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, help_text="Shown to the annotator in the viewer.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ANNOTATION)
    # A review task revises the work of one annotation task of the same project: all of its
    # assignments, or only those chosen here (none chosen: all).
    reviewed_task = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="review_tasks",
        limit_choices_to={"kind": "annotation"},
        help_text="For a review task: the annotation task whose work is reviewed.",
    )
    reviewed_assignments = models.ManyToManyField(
        "Assignment",
        blank=True,
        related_name="review_tasks",
        help_text="For a review task: only these assignments of the reviewed task (none: all).",
    )
    slides = models.ManyToManyField(Slide, through="TaskSlide", related_name="tasks")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    due_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["project", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="task_unique_name")]

    def __str__(self) -> str:
        return f"{self.project} / {self.name}"

    def reviewed_work(self) -> "models.QuerySet[Assignment]":
        """For a review task, the assignments it revises: the chosen ones, else all of the
        reviewed task's (none for an annotation task)."""
        if self.kind != self.Kind.REVIEW or self.reviewed_task_id is None:
            return Assignment.objects.none()
        chosen = Assignment.objects.filter(review_tasks=self)
        if chosen.exists():
            return chosen
        return Assignment.objects.filter(task_id=self.reviewed_task_id)


class TaskSlide(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="task_slides")
    slide = models.ForeignKey(Slide, on_delete=models.PROTECT, related_name="task_slides")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["task", "slide"], name="taskslide_unique")]

    def __str__(self) -> str:
        return f"{self.task}: {self.slide}"


class Assignment(models.Model):
    """One person's share of a task: the slides they are to work on."""

    class State(models.TextChoices):
        NEW = "new", "New"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        REOPENED = "reopened", "Reopened"

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="assignments")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task", "assignee__username"]
        constraints = [
            models.UniqueConstraint(fields=["task", "assignee"], name="assignment_unique")
        ]

    def __str__(self) -> str:
        return f"{self.task} — {self.assignee}"

    @property
    def is_open(self) -> bool:
        return self.state != self.State.COMPLETED


class AssignmentSlide(models.Model):
    """Progress of one person on one slide of their assignment."""

    class State(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    assignment = models.ForeignKey(
        Assignment, on_delete=models.CASCADE, related_name="assignment_slides"
    )
    slide = models.ForeignKey(Slide, on_delete=models.PROTECT, related_name="assignment_slides")
    order = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.NOT_STARTED)
    time_spent = models.DurationField(default=timedelta)
    last_opened_at = models.DateTimeField(null=True, blank=True)
    # Until when time_spent counts (the work page's opening or the last heartbeat, by the
    # server's clock): the next heartbeat adds at most the time since (see work_add_time).
    time_counted_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["assignment", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "slide"], name="assignmentslide_unique")
        ]

    def __str__(self) -> str:
        return f"{self.assignment}: {self.slide}"


class DelegationEvent(models.Model):
    """Append-only record of who changed which delegation, and when."""

    class Action(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        UNASSIGNED = "unassigned", "Unassigned"
        REASSIGNED = "reassigned", "Reassigned"
        SLIDES_ADDED = "slides_added", "Slides added"
        SLIDES_REMOVED = "slides_removed", "Slides removed"
        REOPENED = "reopened", "Reopened"
        CLOSED = "closed", "Closed"
        BATCH = "batch", "Batch delegation"
        SENT_BACK = "sent_back", "Sent back"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor}: {self.get_action_display()}"
