"""What the review app adds to pages it does not render itself.

The project overview belongs to the tasks app, which must not import review (dependencies run
tasks <- annotations <- review): its template includes review/agreement_summary.html when this
processor has put ``agreement_summary`` in the context. The annotator's work page belongs to the
annotations app, which must not import review either: ``feedback`` gives it ``feedback_config``.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from review import agreement, selectors
from tasks.permissions import get_assignment_slide_for_user, get_project_for_manager

PROJECT_OVERVIEW = "tasks:project_overview"


def agreement_summary(request: HttpRequest) -> dict:
    """On the project overview, agreement per annotation task, from cached results and what
    ``agreement.SUMMARY_BUDGET_SECONDS`` can compute.

    Lazy: nothing is read unless the template uses it (an error page rendered for the same URL
    does not), and the access check is made again first, as every view makes it.
    """
    match = request.resolver_match
    if match is None or match.view_name != PROJECT_OVERVIEW or not request.user.is_authenticated:
        return {}
    project_id = match.kwargs["project_id"]
    return {"agreement_summary": SimpleLazyObject(lambda: _summary(request, project_id))}


def _summary(request: HttpRequest, project_id: int) -> dict | None:
    try:
        project = get_project_for_manager(request.user, project_id)
    except (Http404, PermissionDenied):
        return None
    report = agreement.project_agreement(
        project=project, budget_seconds=agreement.SUMMARY_BUDGET_SECONDS
    )
    if not report.tasks:
        return None
    url = reverse("review:project_agreement", args=[project.pk])
    return {
        "url": url,
        "missing": report.missing,
        "tasks": [
            {
                "task": item.task,
                "dice": item.overall.mean_dice,
                "f1": item.overall.objects.f1,
                "slides": len(item.slides),
                "missing": item.missing,
                "url": f"{url}?task={item.task.pk}",
            }
            for item in report.tasks
        ],
    }


# --- The annotator's feedback on the work page ---

ANNOTATION_WORK = "annotations:work"


def feedback(request: HttpRequest) -> dict:
    """On the annotator's work page, what reviewers said about their work on the slide
    (``feedback_config``, rendered by annotations/work.html), when they said anything.

    The access check is the work page's own (the person's own assignment), made again here so
    that nothing depends on the order; an error page for the same URL gets nothing.
    """
    match = request.resolver_match
    if match is None or match.view_name != ANNOTATION_WORK or not request.user.is_authenticated:
        return {}
    try:
        item = get_assignment_slide_for_user(
            request.user, match.kwargs["assignment_id"], match.kwargs["slide_id"]
        )
    except Http404:
        return {}
    where = {"assignment": item.assignment, "slide": item.slide_id}
    if not selectors.has_feedback(**where):
        return {}
    url = reverse("review_api:feedback", args=[item.slide_id])
    return {
        "feedback_config": {
            "assignment": item.assignment_id,
            **selectors.feedback_for(**where),
            "urls": {"feedback": f"{url}?assignment={item.assignment_id}"},
        }
    }
