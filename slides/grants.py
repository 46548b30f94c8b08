"""
Signed, short-lived tile grants.

A viewer fetches hundreds of tiles a minute; checking the session and the object permission in
the database for each one costs more than cutting the tile. So once a request has passed the full
check (the viewer page, the DZI, or a tile fetched without a grant), the response carries a cookie
scoped to that slide's tile folder (``/slides/<id>_files/``) that says "this session may read this
slide's tiles" until it expires. The grant is bound to the session cookie, so it is worth nothing
in another session, and it lives TILE_GRANT_SECONDS: the bound on how long a revoked permission
still lets tiles through.

Logging out, a password change and deactivating an account void grants at once: each is written
to a revocation list in the "default" cache (Redis in production), which every grant check reads
in one round trip, with no database query. Entries live only as long as a grant. A list that
cannot be read fails closed (the request gets Django's full check), and one that was emptied
(Redis restarted or flushed) voids every grant issued before, since it may have lost entries.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from functools import cache, partial
from typing import NamedTuple

from cachetools import LRUCache, TTLCache
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from slides import sharedcache

logger = logging.getLogger(__name__)

COOKIE_NAME = "wsi2ml_tiles"
_SALT = "wsi2ml.slides.grants"


def _session_digest(cookies: Mapping[str, str]) -> str:
    return _digest_of(cookies.get(settings.SESSION_COOKIE_NAME, ""))


def _digest_of(session_key: str) -> str:
    return salted_hmac(_SALT, session_key).hexdigest()[:24]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def tile_cookie_path(slide_id: int) -> str:
    return reverse("slides:dzi", args=[slide_id]).removesuffix(".dzi") + "_files/"


def grant_tiles(response: HttpResponse, request: HttpRequest, slide_id: int) -> None:
    """Attach a grant for ``slide_id``; call only after a full permission check passed."""
    digest = _session_digest(request.COOKIES)
    _epoch_ensure()
    value = _signer().sign(f"{slide_id}:{request.user.pk}:{_now_ms()}:{digest}")
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=settings.TILE_GRANT_SECONDS,
        path=tile_cookie_path(slide_id),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


class Grant(NamedTuple):
    slide: str
    user: str
    issued_ms: int
    digest: str
    expires: float


def _verify(raw: str, session_key: str) -> Grant | None:
    """Check a grant's signature, age and session; return it or None."""
    signer = _signer()
    try:
        value = signer.unsign(raw, max_age=settings.TILE_GRANT_SECONDS)
        granted_slide, user, issued_ms, digest = value.split(":")
        issued_ms = int(issued_ms)
    except (signing.BadSignature, ValueError):  # ValueError: a grant of an older format
        return None
    if not constant_time_compare(digest, _digest_of(session_key)):
        return None
    issued = signing.b62_decode(raw.rsplit(signer.sep, 2)[-2])
    return Grant(granted_slide, user, issued_ms, digest, issued + settings.TILE_GRANT_SECONDS)


# Grants already verified, so that the tiles of one view cost two HMACs once, not per tile. An
# entry is only a memo of _verify's answer, expiry included; a forged cookie never enters it, and
# a revoked one is refused by _not_revoked whatever it says.
_verified: LRUCache = LRUCache(maxsize=20_000)
_verified_lock = threading.Lock()


def has_tile_grant(cookies: Mapping[str, str], slide_id: int) -> bool:
    """Tell whether the cookies hold a valid, unexpired, unrevoked grant for this slide and session.

    The signature is checked once per grant and process; the revocation list once per grant,
    process and TILE_REVOCATION_CHECK_MS.
    """
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
    if known.slide != str(slide_id) or time.time() > known.expires:
        return False
    return _revocation_lets_pass(key, known)


def forget_verified_grants() -> None:
    with _verified_lock:
        _verified.clear()
    _epoch_stale.clear()
    _unrevoked.cache_clear()


# --- revocation ------------------------------------------------------------------------------

_REVOKED_SESSION = "grants:revoked:session:"
_REVOKED_USER = "grants:revoked:user:"
# When the list started: a list without it was emptied and may have lost revocations.
_EPOCH = "grants:epoch"
# Set when a revocation could not be written: the next check that reaches the cache starts a new
# epoch, voiding every older grant, since that revocation is not in the list.
_epoch_stale = threading.Event()


def _revocation_seconds() -> int:
    # A grant's signature expires TILE_GRANT_SECONDS after the second it was issued in, so
    # an entry that outlives it by a second has outlived every grant it can concern.
    return settings.TILE_GRANT_SECONDS + 1


