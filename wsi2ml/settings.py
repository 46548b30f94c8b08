"""
Settings for WSI2ML, read from the environment in this one place.

Every variable has a safe default for local use except SECRET_KEY, which must be set whenever
DEBUG is off. Importing this module reads the environment and nothing else.
"""

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
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in the environment when DEBUG is off "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
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
    "wsi2ml",
    "slides",
    "tasks",
    "annotations",
    "exports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "wsi2ml.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

# "default" holds sessions-independent small values; "tiles" holds rendered JPEG tiles and
# thumbnails. Both are Redis in production (CACHE_URL=redis://127.0.0.1:6379/1).
_cache = env.cache("CACHE_URL", default="locmemcache://wsi2ml-default")
_tile_cache = env.cache(
    "TILE_CACHE_URL", default=env.str("CACHE_URL", default="locmemcache://wsi2ml-tiles")
)
_tile_cache["KEY_PREFIX"] = "tiles"
_tile_cache["TIMEOUT"] = env.int("TILE_CACHE_SECONDS", default=7 * 24 * 3600)
if _tile_cache["BACKEND"].endswith("LocMemCache"):
    _tile_cache.setdefault("OPTIONS", {})["MAX_ENTRIES"] = 5000
CACHES = {"default": _cache, "tiles": _tile_cache}

AUTHENTICATION_BACKENDS = [
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
# The annotation API answers a failed CSRF check with JSON; other pages get Django's page.
CSRF_FAILURE_VIEW = "annotations.views.csrf_failure"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
    "loggers": {"django.request": {"level": "ERROR"}},
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
