"""Settings come from the environment: safe for local use, loud when production lacks a secret."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

REPO = Path(settings.BASE_DIR)
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-secret-that-is-long-and-random-enough-0123456789abcdefghijkl",
    "ALLOWED_HOSTS": "wsi2ml.example.org",
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wsi2ml"),
    "CACHE_URL": "redis://127.0.0.1:6379/1",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright; production never does.
    unset = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_secret_key_fails_loudly():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_passes_in_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_environment_overrides_tile_settings():
    env = {**PRODUCTION, "TILE_JPEG_QUALITY": "90", "TILE_GRANT_SECONDS": "15"}
    code = "from django.conf import settings as s; print(s.TILE_JPEG_QUALITY, s.TILE_GRANT_SECONDS)"

    result = manage("shell", "--no-imports", "-c", code, env=env)

    assert result.stdout.split() == ["90", "15"]


def test_out_of_range_jpeg_quality_is_refused():
    result = manage("check", env={**PRODUCTION, "TILE_JPEG_QUALITY": "0"})

    assert result.returncode != 0
    assert "TILE_JPEG_QUALITY" in result.stderr
