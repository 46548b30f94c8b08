"""What the tasks app adds to pages it does not render itself.

The slide viewer belongs to the slides app, which knows nothing of tasks (dependencies run
slides <- tasks <- annotations): its template shows the links listed in ``viewer_actions``,
and this processor fills that list with the person's open work on the slide. A context
processor rather than a hook of slides.views: it needs no code in slides at all, and it adds
one comparison of the URL name to every other page.
"""

from django.http import HttpRequest
from django.urls import reverse

from tasks import selectors
from tasks.models import AssignmentSlide, Task

SLIDE_VIEWER = "slides:viewer"


def work_links(request: HttpRequest) -> dict:
    """On the plain slide viewer, offer "Annotate" for each of the person's open assignments
    that hold the slide (the viewer itself has checked that they may see it)."""
    match = request.resolver_match
    if match is None or match.view_name != SLIDE_VIEWER or not request.user.is_authenticated:
        return {}
    items = list(selectors.open_work_on(user=request.user, slide_id=match.kwargs["slide_id"]))
    return {"viewer_actions": [_action(item, several=len(items) > 1) for item in items]}


def _action(item: AssignmentSlide, *, several: bool) -> dict:
    task = item.assignment.task.name
    done = item.state == AssignmentSlide.State.DONE
    reviewing = item.assignment.task.kind == Task.Kind.REVIEW
    label = "Open your work" if done else ("Review" if reviewing else "Annotate")
    where = "the reviewer's viewer" if reviewing else "the annotation editor"
    name = selectors.work_url_name(item.assignment)
    return {
        "label": f"{label}: {task}" if several else label,
        "url": reverse(name, args=[item.assignment_id, item.slide_id]),
        "title": (
            f"You marked this slide done in “{task}”: open it there to look again or reopen it"
            if done
            else f"Open this slide in {where}, in your task “{task}”"
        ),
    }
