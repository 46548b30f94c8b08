from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model

from slides.models import Slide
from tasks.delegation import PlanError
from tasks.models import Assignment, Label, Project
from tasks.services import batch_plan


class LabelForm(forms.ModelForm):
    class Meta:
        model = Label
        fields = ["name", "colour", "shortcut", "order", "description", "is_archived"]
        widgets = {
            "colour": forms.TextInput(attrs={"type": "color"}),
            "description": forms.Textarea(attrs={"rows": 1, "cols": 30}),
        }


class AssignmentAdminForm(forms.ModelForm):
    """Pick the assignee and, among the task's slides, the ones in this person's share."""

    slides = forms.ModelMultipleChoiceField(
        queryset=Slide.objects.none(),
        required=False,
        widget=FilteredSelectMultiple("slides", is_stacked=False),
        help_text="Slides of the task in this person's share. Leave empty for all of them.",
    )

    class Meta:
        model = Assignment
        fields = ["task", "assignee"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        task = self.instance.task if self.instance.pk else None
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
        if task is not None and slides:
            outside = slides.exclude(task_slides__task=task)
            if outside.exists():
                raise forms.ValidationError(
                    "Only slides of the task can be assigned: "
                    + ", ".join(s.name for s in outside[:5])
                )
        return cleaned


class ReassignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        label="New assignee",
    )


class BatchDelegationForm(forms.Form):
    """Create a task over chosen slides and share them among annotators with overlap k."""

    project = forms.ModelChoiceField(queryset=Project.objects.filter(is_archived=False))
    task_name = forms.CharField(max_length=200)
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    slides = forms.ModelMultipleChoiceField(
        queryset=Slide.objects.readable(),
        widget=FilteredSelectMultiple("slides", is_stacked=False),
    )
    annotators = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        widget=FilteredSelectMultiple("annotators", is_stacked=False),
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
            "Optional regular expression on the file name; slides with the same match (or "
            "first group) form a case that goes to the same people, "
            r"e.g. <code>^(TCGA-\w\w-\w{4})</code>."
        ),
    )

    def clean(self):
        cleaned = super().clean()
        project, name = cleaned.get("project"), cleaned.get("task_name")
        if project is not None and name and project.tasks.filter(name=name).exists():
            self.add_error("task_name", "This project already has a task with that name.")
        slides, annotators = cleaned.get("slides"), cleaned.get("annotators")
        if slides and annotators and cleaned.get("overlap"):
            try:
                self.plan = batch_plan(
                    slides=list(slides.order_by("path")),
                    annotators=list(annotators),
                    overlap=cleaned["overlap"],
                    case_pattern=cleaned.get("case_pattern", ""),
                )
            except PlanError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return cleaned
