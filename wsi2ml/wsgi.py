"""WSGI entry point for gunicorn: ``gunicorn wsi2ml.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wsi2ml.settings")

application = get_wsgi_application()
