"""The work page: one slide of one's own assignment in the viewer, with the annotation editor."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from annotations import selectors
from annotations.context_processors import layer_urls
from annotations.permissions import edit_refusal
from slides.views import render_viewer
from tasks import selectors as task_selectors
from tasks import services as task_services
from tasks import undo
from tasks.models import AssignmentSlide
from tasks.permissions import get_assignment_slide_for_user

# Reversed in place of an annotation id, then cut off, to give the editor the URL prefix.
_ID_PLACEHOLDER = 999999999


def editor_config(*, user, item: AssignmentSlide, labels) -> dict:
    """Settings of the annotation editor, in the shape docs/annotations-spec.md gives."""
    slide = item.slide
    one = reverse("annotations:annotation", args=[_ID_PLACEHOLDER])
    read_only = edit_refusal(user=user, assignment=item.assignment, slide_state=item.state)
    return {
        "slideId": slide.pk,
        "assignmentId": item.assignment_id,
        "readOnly": bool(read_only),
        "readOnlyReason": read_only,
        "mpp": slide.mpp,
        "width": slide.width,
        "height": slide.height,
        "labels": selectors.labels_config(labels),
        "layers": selectors.annotation_layers(user=user, slide=slide),
        "urls": {
            "annotations": reverse("annotations:slide_annotations", args=[slide.pk]),
            "stats": reverse("annotations:slide_stats", args=[slide.pk]),
            "annotation": one[: one.rindex(str(_ID_PLACEHOLDER))],
            # The slide's uploaded layers (the list, one layer, comparisons, promotion).
            **layer_urls(slide),
        },
    }


@require_GET
def work(request: HttpRequest, assignment_id: int, slide_id: int) -> HttpResponse:
    """The viewer for one slide of one's own assignment, with the task alongside."""
    item = get_assignment_slide_for_user(request.user, assignment_id, slide_id)
    page = task_selectors.work_url_name(item.assignment)
    if page != request.resolver_match.view_name:
        # A review assignment's slide is worked on in the reviewer's viewer.
        return redirect(reverse(page, args=[assignment_id, slide_id]))
    context = {**work_open_context(request, item), "undo": undo.undo_take(request)}
    return render_viewer(request, item.slide, "annotations/work.html", context)


def work_open_context(request: HttpRequest, item: AssignmentSlide) -> dict:
    """Open the slide of ``item`` for work (counted as opened while the assignment is open) and
    give what every work page shows: the task, the labels, the editor, the place in the task."""
    if item.assignment.is_open:
        task_services.work_open(item=item)
    position, count = task_selectors.position_in(item)
    labels = list(item.assignment.task.project.labels.active())
    return {
        "item": item,
        "assignment": item.assignment,
        "task": item.assignment.task,
        "labels": labels,
        "editor_config": editor_config(user=request.user, item=item, labels=labels),
        "position": position,
        "count": count,
        "next_item": task_selectors.next_slide_in(item.assignment, item),
        "heartbeat_seconds": task_services.HEARTBEAT_SECONDS,
    }
