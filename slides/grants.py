"""
Signed, short-lived tile grants.

A viewer fetches hundreds of tiles a minute; checking the session and the object permission in
the database for each one costs more than cutting the tile. So once a request has passed the full
check (the viewer page, the DZI, or a tile fetched without a grant), the response carries a cookie
scoped to that slide's tile folder (``/slides/<id>_files/``) that says "this session may read this
slide's tiles" until it expires. The grant is bound to the session cookie, so logging out or
logging in as someone else voids it, and it lives TILE_GRANT_SECONDS: the bound on how long a
revoked permission still lets tiles through.
"""

from collections.abc import Mapping

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

COOKIE_NAME = "wsi2ml_tiles"
_SALT = "wsi2ml.slides.grants"


def _session_digest(cookies: Mapping[str, str]) -> str:
    session_key = cookies.get(settings.SESSION_COOKIE_NAME, "")
    return salted_hmac(_SALT, session_key).hexdigest()[:24]


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def tile_cookie_path(slide_id: int) -> str:
    return reverse("slides:dzi", args=[slide_id]).removesuffix(".dzi") + "_files/"


def grant_tiles(response: HttpResponse, request: HttpRequest, slide_id: int) -> None:
    """Attach a grant for ``slide_id``; call only after a full permission check passed."""
    value = _signer().sign(f"{slide_id}:{request.user.pk}:{_session_digest(request.COOKIES)}")
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=settings.TILE_GRANT_SECONDS,
        path=tile_cookie_path(slide_id),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def has_tile_grant(cookies: Mapping[str, str], slide_id: int) -> bool:
    """Tell whether the cookies hold a valid, unexpired grant for this slide and session."""
    raw = cookies.get(COOKIE_NAME)
    if not raw:
        return False
    try:
        value = _signer().unsign(raw, max_age=settings.TILE_GRANT_SECONDS)
    except signing.BadSignature:
        return False
    granted_slide, _, digest = value.split(":", 2)
    return granted_slide == str(slide_id) and constant_time_compare(
        digest, _session_digest(cookies)
    )
