"""The profile page: the owner's tokens, a new token shown once, revoking, the form's refusals."""

import hashlib
import re
from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from wsi2ml import tokens
from wsi2ml.models import ApiToken

pytestmark = pytest.mark.django_db

PROFILE = "/accounts/profile/"
SECRET = re.compile(r"wsi2ml_[A-Za-z0-9_-]{43}")


@pytest.fixture
def owner(client_for, annotator):
    """The annotator, logged in."""
    return client_for(annotator)


def revoke_url(token) -> str:
    return reverse("profile_token_revoke", args=[token.pk])


def make(client, **fields):
    return client.post(PROFILE, {"name": "training scripts", "expires": "never", **fields})


def test_profile_url_is_named_profile():
    assert reverse("profile") == PROFILE


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(PROFILE)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_owner_sees_own_tokens_only(owner, annotator, outsider):
    tokens.api_token_create(user=annotator, name="gpu box")
    theirs, _ = tokens.api_token_create(user=outsider, name="outsider's laptop")

    response = owner.get(PROFILE)

    page = response.content.decode()
    assert response.status_code == 200
    assert "gpu box" in page
    assert "outsider&#x27;s laptop" not in page and theirs.prefix not in page


def test_list_shows_prefix_dates_and_state(owner, annotator):
    token, _ = tokens.api_token_create(
        user=annotator, name="gpu box", expires_at=timezone.now() + timedelta(days=3)
    )
    old, _ = tokens.api_token_create(user=annotator, name="old one")
    tokens.api_token_revoke(token=old, by=annotator)

    page = owner.get(PROFILE).content.decode()

    assert f"<code>{token.prefix}…</code>" in page
    assert token.expires_at.strftime("%Y-%m-%d") in page
    assert ">Active<" in page and ">Revoked " in page
    # Only the live token has a Revoke button.
    assert revoke_url(token) in page and revoke_url(old) not in page


def test_user_menu_links_to_the_profile(owner):
    page = owner.get(reverse("home")).content.decode()

    assert f'href="{PROFILE}">Profile and API tokens</a>' in page
    assert page.index("Profile and API tokens") < page.index("Change password")


# --- A new token is shown once ----------------------------------------------------------------


def test_new_token_is_shown_once_after_a_redirect(owner, annotator):
    response = make(owner, name="gpu box")

    assert response.status_code == 302 and response["Location"] == PROFILE
    assert not SECRET.search(response.content.decode())
    first = owner.get(PROFILE).content.decode()
    shown = set(SECRET.findall(first))
    assert len(shown) == 1
    (secret,) = shown
    token = ApiToken.objects.get(user=annotator)
    assert token.name == "gpu box" and token.expires_at is None
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert f"Bearer {secret}" in first  # in the curl line
    assert 'data-copy="new-token-value"' in first

    second = owner.get(PROFILE).content.decode()

    assert not SECRET.search(second)
    assert "gpu box" in second


def test_curl_line_names_the_site_and_the_export_url(owner):
    page = owner.get(PROFILE).content.decode()

    assert (
        'curl -H "Authorization: Bearer &lt;token&gt;" '
        "http://testserver/api/exports/projects/&lt;id&gt;.zip -o export.zip"
    ) in page


def test_page_loads_its_module_and_no_inline_script(owner):
    page = owner.get(PROFILE).content.decode()

    assert '<script type="module" src="/static/wsi2ml/profile.js"></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)


@pytest.mark.parametrize(("choice", "days"), [("30", 30), ("90", 90), ("365", 365)])
def test_expiry_in_days(owner, annotator, choice, days):
    make(owner, expires=choice)

    expires_at = ApiToken.objects.get(user=annotator).expires_at
    assert abs(expires_at - (timezone.now() + timedelta(days=days))) < timedelta(minutes=1)


def test_expiry_on_a_date_lasts_to_the_end_of_that_day(owner, annotator):
    day = timezone.localdate() + timedelta(days=10)

    make(owner, expires="date", expires_on=day.isoformat())

    expires_at = ApiToken.objects.get(user=annotator).expires_at
    end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time())
    assert expires_at == timezone.make_aware(end_of_day)


def test_expiry_today_is_accepted(owner, annotator):
    make(owner, expires="date", expires_on=timezone.localdate().isoformat())

    assert ApiToken.objects.get(user=annotator).expires_at > timezone.now()


# --- The form's refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "Name the token: say what it is for."),
        ({"name": "   "}, "Name the token: say what it is for."),
        ({"name": "x" * 101}, "Ensure this value has at most 100 characters"),
        ({"expires": "date"}, "Choose the date the token expires on."),
        (
            {"expires": "date", "expires_on": (date.today() - timedelta(days=2)).isoformat()},
            "The expiry date is in the past; choose a later one.",
        ),
        ({"expires": "date", "expires_on": "2026-13-45"}, "Enter the date as YYYY-MM-DD."),
        ({"expires": "date", "expires_on": "9999-12-31"}, "Choose a date within 10 years"),
        ({"expires": "tomorrow"}, "Select a valid choice."),
    ],
)
def test_bad_form_is_refused_with_a_clear_error(owner, annotator, fields, message):
    response = make(owner, **fields)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_21st_live_token_is_refused(owner, annotator):
    for i in range(tokens.MAX_LIVE_TOKENS):
        tokens.api_token_create(user=annotator, name=f"t{i}")

    response = make(owner, name="one too many")

    assert response.status_code == 400
    assert "You already have 20 active tokens" in response.content.decode()
    assert annotator.api_tokens.count() == 20


def test_refused_form_keeps_what_was_typed(owner):
    response = make(owner, name="gpu box", expires="date")

    assert 'value="gpu box"' in response.content.decode()


# --- Revoking ---------------------------------------------------------------------------------


def test_owner_revokes_own_token(owner, annotator):
    token, _ = tokens.api_token_create(user=annotator, name="gpu box")

    response = owner.post(revoke_url(token), follow=True)

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert response.redirect_chain == [(PROFILE, 302)]
    assert "Token “gpu box” revoked: it no longer works." in response.content.decode()


def test_revoking_again_says_so_and_keeps_the_date(owner, annotator):
    token, _ = tokens.api_token_create(user=annotator, name="gpu box")
    owner.post(revoke_url(token))
    token.refresh_from_db()
    first = token.revoked_at

    response = owner.post(revoke_url(token), follow=True)

    token.refresh_from_db()
    assert token.revoked_at == first
    assert "was revoked already" in response.content.decode()


def test_outsider_gets_404_revoking_someone_elses_token(client_for, annotator, outsider):
    token, _ = tokens.api_token_create(user=annotator, name="gpu box")

    response = client_for(outsider).post(revoke_url(token))

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoking_a_token_that_does_not_exist_is_404(owner):
    response = owner.post("/accounts/profile/tokens/999999/revoke")

    assert response.status_code == 404


def test_revoke_takes_post_only(owner, annotator):
    token, _ = tokens.api_token_create(user=annotator, name="gpu box")

    response = owner.get(revoke_url(token))

    assert response.status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_nav_shows_exports_to_whoever_may_export(client_for, admin_user, project):
    page = client_for(admin_user).get(reverse("home")).content.decode()

    assert '<a class="nav-link" href="/exports/">Exports</a>' in page


def test_nav_hides_exports_from_an_annotator(owner):
    page = owner.get(reverse("home")).content.decode()

    assert ">Exports<" not in page
