"""The admin scans a folder and watches the job's page fill its bar to 100 % and show the
report, without a reload, the scan run by a real worker; no script error, no CSP violation."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.jobs import handlers  # noqa: F401  (the worker loads them: keep this process alike)
from tests.jobs.workers import WorkerProcess, use_test_broker, worker_env, write_slides

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(slides_root, tmp_path):
    """A worker on this test's database and slides; not started until the test says so."""
    broker = use_test_broker()
    env = worker_env(slides_root=slides_root, broker_url=broker.url)
    process = WorkerProcess(log=tmp_path / "worker.log", env=env)
    yield process
    process.stop()


def test_the_admin_watches_a_folder_scan_run_to_its_report(
    log_in, admin_user, slides_root, worker, live_server, problems
):
    write_slides(slides_root / "2024", 5)
    (slides_root / "2024" / "broken.svs").write_bytes(b"junk" * 100)
    page = log_in(admin_user, reverse("admin:slides_slide_scan"))

    page.get_by_label("Folder").select_option("2024")
    page.get_by_role("button", name="Scan").click()
    page.wait_for_url(f"{live_server.url}/jobs/*/")
    expect(page.locator("#job-state")).to_have_text("Queued")
    expect(page.locator("#job-count")).to_have_text("Waiting for a worker to start it.")
    page.evaluate("window.stillThisPage = true")  # gone if the page were loaded again
    worker.start()

    expect(page.locator("body")).to_have_attribute("data-job-state", "succeeded", timeout=20_000)
    expect(page.locator("#job-state")).to_have_text("Succeeded")
    expect(page.locator("#job-bar")).to_have_text("100 %")
    expect(page.locator("#job-progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#job-count")).to_have_text("6 of 6 done")
    expect(page.locator("#job-message")).to_have_text(
        "Scanned 2024: 5 created, 0 updated, 0 moved, 0 unchanged, 1 unreadable, 0 missing, "
        "0 refused."
    )
    expect(page.locator("#job-details li")).to_have_count(1)
    expect(page.locator("#job-details li")).to_contain_text("Unreadable 2024/broken.svs: ")
    expect(page.get_by_role("link", name="The slides in the admin")).to_have_attribute(
        "href", "/admin/slides/slide/?folder=2024"
    )
    assert page.evaluate("window.stillThisPage") is True
    assert problems == []
