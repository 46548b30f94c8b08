"""How log-in is throttled and passwords are reset: the hooks django-axes and Django's auth call.

Throttling itself is django-axes (settings ``AXES_*``); this module tells it who the client is and
what a locked-out person sees, and keeps the password reset page honest about e-mail.
"""

import ipaddress
import math
from datetime import datetime

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator

DUMMY_EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"


def client_ip(request: HttpRequest) -> str | None:
    """Return the address failures are counted against (axes' ``AXES_CLIENT_IP_CALLABLE``).

    Without trusted proxies it is the connection's address. Each of ``TRUSTED_PROXY_COUNT``
    proxies appends the address it was reached from to X-Forwarded-For, so the entry that many
    places from the right is the client as the outermost proxy saw it; entries to its left were
    written by the client and are ignored, or anyone could pick a fresh address per guess.
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    if count <= 0 or len(forwarded) < count:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-count].strip()))
    except ValueError:
        return remote


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """Answer a locked-out log-in with the log-in page and how long to wait (axes' callable).

    Used for the admin's log-in too: the form then leads back to the admin.
    """
    wait = lockout_end(request=request, credentials=credentials) - timezone.now()
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    admin = request.path == reverse("admin:login")
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "next": request.POST.get("next") or (reverse("admin:index") if admin else ""),
        "lockout_minutes": max(1, math.ceil(wait.total_seconds() / 60)),
    }
    return render(request, "registration/login.html", context, status=429)


def lockout_end(*, request: HttpRequest, credentials: dict | None) -> datetime:
    """Return when axes will let this account and address try again.

    Axes counts the failures of the attempts (one row per username, address and browser, dated
    by its last failure) younger than the cool-off, per lockout parameter. Rows expire oldest
    first, so a lockout lasts until the row at which the newest rows' failures reach the limit
    expires.
    """
    limit = settings.AXES_FAILURE_LIMIT
    end = timezone.now()
    for attempts in AxesProxyHandler.get_implementation().get_user_attempts(request, credentials):
        newest_first = attempts.order_by("-attempt_time")[:limit]
        failures = 0
        for count, when in newest_first.values_list("failures_since_start", "attempt_time"):
            failures += count
            if failures >= limit:
                end = max(end, when + settings.AXES_COOLOFF_TIME)
                break
    return end


def email_can_be_sent() -> bool:
    """Whether mail is configured (EMAIL_URL), rather than dropped by the dummy backend."""
    return settings.EMAIL_BACKEND != DUMMY_EMAIL_BACKEND


@method_decorator(login_not_required, name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset by e-mail; where no mail can be sent, a page that says to ask an
    admin instead of a form that would answer "sent"."""

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not email_can_be_sent():
            return render(request, "registration/password_reset_unavailable.html")
        return super().dispatch(request, *args, **kwargs)
