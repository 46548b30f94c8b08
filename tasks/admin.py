from django.contrib import admin, messages
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from jobs.models import Job
from jobs.services import job_enqueue
from slides.admin import SlideAdmin, short_datetime
from slides.converters import parse_ids
from slides.models import Slide
from tasks import delegation, roles, services
from tasks.forms import (
    AssignmentAdminForm,
    AssignmentInlineForm,
    AssignmentInlineFormSet,
    BatchDelegationForm,
    LabelForm,
    ReassignForm,
    ReviewDelegationForm,
    TaskAdminForm,
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
from tasks.permissions import managed_projects
from tasks.selectors import with_progress

DONE = AssignmentSlide.State.DONE
# Our stylesheet, after the admin's: short columns that do not wrap, no captions over inline
# rows, delegation details and annotation previews.
ADMIN_CSS = {"all": ["tasks/admin.css"]}
# How many slide names a delegation event's details list before "and n more".
NAMES_SHOWN = 5


class PlainRelatedMixin:
    """Draw the selects named in ``plain_related_fields`` without the admin's add, change, delete
    and view icons: beside an assignee they offer to edit or delete user accounts."""

    plain_related_fields: tuple[str, ...] = ()

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in self.plain_related_fields and isinstance(
            getattr(formfield, "widget", None), RelatedFieldWidgetWrapper
        ):
            formfield.widget = formfield.widget.widget
        return formfield


class RefusalMixin:
    """Answer a refusal of the services on a change page with its reason and nothing saved.

    The forms check each part of a page (a task, each assignment row) against what is stored; a
    refusal can still come from parts changed together (a new reviewer row and a new slide that
    they annotate) or from a change made meanwhile. The admin saves a page in one transaction,
    rolled back when the refusal leaves it.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.DelegationError as exc:
            self.message_user(request, f"Nothing was saved: {exc}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


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
class ProjectAdmin(PlainRelatedMixin, admin.ModelAdmin):
    list_display = ["name", "label_count", "task_count", "is_archived", "overview_link"]
    list_filter = ["is_archived"]
    search_fields = ["name", "description"]
    filter_horizontal = ["members"]
    plain_related_fields = ("members",)
    inlines = [LabelInline]
    actions = ["compute_agreement"]

    class Media:
        css = ADMIN_CSS

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_labels=Count("labels", distinct=True), n_tasks=Count("tasks", distinct=True)
            )
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Managers follow the projects they are members of: whoever makes a project follows it
        # (a superuser sees every project anyway).
        if not change and not request.user.is_superuser:
            form.instance.members.add(request.user)

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

    # A job per project, in a worker: the agreement pages compute for 2 s a visit, and a
    # project of 3 annotators x 20,000 cells per slide takes 9 s a slide.
    @admin.action(description="Compute agreement (in the background)", permissions=["view"])
    def compute_agreement(self, request: HttpRequest, queryset):
        """Start an agreement job for each selected project that the user follows."""
        followed = queryset.filter(pk__in=managed_projects(request.user).values("pk"))
        started = [
            (
                project,
                job_enqueue(
                    kind=Job.Kind.COMPUTE_AGREEMENT,
                    params={"project": project.pk},
                    actor=request.user,
                ),
            )
            for project in followed.order_by("name")
        ]
        left_out = queryset.count() - len(started)
        if len(started) == 1 and not left_out:
            return HttpResponseRedirect(started[0][1].get_absolute_url())
        for project, job in started:
            link = format_html('<a href="{}">its progress</a>', job.get_absolute_url())
            message = format_html("Computing the agreement of {} ({}).", project.name, link)
            self.message_user(request, message, messages.SUCCESS)
        if left_out:
            self.message_user(
                request,
                f"{left_out} of the selected projects were left out: you follow only the "
                "projects you are a member of.",
                messages.WARNING,
            )
        return None


class TaskSlideInline(PlainRelatedMixin, admin.TabularInline):
    model = TaskSlide
    plain_related_fields = ("slide",)
    autocomplete_fields = ["slide"]
    extra = 0
    verbose_name = "slide"


class AssignmentInline(PlainRelatedMixin, admin.TabularInline):
    model = Assignment
    form = AssignmentInlineForm
    formset = AssignmentInlineFormSet
    fields = ["assignee", "state", "progress", "share"]
    readonly_fields = ["state", "progress", "share"]
    # A list rather than the admin's autocomplete, which would offer every user: the form offers
    # only those who may do the work (tasks.roles).
    plain_related_fields = ("assignee",)
    extra = 0
    can_delete = False

    @admin.display(description="slides")
    def share(self, assignment):
        """Link to the assignment's page, where its slides are chosen (the "share")."""
        if not assignment.pk:
            return ""
        url = reverse("admin:tasks_assignment_change", args=[assignment.pk])
        return format_html('<a href="{}">Choose slides</a>', url)

    @admin.display(description="progress")
    def progress(self, assignment):
        if not assignment.pk:
            return "all slides of the task, once saved"
        items = assignment.assignment_slides.aggregate(
            total=Count("id"), done=Count("id", filter=Q(state=DONE))
        )
        return progress_bar(items["done"], items["total"])


@admin.register(Task)
class TaskAdmin(RefusalMixin, PlainRelatedMixin, admin.ModelAdmin):
    form = TaskAdminForm
    list_display = ["name", "project", "kind", "reviews", "slide_count", "progress", "due_date"]
    list_filter = [
        "project",
        "kind",
        "assignments__state",
        ("assignments__assignee", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["name", "project__name", "instructions"]
    list_select_related = ["project", "reviewed_task"]
    inlines = [TaskSlideInline, AssignmentInline]
    fieldsets = [
        (None, {"fields": ["project", "name", "kind", "instructions", "due_date", "created_by"]}),
        (
            "What a review task reviews",
            {
                "fields": ["reviewed_task", "reviewed_assignments"],
                "description": (
                    "For a review task only: an annotation task of the same project, and "
                    "optionally some of its assignments (none chosen: all of them). Nobody is "
                    "given their own work to review."
                ),
            },
        ),
    ]
    # The reviewed assignments are picked in the two-list picker of filter_horizontal, set by
    # TaskAdminForm so that its label stays in front of it.
    readonly_fields = ["created_by"]
    # Neither a task to review nor an assignment is made from here.
    plain_related_fields = ("reviewed_task", "reviewed_assignments")

    class Media:
        css = ADMIN_CSS

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

    def get_fieldsets(self, request, obj=None):
        """Without the review fields for an annotation task with assignments: it stays an
        annotation task (tasks.services.review_task_check), so they would only be noise."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.kind == Task.Kind.ANNOTATION and obj.assignments.exists():
            return fieldsets[:1]
        return fieldsets

    @admin.display(description="reviews", ordering="reviewed_task__name")
    def reviews(self, task):
        return task.reviewed_task.name if task.reviewed_task_id else "—"

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
        """Batch delegation: choose, preview, then create the task and its assignments.

        ``?kind=review`` delegates the review of an annotation task's annotated slides.
        """
        if not (self.has_add_permission(request) and request.user.has_perm("tasks.add_assignment")):
            raise PermissionDenied("You may not delegate slides.")
        review = request.GET.get("kind") == Task.Kind.REVIEW
        if review:
            form = ReviewDelegationForm(request.POST or None)
        else:
            initial = {"slides": parse_ids(request.GET.get("slides", ""))}
            form = BatchDelegationForm(request.POST or None, initial=initial)
        plan = None
        if request.method == "POST" and form.is_valid():
            plan = sorted(form.plan.items(), key=lambda item: item[0].get_username())
            if "confirm" in request.POST:
                try:
                    task = self._delegate(request, form, review=review)
                except (services.DelegationError, delegation.PlanError) as exc:
                    # Something changed between the form's check and now.
                    form.add_error(None, str(exc))
                    plan = None
                else:
                    noun = "reviewer" if review else "annotator"
                    summary = ", ".join(f"{user}: {len(share)}" for user, share in plan)
                    messages.success(request, f"Created {task} — slides per {noun}: {summary}.")
                    return HttpResponseRedirect(reverse("admin:tasks_task_change", args=[task.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Delegate review" if review else "Delegate slides",
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
            "plan": plan,
            "review": review,
        }
        return TemplateResponse(request, "admin/tasks/task/delegate.html", context)

    def _delegate(self, request: HttpRequest, form, *, review: bool) -> Task:
        data = form.cleaned_data
        shared = {
            "task_name": data["task_name"],
            "instructions": data["instructions"],
            "overlap": data["overlap"],
            "case_pattern": data["case_pattern"],
            "actor": request.user,
        }
        if review:
            return services.batch_delegate_review(
                reviewed_task=data["reviewed_task"],
                reviewed_assignments=list(data["reviewed_assignments"]),
                reviewers=list(data["reviewers"]),
                **shared,
            )
        return services.batch_delegate(
            project=data["project"],
            slides=list(data["slides"].order_by("path")),
            annotators=list(data["annotators"]),
            **shared,
        )


@admin.register(Assignment)
class AssignmentAdmin(RefusalMixin, PlainRelatedMixin, admin.ModelAdmin):
    form = AssignmentAdminForm
    list_display = ["assignee", "task", "project", "state", "progress", "last_activity"]
    # Everyone who holds an assignment, including people who have lost the role since.
    list_filter = ["task__project", "state", ("assignee", admin.RelatedOnlyFieldListFilter), "task"]
    search_fields = ["assignee__username", "task__name", "task__project__name"]
    list_select_related = ["task", "task__project", "assignee"]
    autocomplete_fields = ["task"]  # the assignee is a list of who may do the work (tasks.roles)
    plain_related_fields = ("task", "assignee")
    actions = ["close", "reopen", "reassign"]

    class Media:
        css = ADMIN_CSS

    def get_queryset(self, request):
        return with_progress(super().get_queryset(request))

    @admin.display(description="project", ordering="task__project__name")
    def project(self, assignment):
        return assignment.task.project.name

    @admin.display(description="done / total")
    def progress(self, assignment):
        return progress_bar(assignment.done, assignment.total)

    @admin.display(description="last opened", ordering="last_activity")
    def last_activity(self, assignment):
        return short_datetime(assignment.last_activity)

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
        services.assignment_change(
            assignment=stored, assignee=obj.assignee, slides=slides, actor=request.user
        )

    def get_deleted_objects(self, objs, request):
        """Show an assignment that a review task alone reviews as protected, with the reason
        (see services.assignment_delete_refusal), on the delete page and the delete action."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for assignment in objs:
            refusal = services.assignment_delete_refusal(assignment=assignment)
            if refusal:
                protected = [*protected, f"{assignment}: {refusal}"]
        return deleted, counts, perms_needed, protected

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
        """Hand the selected assignments to one person, all or none: the form refuses anyone
        who may not take every one of them."""
        form = ReassignForm(request.POST if "apply" in request.POST else None, assignments=queryset)
        if form.is_valid():
            try:
                with transaction.atomic():
                    for assignment in form.assignments:
                        services.assignment_reassign(
                            assignment=assignment,
                            assignee=form.cleaned_data["assignee"],
                            actor=request.user,
                        )
            except services.DelegationError as exc:  # the data changed since the form's check
                self.message_user(request, f"Nothing was reassigned: {exc}", messages.ERROR)
                return None
            self.message_user(request, f"Reassigned {len(form.assignments)} assignment(s).")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reassign assignments",
            "opts": self.model._meta,
            "form": form,
            "assignments": form.assignments,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/tasks/assignment/reassign.html", context)


def _names(names: list) -> str:
    shown = ", ".join(str(name) for name in names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _slides(count: int) -> str:
    return f"{count} slide{'s' if count != 1 else ''}"


def describe_details(details: dict) -> list[str]:
    """A delegation event's details (see tasks.services) as short sentences."""
    lines = []
    for key, verb in (("added", "Added "), ("removed", "Removed "), ("slides", "")):
        names = details.get(key)
        if names:
            lines.append(f"{verb}{_slides(len(names))}: {_names(names)}")
    if details.get("previous"):
        lines.append(f"Taken over from {details['previous']}")
    if details.get("shares"):
        shares = sorted(details["shares"].items())
        lines.append("Shares: " + ", ".join(f"{who} {_slides(n)}" for who, n in shares))
    review = details.get("kind") == Task.Kind.REVIEW
    if details.get("reviewed_task"):
        whose = f" ({_names(details['reviewed'])})" if details.get("reviewed") else ""
        lines.append(f"Reviews {details['reviewed_task']}{whose}")
    if "overlap" in details:
        lines.append(
            f"Each slide to {details['overlap']} {'reviewer' if review else 'annotator'}(s)"
        )
    if details.get("case_pattern"):
        lines.append(f"Cases by the pattern {details['case_pattern']}")
    known = {"added", "removed", "slides", "previous", "shares", "overlap", "case_pattern", "kind"}
    known |= {"reviewed_task", "reviewed"}
    lines += [f"{key}: {value}" for key, value in sorted(details.items()) if key not in known]
    return lines


@admin.register(DelegationEvent)
class DelegationEventAdmin(admin.ModelAdmin):
    list_display = ["when", "actor", "action", "task", "assignee", "summary"]
    list_display_links = ["when"]
    list_filter = ["action", "task__project"]
    search_fields = ["actor__username", "assignee__username", "task__name"]
    list_select_related = ["actor", "task__project", "assignee"]
    fields = ["at", "actor", "action", "task", "assignee", "summary"]
    readonly_fields = fields

    class Media:
        css = ADMIN_CSS

    @admin.display(description="when", ordering="at")
    def when(self, event):
        return short_datetime(event.at)

    @admin.display(description="details")
    def summary(self, event):
        if not isinstance(event.details, dict) or not event.details:
            return "—"
        items = format_html_join(
            "", "<li>{}</li>", ((line,) for line in describe_details(event.details))
        )
        return format_html('<ul class="wsi2ml-details">{}</ul>', items)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DelegatingSlideAdmin(SlideAdmin):
    """The slide admin, with an action that delegates the selected slides."""

    actions = [*SlideAdmin.actions, "delegate"]

    class Media:
        css = ADMIN_CSS

    @admin.action(description="Delegate selected slides…", permissions=["view"])
    def delegate(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:tasks_task_delegate") + f"?slides={ids}")


admin.site.unregister(Slide)
admin.site.register(Slide, DelegatingSlideAdmin)


class RoleFilter(admin.SimpleListFilter):
    """The people in one of the roles of tasks.roles, or in none."""

    title = "role"
    parameter_name = "role"
    NONE = "none"

    def lookups(self, request, model_admin):
        return [(name, name) for name in roles.ROLE_PERMISSIONS] + [(self.NONE, "No role")]

    def queryset(self, request, queryset):
        if self.value() == self.NONE:
            return queryset.exclude(groups__name__in=list(roles.ROLE_PERMISSIONS))
        if self.value() in roles.ROLE_PERMISSIONS:
            return queryset.filter(groups__name=self.value())
        return queryset


class RolesUserAdmin(UserAdmin):
    """Django's user admin, with each person's roles (tasks.roles) as a column and a filter."""

    # One name column rather than Django's two, so that the roles and staff columns fit.
    list_display = ["username", "full_name", "email", "role_names", "is_staff"]
    list_filter = [RoleFilter, "is_staff", "is_superuser", "is_active"]

    class Media:
        css = ADMIN_CSS

    def get_queryset(self, request):
        in_roles = Group.objects.filter(name__in=list(roles.ROLE_PERMISSIONS)).order_by("name")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("groups", queryset=in_roles, to_attr="roles"))
        )

    @admin.display(description="name", ordering="last_name")
    def full_name(self, user):
        return user.get_full_name() or "—"

    @admin.display(description="roles")
    def role_names(self, user):
        return ", ".join(group.name for group in user.roles) or "—"


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), RolesUserAdmin)
