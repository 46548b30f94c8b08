"""What the annotations app adds to the plain slide viewer, which the slides app renders.

The slides app knows nothing of annotations (dependencies run slides <- tasks <- annotations):
its template shows the layer panel when ``layer_config`` is set, and this processor sets it to
the annotation layers the person sees on the slide, read-only there (editing happens on the
work page). A context processor, as tasks.context_processors is, so that slides needs no hook.
"""

from django.http import HttpRequest
from django.urls import reverse

from annotations import selectors
from slides.models import Slide
from slides.permissions import user_can_view_slide
from tasks.models import Label

SLIDE_VIEWER = "slides:viewer"


def viewer_layers(request: HttpRequest) -> dict:
    """On the plain slide viewer, the layers of annotations the person may see there."""
    match = request.resolver_match
    if match is None or match.view_name != SLIDE_VIEWER or not request.user.is_authenticated:
        return {}
    slide = Slide.objects.filter(pk=match.kwargs["slide_id"]).first()
    # The viewer has checked already; asked again so that nothing here depends on the order.
    if slide is None or not user_can_view_slide(request.user, slide):
        return {}
    layers = selectors.annotation_layers(user=request.user, slide=slide)
    if not layers:
        return {}
    return {"layer_config": _config(slide, layers)}


def _config(slide: Slide, layers: list[dict]) -> dict:
    project_ids = {layer["task"]["project"] for layer in layers}
    labels = Label.objects.filter(project_id__in=project_ids)
    return {
        "slideId": slide.pk,
        "mpp": slide.mpp,
        "layers": layers,
        "labels": [
            {"id": label.pk, "name": label.name, "colour": label.colour} for label in labels
        ],
        "urls": {"layers": reverse("annotations:slide_layers", args=[slide.pk])},
    }
