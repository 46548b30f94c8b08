"""Undo of "Done": the next page (the next slide, or the status page) offers it once."""

from django.http import HttpRequest

from tasks import selectors
from tasks.models import AssignmentSlide

# The slide the last request marked done: the next page (the next slide, or the status page)
# offers to take it back, once. Kept in the session rather than in a message, which holds only
# text: the Undo button needs the slide, checked again when it is shown.
UNDO_KEY = "tasks.undo_done"


def undo_offer(request: HttpRequest, item: AssignmentSlide) -> None:
    request.session[UNDO_KEY] = [item.assignment_id, item.slide_id]


def undo_take(request: HttpRequest) -> AssignmentSlide | None:
    """The slide offered for undo, if it is still the person's and still done."""
    offered = request.session.pop(UNDO_KEY, None)
    if not (isinstance(offered, list) and len(offered) == 2):
        return None
    assignment_id, slide_id = offered
    return selectors.done_slide_of(
        user=request.user, assignment_id=assignment_id, slide_id=slide_id
    )
