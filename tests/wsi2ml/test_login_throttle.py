"""Log-in throttling (django-axes): per account and per address, on the app's and the admin's
log-in, without hashing a locked-out guess, until the cool-off ends or an admin unlocks."""

from datetime import timedelta
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from tests import factories
from wsi2ml.auth import client_ip

pytestmark = pytest.mark.django_db

MESSAGE = (
    "Too many failed log-ins for this account or address; try again in 15 minutes "
    "or ask an admin to unlock it."
)


def attempt(client, username: str, password: str, *, url: str | None = None, **extra):
    """Post the log-in form as a browser does; ``extra`` sets request.META (REMOTE_ADDR...)."""
    return client.post(
        url or reverse("login"), {"username": username, "password": password}, **extra
    )


def fail(client, username: str, times: int, **extra) -> list[int]:
    return [attempt(client, username, "wrong password", **extra).status_code for _ in range(times)]


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_annotator_is_refused_the_right_password_after_the_failure_limit(
    client, annotator, settings
):
    statuses = fail(client, "annotator", settings.AXES_FAILURE_LIMIT)

    response = attempt(client, "annotator", factories.PASSWORD)

    assert settings.AXES_FAILURE_LIMIT == 10
    assert statuses == [200] * 9 + [429]
    assert response.status_code == 429
    assert MESSAGE in response.content.decode()
    assert not logged_in(client)


def test_annotator_logs_in_below_the_failure_limit(client, annotator, settings):
    fail(client, "annotator", settings.AXES_FAILURE_LIMIT - 1)

    response = attempt(client, "annotator", factories.PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)


def test_the_lockout_page_is_the_log_in_form_with_the_username_kept(client, annotator, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    fail(client, "annotator", settings.AXES_FAILURE_LIMIT)

    response = attempt(client, "annotator", factories.PASSWORD)

    page = response.content.decode()
    assert "try again in 1 minute or ask an admin" in page
    assert 'name="password"' in page
    assert 'value="annotator"' in page


def test_the_wait_counts_from_the_last_recorded_failure(client, annotator, settings):
    fail(client, "annotator", settings.AXES_FAILURE_LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))

    response = attempt(client, "annotator", factories.PASSWORD)

    assert "try again in 5 minutes" in response.content.decode()


def test_the_wait_for_an_address_ends_when_its_limit_th_newest_failure_expires(
    client, annotator, settings
):
    for age in range(settings.AXES_FAILURE_LIMIT + 2):
        attempt(client, f"someone{age}", "wrong password", REMOTE_ADDR="198.51.100.7")
        AccessAttempt.objects.filter(username=f"someone{age}").update(
            attempt_time=timezone.now() - timedelta(minutes=age)
        )

    response = attempt(client, "annotator", factories.PASSWORD, REMOTE_ADDR="198.51.100.7")

    # The ten newest failures are 0 to 9 minutes old: the lockout ends 15 - 9 minutes from now.
    assert response.status_code == 429
    assert "try again in 6 minutes" in response.content.decode()


def test_a_refused_guess_neither_extends_the_lockout_nor_grows_the_record(
    client, annotator, settings
):
    fail(client, "annotator", settings.AXES_FAILURE_LIMIT)
    before = list(AccessAttempt.objects.values())

    statuses = fail(client, "annotator", 5)
    right = attempt(client, "annotator", factories.PASSWORD)

    assert statuses == [429] * 5
    assert right.status_code == 429
    assert list(AccessAttempt.objects.values()) == before


def test_an_account_is_locked_whichever_addresses_the_guesses_come_from(
    client, annotator, settings
):
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "annotator", "wrong password", REMOTE_ADDR=f"198.51.100.{number}")

    response = attempt(client, "annotator", factories.PASSWORD, REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 429
    assert not logged_in(client)


def test_an_address_is_locked_whichever_accounts_it_guesses(client, annotator, settings):
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, f"someone{number}", "wrong password", REMOTE_ADDR="198.51.100.7")

    refused = attempt(client, "annotator", factories.PASSWORD, REMOTE_ADDR="198.51.100.7")
    elsewhere = attempt(client, "annotator", factories.PASSWORD, REMOTE_ADDR="203.0.113.9")

    assert refused.status_code == 429
    assert elsewhere.status_code == 302


