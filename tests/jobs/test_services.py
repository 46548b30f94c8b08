"""The life of a job, in this process: queueing it (one message, once committed), claiming it,
reporting progress, ending it, and reaping it when its worker stopped."""

import logging
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from jobs import registry
from jobs.models import Job
from jobs.registry import JobOutcome, UnknownJobKind
from jobs.services import (
    NOT_QUEUED,
    UNEXPECTED,
    JobLost,
    Progress,
    job_enqueue,
    job_run,
    jobs_reap,
)
from tests.jobs.workers import point_celery_at, use_test_broker

pytestmark = pytest.mark.django_db

STEPS = {"steps": 2, "seconds": 0}


def running_job(*, beat_seconds_ago: float, attempts: int = 1, **fields) -> Job:
    """A running job (of test_steps) whose last heartbeat was ``beat_seconds_ago`` ago."""
    return Job.objects.create(
        kind="test_steps",
        params=STEPS,
        state=Job.State.RUNNING,
        attempts=attempts,
        heartbeat_at=timezone.now() - timedelta(seconds=beat_seconds_ago),
        **fields,
    )


@pytest.fixture
def stale_after_one_second(settings):
    settings.JOB_STALE_SECONDS = 1
    settings.JOB_MAX_ATTEMPTS = 3


@pytest.fixture
def broker_down():
    """No broker answers: jobs are sent to a port nothing listens on."""
    point_celery_at("redis://127.0.0.1:1/0")
    yield
    use_test_broker()


def test_a_queued_job_is_sent_once_its_transaction_commits(
    broker, scanner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(kind="test_steps", params=STEPS, actor=scanner)
        assert broker.waiting() == 0

    assert broker.waiting() == 1
    assert (job.state, job.created_by, job.params, job.attempts) == (
        Job.State.QUEUED,
        scanner,
        STEPS,
        0,
    )


def test_a_job_rolled_back_is_never_sent(broker, scanner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        job_enqueue(kind="test_steps", params=STEPS, actor=scanner)
        transaction.set_rollback(True)

    assert broker.waiting() == 0
    assert not Job.objects.exists()


def test_an_unknown_kind_is_refused_before_anything_is_saved(broker, scanner):
    with pytest.raises(UnknownJobKind):
        job_enqueue(kind="no_such_kind", params={}, actor=scanner)

    assert not Job.objects.exists()


def test_a_job_that_cannot_be_sent_fails_saying_the_queue_is_down(
    broker_down, scanner, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(kind="test_steps", params=STEPS, actor=scanner)

    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.message == NOT_QUEUED
    assert "could not be sent to the job queue" in caplog.text


def test_running_a_job_claims_it_reports_and_records_its_outcome(scanner):
    job = Job.objects.create(kind="test_steps", params=STEPS, created_by=scanner)

    ended = job_run(job_id=job.pk)

    assert ended.state == Job.State.SUCCEEDED
    assert (ended.done, ended.total, ended.attempts) == (2, 2, 1)
    assert (ended.message, ended.result) == ("2 steps done.", {"steps": 2})
    assert ended.started_at <= ended.heartbeat_at == ended.finished_at


def test_a_finished_job_is_not_run_again(scanner):
    job = Job.objects.create(
        kind="test_steps", params=STEPS, state=Job.State.SUCCEEDED, message="Done before."
    )

    assert job_run(job_id=job.pk) is None

    job.refresh_from_db()
    assert (job.state, job.message, job.attempts) == (Job.State.SUCCEEDED, "Done before.", 0)


def test_a_job_running_with_a_fresh_heartbeat_is_left_to_its_worker(stale_after_one_second):
    job = running_job(beat_seconds_ago=0)

    assert job_run(job_id=job.pk) is None

    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.RUNNING, 1)


def test_a_job_running_with_a_stale_heartbeat_is_taken_over(stale_after_one_second):
    job = running_job(beat_seconds_ago=5)

    ended = job_run(job_id=job.pk)

    assert (ended.state, ended.attempts) == (Job.State.SUCCEEDED, 2)


def test_a_stale_job_out_of_attempts_fails_without_running(stale_after_one_second):
    job = running_job(beat_seconds_ago=5, attempts=3)

    assert job_run(job_id=job.pk) is None

    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.message.startswith("The worker stopped while running this job, 3 times;")


def test_an_unexpected_error_is_logged_with_its_traceback_and_not_shown(scanner, caplog):
    job = Job.objects.create(kind="test_crash", created_by=scanner)

    with caplog.at_level(logging.ERROR, logger="jobs.services"):
        ended = job_run(job_id=job.pk)

    assert ended.state == Job.State.FAILED
    assert ended.message == UNEXPECTED.format(id=job.pk)
    assert "hunter2" not in ended.message
    (record,) = [r for r in caplog.records if r.name == "jobs.services"]
    assert record.exc_info[0] is RuntimeError


def test_a_kind_the_worker_does_not_know_fails_the_job():
    job = Job.objects.create(kind="retired_kind")

    ended = job_run(job_id=job.pk)

    assert ended.state == Job.State.FAILED
    assert ended.message == "This worker does not know how to run jobs of kind 'retired_kind'."


def test_progress_is_written_at_most_every_interval_and_always_when_flushed():
    job = running_job(beat_seconds_ago=0)
    progress = Progress(job, interval=3600)

    progress(1, 10)
    job.refresh_from_db()
    assert (job.done, job.total) == (0, None)

    progress.flush()
    job.refresh_from_db()
    assert (job.done, job.total) == (1, 10)


def test_progress_of_a_run_whose_job_was_taken_over_stops_the_run():
    job = running_job(beat_seconds_ago=0)
    progress = Progress(job, interval=0)
    Job.objects.filter(pk=job.pk).update(attempts=2)  # another worker took it over

    with pytest.raises(JobLost):
        progress(1, 2)


def test_the_outcome_of_a_run_whose_job_was_taken_over_is_dropped(monkeypatch):
    job = Job.objects.create(kind="test_taken_over")

    def taken_over(*, job, progress):
        Job.objects.filter(pk=job.pk).update(attempts=job.attempts + 1, message="Theirs.")
        return JobOutcome(message="Mine.")

    monkeypatch.setitem(
        registry._kinds,
        "test_taken_over",
        registry.JobKind(name="test_taken_over", handler=taken_over, permissions=()),
    )

    assert job_run(job_id=job.pk) is None

    job.refresh_from_db()
    assert (job.state, job.message) == (Job.State.RUNNING, "Theirs.")


def test_reaping_queues_a_stale_job_again_and_sends_it(
    broker, stale_after_one_second, django_capture_on_commit_callbacks
):
    stale = running_job(beat_seconds_ago=5)
    fresh = running_job(beat_seconds_ago=0)

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.state == Job.State.QUEUED
    assert stale.message == (
        "The worker running this job stopped; the job was queued again (started 1 of at most "
        "3 times)."
    )
    assert fresh.state == Job.State.RUNNING
    assert broker.waiting() == 1


def test_reaping_fails_a_stale_job_out_of_attempts(broker, stale_after_one_second):
    job = running_job(beat_seconds_ago=5, attempts=3)

    assert jobs_reap() == 1

    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.finished_at is not None
    assert broker.waiting() == 0


def test_reaping_only_the_jobs_asked_for(broker, stale_after_one_second):
    asked, other = running_job(beat_seconds_ago=5), running_job(beat_seconds_ago=5)

    assert jobs_reap(job_ids=[asked.pk]) == 1

    other.refresh_from_db()
    assert other.state == Job.State.RUNNING
