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

import threading
import time
from collections.abc import Mapping

from cachetools import LRUCache
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


def _verify(raw: str, session_key: str) -> tuple[str, float] | None:
    """Check a grant's signature, age and session; return (slide id, expiry time) or None."""
    signer = _signer()
    try:
        value = signer.unsign(raw, max_age=settings.TILE_GRANT_SECONDS)
    except signing.BadSignature:
        return None
    granted_slide, _, digest = value.split(":", 2)
    expected = _session_digest({settings.SESSION_COOKIE_NAME: session_key})
    if not constant_time_compare(digest, expected):
        return None
    issued = signing.b62_decode(raw.rsplit(signer.sep, 2)[-2])
    return granted_slide, issued + settings.TILE_GRANT_SECONDS


# Grants already verified, so that the tiles of one view cost two HMACs once, not per tile. An
# entry is only a memo of _verify's answer, expiry included; a forged cookie never enters it.
_verified: LRUCache = LRUCache(maxsize=20_000)
_verified_lock = threading.Lock()


def has_tile_grant(cookies: Mapping[str, str], slide_id: int) -> bool:
    """Tell whether the cookies hold a valid, unexpired grant for this slide and session."""
    raw = cookies.get(COOKIE_NAME)
    if not raw:
        return False
    key = (raw, cookies.get(settings.SESSION_COOKIE_NAME, ""))
    with _verified_lock:
        known = _verified.get(key)
    if known is None:
        known = _verify(*key)
        if known is None:
            return False
        with _verified_lock:
            _verified[key] = known
    granted_slide, expires = known
    return granted_slide == str(slide_id) and time.time() <= expires


def forget_verified_grants() -> None:
    with _verified_lock:
        _verified.clear()
