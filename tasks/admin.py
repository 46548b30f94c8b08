from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from slides.admin import SlideAdmin
from slides.converters import parse_ids
from slides.models import Slide
from tasks import services
from tasks.forms import (
    AssignmentAdminForm,
    AssignmentInlineForm,
    AssignmentInlineFormSet,
    BatchDelegationForm,
    LabelForm,
    ReassignForm,
)
from tasks.models import (
    Assignment,
    AssignmentSlide,
    DelegationEvent,
    Label,
    Project,
    Task,
    TaskSlide,
)
from tasks.selectors import with_progress

DONE = AssignmentSlide.State.DONE


def progress_bar(done: int, total: int):
    return format_html(
        '<div class="wsi2ml-progress" title="{} of {} slides done">'
        '<progress max="{}" value="{}"></progress> {}/{}</div>',
        done,
        total,
        total or 1,
        done,
        done,
        total,
    )


class LabelInline(admin.TabularInline):
    model = Label
    form = LabelForm
    extra = 1


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "label_count", "task_count", "is_archived", "overview_link"]
    list_filter = ["is_archived"]
    search_fields = ["name", "description"]
    filter_horizontal = ["members"]
    inlines = [LabelInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_labels=Count("labels", distinct=True), n_tasks=Count("tasks", distinct=True)
            )
        )

    @admin.display(description="labels", ordering="n_labels")
    def label_count(self, project):
        return project.n_labels

    @admin.display(description="tasks", ordering="n_tasks")
    def task_count(self, project):
        return project.n_tasks

    @admin.display(description="progress")
    def overview_link(self, project):
        return format_html(
            '<a href="{}">Overview</a>', reverse("tasks:project_overview", args=[project.pk])
        )


class TaskSlideInline(admin.TabularInline):
    model = TaskSlide
    autocomplete_fields = ["slide"]
    extra = 0
    verbose_name = "slide"


