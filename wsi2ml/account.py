"""The user's profile page: their personal API tokens, made (shown once) and revoked."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from wsi2ml import tokens

# Where the token just made waits for the page after the redirect (post/redirect/get): a reload
# of that page must not make a second token, and the token must not sit in a URL or the
# browser's history. The page takes it out of the session as it shows it, so it is shown once.
NEW_TOKEN_SESSION_KEY = "wsi2ml_new_api_token"
# "Never" exists for tokens that must not lapse; a date further off is most likely a typo.
LATEST_EXPIRY_YEARS = 10


class ApiTokenForm(forms.Form):
    EXPIRY_CHOICES = [
        ("never", "Never"),
        ("30", "In 30 days"),
        ("90", "In 90 days"),
        ("365", "In 365 days"),
        ("date", "At the end of a date"),
    ]

    name = forms.CharField(
        max_length=tokens.NAME_MAX_LENGTH,
        help_text="What the token is for, such as “training scripts on gpu-3”.",
        error_messages={"required": "Name the token: say what it is for."},
    )
    expires = forms.ChoiceField(
        label="Expires", choices=EXPIRY_CHOICES, initial="90", widget=forms.RadioSelect
    )
    expires_on = forms.DateField(
        label="Expiry date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the date as YYYY-MM-DD."},
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("expires") == "date" and not self.has_error("expires_on"):
            self._check_date(cleaned.get("expires_on"))
        return cleaned

    def _check_date(self, day: date | None) -> None:
        today = timezone.localdate()
        if day is None:
            self.add_error("expires_on", "Choose the date the token expires on.")
        elif day < today:
            self.add_error("expires_on", "The expiry date is in the past; choose a later one.")
        elif day.year > today.year + LATEST_EXPIRY_YEARS:
            message = f"Choose a date within {LATEST_EXPIRY_YEARS} years, or “Never”."
            self.add_error("expires_on", message)

    def expires_at(self) -> datetime | None:
        """When the token stops working: never, in n days, or as the chosen day ends."""
        choice = self.cleaned_data["expires"]
        if choice == "never":
            return None
        if choice == "date":
            day_after = self.cleaned_data["expires_on"] + timedelta(days=1)
            return timezone.make_aware(datetime.combine(day_after, time.min))
        return timezone.now() + timedelta(days=int(choice))


@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """GET: the user's tokens, the token just made (once), the form; POST: make a token."""
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and _token_create(request, form):
        return redirect("profile")
    new_token = (
        request.session.pop(NEW_TOKEN_SESSION_KEY, None) if request.method == "GET" else None
    )
    context = {
        "form": form,
        "tokens": tokens.api_tokens_of(request.user),
        "new_token": new_token,
        "site": request.build_absolute_uri("/").rstrip("/"),
        "max_live_tokens": tokens.MAX_LIVE_TOKENS,
    }
    return render(request, "account/profile.html", context, status=400 if form.errors else 200)


def _token_create(request: HttpRequest, form: ApiTokenForm) -> bool:
    """Make the token the valid ``form`` asks for and keep it for the next page; else False."""
    if not form.is_valid():
        return False
    try:
        token, secret = tokens.api_token_create(
            user=request.user, name=form.cleaned_data["name"], expires_at=form.expires_at()
        )
    except tokens.ApiTokenRefused as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return False
    request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "name": token.name, "secret": secret}
    return True


@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = tokens.get_api_token_for_owner(request.user, token_id)
    if tokens.api_token_revoke(token=token, by=request.user):
        messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    else:
        messages.info(request, f"Token “{token.name}” was revoked already.")
    return redirect("profile")
