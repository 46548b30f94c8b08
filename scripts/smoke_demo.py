"""Prove the quick-start path: run scripts/demo.sh on a fresh SQLite database and slide folder,
then log in as the demo pathologist and fetch the status page, the slide list, a DZI and a
tile, then open the work page and read, draw and delete an annotation through its API."""

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
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
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "SLIDES_ROOT": str(work / "slides"),
        "DEMO_PASSWORD": "smoke-test-password-123",
    }
    server = subprocess.Popen(
        ["bash", "scripts/demo.sh"], cwd=REPO, env=env, start_new_session=True
    )
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
        annotations = smoke_annotations(opener, base, jar)
        print(
            f"smoke: quick-start OK (slide {slide_id}, DZI and tile served from SQLite demo; "
            f"{annotations} demo annotations on the first work slide, one drawn and deleted)"
        )
        return 0
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


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
