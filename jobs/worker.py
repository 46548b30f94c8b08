"""What a Celery worker runs: the task behind every job, and the reaper of stopped workers' jobs.

Not ``tasks.py``: WSI2ML has an app called ``tasks``. Imported by jobs.apps, in every process.
"""

import logging
from pathlib import Path

from celery import bootsteps, shared_task
from celery.signals import worker_init, worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections

from jobs import services

logger = logging.getLogger(__name__)


# acks_late: the message is acknowledged when the job has ended, not when it starts, so that the
# job of a worker killed mid-run is delivered again; reject_on_worker_lost: also when the pool
# process running it dies (killed for memory, say), which Celery otherwise acknowledges. Either
# way job_run finds what the job's row says and does only what is left to do. Without the
# database the job cannot even be claimed: the task is retried, with Celery's exponential
# backoff (up to 1 s, 2 s, 4 s... at most 5 minutes), rather than dropped with the job queued.
@shared_task(
    name=services.TASK_NAME,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=None,
)
def run_job(job_id: int) -> None:
    try:
        services.job_run(job_id=job_id)
    finally:
        # A worker may wait hours for its next job: it holds no database connection meanwhile.
        connections.close_all()


def reap() -> None:
    try:
        reaped = services.jobs_reap()
    except Exception:  # the timer must go on: the next round may find the database back
        logger.exception("reaping stopped workers' jobs failed")
        return
    finally:
        connections.close_all()
    if reaped:
        logger.warning("%s jobs whose worker stopped were queued again or failed", reaped)


@worker_ready.connect(dispatch_uid="jobs.worker.reap_at_start")
def reap_at_start(**kwargs) -> None:
    """A worker that starts (a restart after a crash, often) takes up what stopped workers left."""
    reap()


@worker_init.connect(dispatch_uid="jobs.worker.make_queue_folders")
def make_queue_folders(**kwargs) -> None:
    """Create the embedded broker's folders (kombu's filesystem transport does not)."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    for name in ("data_folder_in", "data_folder_out", "control_folder"):
        if name in options:
            Path(options[name]).mkdir(parents=True, exist_ok=True)


class Reaper(bootsteps.StartStopStep):
    """Reap every JOB_REAP_SECONDS in each worker: a job is never left running after its worker
    stopped, even when no other worker starts and nobody looks at the job."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer_ref = None

    def start(self, parent) -> None:
        self.timer_ref = parent.timer.call_repeatedly(settings.JOB_REAP_SECONDS, reap)

    def stop(self, parent) -> None:
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None
