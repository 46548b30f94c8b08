from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotations.views import work_open_context
from review import agreement
from review import selectors as review_selectors
from slides.converters import parse_number
from slides.views import render_viewer
from tasks.models import AssignmentSlide, Project, Task
from tasks.permissions import get_assignment_slide_for_user, get_project_for_manager

# --- Agreement pages ---

AGREEMENT_SLIDES_PER_PAGE = 50
_BAD_TASK = "task must be the id of one of this project's annotation tasks."


class _BadTask(ValueError):
    """``?task=`` is not an id at all (a 400; an id of no task of the project is a 404)."""


@require_GET
def project_agreement_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Agreement per annotation task, annotator pair and label, with the slides it comes from
    (all tasks, or only ``?task=``, whose slides are then paged with ``?page=``)."""
    project = get_project_for_manager(request.user, project_id)
    try:
        task = _agreement_task(project, request.GET.get("task", ""))
    except _BadTask:
        return HttpResponseBadRequest(_BAD_TASK)
    report = agreement.project_agreement(project=project, task=task)
    number = request.GET.get("page") if task else 1
    sections = [
        (item, Paginator(item.slides, AGREEMENT_SLIDES_PER_PAGE).get_page(number))
        for item in report.tasks
    ]
    context = {
        "project": project,
        "report": report,
        "sections": sections,
        "task": task,
        "tasks": project.tasks.filter(kind=Task.Kind.ANNOTATION),
        "budget": agreement.PAGE_BUDGET_SECONDS,
    }
    return render(request, "review/agreement_project.html", context)


@require_GET
def slide_agreement_page(request: HttpRequest, project_id: int, slide_id: int) -> HttpResponse:
    """Agreement of every pair of annotators of one slide in one task (``?task=``, else the
    first annotation task holding the slide), per label, with a link to both layers."""
    project = get_project_for_manager(request.user, project_id)
    try:
        task = _agreement_task(project, request.GET.get("task", ""), slide_id=slide_id)
    except _BadTask:
        return HttpResponseBadRequest(_BAD_TASK)
    task_slide = task.task_slides.select_related("slide").filter(slide_id=slide_id).first()
    if task_slide is None:
        raise Http404("This task has no such slide.")
    try:
        result = agreement.slide_agreement(task=task, slide=task_slide.slide)
    except agreement.AgreementTooLarge as exc:
        context = {"project": project, "task": task, "slide": task_slide.slide, "too_large": exc}
        return render(request, "review/agreement_slide.html", context)
    context = {
        "project": project,
        "task": task,
        "slide": task_slide.slide,
        "result": result,
        "pairs": agreement.slide_agreement_rows(task=task, result=result),
    }
    return render(request, "review/agreement_slide.html", context)


def _agreement_task(project: Project, raw: str, *, slide_id: int | None = None) -> Task | None:
    """The annotation task ``?task=`` names (404 if it is not one of the project's); without
    one, None, or for a slide the first of the project's annotation tasks holding it."""
    tasks = project.tasks.filter(kind=Task.Kind.ANNOTATION)
    if raw:
        task_id = parse_number(raw, low=1)
        if task_id is None:
            raise _BadTask(raw)
        task = tasks.filter(pk=task_id).first()
    elif slide_id is None:
        return None
    else:
        task = tasks.filter(task_slides__slide_id=slide_id).first()
    if task is None:
        raise Http404("This project has no such annotation task.")
    return task


# --- The reviewer's work page ---


def _own_review_slide(user: AbstractBaseUser, assignment_id: int, slide_id: int) -> AssignmentSlide:
    """The user's own progress row on a slide of their review assignment; 404 for any other (a
    manager follows a review through its layers and the overview, not on the reviewer's page)."""
    item = get_assignment_slide_for_user(user, assignment_id, slide_id)
    if item.assignment.task.kind != Task.Kind.REVIEW:
        raise Http404("No such slide in your reviews.")
    return item


@require_GET
def work(request: HttpRequest, assignment_id: int, slide_id: int) -> HttpResponse:
    """The reviewer's viewer for one slide: the work under review as layers, a verdict on each
    annotation in turn, and the reviewer's own layer for the regions the annotators missed."""
    item = _own_review_slide(request.user, assignment_id, slide_id)
    context = {
        **work_open_context(request, item),
        "review_config": review_selectors.review_config(item=item),
    }
    return render_viewer(request, item.slide, "review/work.html", context)
