"""GET /api/jobs/<id> and the job page: what they say about a job, and the stale job they reap."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from jobs.services import job_run
from slides.jobs import scan_job_start
from tests import factories
from wsi2ml.tokens import api_token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def scanned(slides_root, scanner):
    """A scan job of folder "2024" (one slide, one unreadable file), run to its end here."""
    factories.write_pyramid_tiff(slides_root / "2024" / "a.tiff", 600, 400)
    (slides_root / "2024" / "b.svs").write_bytes(b"junk" * 100)
    job = scan_job_start(folder="2024", actor=scanner)
    return job_run(job_id=job.pk)


def api_url(job: Job) -> str:
    return reverse("jobs_api:job", args=[job.pk])


def test_the_api_says_what_the_job_did(client, scanner, scanned):
    client.force_login(scanner)

    body = client.get(api_url(scanned)).json()

    unreadable = body.pop("details")
    assert len(unreadable) == 1 and unreadable[0].startswith("Unreadable 2024/b.svs: ")
    result = body.pop("result")
    assert result["counts"] == {
        "created": 1,
        "updated": 0,
        "moved": 0,
        "unchanged": 0,
        "unreadable": 1,
        "missing": 0,
        "refused": 0,
    }
    assert result["created"] == ["2024/a.tiff"]
    assert body == {
        "id": scanned.pk,
        "kind": "scan_slides",
        "kind_name": "Scan slides",
        "state": "succeeded",
        "state_name": "Succeeded",
        "final": True,
        "done": 2,
        "total": 2,
        "percent": 100,
        "message": (
            "Scanned 2024: 1 created, 0 updated, 0 moved, 0 unchanged, 1 unreadable, 0 missing, "
            "0 refused."
        ),
        "links": [{"text": "The slides in the admin", "url": "/admin/slides/slide/?folder=2024"}],
        "attempts": 1,
        "created_by": "scanner",
        "created": scanned.created_at.isoformat(),
        "started": scanned.started_at.isoformat(),
        "finished": scanned.finished_at.isoformat(),
        "heartbeat": scanned.heartbeat_at.isoformat(),
    }


def test_a_script_reads_a_job_with_an_api_token(client, scanner, scanned):
    _, secret = api_token_create(user=scanner, name="monitoring")

    response = client.get(api_url(scanned), headers={"Authorization": f"Bearer {secret}"})

    assert response.status_code == 200
    assert response.json()["state"] == "succeeded"
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_api_only_reads(client, scanner, scanned, method):
    client.force_login(scanner)

    response = getattr(client, method)(api_url(scanned))

    assert response.status_code == 405
    assert response.json() == {"error": "Use GET here."}
    scanned.refresh_from_db()
    assert scanned.state == Job.State.SUCCEEDED


def test_a_running_job_whose_worker_stopped_is_queued_again_when_read(
    client, scanner, broker, settings, django_capture_on_commit_callbacks
):
    settings.JOB_STALE_SECONDS = 60
    job = Job.objects.create(
        kind=Job.Kind.SCAN_SLIDES,
        state=Job.State.RUNNING,
        attempts=1,
        created_by=scanner,
        heartbeat_at=timezone.now() - timedelta(seconds=61),
    )
    client.force_login(scanner)

    with django_capture_on_commit_callbacks(execute=True):
        body = client.get(api_url(job)).json()

    assert body["state"] == "queued"
    assert body["message"].startswith("The worker running this job stopped;")
    assert broker.waiting() == 1


def test_reading_a_job_that_beats_changes_nothing(client, scanner, broker, settings):
    settings.JOB_STALE_SECONDS = 60
    job = Job.objects.create(
        kind=Job.Kind.SCAN_SLIDES,
        state=Job.State.RUNNING,
        attempts=1,
        done=3,
        total=10,
        created_by=scanner,
        heartbeat_at=timezone.now() - timedelta(seconds=59),
    )
    client.force_login(scanner)

    body = client.get(api_url(job)).json()

    assert (body["state"], body["percent"], body["details"]) == ("running", 30, [])
    assert broker.waiting() == 0


def test_the_page_draws_the_progress_of_a_running_job(client, scanner):
    job = Job.objects.create(
        kind=Job.Kind.SCAN_SLIDES,
        state=Job.State.RUNNING,
        done=3,
        total=10,
        created_by=scanner,
        heartbeat_at=timezone.now(),
    )
    client.force_login(scanner)

    html = client.get(reverse("jobs:job", args=[job.pk])).content.decode()

    assert 'aria-valuenow="30"' in html
    assert 'style="width: 30%"' in html and ">30 %</div>" in html
    assert "3 of 10 done" in html
    assert 'data-state="running"' in html


def test_the_page_shows_a_finished_scan_with_its_report(client, scanner, scanned):
    client.force_login(scanner)

    html = client.get(reverse("jobs:job", args=[scanned.pk])).content.decode()

    assert "Scanned 2024: 1 created" in html
    assert "<li>Unreadable 2024/b.svs: " in html
    assert 'href="/admin/slides/slide/?folder=2024"' in html
    assert 'aria-valuenow="100"' in html and "bg-success" in html
    # No inline script (the Content-Security-Policy forbids them): a module and JSON data.
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in attributes or "application/json" in attributes for attributes in scripts)
    assert any("jobs/job.js" in attributes for attributes in scripts)
