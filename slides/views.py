import logging

from csp.decorators import csp_exempt
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotModified,
)
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from slides import grants, selectors, tiles
from slides.converters import parse_number
from slides.deepzoom import (
    THUMBNAIL_MAX,
    THUMBNAIL_MIN,
    OpenedSlide,
    SlideUnavailable,
    TileNotFound,
)
from slides.forms import SlideFilterForm
from slides.models import Slide
from slides.permissions import get_slide_for_user

logger = logging.getLogger(__name__)

SLIDES_PER_PAGE = 24


def _open(slide_id: int, slide: Slide | None = None) -> OpenedSlide:
    """Open the slide's file, turning any failure into a logged 404."""
    try:
        return tiles.open_slide(slide_id, slide)
    except SlideUnavailable as exc:
        logger.warning("slide %s unavailable: %s", slide_id, exc)
        raise Http404("The slide file is missing or cannot be read.") from exc


def _image_response(request: HttpRequest, reply_for) -> HttpResponse:
    """Turn an ImageReply into a response; missing tiles and failing files become 404."""
    try:
        reply = reply_for(request.headers.get("If-None-Match", ""))
    except TileNotFound as exc:
        raise Http404(str(exc)) from exc
    except SlideUnavailable as exc:
        logger.warning("cannot render an image: %s", exc)
        raise Http404("The slide file is missing or cannot be read.") from exc
    if reply.status == 304:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(reply.body, content_type="image/jpeg")
    response["ETag"] = reply.etag
    response["Cache-Control"] = f"private, max-age={settings.TILE_BROWSER_MAX_AGE}"
    return response


@require_GET
def slide_list(request: HttpRequest) -> HttpResponse:
    form = SlideFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    slides = selectors.slide_list_for_user(user=request.user, **filters)
    page = Paginator(slides, SLIDES_PER_PAGE).get_page(request.GET.get("page"))
    vendors = selectors.vendors_in(selectors.slide_list_for_user(user=request.user))
    return render(
        request, "slides/slide_list.html", {"form": form, "page": page, "vendors": vendors}
    )


def render_viewer(
    request: HttpRequest, slide: Slide, template: str = "slides/viewer.html", context=None
) -> HttpResponse:
    """Render a viewer page for an authorised slide and grant the session its tiles."""
    config = {
        "id": slide.pk,
        "name": slide.name,
        "dziUrl": reverse("slides:dzi", args=[slide.pk]),
        "mpp": slide.mpp,
        "objectivePower": slide.objective_power,
        "width": slide.width,
        "height": slide.height,
        "readable": slide.is_readable,
    }
    response = render(
        request, template, {"slide": slide, "viewer_config": config, **(context or {})}
    )
    grants.grant_tiles(response, request, slide.pk)
    return response


@require_GET
def viewer(request: HttpRequest, slide_id: int) -> HttpResponse:
    return render_viewer(request, get_slide_for_user(request.user, slide_id))


@require_GET
def dzi(request: HttpRequest, slide_id: int) -> HttpResponse:
    slide = get_slide_for_user(request.user, slide_id)
    opened = _open(slide.pk, slide)
    etag = tiles.etag_for(opened, "dzi")
    if tiles.etag_matches(request.headers.get("If-None-Match", ""), etag):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(opened.dzi(), content_type="application/xml")
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    grants.grant_tiles(response, request, slide.pk)
    return response


@csp_exempt()
@login_not_required
@require_GET
def tile(request: HttpRequest, slide_id: int, level: int, col: int, row: int) -> HttpResponse:
    """Serve one Deep Zoom tile after the full check, and grant the session this slide's tiles.

    Requests that already hold a valid grant are answered by slides.fastpath before Django's
    middleware; the grant check here covers servers run without that wrapper.
    """
    granted = grants.has_tile_grant(request.COOKIES, slide_id)
    slide = None
    if not granted:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        slide = get_slide_for_user(request.user, slide_id)
    response = _image_response(
        request, lambda etags: tiles.tile_reply(slide_id, level, col, row, etags, slide)
    )
    if not granted:
        grants.grant_tiles(response, request, slide_id)
    return response


@csp_exempt()
@require_GET
def thumbnail(request: HttpRequest, slide_id: int) -> HttpResponse:
    slide = get_slide_for_user(request.user, slide_id)
    size = parse_number(request.GET.get("size", "256"), low=THUMBNAIL_MIN, high=THUMBNAIL_MAX)
    if size is None:
        return HttpResponseBadRequest(
            f"size must be a whole number of pixels between {THUMBNAIL_MIN} and {THUMBNAIL_MAX}."
        )
    opened = _open(slide.pk, slide)
    etag = tiles.etag_for(opened, "thumbnail", size)
    return _image_response(
        request,
        lambda etags: tiles.image_reply(
            opened, etag, lambda: tiles.thumbnail_jpeg(slide.pk, opened, size), etags
        ),
    )


@csp_exempt()
@require_GET
def associated(request: HttpRequest, slide_id: int, name: str) -> HttpResponse:
    slide = get_slide_for_user(request.user, slide_id)
    if name not in slide.associated_images:
        raise Http404("This slide has no such associated image.")
    opened = _open(slide.pk, slide)
    etag = tiles.etag_for(opened, "associated", name)
    return _image_response(
        request,
        lambda etags: tiles.image_reply(
            opened, etag, lambda: tiles.associated_jpeg(slide.pk, opened, name), etags
        ),
    )
