"""What the tests' Celery workers load (``celery -A tests.jobs.worker_app worker``): WSI2ML's
own application, with the tests' kinds of job registered beside the real ones, reading the
queue of the test process that started it (tests.jobs.workers.QUEUE)."""

import os

from tests.jobs import handlers  # noqa: F401
from wsi2ml.celery import app

app.conf.task_default_queue = os.environ["TEST_JOB_QUEUE"]
# Test workers on one machine share a node name: no remote control, whose replies would cross.
app.conf.worker_enable_remote_control = False

__all__ = ["app"]
