"""Real Celery workers for the tests: subprocesses on the test database and a Redis database of
their own per pytest-xdist process, so that two test processes never share a queue; and within
it a queue named for this process, so that neither does another test run on the same machine."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

from jobs.models import Job
from tests import factories
from wsi2ml.celery import app as celery_app

# Redis databases 4 (no xdist) and 5, 6, ... (gw0, gw1, ...): the suite's other tests use 1
# (settings only) and 13 (tiles).
FIRST_DATABASE = 4
LAST_DATABASE = 12
# The queue of this test process and of the workers it starts (tests.jobs.worker_app).
QUEUE = f"wsi2ml-test-{uuid.uuid4().hex[:12]}"
STARTUP_SECONDS = 30
REPO = Path(settings.BASE_DIR)


def broker_url_for(worker_id: str) -> str:
    """The Redis database of pytest-xdist's process ``worker_id`` ("gw0"...; "master": none)."""
    number = FIRST_DATABASE if worker_id == "master" else FIRST_DATABASE + 1 + int(worker_id[2:])
    if number > LAST_DATABASE:
        raise RuntimeError(f"no Redis database left for pytest-xdist process {worker_id}")
    return f"redis://127.0.0.1:6379/{number}"


def point_celery_at(url: str) -> None:
    """Make this process send jobs to ``url``: its settings say otherwise (the embedded broker).

    Celery keeps the connection and producer pools of the broker it first sent to; they are
    dropped as a fork drops them (celery.app.base.Celery._after_fork).
    """
    celery_app.conf.broker_url = url
    celery_app.conf.broker_transport_options = {}
    celery_app.conf.task_default_queue = QUEUE
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@dataclass
class Broker:
    url: str
    client: redis.Redis

    def waiting(self) -> int:
        """How many messages wait in this process's queue."""
        return self.client.llen(QUEUE)


def use_test_broker() -> Broker:
    """Send jobs to this process's queue, in its pytest-xdist process's Redis database, emptied.

    Only the queue is emptied, not the whole database, which another test run on the machine
    may be using at the same time.
    """
    # pytest-xdist's worker_id fixture, which exists only with xdist loaded.
    url = broker_url_for(os.environ.get("PYTEST_XDIST_WORKER", "master"))
    client = redis.Redis.from_url(url)
    if celery_app.conf.broker_url != url:
        point_celery_at(url)
    client.delete(QUEUE)
    return Broker(url=url, client=client)


def write_slides(folder: Path, count: int, *, start: int = 0) -> list[Path]:
    """Write ``count`` small generated slides into ``folder``, each of its own fingerprint."""
    return [
        factories.write_pyramid_tiff(folder / f"slide-{i:02}.tiff", 300 + 8 * i, 200, seed=i)
        for i in range(start, start + count)
    ]


def tests_database_url() -> str:
    """The test database (pytest-django's, made for this process) as a DATABASE_URL."""
    config = connection.settings_dict
    password = f":{config['PASSWORD']}" if config["PASSWORD"] else ""
    host = config["HOST"] or "127.0.0.1"
    port = config["PORT"] or 5432
    return f"postgres://{config['USER']}{password}@{host}:{port}/{config['NAME']}"


class WorkerProcess:
    """``celery -A tests.jobs.worker_app worker`` with one pool process, in its own session so
    that a test can kill it whole (SIGKILL: no shutdown, no acknowledgement)."""

    def __init__(self, *, log: Path, env: dict[str, str]):
        self.log = log
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        command = [sys.executable, "-m", "celery", "-A", "tests.jobs.worker_app", "worker"]
        command += ["--pool=prefork", "--concurrency=1", "--loglevel=INFO"]
        command += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: "ready." in self.output(), what="the worker to start", process=self)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool process, as the kernel's OOM killer or a power cut."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Kill the worker if it still runs: a warm shutdown would take 2 s, for nothing."""
        if self.process is not None and self.process.poll() is None:
            self.kill()


def worker_env(*, slides_root: Path, broker_url: str, **settings_env) -> dict[str, str]:
    """The environment of a test worker: this test's database, slides and broker."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wsi2ml.settings",
        "DEBUG": "1",
        "DATABASE_URL": tests_database_url(),
        "SLIDES_ROOT": str(slides_root),
        "CELERY_BROKER_URL": broker_url,
        "TEST_JOB_QUEUE": QUEUE,
        "CONN_MAX_AGE": "0",
    }
    env.update({name: str(value) for name, value in settings_env.items()})
    return env


def wait_for(
    check: Callable[[], object],
    *,
    what: str,
    seconds: float = STARTUP_SECONDS,
    process: WorkerProcess | None = None,
):
    """Poll ``check`` every 50 ms until it returns something true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if process is not None and process.process.poll() is not None:
            raise AssertionError(f"the worker exited waiting for {what}:\n{process.output()}")
        if time.monotonic() > deadline:
            tail = process.output()[-3000:] if process else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.05)


def wait_for_state(job: Job, *states: str, seconds: float = 20, process=None) -> Job:
    """Wait until ``job`` is in one of ``states``; return it as it is then."""

    def reached():
        job.refresh_from_db()
        return job.state in states

    wait_for(
        reached, what=f"job {job.pk} to be {' or '.join(states)}", seconds=seconds, process=process
    )
    return job
