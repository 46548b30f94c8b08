"""Kinds of job that only the tests run, registered in the test process (to queue them) and in
the test workers (tests.jobs.worker_app, to run them)."""

import os
import time
from pathlib import Path

from jobs.registry import JobFailed, JobOutcome, register

# Longest a test handler waits for its release file: a test that dies leaves no job behind
# holding a worker for ever.
WAIT_LIMIT = 60


@register("test_wait", permissions=())
def wait_for_release(*, job, progress) -> JobOutcome:
    """Write the pool process's pid to params["pidfile"], report 1 of 2 done, then beat every
    0.1 s until the file params["release"] exists (at most WAIT_LIMIT s); then succeed."""
    Path(job.params["pidfile"]).write_text(str(os.getpid()))
    progress(1, 2)
    release = Path(job.params["release"])
    deadline = time.monotonic() + WAIT_LIMIT
    while not release.exists():
        if time.monotonic() > deadline:
            raise JobFailed("The test never released this job.")
        progress.flush()  # more often than Progress would: a busy CI machine stalls processes
        time.sleep(0.1)
    return JobOutcome(message=f"Released at attempt {job.attempts}.", result={"pid": os.getpid()})


@register("test_steps", permissions=())
def count_steps(*, job, progress) -> JobOutcome:
    """Do params["steps"] steps of params["seconds"] each, reporting each."""
    steps = job.params["steps"]
    for done in range(steps):
        progress(done, steps)
        time.sleep(job.params["seconds"])
    progress(steps, steps)
    return JobOutcome(message=f"{steps} steps done.", result={"steps": steps})


@register("test_crash", permissions=())
def crash(*, job, progress) -> JobOutcome:
    """Fail on an error that no handler expects, with a secret in its text."""
    raise RuntimeError("connection to 10.0.0.7 refused (password=hunter2)")


@register("test_refuse", permissions=())
def refuse(*, job, progress) -> JobOutcome:
    raise JobFailed("There is nothing to do: the folder is empty.")


@register("test_scan_then_crash", permissions=())
def scan_then_crash(*, job, progress) -> JobOutcome:
    """A real scan of params["folder"] that crashes after params["files"] files, as a scan does
    when the database or the disk goes away part way."""
    from slides.services import slides_scan

    def each(files):
        for number, path in enumerate(progress.each(files)):
            if number == job.params["files"]:
                raise OSError("the slide archive went away")
            yield path

    slides_scan(folder=job.params["folder"], progress=each)
    raise AssertionError("the scan was to crash")
