# Celery's app is loaded with Django, so that jobs.worker's shared task binds to it.
from wsi2ml.celery import app as celery_app

__all__ = ("celery_app",)
