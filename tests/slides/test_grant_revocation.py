"""Logging out, a password change and deactivation void tile grants at once, in the fast path too.

The fast path (slides.fastpath) answers granted tiles without the database; what it must refuse
it passes to Django (``django_stub`` answers 299 here), whose full check then decides.
"""

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from slides import grants
from slides.fastpath import TileFastPath
from tests import factories
from tests.slides.test_fastpath import Reply, django_stub, tile_environ
from wsi2ml.wsgi import application

pytestmark = pytest.mark.django_db

PASSED_ON = 299


def cookies_of(client: Client) -> str:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())


def open_viewer(user, slide) -> Client:
    """A browser of ``user`` that opened the slide's viewer, so holds its tile grant."""
    browser = Client()
    browser.force_login(user)
    assert browser.get(reverse("slides:viewer", args=[slide.pk])).status_code == 200
    return browser


def fast_tile(slide, cookies: str) -> int:
    return Reply(TileFastPath(django_stub), tile_environ(slide, cookies)).status


@pytest.fixture
def annotator_browser(annotator_with_slide, slide):
    return open_viewer(annotator_with_slide, slide)


def test_annotators_grant_is_served_by_the_fast_path(annotator_browser, slide):
    assert fast_tile(slide, cookies_of(annotator_browser)) == 200


@pytest.mark.django_db(transaction=True)  # Django's handler closes the connection
def test_logging_out_voids_the_grant_at_once(annotator_browser, slide):
    old_cookies = cookies_of(annotator_browser)

    annotator_browser.post(reverse("logout"))

    assert fast_tile(slide, old_cookies) == PASSED_ON
    django = Reply(application, tile_environ(slide, old_cookies))
    assert django.status == 302  # the session is gone: to the log-in page
    assert django.headers["Location"].startswith(reverse("login"))


def test_a_memoised_grant_does_not_bypass_the_revocation(annotator_browser, slide):
    old_cookies = cookies_of(annotator_browser)
    assert fast_tile(slide, old_cookies) == 200
    memo = (
        annotator_browser.cookies[grants.COOKIE_NAME].value,
        annotator_browser.session.session_key,
    )
    assert memo in grants._verified  # the signature is not checked again

    annotator_browser.post(reverse("logout"))

    assert memo in grants._verified
    assert fast_tile(slide, old_cookies) == PASSED_ON


def test_password_change_in_another_session_voids_the_old_sessions_grant(
    annotator_browser, annotator_with_slide, slide, django_capture_on_commit_callbacks
):
    old_cookies = cookies_of(annotator_browser)
    changer = Client()
    changer.force_login(annotator_with_slide)

    with django_capture_on_commit_callbacks(execute=True):
        response = changer.post(
            reverse("password_change"),
            {
                "old_password": factories.PASSWORD,
                "new_password1": "a-new-and-long-passphrase",
                "new_password2": "a-new-and-long-passphrase",
            },
        )

    assert response.status_code == 302
    assert fast_tile(slide, old_cookies) == PASSED_ON
    # The changer stays logged in: the full check grants its session afresh.
    fresh = changer.get(reverse("slides:tile", args=[slide.pk, 9, 0, 0]))
    assert fresh.status_code == 200
    assert grants.COOKIE_NAME in fresh.cookies
    assert fast_tile(slide, cookies_of(changer)) == 200


def test_deactivating_the_annotator_voids_their_grants(
    annotator_browser, annotator_with_slide, slide, django_capture_on_commit_callbacks
):
    old_cookies = cookies_of(annotator_browser)

    with django_capture_on_commit_callbacks(execute=True):
        annotator_with_slide.is_active = False
        annotator_with_slide.save()

    assert fast_tile(slide, old_cookies) == PASSED_ON


def test_logging_in_elsewhere_keeps_the_grants_of_other_sessions(
    annotator_browser, annotator_with_slide, slide, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(
            reverse("login"),
            {"username": annotator_with_slide.username, "password": factories.PASSWORD},
        )  # saves last_login, which voids nothing

    assert fast_tile(slide, cookies_of(annotator_browser)) == 200


def test_an_emptied_revocation_list_voids_older_grants(annotator_browser, slide):
    old_cookies = cookies_of(annotator_browser)

    caches["default"].clear()  # Redis restarted or flushed: revocations may have been lost

    assert fast_tile(slide, old_cookies) == PASSED_ON
    fresh = annotator_browser.get(reverse("slides:tile", args=[slide.pk, 9, 0, 0]))
    assert grants.COOKIE_NAME in fresh.cookies
    assert fast_tile(slide, cookies_of(annotator_browser)) == 200


def unreachable_cache(port: int) -> dict:
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
    }


def test_an_unreadable_revocation_list_fails_closed(
    annotator_browser, slide, settings, free_port, restore_caches, caplog
):
    old_cookies = cookies_of(annotator_browser)

    settings.CACHES = {**settings.CACHES, "default": unreachable_cache(free_port)}

    assert fast_tile(slide, old_cookies) == PASSED_ON
    assert "cache failed" in caplog.text
    # Django's full check still lets the annotator see the tile.
    assert (
        annotator_browser.get(reverse("slides:tile", args=[slide.pk, 9, 0, 0])).status_code == 200
    )


def test_a_log_out_that_could_not_be_recorded_voids_every_older_grant(
    annotator_with_slide, slide, settings, free_port, restore_caches
):
    settings.CACHE_RETRY_SECONDS = 0  # try the cache again at once
    leaving, staying = (
        open_viewer(annotator_with_slide, slide),
        open_viewer(annotator_with_slide, slide),
    )
    working = settings.CACHES

    settings.CACHES = {**working, "default": unreachable_cache(free_port)}
    old_cookies = cookies_of(leaving)
    leaving.post(reverse("logout"))
    settings.CACHES = working  # the same in-process cache, back with what it held

    assert fast_tile(slide, old_cookies) == PASSED_ON
    assert fast_tile(slide, cookies_of(staying)) == PASSED_ON  # until the full check grants anew


def test_a_grant_of_the_former_format_is_refused_not_an_error(
    annotator_browser, annotator_with_slide, slide
):
    digest = grants._digest_of(annotator_browser.session.session_key)
    former = grants._signer().sign(f"{slide.pk}:{annotator_with_slide.pk}:{digest}")
    annotator_browser.cookies[grants.COOKIE_NAME] = former

    assert fast_tile(slide, cookies_of(annotator_browser)) == PASSED_ON


def test_another_workers_revocation_is_seen_within_the_check_interval(
    annotator_browser, slide, settings, monkeypatch
):
    """Each worker reuses a "not revoked" answer for TILE_REVOCATION_CHECK_MS, no longer."""
    old_cookies = cookies_of(annotator_browser)
    assert fast_tile(slide, old_cookies) == 200
    # As another worker process's log-out would: written to the shared list, not to this
    # process's memory of recent answers.
    digest = grants._digest_of(annotator_browser.session.session_key)
    caches["default"].set(grants._REVOKED_SESSION + digest, 1)

    assert fast_tile(slide, old_cookies) == 200  # the answer of a moment ago
    now = grants._clock()
    later = now + settings.TILE_REVOCATION_CHECK_MS / 1000 + 0.01
    monkeypatch.setattr(grants, "_clock", lambda: later)
    assert fast_tile(slide, old_cookies) == PASSED_ON
