"""Prove the quick-start path: run scripts/demo.sh on a fresh SQLite database and slide folder,
then log in as the demo pathologist and fetch the status page, the slide list, a DZI and a
tile."""

import http.cookiejar
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
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
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
        print(f"smoke: quick-start OK (slide {slide_id}, DZI and tile served from SQLite demo)")
        return 0
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