_clock = time.monotonic  # tests move it forward rather than wait


@cache
def _unrevoked() -> tuple[TTLCache, threading.Lock]:
    """Grants this process found unrevoked lately, reused for TILE_REVOCATION_CHECK_MS.

    Reading the list for every tile (one Redis round trip) took a cached tile from about 310 to
    about 560 µs of server CPU (bench/tiles.py, phase b); reused for 0.25 s, it costs one round
    trip per viewer, worker and quarter second. A revocation made in this process empties it,
    so there it holds at once; other workers see it within the interval.
    """
    ttl = settings.TILE_REVOCATION_CHECK_MS / 1000
    return TTLCache(maxsize=20_000, ttl=ttl, timer=lambda: _clock()), threading.Lock()


def _revocation_lets_pass(key: tuple[str, str], grant: Grant) -> bool:
    memo, lock = _unrevoked()
    with lock:
        if memo.get(key):
            return True
    if not _not_revoked(grant):
        return False
    with lock:
        memo[key] = True
    return True


def _not_revoked(grant: Grant) -> bool:
    """Tell whether the revocation list lets this grant pass; False when it cannot be read."""
    session_key, user_key = _REVOKED_SESSION + grant.digest, _REVOKED_USER + grant.user
    try:
        if _epoch_stale.is_set():
            _epoch_restart()
        found = sharedcache.default.run(
            lambda store: store.get_many([session_key, user_key, _EPOCH])
        )
    except sharedcache.CacheUnavailable:
        return False  # fail closed: Django's full check decides, and grants anew
    if _EPOCH not in found:
        # Emptied since the grant was issued (grant_tiles makes sure of an epoch first).
        return False
    return (
        session_key not in found
        and grant.issued_ms >= found[_EPOCH]
        and grant.issued_ms > found.get(user_key, -1)
    )


def _epoch_ensure() -> None:
    """Start the revocation list's epoch unless it runs, before a grant is issued."""
    with contextlib.suppress(sharedcache.CacheUnavailable):  # the grant then fails closed
        sharedcache.default.run(lambda store: store.add(_EPOCH, _now_ms(), timeout=None))


def _epoch_restart() -> None:
    sharedcache.default.run(lambda store: store.set(_EPOCH, _now_ms(), timeout=None))
    _epoch_stale.clear()


def _revoke(key: str, value: int) -> None:
    memo, lock = _unrevoked()
    with lock:
        memo.clear()
    try:
        sharedcache.default.run(lambda store: store.set(key, value, timeout=_revocation_seconds()))
    except sharedcache.CacheUnavailable:
        # Checks fail closed while the cache is down; once it answers, a new epoch stands in
        # for this lost entry.
        _epoch_stale.set()
        logger.warning("could not record a tile grant revocation; voiding all grants instead")


def grants_revoke_session(*, session_key: str) -> None:
    """Void every grant bound to this session key, at once."""
    _revoke(_REVOKED_SESSION + _digest_of(session_key), 1)


def grants_revoke_user(*, user_pk: object) -> None:
    """Void every grant of this user issued until now, in every session."""
    _revoke(_REVOKED_USER + str(user_pk), _now_ms())


def revoke_on_log_out(sender, request: HttpRequest | None, **kwargs) -> None:
    """Receive user_logged_out: void the grants of the session that is ending."""
    if request is None:
        return
    keys = {request.COOKIES.get(settings.SESSION_COOKIE_NAME, ""), request.session.session_key}
    for session_key in keys - {"", None}:
        grants_revoke_session(session_key=session_key)


def revoke_on_password_or_deactivation(
    sender, instance, raw: bool, update_fields, **kwargs
) -> None:
    """Receive the user model's pre_save: a new password or a deactivation voids all grants.

    Django then refuses the user's other sessions at their next request; this makes the tile
    fast path refuse them too. The revocation is written once the change is committed, so that
    no check still reading the old password can grant after it.
    """
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. last_login, saved at every log-in
    before = sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    if before["password"] != instance.password or (before["is_active"] and not instance.is_active):
        transaction.on_commit(partial(grants_revoke_user, user_pk=instance.pk))


def revoke_on_user_delete(sender, instance, **kwargs) -> None:
    """Receive the user model's post_delete: void the deleted account's grants."""
    transaction.on_commit(partial(grants_revoke_user, user_pk=instance.pk))
