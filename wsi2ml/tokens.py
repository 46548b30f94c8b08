"""Personal API tokens: made, revoked, and checked when a script presents one.

A token is ``wsi2ml_`` and 43 URL-safe characters (32 random bytes). The database keeps its
first characters (to tell tokens apart) and the SHA-256 digest of the whole token; the token is
shown once, to its owner, and can never be read back.
"""

import hashlib
import logging
import re
import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.formats import date_format

from wsi2ml.api import ApiError
from wsi2ml.models import ApiToken

logger = logging.getLogger(__name__)

TOKEN_START = "wsi2ml_"
TOKEN_PATTERN = re.compile(r"wsi2ml_[A-Za-z0-9_-]{43}")
# The token's start shown to its owner: "wsi2ml_" and 5 of its 43 random characters, leaving
# 38 (228 bits) unknown to whoever sees the list.
PREFIX_LENGTH = len(TOKEN_START) + 5
NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length
# Live (neither revoked nor expired) tokens a user may hold: enough for every script and
# machine, few enough that forgotten ones get noticed and revoked.
MAX_LIVE_TOKENS = 20
# How stale last_used_at may be: see _record_use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenRefused(ApiError):
    """A token that cannot be made as asked; ``field`` names the form field at fault."""


class ApiTokenInvalid(ApiError):
    """A presented token (or Authorization header) that does not authenticate anyone."""

    status = 401


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(
    *, user: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Make a token for ``user``; return the row and the token, which is not stored anywhere.

    Refuses (ApiTokenRefused) an empty or too long name, an expiry not in the future, and an
    owner who already holds MAX_LIVE_TOKENS live tokens.
    """
    name = name.strip()
    if not name:
        raise ApiTokenRefused("Name the token: say what it is for.", field="name")
    if len(name) > NAME_MAX_LENGTH:
        message = f"The name is {len(name)} characters long; keep it to {NAME_MAX_LENGTH}."
        raise ApiTokenRefused(message, field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise ApiTokenRefused("The expiry is in the past; choose a later one.", field="expires")
    secret = TOKEN_START + secrets.token_urlsafe(32)
    with transaction.atomic():
        # Locking the owner's row makes two simultaneous requests count one after the other.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if ApiToken.objects.live().filter(user=user).count() >= MAX_LIVE_TOKENS:
            message = (
                f"You already have {MAX_LIVE_TOKENS} active tokens, the most one may hold; "
                "revoke one you no longer use first."
            )
            raise ApiTokenRefused(message)
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:PREFIX_LENGTH],
            digest=digest_of(secret),
            expires_at=expires_at,
        )
    return token, secret


def api_token_revoke(*, token: ApiToken, by: AbstractBaseUser) -> bool:
    """Revoke ``token`` from now on, for ``by`` (its owner or an admin, checked by the caller).

    Return False, changing nothing, when it was revoked already.
    """
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db(fields=["revoked_at"])
    if revoked:
        logger.info(
            "API token %s (%s) of %s revoked by %s", token.pk, token.prefix, token.user_id, by
        )
    return bool(revoked)


def api_token_authenticate(header_value: str) -> ApiToken:
    """The live token of an active user that an ``Authorization: Bearer <token>`` value names.

    Raises ApiTokenInvalid, with a message for the script's author, for another scheme, a
    malformed token, an unknown or revoked one, an expired one, or one whose owner is
    deactivated. Records the use (last_used_at).
    """
    scheme, _, presented = header_value.strip().partition(" ")
    # The scheme is case-insensitive (RFC 9110, 11.1).
    if scheme.lower() != "bearer":
        raise ApiTokenInvalid('Send the token as "Authorization: Bearer <token>".')
    presented = presented.strip()
    if not TOKEN_PATTERN.fullmatch(presented):
        raise ApiTokenInvalid(
            'The API token is malformed: it is "wsi2ml_" followed by 43 letters, digits, '
            '"-" or "_", as the profile page showed it.'
        )
    # Found by the digest of the whole token, through a unique index: how long the lookup takes
    # tells nothing about any stored token's characters.
    token = ApiToken.objects.select_related("user").filter(digest=digest_of(presented)).first()
    if token is None:
        raise ApiTokenInvalid("Unknown API token: check it, or make a new one.")
    _check_usable(token)
    _record_use(token)
    return token


def _check_usable(token: ApiToken) -> None:
    # Saying why a known token fails tells nothing new: only its holder can present it.
    if token.revoked_at is not None:
        raise ApiTokenInvalid(f"This API token was revoked on {_when(token.revoked_at)}.")
    if token.expires_at is not None and token.expires_at <= timezone.now():
        raise ApiTokenInvalid(f"This API token expired on {_when(token.expires_at)}.")
    if not token.user.is_active:
        raise ApiTokenInvalid("The owner of this API token is deactivated.")


def _when(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "Y-m-d H:i T")


def _record_use(token: ApiToken) -> None:
    """Set last_used_at to now, unless it was set within LAST_USED_RESOLUTION.

    The owner wants to know which tokens are still in use, not each request: a script fetching
    many URLs would otherwise write (and lock) the token's row once per request, and its
    parallel requests would queue on that lock. The filtered UPDATE writes at most once a
    minute per token, and of several requests in the same minute only one writes.
    """
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    if ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now):
        token.last_used_at = now


def get_api_token_for_owner(user: AbstractBaseUser, token_id: int) -> ApiToken:
    """The token ``token_id`` of ``user``; Http404 for anyone else's, as for none at all."""
    token = ApiToken.objects.filter(pk=token_id, user_id=user.pk).first()
    if token is None:
        raise Http404("No such API token.")
    return token


def api_tokens_of(user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's tokens, newest first, revoked and expired ones included."""
    return ApiToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")
