"""Writes to jobs: queueing one, running it in a worker, and reaping those whose worker stopped.

A job's life: ``job_enqueue`` saves it QUEUED and, once that is committed, sends one Celery
message naming it. A worker's ``job_run`` claims it (RUNNING, one more attempt), runs the
handler its kind registered (jobs.registry) with a Progress that records done/total and beats,
and ends it SUCCEEDED with the handler's outcome or FAILED with a reason in plain words.

A worker killed mid-job leaves it RUNNING with a heartbeat that stops moving. Once that
heartbeat is JOB_STALE_SECONDS old, ``jobs_reap`` queues the job again (a new message), or fails
it after JOB_MAX_ATTEMPTS starts; every worker reaps when it starts and every JOB_REAP_SECONDS
(jobs.worker), and the job's status API reaps the job it is asked about. A message delivered
twice (Celery redelivers the unacknowledged message of a lost worker: acks_late,
reject_on_worker_lost) finds its job finished, or running with a fresh heartbeat, and does
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import TypeVar

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import KombuError

from jobs.models import Job
from jobs.registry import JobFailed, JobOutcome, UnknownJobKind, kind_for

logger = logging.getLogger(__name__)

TASK_NAME = "jobs.run"
# Progress is written at most this often: a scan reports after every file, a few milliseconds
# apart, and an UPDATE each time would outnumber the scan's own writes (none for a file that has
# not changed).
PROGRESS_INTERVAL = 0.5
REAP_BATCH = 100

NOT_QUEUED = (
    "The job could not be queued: the job queue (CELERY_BROKER_URL) did not answer. "
    "Try again; if it fails again, ask an administrator to check the queue and its worker."
)
UNEXPECTED = (
    "The job stopped on an unexpected error; the server's log has the details (job {id}). "
    "What it finished is kept, complete, and running it again carries on from there."
)

Item = TypeVar("Item")


class JobLost(Exception):
    """This run no longer holds its job: it was reaped and queued again, or ended meanwhile."""


# --- Queueing -----------------------------------------------------------------------------


def job_enqueue(*, kind: str, params: dict, actor: AbstractBaseUser | None) -> Job:
    """Save a QUEUED job of ``kind`` and send it to a worker once the transaction commits."""
    kind_for(kind)  # UnknownJobKind now, rather than a failed job later
    job = Job.objects.create(kind=kind, params=params, created_by=actor)
    transaction.on_commit(partial(_send, job.pk))
    return job


def _send(job_id: int) -> None:
    """Send the message that has a worker run the job; fail the job if the queue is down."""
    try:
        current_app.send_task(TASK_NAME, args=[job_id])
    except (KombuError, OSError):
        logger.exception("job %s could not be sent to the job queue", job_id)
        Job.objects.filter(pk=job_id, state=Job.State.QUEUED).update(
            state=Job.State.FAILED, message=NOT_QUEUED, finished_at=timezone.now()
        )


# --- Running ------------------------------------------------------------------------------


class Progress:
    """How far a running job has got, written to its row at most every PROGRESS_INTERVAL.

    Call it with the number of items done (and the total, once known); every write is also the
    job's heartbeat. Raises JobLost when the job is no longer this run's, so that a run that
    was taken for dead stops at its next report instead of finishing twice.
    """

    def __init__(self, job: Job, *, interval: float = PROGRESS_INTERVAL):
        self.job = job
        self.done = job.done
        self.total = job.total
        self.interval = interval
        self._written = time.monotonic()

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if time.monotonic() - self._written >= self.interval:
            self.flush()

    def each(self, items: Sequence[Item]) -> Iterator[Item]:
        """Yield ``items``, reporting before each one how many are done."""
        for done, item in enumerate(items):
            self(done, len(items))
            yield item
        self(len(items), len(items))

    def flush(self) -> None:
        written = _own(self.job).update(
            done=self.done, total=self.total, heartbeat_at=timezone.now()
        )
        self._written = time.monotonic()
        if not written:
            raise JobLost(f"job {self.job.pk} is no longer run by this worker")


def _own(job: Job):
    """The job's row while it is still this run's: running, at this attempt."""
    return Job.objects.filter(pk=job.pk, state=Job.State.RUNNING, attempts=job.attempts)


def job_run(*, job_id: int) -> Job | None:
    """Run the job (what the Celery task does); return it as it ended, or None if not run.

    Not run: a job that is finished (a message delivered twice), or running with a fresh
    heartbeat (another worker has it). A stale running job is taken over, as the reaper would.
    """
    job = _claim(job_id)
    if job is None:
        return None
    progress = Progress(job)
    try:
        outcome = kind_for(job.kind).handler(job=job, progress=progress)
    except JobLost:
        logger.warning("job %s was taken over while this worker ran it; stopped", job.pk)
        return None
    except JobFailed as exc:
        return _finish(job, progress, state=Job.State.FAILED, message=exc.message)
    except UnknownJobKind:
        message = f"This worker does not know how to run jobs of kind {job.kind!r}."
        return _finish(job, progress, state=Job.State.FAILED, message=message)
    except Exception:
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        message = UNEXPECTED.format(id=job.pk)
        return _finish(job, progress, state=Job.State.FAILED, message=message)
    return _finish(job, progress, state=Job.State.SUCCEEDED, outcome=outcome)


def _claim(job_id: int) -> Job | None:
    """Mark the job RUNNING for this run, one attempt more, unless it is not to be run."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("job %s does not exist; its message is dropped", job_id)
            return None
        if job.is_final:
            logger.info("job %s is %s already; its message is dropped", job.pk, job.state)
            return None
        if job.state == Job.State.RUNNING:
            if not job.is_stale(now=now):
                logger.info("job %s is running elsewhere; its message is dropped", job.pk)
                return None
            if job.attempts >= settings.JOB_MAX_ATTEMPTS:
                _fail_stopped(job, now=now)
                return None
            job.message = "The worker running this job stopped; another one took it over."
        job.state = Job.State.RUNNING
        job.attempts += 1
        job.started_at = job.heartbeat_at = now
        job.save(update_fields=["state", "attempts", "started_at", "heartbeat_at", "message"])
    return job


