from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.html import format_html

from slides.models import Slide
from tasks import delegation, roles, selectors, services
from tasks.models import Assignment, Label, Project, Task


class FilterSelectMultiple(FilteredSelectMultiple):
    """The admin's two-list picker, wrapped in its own element: SelectFilter2.js moves the picker
    to the front of its parent, which for a form's own field is the row, before the label."""

    def render(self, name, value, attrs=None, renderer=None):
        return format_html("<div>{}</div>", super().render(name, value, attrs, renderer))


class LabelForm(forms.ModelForm):
    class Meta:
        model = Label
        fields = ["name", "colour", "shortcut", "order", "description", "is_archived"]
        widgets = {
            "colour": forms.TextInput(attrs={"type": "color"}),
            "description": forms.Textarea(attrs={"rows": 1, "cols": 30}),
        }


def _offer_assignees(form: forms.ModelForm, *, kind: str | None) -> None:
    """Offer the people who may do this kind of work, and whoever holds the assignment now
    (so that a share handed out before the rule, or before its assignee changed roles, can still
    be edited; giving it to someone new needs the role)."""
    eligible = selectors.assignable_users(kind=kind)
    if form.instance.assignee_id is not None:
        eligible = get_user_model().objects.filter(
            Q(pk__in=eligible.values("pk")) | Q(pk=form.instance.assignee_id)
        )
    form.fields["assignee"].queryset = eligible.order_by("username")


def _check_assignee(form: forms.ModelForm, *, kind: str) -> None:
    """Add the services' refusal of a new assignee to the form, as a field error."""
    assignee = form.cleaned_data.get("assignee")
    if assignee is None or "assignee" not in form.changed_data:
        return
    try:
        services.assignee_check(kind=kind, assignees=[assignee])
    except services.DelegationError as exc:
        form.add_error("assignee", str(exc))


def _check_own_work(form: forms.ModelForm, *, task: Task, slides, field: str) -> None:
    """Add the services' refusal to have the form's assignee review their own work (holding
    ``slides`` in ``task``) to the form, on ``field``."""
    assignee = form.cleaned_data.get("assignee")
    if assignee is None or form.has_error("assignee"):
        return
    try:
        services.own_work_check(
            task=task,
            assignee=assignee,
            slides=slides,
            assignment=form.instance if form.instance.pk else None,
        )
    except services.DelegationError as exc:
        form.add_error(field, str(exc))


def _add_refusal(form: forms.BaseForm, exc: services.DelegationError) -> None:
    """Add a refusal of the services to the form, on its field when the form has one."""
    form.add_error(exc.field if exc.field in form.fields else None, str(exc))


