"""A worker killed mid-job never leaves the job running: another worker takes it up (when it
starts, and every JOB_REAP_SECONDS), the pool process's own message comes back
(reject_on_worker_lost), and after JOB_MAX_ATTEMPTS starts the job fails, saying why.

Real worker processes, killed with SIGKILL: no shutdown, no acknowledgement."""

import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.services import job_enqueue
from tests.jobs.workers import wait_for, wait_for_state

pytestmark = pytest.mark.django_db(transaction=True)

# Stale after 2 s without a heartbeat; the test handler beats every 0.1 s while it waits.
FAST = {"JOB_STALE_SECONDS": 2}
# Reaping only when a worker starts: what brings the job back is then worker_ready alone.
AT_START_ONLY = {**FAST, "JOB_REAP_SECONDS": 3600}


@pytest.fixture
def waiting_job(scanner, tmp_path, settings):
    """A job that, once started, waits for its release file (tmp_path/release)."""
    settings.JOB_STALE_SECONDS = FAST["JOB_STALE_SECONDS"]
    params = {"pidfile": str(tmp_path / "pid"), "release": str(tmp_path / "release")}
    return job_enqueue(kind="test_wait", params=params, actor=scanner)


def started(job: Job, worker, *, attempt: int) -> Job:
    """Wait until ``worker`` runs ``job``'s attempt ``attempt`` and has reported progress."""

    def running():
        job.refresh_from_db()
        return job.state == Job.State.RUNNING and job.attempts == attempt and job.done == 1

    wait_for(running, what=f"attempt {attempt} of job {job.pk}", process=worker)
    return job


def release(job: Job) -> None:
    Path(job.params["release"]).touch()


def test_a_job_whose_worker_was_killed_is_run_again_by_the_next_worker(
    start_worker, waiting_job, broker
):
    first = start_worker(**AT_START_ONLY)
    started(waiting_job, first, attempt=1)

    first.kill()
    waiting_job.refresh_from_db()
    assert waiting_job.state == Job.State.RUNNING  # nobody is left to say otherwise
    release(waiting_job)
    wait_for(
        lambda: Job.objects.stale(now=timezone.now()).filter(pk=waiting_job.pk).exists(),
        what="the heartbeat to go stale",
    )
    second = start_worker(**AT_START_ONLY)

    job = wait_for_state(waiting_job, Job.State.SUCCEEDED, process=second)
    assert job.attempts == 2
    assert job.message == "Released at attempt 2."
    assert "its worker stopped; reaped" in second.output()


def test_a_job_whose_worker_died_at_its_last_attempt_fails_saying_so(start_worker, waiting_job):
    limits = {**AT_START_ONLY, "JOB_MAX_ATTEMPTS": 1}
    first = start_worker(**limits)
    started(waiting_job, first, attempt=1)
    first.kill()
    wait_for(
        lambda: Job.objects.stale(now=timezone.now()).filter(pk=waiting_job.pk).exists(),
        what="the heartbeat to go stale",
    )
    second = start_worker(**limits)

    job = wait_for_state(waiting_job, Job.State.FAILED, process=second)
    assert job.attempts == 1
    assert job.message.startswith("The worker stopped while running this job, once;")
    assert job.finished_at is not None


def test_a_running_worker_takes_up_the_job_of_a_worker_that_stopped(start_worker, scanner):
    worker = start_worker(**FAST, JOB_REAP_SECONDS=0.5)
    # As a worker on another machine leaves it when it dies: running, beating no more.
    orphan = Job.objects.create(
        kind="test_steps",
        params={"steps": 2, "seconds": 0},
        state=Job.State.RUNNING,
        attempts=1,
        created_by=scanner,
        heartbeat_at=timezone.now() - timedelta(seconds=10),
    )

    job = wait_for_state(orphan, Job.State.SUCCEEDED, seconds=10, process=worker)
    assert job.attempts == 2
    assert job.message == "2 steps done."


def test_a_killed_pool_process_gives_its_job_back_to_the_worker(start_worker, waiting_job):
    worker = start_worker(**FAST, JOB_REAP_SECONDS=0.5)
    started(waiting_job, worker, attempt=1)
    pool_process = int(Path(waiting_job.params["pidfile"]).read_text())

    os.kill(pool_process, signal.SIGKILL)
    release(waiting_job)

    job = wait_for_state(waiting_job, Job.State.SUCCEEDED, process=worker)
    assert job.attempts == 2
    assert job.result["pid"] != pool_process  # a new pool process ran it


def test_a_worker_without_its_database_retries_the_job_rather_than_drop_it(start_worker, scanner):
    worker = start_worker(DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere")
    job = job_enqueue(kind="test_steps", params={"steps": 1, "seconds": 0}, actor=scanner)

    wait_for(
        lambda: "Task jobs.run[" in worker.output() and "retry: Retry in" in worker.output(),
        what="the worker to retry the job",
        process=worker,
    )
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED
    assert "reaping stopped workers' jobs failed" in worker.output()  # and it goes on
