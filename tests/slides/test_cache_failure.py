"""The tile cache is an optimisation: a Redis that is down or frozen costs a bounded wait, no error.

Each test points the "tiles" cache at a private redis-server, then kills or freezes it. Level 8
and below of the factory slide are resampled (its file stores levels 9-11), so their tiles go to
Redis; each of those levels is one tile.
"""

import json
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.urls import reverse

from slides import sharedcache
from slides.fastpath import TileFastPath
from tests.slides.test_fastpath import Reply, django_never_called, tile_environ

pytestmark = pytest.mark.django_db

RESAMPLED = 8  # and every level below it


@pytest.fixture
def tile_redis(redis_server, settings, restore_caches):
    settings.CACHES = {
        **settings.CACHES,
        "tiles": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_server.url,
            "KEY_PREFIX": "tiles",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        },
    }
    settings.CACHE_RETRY_SECONDS = 30
    return redis_server


@pytest.fixture
def annotator_client(client_for, annotator_with_slide):
    return client_for(annotator_with_slide)


@pytest.fixture
def granted_cookies(annotator_client, slide):
    annotator_client.get(reverse("slides:viewer", args=[slide.pk]))
    return "; ".join(f"{name}={m.value}" for name, m in annotator_client.cookies.items())


@pytest.fixture
def redis_calls(tile_redis, monkeypatch):
    """Count the tile cache's reads and writes (each one a round trip to Redis)."""
    calls = []

    def count(method):
        def counted(*args, **kwargs):
            calls.append(method.__name__)
            return method(*args, **kwargs)

        return counted

    store = caches["tiles"]
    monkeypatch.setattr(store, "get", count(store.get))
    monkeypatch.setattr(store, "set", count(store.set))
    return calls


@pytest.fixture
def later(monkeypatch):
    """Move the circuit breaker's clock past CACHE_RETRY_SECONDS."""
    now = sharedcache._clock()

    def move():
        move.by += django_settings.CACHE_RETRY_SECONDS + 1
        monkeypatch.setattr(sharedcache, "_clock", lambda: now + move.by)

    move.by = 0
    return move


def fast_tile(slide, cookies, level=RESAMPLED):
    return Reply(TileFastPath(django_never_called), tile_environ(slide, cookies, level))


def thumbnail(client, slide, size=128):
    return client.get(reverse("slides:thumbnail", args=[slide.pk]), {"size": size})


def django_tile(client, slide, level=RESAMPLED):
    return client.get(reverse("slides:tile", args=[slide.pk, level, 0, 0]))


def breaker_warnings(caplog):
    return [
        r for r in caplog.records if r.name == "slides.sharedcache" and r.levelname == "WARNING"
    ]


def test_resampled_tiles_and_thumbnails_go_to_redis(
    tile_redis, annotator_client, slide, granted_cookies
):
    assert fast_tile(slide, granted_cookies).status == 200
    assert thumbnail(annotator_client, slide).status_code == 200

    kinds = {key.split(b":")[2] for key in tile_redis.keys()}  # noqa: SIM118  # tiles:<version>:<kind>:...
    assert kinds == {b"t", b"th"}


@pytest.mark.parametrize("failure", ["killed", "frozen"])
def test_tiles_and_thumbnails_are_rendered_without_a_failing_redis(
    tile_redis, annotator_client, slide, granted_cookies, failure
):
    getattr(tile_redis, {"killed": "kill", "frozen": "freeze"}[failure])()

    fast = fast_tile(slide, granted_cookies)
    through_django = django_tile(annotator_client, slide, level=7)
    thumb = thumbnail(annotator_client, slide)

    assert fast.status == 200 and fast.body[:2] == b"\xff\xd8"
    assert through_django.status_code == 200 and through_django["Content-Type"] == "image/jpeg"
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("failure", ["killed", "frozen"])
def test_after_a_failure_redis_is_skipped_until_the_retry_interval(
    tile_redis, annotator_client, slide, granted_cookies, redis_calls, later, failure
):
    getattr(tile_redis, {"killed": "kill", "frozen": "freeze"}[failure])()

    assert fast_tile(slide, granted_cookies).status == 200
    assert redis_calls == ["get"]  # failed (a frozen Redis: after SOCKET_TIMEOUT); not written

    for size in range(100, 140):  # a slide list's worth of thumbnails, and more tiles
        assert thumbnail(annotator_client, slide, size).status_code == 200
    assert fast_tile(slide, granted_cookies, level=7).status == 200
    assert redis_calls == ["get"]

    later()
    assert fast_tile(slide, granted_cookies, level=6).status == 200
    assert redis_calls == ["get", "get"]  # one request tries again


def test_the_failure_is_logged_once_per_interval(
    tile_redis, annotator_client, slide, granted_cookies, later, caplog
):
    caplog.set_level(logging.INFO, logger="slides.sharedcache")
    tile_redis.kill()

    for level in (8, 7, 6):
        assert fast_tile(slide, granted_cookies, level).status == 200
        assert thumbnail(annotator_client, slide, 100 + level).status_code == 200
    assert len(breaker_warnings(caplog)) == 1
    assert '"tiles" cache failed' in breaker_warnings(caplog)[0].getMessage()

    later()
    for level in (5, 4, 3):
        assert fast_tile(slide, granted_cookies, level).status == 200
    assert len(breaker_warnings(caplog)) == 2  # still down, said once more


@pytest.mark.parametrize("failure", ["killed and restarted", "frozen and thawed"])
def test_redis_is_used_again_once_it_returns(
    tile_redis, annotator_client, slide, granted_cookies, later, caplog, failure
):
    caplog.set_level(logging.INFO, logger="slides.sharedcache")
    if failure == "killed and restarted":
        tile_redis.kill()
        assert fast_tile(slide, granted_cookies).status == 200
        tile_redis.start()
    else:
        tile_redis.freeze()
        assert fast_tile(slide, granted_cookies).status == 200
        tile_redis.thaw()
    assert fast_tile(slide, granted_cookies, level=7).status == 200
    assert tile_redis.keys() == []  # still skipped within the interval

    later()
    assert fast_tile(slide, granted_cookies, level=6).status == 200
    assert thumbnail(annotator_client, slide).status_code == 200

    assert len(tile_redis.keys()) == 2
    assert '"tiles" cache answers again' in caplog.text


def test_redis_caches_wait_a_quarter_second_at_most(tmp_path):
    """Configured from CACHE_URL, both caches get short connect and read timeouts."""
    script = (
        "from django.conf import settings; import json; "
        "print(json.dumps({k: v.get('OPTIONS') for k, v in settings.CACHES.items()}))"
    )
    env = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "wsi2ml.settings",
        "CACHE_URL": "redis://127.0.0.1:6379/1",
    }
    env.pop("CACHE_SOCKET_TIMEOUT_MS", None)
    options = json.loads(
        subprocess.run(
            [sys.executable, "-c", "import django; django.setup(); " + script],
            env=env,
            cwd=django_settings.BASE_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )

    for alias in ("default", "tiles"):
        assert options[alias]["SOCKET_CONNECT_TIMEOUT"] == 0.25
        assert options[alias]["SOCKET_TIMEOUT"] == 0.25
