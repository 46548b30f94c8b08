"""WSI2ML's Celery application: ``celery -A wsi2ml worker`` runs the background jobs (jobs/).

Configured from Django's settings (the CELERY_ ones, read from the environment there); the
task and the worker's reaper are in jobs.worker, which jobs.apps imports.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wsi2ml.settings")

app = Celery("wsi2ml")
app.config_from_object("django.conf:settings", namespace="CELERY")

# Each worker reaps the jobs of stopped workers every JOB_REAP_SECONDS (a bootstep on the
# worker's timer, as in Celery's "Extensions and Bootsteps" guide).
app.steps["worker"].add("jobs.worker:Reaper")