class TaskAdminForm(forms.ModelForm):
    """A task, with what it reviews when it is a review task (checked by tasks.services)."""

    class Meta:
        model = Task
        fields = [
            "project",
            "name",
            "kind",
            "reviewed_task",
            "reviewed_assignments",
            "instructions",
            "due_date",
        ]
        # The admin's two-list picker (what filter_horizontal gives), in its own element so that
        # the label stays in front of it.
        widgets = {
            "reviewed_assignments": FilterSelectMultiple("assignments", is_stacked=False),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Labels name the project (and the assignee): select the rows they read from.
        tasks = Task.objects.filter(kind=Task.Kind.ANNOTATION).select_related("project")
        assignments = Assignment.objects.filter(task__kind=Task.Kind.ANNOTATION)
        if self.instance.pk:
            tasks = tasks.exclude(pk=self.instance.pk)
            assignments = assignments.filter(task__project=self.instance.project_id)
        if "reviewed_task" in self.fields:  # TaskAdmin leaves them out where they cannot apply
            self.fields["reviewed_task"].queryset = tasks
            self.fields["reviewed_assignments"].queryset = assignments.select_related(
                "task__project", "assignee"
            ).order_by("task__project__name", "task__name", "assignee__username")
            # The model's help alone: the admin adds how to pick several in a plain list.
            self.fields["reviewed_assignments"].help_text = Task._meta.get_field(
                "reviewed_assignments"
            ).help_text

    def clean(self):
        cleaned = super().clean()
        if any(self.has_error(f) for f in ("kind", "reviewed_task", "reviewed_assignments")):
            return cleaned
        try:
            services.review_task_check(
                task=self.instance if self.instance.pk else None,
                project=cleaned.get("project"),
                kind=cleaned["kind"],
                reviewed_task=cleaned.get("reviewed_task"),
                reviewed_assignments=list(cleaned.get("reviewed_assignments") or []),
            )
        except services.DelegationError as exc:
            _add_refusal(self, exc)
        return cleaned


class AssignmentAdminForm(forms.ModelForm):
    """Pick the assignee and, among the task's slides, the ones in this person's share."""

    slides = forms.ModelMultipleChoiceField(
        queryset=Slide.objects.none(),
        required=False,
        widget=FilterSelectMultiple("slides", is_stacked=False),
        help_text="Slides of the task in this person's share. Leave empty for all of them.",
    )

    class Meta:
        model = Assignment
        fields = ["task", "assignee"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        task = self.instance.task if self.instance.pk else None
        _offer_assignees(self, kind=task.kind if task else None)
        if task is not None:
            self.fields["task"].disabled = True
            self.fields["slides"].queryset = task.slides.order_by("task_slides__order")
            self.initial["slides"] = list(
                self.instance.assignment_slides.values_list("slide_id", flat=True)
            )
        else:
            self.fields["slides"].queryset = Slide.objects.filter(tasks__isnull=False).distinct()

    def clean(self):
        cleaned = super().clean()
        task, slides = cleaned.get("task"), cleaned.get("slides")
        if task is None:
            return cleaned
        _check_assignee(self, kind=task.kind)
        if slides:
            outside = slides.exclude(task_slides__task=task)
            if outside.exists():
                raise forms.ValidationError(
                    "Only slides of the task can be assigned: "
                    + ", ".join(s.name for s in outside[:5])
                )
        # The share as it will be saved (AssignmentAdmin.save_model): no slides chosen, all.
        share = list(slides) if slides else list(task.slides.all())
        field = "assignee" if "assignee" in self.changed_data else "slides"
        _check_own_work(self, task=task, slides=share, field=field)
        return cleaned


class AssignmentInlineForm(forms.ModelForm):
    """An assignment row of a task's page; AssignmentInlineFormSet checks it against the task."""

    class Meta:
        model = Assignment
        fields = ["assignee"]

    def __init__(self, *args, kind: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        _offer_assignees(self, kind=kind)


class AssignmentInlineFormSet(forms.BaseInlineFormSet):
    def get_form_kwargs(self, index):
        """Offer the people who may do the stored task's kind of work (of any kind, for a task
        not saved yet)."""
        kind = self.instance.kind if self.instance.pk else None
        return {**super().get_form_kwargs(index), "kind": kind}

    def clean(self):
        """Refuse new assignees who may not do the kind of work the task (as posted) is, or who
        would review their own work: a new row gets every slide of the task, a row handed to
        someone else keeps its slides."""
        super().clean()
        task = self.instance
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            _check_assignee(form, kind=task.kind)
            if task.pk is None or "assignee" not in form.changed_data:
                continue
            if form.instance.pk:
                share = list(Slide.objects.filter(assignment_slides__assignment=form.instance))
            else:
                share = list(task.slides.all())
            _check_own_work(form, task=task, slides=share, field="assignee")


# The reassign action checks each assignment it is given: at most this many at once.
REASSIGN_AT_MOST = 100


class ReassignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=selectors.assignable_users(),
        label="New assignee",
        help_text="Only people who may do the task's kind of work are offered.",
    )

    def __init__(self, *args, assignments, **kwargs):
        super().__init__(*args, **kwargs)
        self.assignments = list(
            assignments.select_related("task", "assignee")[: REASSIGN_AT_MOST + 1]
        )
        offered = selectors.assignable_users()
        for kind in {assignment.task.kind for assignment in self.assignments}:
            offered = offered.filter(roles.assignees_filter(kind))
        self.fields["assignee"].queryset = offered

    def clean_assignee(self):
        """Refuse, for all the assignments at once, whoever may not take one of them."""
        assignee = self.cleaned_data["assignee"]
        if len(self.assignments) > REASSIGN_AT_MOST:
            raise forms.ValidationError(f"Reassign at most {REASSIGN_AT_MOST} assignments at once.")
        tasks = [assignment.task_id for assignment in self.assignments]
        if len(set(tasks)) < len(tasks):
            raise forms.ValidationError(
                "Two of the selected assignments belong to the same task, and one person holds "
                "at most one assignment of a task."
            )
        refusals = []
        for assignment in self.assignments:
            try:
                services.assignment_reassign_check(assignment=assignment, assignee=assignee)
            except services.DelegationError as exc:
                refusals.append(str(exc))
        if refusals:
            raise forms.ValidationError(refusals)
        return assignee


class _BatchForm(forms.Form):
    """What batch delegations of either kind ask: the new task, the overlap and the cases."""

    task_name = forms.CharField(max_length=200)
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    overlap = forms.IntegerField(
        min_value=1,
        max_value=20,
        initial=1,
        help_text="How many different annotators annotate each slide.",
    )
    case_pattern = forms.CharField(
        required=False,
        max_length=200,
        label="Case pattern",
        help_text=(
            "Optional regular expression on the file name, in RE2's syntax (no look-around, "
            "no backreferences; <code>\\d</code> and <code>\\w</code> are ASCII); slides with "
            "the same match (or first group) form a case that goes to the same people, "
            r"e.g. <code>^(TCGA-\w\w-\w{4})</code>."
        ),
    )

    def clean_case_pattern(self) -> str:
        case_pattern = self.cleaned_data["case_pattern"]
        if case_pattern:
            try:
                delegation.compile_case_pattern(case_pattern)
            except delegation.PlanError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return case_pattern

    def _check_task_name(self, project: Project | None) -> None:
        name = self.cleaned_data.get("task_name")
        if project is not None and name and project.tasks.filter(name=name).exists():
            self.add_error("task_name", "This project already has a task with that name.")

    def _ready_to_plan(self, people: str) -> bool:
        return bool(
            self.cleaned_data.get(people)
            and self.cleaned_data.get("overlap")
            and "case_pattern" in self.cleaned_data
        )


class BatchDelegationForm(_BatchForm):
    """Create a task over chosen slides and share them among annotators with overlap k."""

    field_order = [
        "project",
        "task_name",
        "instructions",
        "slides",
        "annotators",
        "overlap",
        "case_pattern",
    ]
    project = forms.ModelChoiceField(queryset=Project.objects.filter(is_archived=False))
    slides = forms.ModelMultipleChoiceField(
        queryset=Slide.objects.readable(),
        widget=FilterSelectMultiple("slides", is_stacked=False),
    )
    annotators = forms.ModelMultipleChoiceField(
        queryset=selectors.assignable_users(kind=Task.Kind.ANNOTATION),
        widget=FilterSelectMultiple("annotators", is_stacked=False),
        help_text=f"Active members of the {roles.ASSIGNEE_ROLES[Task.Kind.ANNOTATION]} role.",
    )

    def clean(self):
        cleaned = super().clean()
        self._check_task_name(cleaned.get("project"))
        if cleaned.get("slides") and self._ready_to_plan("annotators"):
            try:
                self.plan = services.batch_plan(
                    slides=list(cleaned["slides"].order_by("path")),
                    annotators=list(cleaned["annotators"]),
                    overlap=cleaned["overlap"],
                    case_pattern=cleaned["case_pattern"],
                )
            except delegation.PlanError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return cleaned


class ReviewDelegationForm(_BatchForm):
    """Create a review task over the annotated slides of an annotation task (all of its
    assignments, or chosen ones) and share them among reviewers, k per slide."""

    field_order = [
        "reviewed_task",
        "reviewed_assignments",
        "task_name",
        "instructions",
        "reviewers",
        "overlap",
        "case_pattern",
    ]
    reviewed_task = forms.ModelChoiceField(
        queryset=Task.objects.filter(
            kind=Task.Kind.ANNOTATION, project__is_archived=False
        ).select_related("project"),
        label="Task to review",
        help_text="Its slides that have been annotated are reviewed.",
    )
    reviewed_assignments = forms.ModelMultipleChoiceField(
        queryset=Assignment.objects.filter(
            task__kind=Task.Kind.ANNOTATION, task__project__is_archived=False
        )
        .select_related("task__project", "assignee")
        .order_by("task__project__name", "task__name", "assignee__username"),
        required=False,
        widget=FilterSelectMultiple("assignments", is_stacked=False),
        label="Only these assignments",
        help_text="Leave empty to review the work of every assignment of the task.",
    )
    reviewers = forms.ModelMultipleChoiceField(
        queryset=selectors.assignable_users(kind=Task.Kind.REVIEW),
        widget=FilterSelectMultiple("reviewers", is_stacked=False),
        help_text=(
            f"Active members of the {roles.ASSIGNEE_ROLES[Task.Kind.REVIEW]} role. Nobody is "
            "given a slide they annotated."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["overlap"].label = "Reviewers per slide"
        self.fields["overlap"].help_text = "How many different reviewers review each slide."

    def clean(self):
        cleaned = super().clean()
        reviewed_task = cleaned.get("reviewed_task")
        if reviewed_task is None or self.has_error("reviewed_assignments"):
            return cleaned
        self._check_task_name(reviewed_task.project)
        chosen = list(cleaned.get("reviewed_assignments") or [])
        try:
            services.review_task_check(
                task=None,
                project=reviewed_task.project,
                kind=Task.Kind.REVIEW,
                reviewed_task=reviewed_task,
                reviewed_assignments=chosen,
            )
        except services.DelegationError as exc:
            _add_refusal(self, exc)
            return cleaned
        if self._ready_to_plan("reviewers"):
            try:
                self.plan = services.batch_plan_review(
                    reviewed_task=reviewed_task,
                    reviewed_assignments=chosen,
                    reviewers=list(cleaned["reviewers"]),
                    overlap=cleaned["overlap"],
                    case_pattern=cleaned["case_pattern"],
                )
            except delegation.PlanError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return cleaned
