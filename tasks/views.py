import csv

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from slides.converters import parse_number
from tasks import selectors, services, undo
from tasks.models import AssignmentSlide, Project, Task
from tasks.permissions import (
    get_assignment_slide_for_user,
    get_project_for_manager,
    is_manager,
    managed_projects,
)

SLIDES_PER_PAGE = 24


def _work_url(item: AssignmentSlide) -> str:
    """The page where the assignee works on the slide: the editor, or the reviewer's viewer."""
    name = selectors.work_url_name(item.assignment)
    return reverse(name, args=[item.assignment_id, item.slide_id])


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The status page: progress per task, what is left, and the Continue button."""
    assignments = list(selectors.assignments_of(request.user))
    labels = selectors.labels_by_project(a.task.project for a in assignments)
    for assignment in assignments:
        assignment.labels = labels[assignment.task.project_id]
    context = {
        "assignments": assignments,
        "next_item": selectors.next_slide_for(request.user),
        "total": sum(a.total for a in assignments),
        "done": sum(a.done for a in assignments),
        "is_manager": is_manager(request.user),
        "undo": undo.undo_take(request),
    }
    return render(request, "tasks/home.html", context)


@require_GET
def continue_work(request: HttpRequest) -> HttpResponse:
    """Open the next slide; with none left, the status page says why (all done, or none given)."""
    item = selectors.next_slide_for(request.user)
    return redirect("home" if item is None else _work_url(item))


@require_GET
def my_slides(request: HttpRequest) -> HttpResponse:
    items = selectors.assignment_slides_of(
        request.user, search=request.GET.get("search", "")[:200], show=request.GET.get("show", "")
    )
    page = Paginator(items, SLIDES_PER_PAGE).get_page(request.GET.get("page"))
    for item in page:
        item.work_url = _work_url(item)
    return render(
        request,
        "tasks/my_slides.html",
        {
            "page": page,
            "search": request.GET.get("search", ""),
            "show": request.GET.get("show", ""),
        },
    )


@require_POST
def done(request: HttpRequest, assignment_id: int, slide_id: int) -> HttpResponse:
    """Mark the slide done and open the next one (or the status page when none is left)."""
    item = get_assignment_slide_for_user(request.user, assignment_id, slide_id)
    if not item.assignment.is_open:
        messages.error(request, "This assignment is closed; reopen the slide to change it.")
        return redirect(_work_url(item))
    services.work_done(item=item)
    undo.undo_offer(request, item)
    following = selectors.next_slide_in(item.assignment, item)
    if following is None:
        messages.success(request, f"All slides of “{item.assignment.task.name}” are done.")
        return redirect("home")
    return redirect(_work_url(following))


@require_POST
def reopen(request: HttpRequest, assignment_id: int, slide_id: int) -> HttpResponse:
    item = get_assignment_slide_for_user(request.user, assignment_id, slide_id)
    services.work_reopen(item=item, actor=request.user)
    messages.info(request, f"“{item.slide.name}” is open for work again.")
    return redirect(_work_url(item))


@require_POST
def heartbeat(request: HttpRequest, assignment_id: int, slide_id: int) -> JsonResponse:
    """Count the time on the slide since the last count (``seconds``: how long it was visible)."""
    item = get_assignment_slide_for_user(request.user, assignment_id, slide_id)
    seconds = parse_number(request.POST.get("seconds", ""))
    if seconds is None:
        return JsonResponse({"error": "seconds must be a whole number."}, status=400)
    if item.assignment.is_open:
        services.work_add_time(item=item, seconds=seconds)
    return JsonResponse({"time_spent": item.time_spent.total_seconds()})


@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    if not is_manager(request.user):
        raise PermissionDenied("Only project managers see the progress of projects.")
    projects = selectors.projects_with_progress().filter(pk__in=managed_projects(request.user))
    return render(request, "tasks/project_list.html", {"projects": projects})


@require_GET
def project_overview(request: HttpRequest, project_id: int) -> HttpResponse:
    """Progress per task and per person, the slide × annotator states of one task (``?task=``,
    the first by default; ``?page=`` of its slides), unassigned slides; ``?format=csv``
    downloads the progress per person."""
    project = get_project_for_manager(request.user, project_id)
    overview = selectors.project_overview(project)
    if request.GET.get("format") == "csv":
        return _overview_csv(project, overview["people"])
    raw_task = request.GET.get("task", "")
    task_id = parse_number(raw_task, low=1)
    if raw_task and task_id is None:
        return HttpResponseBadRequest("task must be the id of one of this project's tasks.")
    task = _matrix_task(project, task_id)
    matrix = (
        None if task is None else selectors.state_matrix(task=task, page=request.GET.get("page"))
    )
    context = {"project": project, "matrix": matrix, **overview}
    return render(request, "tasks/project_overview.html", context)


def _matrix_task(project: Project, task_id: int | None) -> Task | None:
    """The task whose matrix is shown: the one asked for (404 if not the project's), else the
    first."""
    if task_id is None:
        return project.tasks.first()
    task = project.tasks.filter(pk=task_id).first()
    if task is None:
        raise Http404("This project has no such task.")
    return task


# A cell starting with one of these is a formula to a spreadsheet (OWASP, "CSV Injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    """A text cell that a spreadsheet shows as text: a leading quote defuses a formula."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _overview_csv(project: Project, people) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="project-{project.pk}-progress.csv"'
    writer = csv.writer(response)
    writer.writerow(["task", "assignee", "state", "done", "total", "percent", "last_activity"])
    for row in people:
        percent = round(100 * row.done / row.total, 1) if row.total else 0
        last = row.last_activity.isoformat() if row.last_activity else ""
        texts = [row.task.name, row.assignee.get_username(), row.state]
        writer.writerow([*map(_csv_text, texts), row.done, row.total, percent, _csv_text(last)])
    return response