def test_the_admin_log_in_is_throttled_too(client, admin_user, settings):
    admin_login = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "admin", "wrong password", url=admin_login)

    response = attempt(client, "admin", factories.PASSWORD, url=admin_login)

    assert response.status_code == 429
    assert MESSAGE in response.content.decode()
    assert f'name="next" value="{reverse("admin:index")}"' in response.content.decode()
    assert not logged_in(client)


def test_a_locked_out_guess_runs_no_password_hasher(client, annotator, outsider, settings):
    fail(client, "annotator", settings.AXES_FAILURE_LIMIT)
    verify = mock.patch.object(
        MD5PasswordHasher, "verify", autospec=True, side_effect=MD5PasswordHasher.verify
    )

    with verify as verified:
        refused = attempt(client, "annotator", factories.PASSWORD)
        hashed_while_locked = verified.call_count
        allowed = attempt(client, "outsider", factories.PASSWORD, REMOTE_ADDR="203.0.113.9")

    assert refused.status_code == 429
    assert hashed_while_locked == 0
    # The spy does see hashing: the outsider's log-in from another address ran the hasher once.
    assert allowed.status_code == 302
    assert verified.call_count == 1


def test_the_lockout_ends_after_the_cool_off(client, annotator, settings):
    fail(client, "annotator", settings.AXES_FAILURE_LIMIT)
    locked = attempt(client, "annotator", factories.PASSWORD)
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )

    response = attempt(client, "annotator", factories.PASSWORD)

    assert locked.status_code == 429
    assert response.status_code == 302
    assert logged_in(client)


@pytest.mark.parametrize(
    "command",
    [("axes_reset_username", "annotator"), ("axes_reset_ip", "127.0.0.1"), ("axes_reset",)],
)
def test_admin_unlocks_with_a_management_command(client, annotator, settings, command):
    fail(client, "annotator", settings.AXES_FAILURE_LIMIT)
    locked = attempt(client, "annotator", factories.PASSWORD)

    call_command(*command)
    response = attempt(client, "annotator", factories.PASSWORD)

    assert locked.status_code == 429
    assert response.status_code == 302
    assert logged_in(client)


def test_admin_unlocks_by_deleting_the_attempts_in_the_admin(
    client, annotator, admin_user, settings
):
    staff = type(client)()
    staff.force_login(admin_user)
    fail(client, "annotator", settings.AXES_FAILURE_LIMIT)
    locked = attempt(client, "annotator", factories.PASSWORD)
    changelist = reverse("admin:axes_accessattempt_changelist")

    listed = staff.get(changelist, {"q": "annotator"})
    rows = AccessAttempt.objects.filter(username="annotator").values_list("pk", flat=True)
    staff.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [str(pk) for pk in rows], "post": "yes"},
    )
    response = attempt(client, "annotator", factories.PASSWORD)

    assert locked.status_code == 429
    assert listed.status_code == 200
    assert "annotator" in listed.content.decode()
    assert not AccessAttempt.objects.exists()
    assert response.status_code == 302


def test_a_forged_forwarded_for_does_not_escape_the_address_lockout(client, annotator, settings):
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(
            client,
            f"someone{number}",
            "wrong password",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}",
        )

    response = attempt(client, "annotator", factories.PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99")

    assert response.status_code == 429


def test_behind_a_trusted_proxy_the_address_it_appended_is_locked(client, annotator, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for number in range(settings.AXES_FAILURE_LIMIT):
        forged_then_real = f"192.0.2.{number}, 198.51.100.7"
        attempt(
            client,
            f"someone{number}",
            "wrong password",
            HTTP_X_FORWARDED_FOR=forged_then_real,
            **proxy,
        )

    refused = attempt(
        client, "annotator", factories.PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy
    )
    other_client = attempt(
        client, "annotator", factories.PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.8", **proxy
    )

    assert refused.status_code == 429
    assert other_client.status_code == 302


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "192.0.2.1", "10.0.0.2"),
        (1, "192.0.2.1, 198.51.100.7", "198.51.100.7"),
        (2, "192.0.2.1, 198.51.100.7, 10.0.0.1", "198.51.100.7"),
        (2, "198.51.100.7", "10.0.0.2"),
        (1, "not-an-address", "10.0.0.2"),
        (1, "", "10.0.0.2"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(settings, proxies, forwarded_for, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post(
        "/accounts/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for
    )

    assert client_ip(request) == expected
