import logging

from csp.decorators import csp_exempt
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_GET

from slides import grants, selectors, tiles
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


def _image_response(
    request: HttpRequest, opened: OpenedSlide, etag: str, render, max_age: int
) -> HttpResponse:
    """Answer 304 when the client's copy is current; otherwise render and send the JPEG."""
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is None:
        try:
            data = render()
        except TileNotFound as exc:
            raise Http404(str(exc)) from exc
        except SlideUnavailable as exc:
            tiles.slide_cache().discard(opened.path)
            logger.warning("cannot render from %s: %s", opened.path, exc)
            raise Http404("The slide file is missing or cannot be read.") from exc
        response = HttpResponse(data, content_type="image/jpeg")
    else:
        response = not_modified
    response["ETag"] = etag
    response["Cache-Control"] = f"private, max-age={max_age}"
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


@require_GET
def viewer(request: HttpRequest, slide_id: int) -> HttpResponse:
    slide = get_slide_for_user(request.user, slide_id)
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
    response = render(request, "slides/viewer.html", {"slide": slide, "viewer_config": config})
    grants.grant_tiles(response, request, slide.pk)
    return response


@require_GET
def dzi(request: HttpRequest, slide_id: int) -> HttpResponse:
    slide = get_slide_for_user(request.user, slide_id)
    opened = _open(slide.pk, slide)
    etag = tiles.etag_for(opened, "dzi")
    not_modified = get_conditional_response(request, etag=etag)
    response = not_modified or HttpResponse(opened.dzi(), content_type="application/xml")
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    grants.grant_tiles(response, request, slide.pk)
    return response


@csp_exempt()
@login_not_required
@require_GET
def tile(request: HttpRequest, slide_id: int, level: int, col: int, row: int) -> HttpResponse:
    """Serve one Deep Zoom tile; a valid grant cookie spares the session and permission lookups."""
    granted = grants.has_tile_grant(request, slide_id)
    slide = None
    if not granted:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        slide = get_slide_for_user(request.user, slide_id)
    opened = _open(slide_id, slide)
    etag = tiles.etag_for(opened, level, col, row)
    response = _image_response(
        request,
        opened,
        etag,
        lambda: tiles.tile_jpeg(slide_id, opened, level, col, row),
        settings.TILE_BROWSER_MAX_AGE,
    )
    if not granted:
        grants.grant_tiles(response, request, slide_id)
    return response


@csp_exempt()
@require_GET
def thumbnail(request: HttpRequest, slide_id: int) -> HttpResponse:
    slide = get_slide_for_user(request.user, slide_id)
    try:
        size = int(request.GET.get("size", 256))
    except ValueError:
        return HttpResponse("size must be a whole number of pixels.", status=400)
    if not THUMBNAIL_MIN <= size <= THUMBNAIL_MAX:
        return HttpResponse(
            f"size must be between {THUMBNAIL_MIN} and {THUMBNAIL_MAX} pixels.", status=400
        )
    opened = _open(slide.pk, slide)
    etag = tiles.etag_for(opened, "thumbnail", size)
    return _image_response(
        request,
        opened,
        etag,
        lambda: tiles.thumbnail_jpeg(slide.pk, opened, size),
        settings.TILE_BROWSER_MAX_AGE,
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
        opened,
        etag,
        lambda: tiles.associated_jpeg(slide.pk, opened, name),
        settings.TILE_BROWSER_MAX_AGE,
    )
