"""Settings come from the environment: safe for local use, loud when production lacks a secret
or has a weak one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
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


@pytest.mark.parametrize(
    "weak_key",
    [
        "short-but-random-Zq8x",
        "ab" * 30,
        "django-insecure-" + "k3Jx9vQm2LpR7tWz5NbY8cFh4GdS6aEu1oIi0UyT",
    ],
    ids=["shorter-than-50", "fewer-than-5-characters", "django-insecure-prefix"],
)
def test_production_refuses_a_weak_secret_key(weak_key):
    result = manage("check", env={**PRODUCTION, "SECRET_KEY": weak_key})

    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


def test_debug_keeps_its_development_key():
    env = {k: v for k, v in PRODUCTION.items() if k not in {"DEBUG", "SECRET_KEY"}}

    result = manage("check", env={**env, "DEBUG": "1"})

    assert result.returncode == 0, result.stderr


def test_environment_sets_log_in_throttling():
    env = {
        **PRODUCTION,
        "LOGIN_FAILURE_LIMIT": "4",
        "LOGIN_COOLOFF_MINUTES": "30",
        "TRUSTED_PROXY_COUNT": "1",
    }
    code = (
        "from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, int(s.AXES_COOLOFF_TIME.total_seconds()), "
        "s.TRUSTED_PROXY_COUNT, s.AXES_LOCKOUT_PARAMETERS)"
    )

    result = manage("shell", "--no-imports", "-c", code, env=env)

    assert result.stdout.split() == ["4", "1800", "1", "['username',", "'ip_address']"]


def test_log_in_throttling_defaults_to_ten_failures_and_fifteen_minutes():
    code = (
        "from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, int(s.AXES_COOLOFF_TIME.total_seconds()), "
        "s.TRUSTED_PROXY_COUNT, s.AXES_HANDLER)"
    )

    result = manage("shell", "--no-imports", "-c", code, env=PRODUCTION)

    assert result.stdout.split() == ["10", "900", "0", "axes.handlers.database.AxesDatabaseHandler"]


def test_email_url_configures_the_mail_server():
    env = {
        **PRODUCTION,
        "EMAIL_URL": "smtp+tls://wsi2ml%40example.org:s3cret@mail.example.org:587",
        "DEFAULT_FROM_EMAIL": "WSI2ML <wsi2ml@example.org>",
    }
    code = (
        "from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_USE_TLS); "
        "print(s.DEFAULT_FROM_EMAIL)"
    )

    result = manage("shell", "--no-imports", "-c", code, env=env)

    lines = result.stdout.splitlines()
    assert lines[-2].split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.example.org",
        "587",
        "wsi2ml@example.org",
        "True",
    ]
    assert lines[-1] == "WSI2ML <wsi2ml@example.org>"


def test_without_email_url_no_mail_is_pretended_to_be_sent():
    code = "from django.conf import settings as s; print(s.EMAIL_BACKEND)"

    result = manage("shell", "--no-imports", "-c", code, env=PRODUCTION)

    assert result.stdout.split()[-1] == "django.core.mail.backends.dummy.EmailBackend"


def test_an_empty_email_url_means_no_mail_as_docker_compose_passes_it():
    code = "from django.conf import settings as s; print(s.EMAIL_BACKEND)"

    result = manage("shell", "--no-imports", "-c", code, env={**PRODUCTION, "EMAIL_URL": ""})

    assert result.stdout.split()[-1] == "django.core.mail.backends.dummy.EmailBackend"
