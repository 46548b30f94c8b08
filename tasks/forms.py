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
        if task is not None:
            _check_assignee(self, kind=task.kind)
        if task is not None and slides:
            outside = slides.exclude(task_slides__task=task)
            if outside.exists():
                raise forms.ValidationError(
                    "Only slides of the task can be assigned: "
                    + ", ".join(s.name for s in outside[:5])
                )
        return cleaned


class AssignmentInlineForm(forms.ModelForm):
    """An assignment row of a task's page; AssignmentInlineFormSet checks it against the task."""

    class Meta:
        model = Assignment
        fields = ["assignee"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _offer_assignees(self, kind=None)


class AssignmentInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        """Refuse new assignees who may not do the kind of work the task (as posted) is."""
        super().clean()
        for form in self.forms:
            if hasattr(form, "cleaned_data") and not self._should_delete_form(form):
                _check_assignee(form, kind=self.instance.kind)


class ReassignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=selectors.assignable_users(),
        label="New assignee",
        help_text="Only people who may do the task's kind of work are offered.",
    )


class BatchDelegationForm(forms.Form):
    """Create a task over chosen slides and share them among annotators with overlap k."""

    project = forms.ModelChoiceField(queryset=Project.objects.filter(is_archived=False))
    task_name = forms.CharField(max_length=200)
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    slides = forms.ModelMultipleChoiceField(
        queryset=Slide.objects.readable(),
        widget=FilterSelectMultiple("slides", is_stacked=False),
    )
    annotators = forms.ModelMultipleChoiceField(
        queryset=selectors.assignable_users(kind=Task.Kind.ANNOTATION),
        widget=FilterSelectMultiple("annotators", is_stacked=False),
        help_text=f"Active members of the {roles.ASSIGNEE_ROLES[Task.Kind.ANNOTATION]} role.",
    )
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

    def clean(self):
        cleaned = super().clean()
        project, name = cleaned.get("project"), cleaned.get("task_name")
        if project is not None and name and project.tasks.filter(name=name).exists():
            self.add_error("task_name", "This project already has a task with that name.")
        slides, annotators = cleaned.get("slides"), cleaned.get("annotators")
        if slides and annotators and cleaned.get("overlap") and "case_pattern" in cleaned:
            try:
                self.plan = services.batch_plan(
                    slides=list(slides.order_by("path")),
                    annotators=list(annotators),
                    overlap=cleaned["overlap"],
                    case_pattern=cleaned["case_pattern"],
                )
            except delegation.PlanError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return cleaned
