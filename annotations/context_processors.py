"""What the annotations app adds to the plain slide viewer, which the slides app renders.

The slides app knows nothing of annotations (dependencies run slides <- tasks <- annotations):
its template shows the layer panel when ``layer_config`` is set, and this processor sets it to
the annotation layers the person sees on the slide, read-only there (editing happens on the
work page), with the URLs of the slide's uploaded layers, which the page fetches (the layers
app builds on this one, so only its URL names are used here). A context processor, as
tasks.context_processors is, so that slides needs no hook.
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
    # Given even without annotation layers: the page asks for the uploaded ones, and shows
    # the layer panel only when there is a layer.
    layers = selectors.annotation_layers(user=request.user, slide=slide)
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
        # The annotation URL's prefix (an id follows): where false negatives are fetched.
        "urls": {**layer_urls(slide), "annotation": _prefix("annotations:annotation")},
    }


# Reversed in place of ids, then replaced by "{layer}" and "{feature}" for the page's modules.
_LAYER, _FEATURE = 999999998, 999999999


def _prefix(name: str) -> str:
    one = reverse(name, args=[_LAYER])
    return one[: one.rindex(str(_LAYER))]


def layer_urls(slide: Slide) -> dict:
    """Where a page's modules find the slide's layers and act on one: the list, and templates
    with "{layer}" and "{feature}" for one layer, its comparison, one feature and its promotion."""

    def template(name: str, *args: int) -> str:
        url = reverse(name, args=args)
        return url.replace(str(_LAYER), "{layer}").replace(str(_FEATURE), "{feature}")

    return {
        "layers": reverse("layers:slide_layers", args=[slide.pk]),
        "layer": template("layers:layer", _LAYER),
        "layerMetrics": template("layers:layer_metrics", _LAYER),
        "layerFeature": template("layers:layer_feature", _LAYER, _FEATURE),
        "featurePromote": template("layers:feature_promote", _LAYER, _FEATURE),
    }