def _finish(
    job: Job,
    progress: Progress,
    *,
    state: str,
    message: str = "",
    outcome: JobOutcome | None = None,
) -> Job | None:
    """Record how the run ended, unless the job was taken from it meanwhile."""
    now = timezone.now()
    fields = {
        "state": state,
        "message": outcome.message if outcome else message,
        "result": outcome.result if outcome else None,
        "done": progress.done,
        "total": progress.total,
        "finished_at": now,
        "heartbeat_at": now,
    }
    if not _own(job).update(**fields):
        logger.warning("job %s was taken over before it finished here; outcome dropped", job.pk)
        return None
    job.refresh_from_db()
    return job


# --- Reaping --------------------------------------------------------------------------------


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _fail_stopped(job: Job, *, now) -> bool:
    """Fail a stale job that has used up its attempts, unless it beat meanwhile."""
    return bool(
        Job.objects.filter(
            pk=job.pk, state=Job.State.RUNNING, heartbeat_at=job.heartbeat_at
        ).update(
            state=Job.State.FAILED,
            finished_at=now,
            message=(
                f"The worker stopped while running this job, {_times(job.attempts)}; it is "
                "not tried again. The server's log may say why (a worker killed for lack of "
                "memory, a restart)."
            ),
        )
    )


def jobs_reap(*, job_ids: Iterable[int] | None = None) -> int:
    """Queue again, or fail after JOB_MAX_ATTEMPTS starts, the running jobs whose worker stopped
    (no heartbeat for JOB_STALE_SECONDS); only ``job_ids`` if given. Return how many.

    At most REAP_BATCH a call. Rows another transaction holds are skipped (a run reporting
    progress is alive); each is changed only if its heartbeat is still the stale one read.
    """
    now = timezone.now()
    stale = Job.objects.stale(now=now)
    if job_ids is not None:
        stale = stale.filter(pk__in=list(job_ids))
    reaped = 0
    with transaction.atomic():
        for job in stale.select_for_update(skip_locked=True).order_by("pk")[:REAP_BATCH]:
            if job.attempts >= settings.JOB_MAX_ATTEMPTS:
                changed = _fail_stopped(job, now=now)
            else:
                changed = _requeue(job)
            if changed:
                logger.warning("job %s (%s): its worker stopped; reaped", job.pk, job.kind)
                reaped += 1
    return reaped


def _requeue(job: Job) -> bool:
    """Queue a stale job again (sent once committed), unless it beat meanwhile."""
    requeued = Job.objects.filter(
        pk=job.pk, state=Job.State.RUNNING, heartbeat_at=job.heartbeat_at
    ).update(
        state=Job.State.QUEUED,
        message=(
            "The worker running this job stopped; the job was queued again (started "
            f"{job.attempts} of at most {settings.JOB_MAX_ATTEMPTS} times)."
        ),
    )
    if requeued:
        transaction.on_commit(partial(_send, job.pk))
    return bool(requeued)


def job_reap_if_stale(*, job: Job) -> Job:
    """Return ``job``, reaped first if it is running without a heartbeat for JOB_STALE_SECONDS.

    What the job's page and API do on every read: one comparison, and a query only for a job
    that looks stale, so that a stopped worker's job is never shown running for long.
    """
    if not job.is_stale(now=timezone.now()):
        return job
    if jobs_reap(job_ids=[job.pk]):
        job.refresh_from_db()
    return job
