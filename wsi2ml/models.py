"""Personal API tokens: how a script reads the API as its owner (wsi2ml.tokens, ApiTokenMiddleware).

Only a SHA-256 digest of a token is stored: the token itself is shown once, when it is made,
and a copy of the database lets nobody call the API.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ApiTokenQuerySet(models.QuerySet):
    def live(self) -> "ApiTokenQuerySet":
        """Tokens that still authenticate: not revoked and not expired."""
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """One personal token of one user, valid until it expires or is revoked.

    Rows are kept after revocation, so that the owner and the admins see which tokens existed,
    when they were last used and when they stopped working.
    """

    # A token is worthless without its user, and holds nothing anyone else needs.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for.")
    # The first characters of the token, so that its owner can tell their tokens apart.
    prefix = models.CharField(max_length=16)
    # sha256 hex of the whole token: a token is looked up by the digest of what is presented.
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def state(self) -> str:
        """The state its owner and the admins see: "revoked", "expired" or "active"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"