class AssignmentInline(admin.TabularInline):
    model = Assignment
    form = AssignmentInlineForm
    formset = AssignmentInlineFormSet
    fields = ["assignee", "state", "progress"]
    readonly_fields = ["state", "progress"]
    # A list rather than the admin's autocomplete, which would offer every user: the form offers
    # only those who may do the work (tasks.roles).
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="progress")
    def progress(self, assignment):
        if not assignment.pk:
            return "all slides of the task, once saved"
        items = assignment.assignment_slides.aggregate(
            total=Count("id"), done=Count("id", filter=Q(state=DONE))
        )
        return progress_bar(items["done"], items["total"])


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "slide_count", "progress", "due_date"]
    list_filter = [
        "project",
        "kind",
        "assignments__state",
        ("assignments__assignee", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["name", "project__name", "instructions"]
    list_select_related = ["project"]
    inlines = [TaskSlideInline, AssignmentInline]
    fields = ["project", "name", "kind", "instructions", "due_date", "created_by"]
    readonly_fields = ["created_by"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_slides=Count("task_slides", distinct=True),
                total=Count("assignments__assignment_slides", distinct=True),
                done=Count(
                    "assignments__assignment_slides",
                    filter=Q(assignments__assignment_slides__state=DONE),
                    distinct=True,
                ),
            )
        )

    @admin.display(description="slides", ordering="n_slides")
    def slide_count(self, task):
        return task.n_slides

    @admin.display(description="done / total")
    def progress(self, task):
        return progress_bar(task.done, task.total)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        """Route inline edits through the services, so permissions and the log follow."""
        task = form.instance
        if formset.model is TaskSlide:
            instances = formset.save(commit=False)
            removed = [obj.slide for obj in formset.deleted_objects]
            if removed:
                services.task_remove_slides(task=task, slides=removed, actor=request.user)
            added = [obj.slide for obj in instances if obj.pk is None]
            if added:
                services.task_add_slides(task=task, slides=added, actor=request.user)
            for obj in instances:
                if obj.pk is not None:
                    obj.save()  # a changed order
        elif formset.model is Assignment:
            for obj in formset.save(commit=False):
                if obj.pk is None:
                    services.assignment_create(
                        task=task,
                        assignee=obj.assignee,
                        slides=list(task.slides.order_by("task_slides__order")),
                        actor=request.user,
                    )
                else:
                    previous = Assignment.objects.get(pk=obj.pk)
                    services.assignment_reassign(
                        assignment=previous, assignee=obj.assignee, actor=request.user
                    )
        else:
            super().save_formset(request, form, formset, change)

    def get_urls(self):
        urls = [
            path(
                "delegate/",
                self.admin_site.admin_view(self.delegate_view),
                name="tasks_task_delegate",
            )
        ]
        return urls + super().get_urls()

    def delegate_view(self, request: HttpRequest):
        """Batch delegation: choose, preview, then create the task and its assignments."""
        if not (self.has_add_permission(request) and request.user.has_perm("tasks.add_assignment")):
            raise PermissionDenied("You may not delegate slides.")
        initial = {"slides": parse_ids(request.GET.get("slides", ""))}
        form = BatchDelegationForm(request.POST or None, initial=initial)
        plan = None
        if request.method == "POST" and form.is_valid():
            plan = sorted(form.plan.items(), key=lambda item: item[0].get_username())
            if "confirm" in request.POST:
                task = services.batch_delegate(
                    project=form.cleaned_data["project"],
                    task_name=form.cleaned_data["task_name"],
                    instructions=form.cleaned_data["instructions"],
                    slides=list(form.cleaned_data["slides"].order_by("path")),
                    annotators=list(form.cleaned_data["annotators"]),
                    overlap=form.cleaned_data["overlap"],
                    case_pattern=form.cleaned_data["case_pattern"],
                    actor=request.user,
                )
                summary = ", ".join(f"{user}: {len(share)}" for user, share in plan)
                messages.success(request, f"Created {task} — slides per annotator: {summary}.")
                return HttpResponseRedirect(reverse("admin:tasks_task_change", args=[task.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Delegate slides",
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
            "plan": plan,
        }
        return TemplateResponse(request, "admin/tasks/task/delegate.html", context)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    form = AssignmentAdminForm
    list_display = ["assignee", "task", "project", "state", "progress", "last_activity"]
    # Everyone who holds an assignment, including people who have lost the role since.
    list_filter = ["task__project", "state", ("assignee", admin.RelatedOnlyFieldListFilter), "task"]
    search_fields = ["assignee__username", "task__name", "task__project__name"]
    list_select_related = ["task", "task__project", "assignee"]
    autocomplete_fields = ["task"]  # the assignee is a list of who may do the work (tasks.roles)
    actions = ["close", "reopen", "reassign"]

    def get_queryset(self, request):
        return with_progress(super().get_queryset(request))

    @admin.display(ordering="task__project__name")
    def project(self, assignment):
        return assignment.task.project

    @admin.display(description="done / total")
    def progress(self, assignment):
        return progress_bar(assignment.done, assignment.total)

    @admin.display(ordering="last_activity")
    def last_activity(self, assignment):
        return assignment.last_activity

    def save_model(self, request, obj, form, change):
        slides = list(form.cleaned_data["slides"]) or list(
            obj.task.slides.order_by("task_slides__order")
        )
        if not change:
            created = services.assignment_create(
                task=obj.task, assignee=obj.assignee, slides=slides, actor=request.user
            )
            obj.pk = created.pk
            return
        stored = Assignment.objects.get(pk=obj.pk)
        if stored.assignee_id != obj.assignee_id:
            services.assignment_reassign(
                assignment=stored, assignee=obj.assignee, actor=request.user
            )
        services.assignment_set_slides(assignment=stored, slides=slides, actor=request.user)

    def delete_model(self, request, obj):
        services.assignment_delete(assignment=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for assignment in queryset:
            services.assignment_delete(assignment=assignment, actor=request.user)

    @admin.action(description="Close selected assignments", permissions=["change"])
    def close(self, request, queryset):
        for assignment in queryset:
            services.assignment_close(assignment=assignment, actor=request.user)
        self.message_user(request, f"Closed {queryset.count()} assignment(s).")

    @admin.action(description="Reopen selected assignments", permissions=["change"])
    def reopen(self, request, queryset):
        for assignment in queryset:
            services.assignment_reopen(assignment=assignment, actor=request.user)
        self.message_user(request, f"Reopened {queryset.count()} assignment(s).")

    @admin.action(description="Reassign selected assignments…", permissions=["change"])
    def reassign(self, request, queryset):
        form = ReassignForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            moved, refused = 0, []
            for assignment in queryset:
                try:
                    services.assignment_reassign(
                        assignment=assignment,
                        assignee=form.cleaned_data["assignee"],
                        actor=request.user,
                    )
                    moved += 1
                except services.DelegationError as exc:
                    refused.append(str(exc))
            self.message_user(request, f"Reassigned {moved} assignment(s).")
            for reason in refused:
                self.message_user(request, reason, messages.ERROR)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reassign assignments",
            "opts": self.model._meta,
            "form": form,
            "assignments": queryset,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/tasks/assignment/reassign.html", context)


@admin.register(DelegationEvent)
class DelegationEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "task", "assignee", "details"]
    list_filter = ["action", "task__project"]
    search_fields = ["actor__username", "assignee__username", "task__name"]
    list_select_related = ["actor", "task", "assignee"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DelegatingSlideAdmin(SlideAdmin):
    """The slide admin, with an action that delegates the selected slides."""

    actions = [*SlideAdmin.actions, "delegate"]

    @admin.action(description="Delegate selected slides…", permissions=["view"])
    def delegate(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:tasks_task_delegate") + f"?slides={ids}")


admin.site.unregister(Slide)
admin.site.register(Slide, DelegatingSlideAdmin)
