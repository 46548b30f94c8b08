"""Fixtures of the jobs tests: the test broker, real worker processes, users who start jobs."""

import re
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission

from tests import factories
from tests.jobs import handlers  # noqa: F401  (the tests' kinds of job, known to this process)
from tests.jobs.workers import Broker, WorkerProcess, use_test_broker, worker_env

SCAN_CODENAMES = ("view_slide", "add_slide", "change_slide")


@pytest.fixture
def broker() -> Broker:
    """This test's empty Redis database, which this process sends jobs to; no worker reads it
    unless the test starts one (start_worker)."""
    return use_test_broker()


@pytest.fixture
def start_worker(broker, slides_root, tmp_path):
    """Start a worker process on this test's database, slides and broker, with settings (as
    environment variables) for its Django; every one started is stopped at the end."""
    started: list[WorkerProcess] = []

    def start(**settings_env) -> WorkerProcess:
        env = worker_env(slides_root=slides_root, broker_url=broker.url, **settings_env)
        worker = WorkerProcess(log=tmp_path / f"worker-{len(started) + 1}.log", env=env)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def scanner(db):
    """A staff member who may scan folders (slides.add_slide and change_slide), not superuser."""
    user = factories.user_create("scanner", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=SCAN_CODENAMES))
    return user


@pytest.fixture(scope="module")
def module_worker(django_db_setup, tmp_path_factory):
    """One worker for a whole test module (starting one takes about 1.5 s), on its own slide
    folder."""
    root = tmp_path_factory.mktemp("slides").resolve()
    broker = use_test_broker()
    env = worker_env(slides_root=root, broker_url=broker.url)
    worker = WorkerProcess(log=root.parent / f"{root.name}-worker.log", env=env).start()
    yield SimpleNamespace(process=worker, root=root, broker=broker)
    worker.stop()


@pytest.fixture
def folder(module_worker, settings, request):
    """A folder of this test's own in the module worker's SLIDES_ROOT, which this process
    uses too; its name relative to the root is ``folder.name``."""
    settings.SLIDES_ROOT = module_worker.root
    folder = module_worker.root / re.sub(r"\W+", "-", request.node.name)
    folder.mkdir()
    return folder
