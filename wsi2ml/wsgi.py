"""WSGI entry point for gunicorn: ``gunicorn wsi2ml.wsgi``.

Granted tile requests are answered by slides.fastpath before Django's middleware stack.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wsi2ml.settings")

application = get_wsgi_application()

from slides.fastpath import TileFastPath  # noqa: E402  (needs the configured settings)

application = TileFastPath(application)
