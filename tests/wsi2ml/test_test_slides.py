"""scripts/test_slides.py and the suite's own check: the real scanner files some tests read are
found, or fetched and checked by SHA-256, or the run stops with one message saying what to do."""

import functools
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings

from scripts import test_slides

REPO = Path(settings.BASE_DIR)
SCRIPT = REPO / "scripts" / "test_slides.py"
NAMES = [slide.name for slide in test_slides.SLIDES]


def closed_port() -> int:
    """A local port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_script(*, folder: Path, mirror: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WSI2ML_TEST_SLIDES": str(folder), "WSI2ML_TEST_SLIDES_URL": mirror}
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def unreachable() -> str:
    return f"http://127.0.0.1:{closed_port()}/slides/"


@pytest.fixture
def mirror_of():
    """Serve a folder over HTTP on localhost, as a mirror of the test slides; return its URL."""
    servers = []

    def serve(folder: Path) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_missing_slides_that_cannot_be_downloaded_stop_the_run_with_one_message(
    tmp_path, unreachable
):
    folder = tmp_path / "slides"

    result = run_script(folder=folder, mirror=unreachable)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("The real test slides are not all in") == 1
    assert f"Put these files in {folder}" in result.stderr
    assert "WSI2ML_TEST_SLIDES" in result.stderr
    assert "Downloading them failed" in result.stderr
    for slide in test_slides.SLIDES:
        assert f"{slide.name}  missing" in result.stderr
        assert slide.sha256 in result.stderr
        assert slide.origin in result.stderr
    assert list(folder.iterdir()) == []  # no partial download left behind


def test_a_file_with_other_bytes_is_refused_by_name(tmp_path, shared_slides, unreachable):
    folder = tmp_path / "slides"
    folder.mkdir()
    for name in NAMES[1:]:
        shutil.copyfile(shared_slides / name, folder / name)
    wrong = folder / NAMES[0]
    wrong.write_bytes(b"not a slide")

    result = run_script(folder=folder, mirror=unreachable)

    assert result.returncode == 1
    assert f"{NAMES[0]}  wrong SHA-256" in result.stderr
    assert all(name not in result.stderr for name in NAMES[1:])
    assert "Fetching" not in result.stderr  # nothing is missing: nothing to download
    assert wrong.read_bytes() == b"not a slide"  # someone's file is never overwritten


def test_the_real_folder_passes_and_is_printed(shared_slides, unreachable):
    result = run_script(folder=shared_slides, mirror=unreachable)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{shared_slides.resolve()}\n"
    assert result.stderr == ""


def test_missing_slides_are_downloaded_and_checked(tmp_path, shared_slides, mirror_of):
    folder = tmp_path / "cache"

    result = run_script(folder=folder, mirror=mirror_of(shared_slides))

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{folder}\n"
    assert sorted(path.name for path in folder.iterdir()) == sorted(NAMES)
    for slide in test_slides.SLIDES:
        assert hashlib.sha256((folder / slide.name).read_bytes()).hexdigest() == slide.sha256


def test_a_download_with_other_bytes_is_not_kept(tmp_path, mirror_of):
    served = tmp_path / "served"
    served.mkdir()
    (served / NAMES[0]).write_bytes(b"a truncated or tampered file")
    folder = tmp_path / "cache"

    result = run_script(folder=folder, mirror=mirror_of(served))

    assert result.returncode == 1
    assert f"{NAMES[0]} downloaded with another SHA-256" in result.stderr
    assert list(folder.iterdir()) == []


def run_pytest(*args: str, folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WSI2ML_TEST_SLIDES": str(folder)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pytest_stops_once_before_any_test_when_selected_tests_lack_the_slides(tmp_path):
    result = run_pytest(
        "tests/slides/test_tiles.py::test_real_aperio_tiles_match_reference",
        "tests/slides/test_scan.py",
        folder=tmp_path / "nowhere",
    )

    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert output.count("The real test slides are not all in") == 1
    assert f"Put these files in {tmp_path / 'nowhere'}" in output
    assert "passed" not in output and "error" not in output.lower().replace("errno", "")


def test_tests_that_need_no_real_slides_run_without_them(tmp_path):
    result = run_pytest(
        "tests/wsi2ml/test_settings.py::test_debug_keeps_its_development_key",
        folder=tmp_path / "nowhere",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
