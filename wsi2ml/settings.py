"""
Settings for WSI2ML, read from the environment in this one place.

Every variable has a safe default for local use except SECRET_KEY, which must be set whenever
DEBUG is off. Importing this module reads the environment and nothing else.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="insecure-local-development-key-do-not-deploy")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    _GENERATE_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in the environment when DEBUG is off "
            f"(generate one with: {_GENERATE_KEY})."
        )
    # Django only warns (security.W009) about a key like this one; it signs sessions, password
    # reset links and tile grants, so a guessable key must stop the server, not just the check.
    if (
        len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
        or SECRET_KEY.startswith("django-insecure-")
    ):
        raise ImproperlyConfigured(
            "SECRET_KEY is too weak for production: it needs at least 50 characters, at least 5 "
            "different ones, and must not start with 'django-insecure-' "
            f"(generate one with: {_GENERATE_KEY})."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "guardian",
    "axes",
    "wsi2ml",
    "jobs",
    "slides",
    "tasks",
    "annotations",
    "review",
    "exports",
    "layers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "wsi2ml.middleware.RefuseUnstorableTextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Replaces request.user on /api/ requests that carry "Authorization: Bearer <token>".
    "wsi2ml.middleware.ApiTokenMiddleware",
    "wsi2ml.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out log-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "wsi2ml.urls"
WSGI_APPLICATION = "wsi2ml.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tasks.context_processors.work_links",
                "annotations.context_processors.viewer_layers",
                "review.context_processors.agreement_summary",
                "review.context_processors.feedback",
                "exports.context_processors.exports_links",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# "default" holds small shared values (the tile grants' revocation list, slides.grants); "tiles"
# holds rendered JPEG tiles and thumbnails. Both are Redis in production
# (CACHE_URL=redis://127.0.0.1:6379/1): with several worker processes, an in-process "default"
# would let a grant revoked in one worker pass in another.
_cache = env.cache("CACHE_URL", default="locmemcache://wsi2ml-default")
_tile_cache = env.cache(
    "TILE_CACHE_URL", default=env.str("CACHE_URL", default="locmemcache://wsi2ml-tiles")
)
_tile_cache["KEY_PREFIX"] = "tiles"
_tile_cache["TIMEOUT"] = env.int("TILE_CACHE_SECONDS", default=7 * 24 * 3600)
if _tile_cache["BACKEND"].endswith("LocMemCache"):
    _tile_cache.setdefault("OPTIONS", {})["MAX_ENTRIES"] = 5000
# Both caches may fail (slides.sharedcache): a request waits at most this long for Redis (redis-py
# waits 5 s by default) before going without it, and then skips it for CACHE_RETRY_SECONDS. A
# 15 KB tile read from a local Redis took 0.06 ms (99th percentile 0.1 ms, worst of 5,000 4 ms,
# with a tile benchmark running beside it).
CACHE_SOCKET_TIMEOUT = env.int("CACHE_SOCKET_TIMEOUT_MS", default=250) / 1000
CACHE_RETRY_SECONDS = env.int("CACHE_RETRY_SECONDS", default=10)
for _config in (_cache, _tile_cache):
    if _config["BACKEND"] == "django_redis.cache.RedisCache":
        _config.setdefault("OPTIONS", {}).update(
            SOCKET_CONNECT_TIMEOUT=CACHE_SOCKET_TIMEOUT, SOCKET_TIMEOUT=CACHE_SOCKET_TIMEOUT
        )
CACHES = {"default": _cache, "tiles": _tile_cache}
# A worker reuses its "this tile grant is not revoked" answer from the revocation list in
# "default" this long (slides.grants): a Redis round trip per cached tile cost 80 % more CPU.
TILE_REVOCATION_CHECK_MS = env.int("TILE_REVOCATION_CHECK_MS", default=250)

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out log-in before ModelBackend runs the password hasher.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user object; every view requires log-in

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
# Every JSON API answers a failed CSRF check with JSON; other pages get Django's page.
CSRF_FAILURE_VIEW = "wsi2ml.api.csrf_failure"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Log-in throttling (django-axes), on /accounts/login/ and /admin/login/ alike. Unthrottled,
# 16 clients made 7.6 guesses/s at one account and the hashing slowed everyone's pages from
# 0.02 s to 0.8 s. An account, or an address, with LOGIN_FAILURE_LIMIT failures within
# LOGIN_COOLOFF_MINUTES is refused without hashing until that long after its last failure.
# Failures live in the database: shared by every worker and kept across restarts. Measured with
# 16 clients on gunicorn (2 workers x 4 threads): 17 guesses checked, then 3,904 refused in 20 s,
# and a logged-in user's page took 0.09 s (median) where, unthrottled, it took 7.6 s.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Not reset on success: axes would then delete every failure from the address, so anyone with
# an account could log in between guesses and keep guessing at another account.
AXES_RESET_ON_SUCCESS = False
# A refused attempt is not recorded: axes would append its form data to the attempt's row, one
# rewrite of an ever longer row per guess (16 clients sent 1,563 refused guesses in 20 s).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "wsi2ml.auth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "wsi2ml.auth.client_ip"
# Behind reverse proxies that append to X-Forwarded-For, how many of them there are; 0 trusts no
# header and takes the address of the connection (REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# E-mail, for password reset links: EMAIL_URL such as smtp+tls://user:password@host:587 (one of
# django-environ's schemes; consolemail:// prints the mail). Without it nothing can be sent, and
# the password reset page says so rather than pretending to send.
_email = env.email_url_config(env.str("EMAIL_URL", default="") or "dummymail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
# A mail server that does not answer must not hold a worker for ever (Django's default).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security. Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER_ENABLED=1.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env.bool("SECURE_PROXY_SSL_HEADER_ENABLED", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # OpenSeadragon positions its elements through inline style attributes.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # Failures and lockouts are warnings; axes' INFO lines came three to every log-in.
        "axes": {"level": "WARNING"},
    },
}

# --- WSI2ML ---------------------------------------------------------------------------------

# Every slide path is stored relative to this folder, and no path outside it is ever opened.
SLIDES_ROOT = env.path("SLIDES_ROOT", default=BASE_DIR / "var" / "slides")

TILE_JPEG_QUALITY = env.int("TILE_JPEG_QUALITY", default=75)
TILE_SIZE = 254
TILE_OVERLAP = 1
TILE_LIMIT_BOUNDS = True
# How many slides each worker process keeps open (OpenSlide handle + Deep Zoom generator).
SLIDE_CACHE_SIZE = env.int("SLIDE_CACHE_SIZE", default=32)
# Decoded source tiles OpenSlide keeps per worker, shared by its open slides. Larger is not
# faster: at 256 MB a tile cost 10 % more CPU than at 32 MB (bench/README.md).
SLIDE_PIXEL_CACHE_BYTES = env.int("SLIDE_PIXEL_CACHE_MB", default=32) * 1024 * 1024
# Tiles of Deep Zoom levels stored in the file are cut about as fast as the shared cache is
# missed, fetched and filled; by default only resampled levels' tiles go to the shared cache.
TILE_SHARE_NATIVE_LEVELS = env.bool("TILE_SHARE_NATIVE_LEVELS", default=False)
# Each worker also keeps its most recent tiles in memory, in front of the shared tile cache.
TILE_MEMORY_CACHE_BYTES = env.int("TILE_MEMORY_CACHE_MB", default=64) * 1024 * 1024
# How long the browser may reuse a tile before revalidating it with its ETag.
TILE_BROWSER_MAX_AGE = env.int("TILE_BROWSER_MAX_AGE", default=3600)
# Tiles are authorised by a signed grant cookie, issued after a full permission check and valid
# this many seconds: the upper bound on how long a revoked permission still lets tiles through.
TILE_GRANT_SECONDS = env.int("TILE_GRANT_SECONDS", default=60)

if not 0 < TILE_JPEG_QUALITY <= 100:
    raise ImproperlyConfigured("TILE_JPEG_QUALITY must be between 1 and 100.")

DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="")

# Annotations: the largest geometry (vertices) and request body (bytes) the editing API accepts.
ANNOTATION_MAX_VERTICES = env.int("ANNOTATION_MAX_VERTICES", default=20000)
ANNOTATION_MAX_BODY_BYTES = env.int("ANNOTATION_MAX_BODY_BYTES", default=2 * 1024 * 1024)

# Model layers (layers/): the largest file one may upload (a million detections of 20 vertices
# are about 400 MB of GeoJSON), where uploads wait for their import (private: never served),
# and the most bytes of JSON one feature's properties may keep beside its measurements.
LAYER_UPLOAD_MAX_MB = env.int("LAYER_UPLOAD_MAX_MB", default=1024)
LAYER_UPLOAD_DIR = env.path("LAYER_UPLOAD_DIR", default=BASE_DIR / "var" / "layer-uploads")
LAYER_MAX_PROPERTIES_BYTES = env.int("LAYER_MAX_PROPERTIES_BYTES", default=4096)

# --- Background jobs (jobs/, run by Celery workers) ------------------------------------------

# The job queue's broker. Without one configured, the embedded default: kombu's filesystem
# transport, messages as files under var/celery/ (scripts/demo.sh creates the folders and starts
# a worker beside the server), which needs no service but works on one machine only. Across
# machines, Redis: CELERY_BROKER_URL=redis://redis:6379/0 (docker-compose.yml).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
JOB_QUEUE_FOLDER = Path(env.str("JOB_QUEUE_FOLDER", default=str(BASE_DIR / "var" / "celery")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder both ways: the web process writes each message there, the worker reads it.
        "data_folder_in": str(JOB_QUEUE_FOLDER / "queue"),
        "data_folder_out": str(JOB_QUEUE_FOLDER / "queue"),
        "control_folder": str(JOB_QUEUE_FOLDER / "control"),
        # How often an idle worker lists the folder: a job starts within this many seconds.
        "polling_interval": 0.5,
    }
# Job rows hold the outcome (jobs.models.Job): Celery keeps no results.
CELERY_TASK_IGNORE_RESULT = True
# A job runs for minutes: a worker takes one message at a time, so that a second job waits in
# the queue for any free worker rather than behind the first one in this worker's buffer.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# On a lost broker connection, let running jobs finish rather than cancel them: their results
# go to the database, not to the broker, and a message redelivered meanwhile finds the job
# running and does nothing (jobs.services.job_run).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A job whose heartbeat (jobs.services) is older than this is taken to have lost its worker:
# it is queued again, or failed after JOB_MAX_ATTEMPTS starts. A scan beats after each file
# (the test scanner files took 1-6 ms each to read), agreement after each slide (3 annotators
# x 20,000 cells: 9.2 s).
JOB_STALE_SECONDS = env.int("JOB_STALE_SECONDS", default=60)
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
# How often each worker looks for jobs whose worker stopped (also at its start).
JOB_REAP_SECONDS = env.float("JOB_REAP_SECONDS", default=30)
