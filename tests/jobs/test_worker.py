"""Jobs run by a real Celery worker (a subprocess reading this process's Redis database): a scan
to its report, progress as it goes, failures said plainly with nothing half-stored, and
messages delivered twice doing nothing."""

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.selectors import job_details
from jobs.services import TASK_NAME, UNEXPECTED, job_enqueue
from slides.jobs import scan_job_start
from slides.models import Slide
from slides.services import slide_register_file
from tests import factories
from tests.jobs.workers import wait_for, wait_for_state, write_slides
from wsi2ml.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)

FINAL = (Job.State.SUCCEEDED, Job.State.FAILED)


def finished(job: Job, module_worker) -> Job:
    return wait_for_state(job, *FINAL, process=module_worker.process)


def test_a_scan_job_runs_to_success_with_its_report(module_worker, folder, scanner):
    write_slides(folder, 3)
    (folder / "broken.svs").write_bytes(b"junk" * 100)

    job = finished(scan_job_start(folder=folder.name, actor=scanner), module_worker)

    assert job.state == Job.State.SUCCEEDED
    assert job.message == (
        f"Scanned {folder.name}: 3 created, 0 updated, 0 moved, 0 unchanged, 1 unreadable, "
        "0 missing, 0 refused."
    )
    assert (job.done, job.total, job.attempts) == (4, 4, 1)
    assert job.result["counts"]["created"] == 3
    assert sorted(job.result["created"]) == [f"{folder.name}/slide-0{i}.tiff" for i in range(3)]
    assert job_details(job)[0].startswith(f"Unreadable {folder.name}/broken.svs: ")
    assert job.started_at <= job.finished_at
    assert Slide.objects.filter(status=Slide.Status.OK).count() == 3


def test_progress_counts_increase_while_a_job_runs(module_worker, scanner):
    job = job_enqueue(kind="test_steps", params={"steps": 6, "seconds": 0.25}, actor=scanner)
    seen = []

    def record():
        job.refresh_from_db()
        if job.state == Job.State.RUNNING:
            seen.append(job.done)
        return job.is_final

    wait_for(record, what="the job to end", seconds=20, process=module_worker.process)

    assert job.state == Job.State.SUCCEEDED
    assert (job.done, job.total) == (6, 6)
    assert seen == sorted(seen)
    assert len({done for done in seen if 0 < done < 6}) >= 2, seen


def test_an_unexpected_error_fails_the_job_with_a_plain_message(module_worker, scanner):
    job = finished(job_enqueue(kind="test_crash", params={}, actor=scanner), module_worker)

    assert job.state == Job.State.FAILED
    assert job.message == UNEXPECTED.format(id=job.pk)
    assert "hunter2" not in job.message and "Traceback" not in job.message
    assert job.finished_at is not None
    log = module_worker.process.output()
    assert f"job {job.pk} (test_crash) failed" in log
    assert "RuntimeError: connection to 10.0.0.7 refused" in log  # the traceback, for admins


def test_a_refusal_fails_the_job_with_its_reason(module_worker, scanner):
    job = finished(job_enqueue(kind="test_refuse", params={}, actor=scanner), module_worker)

    assert job.state == Job.State.FAILED
    assert job.message == "There is nothing to do: the folder is empty."


def test_a_scan_of_a_folder_removed_meanwhile_fails_saying_why(module_worker, folder, scanner):
    folder.rmdir()

    job = finished(scan_job_start(folder=folder.name, actor=scanner), module_worker)

    assert job.state == Job.State.FAILED
    assert job.message.startswith(f"Nothing was scanned: {folder.name} does not exist")


def test_a_scan_that_crashes_part_way_stores_no_half_slide_and_a_rerun_converges(
    module_worker, folder, scanner
):
    paths = write_slides(folder, 5)
    gone = factories.write_pyramid_tiff(folder / "gone.tiff", 500, 300, seed=9)
    slide_register_file(path=gone, root=module_worker.root)
    gone.unlink()

    crashed = finished(
        job_enqueue(
            kind="test_scan_then_crash",
            params={"folder": folder.name, "files": 2},
            actor=scanner,
        ),
        module_worker,
    )

    assert crashed.state == Job.State.FAILED
    assert crashed.message == UNEXPECTED.format(id=crashed.pk)
    stored = {slide.path: slide for slide in Slide.objects.exclude(name="gone.tiff")}
    assert sorted(stored) == [f"{folder.name}/{path.name}" for path in paths[:2]]
    for slide in stored.values():  # each one whole: every fact read from its file is there
        assert slide.status == Slide.Status.OK and slide.quickhash and slide.width
    # Only a whole scan knows that a file is gone: the crashed one marked nothing missing.
    assert Slide.objects.get(name="gone.tiff").status == Slide.Status.OK

    rerun = finished(scan_job_start(folder=folder.name, actor=scanner), module_worker)

    assert rerun.state == Job.State.SUCCEEDED
    assert rerun.result["counts"] == {
        "created": 3,
        "updated": 0,
        "moved": 0,
        "unchanged": 2,
        "unreadable": 0,
        "missing": 1,
        "refused": 0,
    }
    assert Slide.objects.filter(status=Slide.Status.OK).count() == 5
    assert Slide.objects.get(name="gone.tiff").status == Slide.Status.MISSING


def test_a_message_delivered_again_does_nothing_to_a_finished_or_running_job(
    module_worker, scanner
):
    done = finished(job_enqueue(kind="test_refuse", params={}, actor=scanner), module_worker)
    running = Job.objects.create(
        kind="test_steps",
        state=Job.State.RUNNING,
        params={"steps": 1, "seconds": 0},
        attempts=1,
        heartbeat_at=timezone.now(),
    )
    before = {job.pk: (job.state, job.message, job.attempts, job.finished_at) for job in (done,)}
    before[running.pk] = (running.state, running.message, running.attempts, None)

    for job in (done, running):
        celery_app.send_task(TASK_NAME, args=[job.pk])  # as Celery redelivers a message
    # One worker process takes the messages in order: once a later job has run, both were read.
    marker = job_enqueue(kind="test_steps", params={"steps": 1, "seconds": 0}, actor=scanner)
    finished(marker, module_worker)

    for job in (done, running):
        job.refresh_from_db()
        assert (job.state, job.message, job.attempts, job.finished_at) == before[job.pk]
    assert module_worker.broker.waiting() == 0
