"""Prove the quick-start path: run scripts/demo.sh on a fresh SQLite database and slide folder,
check that it prints only what a newcomer needs, then log in as the demo pathologist and fetch
the status page, the slide list, a DZI and a tile, see the product's 404 page for a slide that
does not exist (DEBUG is off: no technical page), then open the work page and read, draw and
delete an annotation through its API; as the demo ML specialist, download an export of the
demo project from its export page and read it; and, as the demo admin, scan the slide folder
from the admin and follow the job, run by the embedded worker, to its report."""

import http.cookiejar
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="wsi2ml-smoke-"))
    port = free_port()
    env = {
        **{name: value for name, value in os.environ.items() if name != "DEBUG"},
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "SLIDES_ROOT": str(work / "slides"),
        "DEMO_PASSWORD": "smoke-test-password-123",
        # Its own job queue: a demo running from the same checkout must not take these jobs.
        "JOB_QUEUE_FOLDER": str(work / "queue"),
    }
    server = subprocess.Popen(
        ["bash", "scripts/demo.sh"],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    printed: list[str] = []
    threading.Thread(target=lambda: printed.extend(server.stdout), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                login_page = opener.open(f"{base}/accounts/login/", timeout=5).read().decode()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print("smoke: the demo server did not start", file=sys.stderr)
                    return 1
                time.sleep(1)
        check_printed(printed, port=port, password=env["DEMO_PASSWORD"])
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
        form = urllib.parse.urlencode(
            {
                "username": "pathologist",
                "password": env["DEMO_PASSWORD"],
                "csrfmiddlewaretoken": token,
            }
        ).encode()
        request = urllib.request.Request(
            f"{base}/accounts/login/", data=form, headers={"Referer": base}
        )
        home = opener.open(request, timeout=30).read().decode()
        assert 'id="continue-button"' in home, "the status page offers no Continue button"
        slide_list = opener.open(f"{base}/slides/", timeout=30).read().decode()
        slide_id = re.search(r'href="/slides/(\d+)/"', slide_list).group(1)
        opener.open(f"{base}/slides/{slide_id}/", timeout=30).read()
        dzi = opener.open(f"{base}/slides/{slide_id}.dzi", timeout=30).read().decode()
        assert 'TileSize="254"' in dzi, dzi
        tile = opener.open(f"{base}/slides/{slide_id}_files/8/0_0.jpeg", timeout=30)
        assert tile.headers["Content-Type"] == "image/jpeg"
        assert tile.read()[:2] == b"\xff\xd8"
        check_not_found_page(opener, base)
        annotations = smoke_annotations(opener, base, jar)
        features = smoke_export(base, env["DEMO_PASSWORD"])
        scan = smoke_scan_job(base, env["DEMO_PASSWORD"])
        print(
            f"smoke: quick-start OK (slide {slide_id}, DZI and tile served from SQLite demo; "
            f"{annotations} demo annotations on the first work slide, one drawn and deleted; "
            f"the ML specialist exported {features} features; the admin's scan job: {scan})"
        )
        return 0
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        shutil.rmtree(work)  # 108 MB of demo slides


def log_in(base: str, username: str, password: str):
    """A URL opener holding ``username``'s session, and the page the log-in led to."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_page = opener.open(f"{base}/accounts/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
    form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
    request = urllib.request.Request(
        f"{base}/accounts/login/",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Referer": base},
    )
    return opener, opener.open(request, timeout=30).read().decode()


def smoke_export(base: str, password: str) -> int:
    """As the demo ML specialist: the status page offers the demo project's export page, whose
    zip (work in progress included: the demo's work is not finished) holds the GeoJSON the
    manifest lists. Return the number of features."""
    opener, home = log_in(base, "mlspecialist", password)
    page_url = re.search(r'href="(/exports/projects/\d+/)"', home)
    assert page_url, "the ML specialist's status page offers no export"
    page = opener.open(base + page_url.group(1), timeout=30).read().decode()
    zip_url = re.search(r'href="(/api/exports/projects/\d+\.zip)[^"]*"', page)
    assert zip_url, "the export page has no download link"
    with opener.open(f"{base}{zip_url.group(1)}?include_in_progress=1", timeout=120) as answer:
        assert answer.headers["Content-Type"] == "application/zip", answer.headers
        body = answer.read()
    with zipfile.ZipFile(io.BytesIO(body)) as zipped:
        manifest = json.loads(zipped.read("manifest.json"))
        features = 0
        for slide in manifest["slides"]:
            collection = json.loads(zipped.read(slide["geojson"]))
            assert collection["type"] == "FeatureCollection", slide
            features += len(collection["features"])
    assert features == manifest["counts"]["features"] > 0, manifest["counts"]
    return features


def smoke_scan_job(base: str, password: str) -> str:
    """As the demo admin: scan all of SLIDES_ROOT from the admin's scan page, land on the job's
    page and follow GET /api/jobs/<id> until the embedded worker has run it. Return its
    message."""
    opener, _ = log_in(base, "admin", password)
    form_page = opener.open(f"{base}/admin/slides/slide/scan/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page).group(1)
    request = urllib.request.Request(
        f"{base}/admin/slides/slide/scan/",
        data=urllib.parse.urlencode({"folder": ".", "csrfmiddlewaretoken": token}).encode(),
        headers={"Referer": base},
    )
    with opener.open(request, timeout=30) as answer:
        landed = urllib.parse.urlparse(answer.url).path
    job_id = re.fullmatch(r"/jobs/(\d+)/", landed)
    assert job_id, f"the scan page led to {landed}, not to a job page"
    deadline = time.monotonic() + 60
    while True:
        job = json.loads(opener.open(f"{base}/api/jobs/{job_id.group(1)}", timeout=30).read())
        if job["final"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job["state"] == "succeeded", job
    assert job["message"].startswith("Scanned SLIDES_ROOT: 0 created"), job
    assert job["percent"] == 100 and job["done"] == job["total"] > 0, job
    return job["message"]


def check_printed(printed: list[str], *, port: int, password: str) -> None:
    """The quick start shows the address, the log-ins and how to stop, and little else."""
    deadline = time.monotonic() + 10
    while not any("Ctrl+C" in line for line in printed) and time.monotonic() < deadline:
        time.sleep(0.1)
    text = "".join(printed)
    assert f"WSI2ML is running at http://127.0.0.1:{port}/" in text, text
    assert f"username: pathologist   password: {password}" in text, text
    assert "var/demo.log" in text and "Press Ctrl+C to stop the server." in text, text
    assert "warning" not in text.lower() and "Applying" not in text, text
    assert "start the server" not in text, text
    assert len(printed) <= 20, text


def check_not_found_page(opener, base: str) -> None:
    """A slide one may not see answers the product's 404 page, not Django's technical one."""
    try:
        opener.open(f"{base}/slides/999999/", timeout=30)
    except urllib.error.HTTPError as error:
        assert error.code == 404, error.code
        page = error.read().decode()
        assert "There is nothing at <code>/slides/999999/</code>" in page, page
        assert "URLconf" not in page and "Back to my work" in page, page
    else:
        raise AssertionError("an unknown slide did not answer 404")


def smoke_annotations(opener, base: str, jar: http.cookiejar.CookieJar) -> int:
    """Continue to the first slide, list its annotations, draw one and delete it again."""
    work = opener.open(f"{base}/work/continue/", timeout=30).read().decode()
    found = re.search(r'<script id="editor-config" type="application/json">(.+?)</script>', work)
    assert found, "the work page carries no editor config"
    config = json.loads(found.group(1))
    url = f"{base}{config['urls']['annotations']}"
    listed = json.loads(opener.open(url, timeout=30).read())
    assert listed["features"], "load_demo drew no annotations on the pathologist's first slide"
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    headers = {"X-CSRFToken": csrf, "Content-Type": "application/json", "Referer": base}
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[10, 10], [90, 10], [50, 80], [10, 10]]]},
        "properties": {
            "assignment": config["assignmentId"],
            "label": config["labels"][0]["id"],
            "kind": "polygon",
        },
    }
    request = urllib.request.Request(url, data=json.dumps(feature).encode(), headers=headers)
    with opener.open(request, timeout=30) as response:
        assert response.status == 201, response.status
        created = json.loads(response.read())
    one = f"{base}{config['urls']['annotation']}{created['id']}"
    request = urllib.request.Request(one, method="DELETE", headers=headers)
    deleted = json.loads(opener.open(request, timeout=30).read())
    assert deleted["properties"]["deleted"] is True, deleted
    return len(listed["features"])


if __name__ == "__main__":
    sys.exit(main())
