"""
Benchmark Deep Zoom tile serving over HTTP against the in-process ceiling.

Phases, all on the deepest level of a synthetic 40000x30000 slide:

(a) uncached: gunicorn serves tiles that are in no cache (each tile requested once, Redis
    tile cache flushed first); (b) cached: gunicorn serves a warmed set of tiles from its caches;
(c) ceiling: this process cuts and encodes tiles with OpenSlide and Pillow in one thread per
    core, with no HTTP, Django or cache in the way.

Targets: (a)/(c) >= 0.75 and (b)/(c) >= 4. A missed target is printed as MISSED; the exit
status is non-zero only when a phase failed (an error response, a socket error, a repeated tile
in (a), a refused grant). Run ``.venv/bin/python bench/tiles.py --help``; see bench/README.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fcntl
import hashlib
import http.client
import http.cookiejar
import importlib.metadata
import io
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import openslide
import psycopg2
import redis
from openslide.deepzoom import DeepZoomGenerator

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
VENV_BIN = REPO / ".venv" / "bin"

SLIDE_WIDTH, SLIDE_HEIGHT = 40000, 30000
# Bump when the synthesis recipe changes, so that a cached slide is rebuilt.
SLIDE_RECIPE = "v1"
TILE_SIZE, TILE_OVERLAP = 254, 1  # the server's TILE_SIZE and TILE_OVERLAP
PIXEL_CACHE_BYTES = 256 << 20  # the server's OpenSlide cache (slides.deepzoom.SlideCache)

USERNAME = "bench-viewer"
GRANT_COOKIE = "wsi2ml_tiles"
# Settings the server reads that a developer's shell might carry; the benchmark sets its own.
INHERITED_SETTINGS = (
    "TILE_CACHE_URL",
    "TILE_CACHE_SECONDS",
    "TILE_JPEG_QUALITY",
    "TILE_BROWSER_MAX_AGE",
    "TILE_MEMORY_CACHE_MB",
    "TILE_GRANT_SECONDS",
    "TILE_REVOCATION_CHECK_MS",
    "CACHE_SOCKET_TIMEOUT_MS",
    "CACHE_RETRY_SECONDS",
    "SLIDE_CACHE_SIZE",
    "CONN_MAX_AGE",
    "SECURE_PROXY_SSL_HEADER_ENABLED",
    "CSRF_TRUSTED_ORIGINS",
    "DJANGO_SETTINGS_MODULE",
)
TARGETS = {"a/c": 0.75, "b/c": 4.0}
# Above this many cores used by unrelated processes during a phase, its figures are suspect.
SHARED_CORES = 0.15


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the slide ------------------------------------------------------------------------------


def slide_synthesize(path: Path) -> None:
    """Write a tiled, pyramidal, JPEG-compressed TIFF of H&E-like texture to ``path``.

    Everything is lazy in libvips: a 2048-pixel texture (stain blobs plus fine noise, so that
    tiles compress like tissue, about 15 KB at quality 75) is repeated over the slide and
    modulated by a slow colour field, so no two regions look alike at low zoom.
    """
    import pyvips  # only needed once, to build the slide

    size = 2048
    blobs = pyvips.Image.gaussnoise(size, size, mean=128, sigma=60, seed=1).gaussblur(4)
    grain = pyvips.Image.gaussnoise(size, size, mean=0, sigma=8, seed=2)
    mix = (blobs - 128) * 0.08 + 0.5
    mix = (mix > 1).ifthenelse(1, (mix < 0).ifthenelse(0, mix))
    eosin, haematoxylin = [235, 170, 200], [110, 60, 150]
    stain = [h - e for h, e in zip(haematoxylin, eosin, strict=True)]
    texture = (mix * stain + eosin + grain).cast("uchar").copy_memory()
    step = 500
    shade = pyvips.Image.gaussnoise(
        SLIDE_WIDTH // step + 2, SLIDE_HEIGHT // step + 2, mean=1.0, sigma=0.12, seed=3
    )
    shade = shade.gaussblur(1).resize(step, kernel="linear").crop(0, 0, SLIDE_WIDTH, SLIDE_HEIGHT)
    image = texture.replicate(SLIDE_WIDTH // size + 1, SLIDE_HEIGHT // size + 1)
    image = (image.crop(0, 0, SLIDE_WIDTH, SLIDE_HEIGHT) * shade).cast("uchar")
    image.tiffsave(
        str(path),
        tile=True,
        tile_width=256,
        tile_height=256,
        pyramid=True,
        compression="jpeg",
        Q=80,
        bigtiff=True,
        xres=4000.0,  # pixels per mm: 0.25 µm per pixel, a 40x scan
        yres=4000.0,
        resunit="cm",
    )


def slide_check(path: Path) -> tuple[int, int, int]:
    """Check the slide as OpenSlide sees it; return (deepest level, columns, rows) of tiles."""
    with openslide.OpenSlide(path) as osr:
        vendor = osr.properties.get(openslide.PROPERTY_NAME_VENDOR)
        if vendor != "generic-tiff":
            raise BenchError(f"{path}: OpenSlide reads it as {vendor!r}, not generic-tiff")
        if osr.dimensions != (SLIDE_WIDTH, SLIDE_HEIGHT):
            raise BenchError(f"{path}: dimensions {osr.dimensions}")
        if osr.level_count < 8:
            raise BenchError(f"{path}: only {osr.level_count} pyramid levels")
        dz = DeepZoomGenerator(osr, tile_size=TILE_SIZE, overlap=TILE_OVERLAP, limit_bounds=True)
        level = dz.level_count - 1
        cols, rows = dz.level_tiles[level]
    expected = (math.ceil(SLIDE_WIDTH / TILE_SIZE), math.ceil(SLIDE_HEIGHT / TILE_SIZE))
    if (cols, rows) != expected:
        raise BenchError(f"{path}: deepest level has {cols}x{rows} tiles, not {expected}")
    return level, cols, rows


def slide_ensure(workdir: Path) -> Path:
    """Return the benchmark slide under ``workdir``/slides, building it on first use."""
    folder = workdir / "slides"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench-{SLIDE_WIDTH}x{SLIDE_HEIGHT}-{SLIDE_RECIPE}.tiff"
    if not path.exists():
        log(f"building {path.name} (once; about a minute on 2 cores)")
        partial = path.with_suffix(".partial.tiff")
        started = time.perf_counter()
        slide_synthesize(partial)
        slide_check(partial)
        partial.replace(path)
        log(f"built in {time.perf_counter() - started:.0f} s, {path.stat().st_size >> 20} MiB")
    return path


def tiles_shuffled(cols: int, rows: int, seed: int = 20240601) -> list[tuple[int, int]]:
    tiles = [(col, row) for row in range(rows) for col in range(cols)]
    random.Random(seed).shuffle(tiles)
    return tiles


# --- results --------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    tiles_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    seconds: float = 0.0
    mean_tile_bytes: float = 0.0
    problems: list[str] = field(default_factory=list)
    cpu: dict = field(default_factory=dict)
    detail: dict = field(default_factory=dict)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


# --- who used the CPUs ----------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stats() -> dict[int, tuple[str, int, int]]:
    """Return {pid: (command, process group, CPU ticks)} for every process."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        command = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry.name)] = (command, int(rest[2]), int(rest[11]) + int(rest[12]))
    return stats


def _machine_ticks() -> tuple[int, int, int]:
    """Return the machine's CPU ticks so far: (in processes, in interrupts, stolen by the host)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return user + nice + system, irq + softirq, steal


def _machine_busy_ticks() -> int:
    return sum(_machine_ticks())


class CpuMeter:
    """Split the machine's CPU time during a phase between the work measured and the rest.

    In cores (CPU-seconds per second). With a server: "work" is the gunicorn process group plus
    redis-server, "client" this process and its children (wrk). Without: "work" is this process
    (the in-process ceiling). "others" is every other process: the machine may be shared, and
    then the tiles per CPU-second of work stay comparable while tiles per second do not.
    Interrupt handling and time stolen by the hypervisor are reported apart.
    """

    def __init__(self, server_group: int | None = None):
        self.server_group = server_group

    def _sample(self) -> tuple[float, int, int, int, int, int, int]:
        times = os.times()
        own = round(
            (times.user + times.system + times.children_user + times.children_system) * CLOCK_TICKS
        )
        server = redis_ticks = 0
        for command, group, ticks in _proc_stats().values():
            if self.server_group is not None and group == self.server_group:
                server += ticks
            elif command == "redis-server":
                redis_ticks += ticks
        return time.monotonic(), *_machine_ticks(), own, server, redis_ticks

    def __enter__(self) -> CpuMeter:
        self.before = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        after = self._sample()
        seconds = after[0] - self.before[0]
        busy, interrupts, stolen, own, server, redis_ticks = (
            a - b for a, b in zip(after[1:], self.before[1:], strict=True)
        )
        scale = CLOCK_TICKS * seconds
        work, client = (server + redis_ticks, own) if self.server_group else (own, 0)
        self.result = {
            "work_cores": round(work / scale, 3),
            "client_cores": round(client / scale, 3),
            "gunicorn_cores": round(server / scale, 3),
            "redis_cores": round(redis_ticks / scale, 3),
            "others_cores": round(max(0, busy - own - server - redis_ticks) / scale, 3),
            "interrupt_cores": round(interrupts / scale, 3),
            "stolen_cores": round(stolen / scale, 3),
        }


def wait_for_quiet(max_seconds: float, phase: str) -> float:
    """Wait up to ``max_seconds`` for two seconds in a row with the machine nearly idle.

    On a shared machine this keeps someone else's test run out of a phase; call it while the
    benchmark itself is idle. Return the seconds waited.
    """
    started = time.monotonic()
    quiet_in_a_row = 0
    while time.monotonic() - started < max_seconds:
        before = _machine_busy_ticks()
        time.sleep(1)
        quiet_in_a_row = (
            quiet_in_a_row + 1
            if _machine_busy_ticks() - before < (SHARED_CORES * CLOCK_TICKS)
            else 0
        )
        if quiet_in_a_row == 2:
            break
    waited = time.monotonic() - started
    if waited > 3:
        log(f"waited {waited:.0f} s for the machine to be quiet before {phase}")
    return waited


# --- (c) the in-process ceiling -------------------------------------------------------------


def ceiling_measure(
    path: Path, tiles: list[tuple[int, int]], seconds: float, threads: int, quality: int
) -> Phase:
    """Cut and encode distinct deepest-level tiles in ``threads`` threads for ``seconds``."""
    osr = openslide.OpenSlide(path)
    osr.set_cache(openslide.OpenSlideCache(PIXEL_CACHE_BYTES))
    dz = DeepZoomGenerator(osr, tile_size=TILE_SIZE, overlap=TILE_OVERLAP, limit_bounds=True)
    level = dz.level_count - 1
    dz.get_tile(level, tiles[-1])  # open the level's TIFF directory outside the timing
    start = time.perf_counter()
    deadline = start + seconds

    def work(share: list[tuple[int, int]]) -> tuple[list[float], int]:
        latencies, size = [], 0
        for address in share:
            began = time.perf_counter()
            if began >= deadline:
                break
            buffer = io.BytesIO()
            dz.get_tile(level, address).save(buffer, "JPEG", quality=quality)
            size += buffer.tell()
            latencies.append(time.perf_counter() - began)
        return latencies, size

    shares = [tiles[i::threads] for i in range(threads)]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(work, shares))
    elapsed = time.perf_counter() - start
    osr.close()
    latencies = sorted(lat for lats, _ in outcomes for lat in lats)
    count = len(latencies)
    phase = Phase(
        name="(c) in-process ceiling",
        tiles_per_s=count / elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        requests=count,
        seconds=elapsed,
        mean_tile_bytes=sum(size for _, size in outcomes) / max(count, 1),
        detail={"threads": threads, "quality": quality},
    )
    if count >= len(tiles):
        phase.problems.append("ran out of distinct tiles; shorten --ceiling-seconds")
    return phase


# --- the server -----------------------------------------------------------------------------


LOCK_PATH = Path("/tmp/wsi2ml-bench.lock")


def run_script(main: Callable[[], int], what: str = "bench") -> NoReturn:
    """Exit with what a benchmark's main returns; a BenchError is a message and status 2."""
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"{what} failed: {exc}", file=sys.stderr)
        sys.exit(2)


def run_in_workdir(args: argparse.Namespace, run: Callable[[argparse.Namespace], int]) -> int:
    """Stop cleanly on SIGTERM, make the work directory, and run under the benchmark lock."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    with exclusive_run(args.lock_wait):
        return run(args)


@contextlib.contextmanager
def exclusive_run(max_wait: float):
    """Hold the machine-wide benchmark lock, waiting up to ``max_wait`` s for another run to end.

    Two runs at once would share the database and Redis names and, worse, each other's CPUs.
    """
    with LOCK_PATH.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            log(f"another benchmark run holds {LOCK_PATH} ({holder}); waiting")
            deadline = time.monotonic() + max_wait
            while True:
                time.sleep(1)
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise BenchError(f"another benchmark run still holds {LOCK_PATH}") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}: {' '.join(sys.argv)}\n")
        lock.flush()
        try:
            yield
        finally:
            lock.seek(0)
            lock.truncate()
            fcntl.flock(lock, fcntl.LOCK_UN)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(command: list[str], env: dict[str, str], timeout: float = 180) -> str:
    done = subprocess.run(
        command, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"{' '.join(command[:3])} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def database_recreate(name: str, drop_only: bool = False) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise BenchError(f"refusing database name {name!r}")
    connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop_only:
            cursor.execute(f"CREATE DATABASE {name}")
    connection.close()


def redis_bench_db(number: int, force: bool) -> redis.Redis:
    """Return the benchmark's Redis database, refusing one that holds someone else's keys."""
    client = redis.Redis(host="127.0.0.1", port=6379, db=number)
    if client.dbsize() and not force:
        for key in client.scan_iter(count=200):
            if not key.startswith((b"tiles:", b":1:")):
                raise BenchError(
                    f"Redis db {number} holds keys the benchmark did not write ({key!r}); "
                    "pick another --redis-db or pass --force-flush"
                )
    client.flushdb()
    return client


def tile_cache_flush(number: int) -> None:
    """Empty the server's tile cache, leaving the rest of its db (the grant revocation list:
    emptied, it would void the benchmark's grant, see slides.grants)."""
    client = redis.Redis(host="127.0.0.1", port=6379, db=number)
    keys = list(client.scan_iter(match="tiles:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


REGISTER = """
import json
from pathlib import Path
from typing import NoReturn
from django.contrib.auth import get_user_model
from guardian.shortcuts import assign_perm
from slides.services import slide_register_file
slide = slide_register_file(path=Path({path!r}))
user, _ = get_user_model().objects.get_or_create(username={username!r})
user.is_staff = user.is_superuser = False
user.set_password({password!r})
user.save()
assign_perm("slides.view_slide", user, slide)
print(json.dumps({{"slide_id": slide.pk, "status": slide.status}}))
"""

SESSION_LOGIN = """
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth import get_user_model
from importlib import import_module
user = get_user_model().objects.get(username={username!r})
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.save()
print(session.session_key)
"""


@dataclass
class ServerOptions:
    workers: int
    threads: int
    worker_class: str
    extra_args: list[str]
    extra_env: dict[str, str]
    database: str
    redis_db: int


class Server:
    """Migrate a fresh database, register the slide and a viewer, run gunicorn; clean up after."""

    def __init__(self, workdir: Path, slide: Path, options: ServerOptions):
        self.workdir = workdir
        self.slide = slide
        self.options = options
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(16)
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "gunicorn.log"
        self.env = self._environment()

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in INHERITED_SETTINGS}
        env.update(
            DJANGO_SETTINGS_MODULE="wsi2ml.settings",
            DEBUG="0",
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="127.0.0.1",
            SECURE_SSL_REDIRECT="0",
            SESSION_COOKIE_SECURE="0",
            CSRF_COOKIE_SECURE="0",
            SECURE_HSTS_SECONDS="0",
            DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{self.options.database}",
            CACHE_URL=f"redis://127.0.0.1:6379/{self.options.redis_db}",
            SLIDES_ROOT=str(self.slide.parent),
            STATIC_ROOT=str(self.workdir / "static"),
            LOG_LEVEL="WARNING",
            # wrk cannot store the fresh grant a server sends, so the first one must last the run.
            TILE_GRANT_SECONDS="600",
        )
        env.update(self.options.extra_env)
        return env

    def manage(self, *args: str, timeout: float = 180) -> str:
        return run([str(VENV_BIN / "python"), "manage.py", *args], self.env, timeout)

    def prepare(self) -> int:
        """Set up database, static files, slide and user; return the slide id."""
        database_recreate(self.options.database)
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        code = REGISTER.format(path=str(self.slide), username=USERNAME, password=self.password)
        registered = json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])
        if registered["status"] != "ok":
            raise BenchError(f"the slide registered as {registered['status']}")
        return registered["slide_id"]

    def command(self) -> list[str]:
        o = self.options
        return [
            str(VENV_BIN / "gunicorn"),
            "wsi2ml.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(o.workers),
            "--threads",
            str(o.threads),
            "--worker-class",
            o.worker_class,
            "--no-control-socket",
            "--log-level",
            "warning",
            "--error-logfile",
            str(self.log_path),
            *o.extra_args,
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(),
            env=self.env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopping it stops every worker
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise BenchError(f"gunicorn did not answer /healthz within 60 s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


# --- logging in like a browser --------------------------------------------------------------


def browser_session(server: Server, slide_id: int, warnings: list[str]) -> tuple[str, dict]:
    """Log in, open the viewer and the DZI; return the tiles' Cookie header and the DZI facts."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = server.base
    try:
        page = opener.open(f"{base}/accounts/login/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if token is None:
            raise BenchError("the login page has no CSRF token")
        form = {"csrfmiddlewaretoken": token[1], "username": USERNAME, "password": server.password}
        request = urllib.request.Request(
            f"{base}/accounts/login/",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Referer": f"{base}/accounts/login/"},
        )
        opener.open(request, timeout=10).read()
        if not any(c.name == "sessionid" for c in jar):
            raise BenchError("posting the login form gave no session cookie")
    except (OSError, BenchError) as exc:
        # A broken login page is not what this benchmark measures: carry on with a session
        # made on the server side, and say so loudly.
        warnings.append(f"browser log-in failed ({exc}); used a server-side session instead")
        key = server.manage("shell", "-c", SESSION_LOGIN.format(username=USERNAME)).split()[-1]
        jar.set_cookie(_cookie("sessionid", key, "/"))
    try:
        opener.open(f"{base}/slides/{slide_id}/", timeout=10).read()
    except OSError as exc:
        warnings.append(f"the viewer page failed ({exc}); the grant comes from the DZI alone")
    dzi = opener.open(f"{base}/slides/{slide_id}.dzi", timeout=10).read()
    if not any(c.name == GRANT_COOKIE for c in jar):
        raise BenchError("neither the viewer nor the DZI set the tile grant cookie")
    tile_request = urllib.request.Request(f"{base}/slides/{slide_id}_files/0/0_0.jpeg")
    jar.add_cookie_header(tile_request)
    cookie = tile_request.get_header("Cookie") or ""
    if GRANT_COOKIE not in cookie or "sessionid" not in cookie:
        raise BenchError(f"the tile Cookie header lacks the session or the grant: {cookie!r}")
    return cookie, dzi_facts(dzi)


def _cookie(name: str, value: str, path: str) -> http.cookiejar.Cookie:
    return http.cookiejar.Cookie(
        0,
        name,
        value,
        None,
        False,
        "127.0.0.1",
        False,
        False,
        path,
        True,
        False,
        None,
        False,
        None,
        None,
        {},
    )


def dzi_facts(xml: bytes) -> dict:
    root = ET.fromstring(xml)
    size = next(child for child in root if child.tag.endswith("Size"))
    width, height = int(size.get("Width")), int(size.get("Height"))
    tile_size = int(root.get("TileSize"))
    levels = math.ceil(math.log2(max(width, height))) + 1
    return {
        "width": width,
        "height": height,
        "tile_size": tile_size,
        "overlap": int(root.get("Overlap")),
        "deepest_level": levels - 1,
        "cols": math.ceil(width / tile_size),
        "rows": math.ceil(height / tile_size),
    }


def fetch_tiles(server: Server, paths: list[str], cookie: str, concurrency: int = 8) -> dict:
    """GET each path once over keep-alive connections; count what was not a granted JPEG."""
    local = threading.local()
    counts = {"ok": 0, "bad": 0, "regranted": 0}
    lock = threading.Lock()
    bad_examples: list[str] = []

    def get(path: str) -> None:
        if getattr(local, "conn", None) is None:
            local.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            local.conn.request("GET", path, headers={"Cookie": cookie})
            response = local.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            local.conn.close()
            local.conn = None
            status, body, regranted = f"{type(exc).__name__}", b"", False
        else:
            status, regranted = response.status, response.getheader("Set-Cookie") is not None
        with lock:
            ok = status == 200 and body[:3] == b"\xff\xd8\xff"
            counts["ok" if ok else "bad"] += 1
            counts["regranted"] += regranted
            if not ok and len(bad_examples) < 3:
                bad_examples.append(f"{path} -> {status}")

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(get, paths))
    return {**counts, "examples": bad_examples}


# --- (a) and (b) through wrk ----------------------------------------------------------------


@dataclass
class LoadOptions:
    seconds: int
    connections: int
    threads: int


def wrk_measure(
    name: str, server: Server, cookie: str, paths_file: Path, mode: str, load: LoadOptions
) -> Phase:
    command = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{load.seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(BENCH / "tiles.lua"),
        "-H",
        f"Cookie: {cookie}",
        server.base,
        "--",
        str(paths_file),
        mode,
        str(load.threads),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=load.seconds + 60, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result = json.loads(line.removeprefix("WRK_RESULT "))
    seconds = result["duration_us"] / 1e6
    phase = Phase(
        name=name,
        tiles_per_s=result["requests"] / seconds,
        p50_ms=result["latency_us"]["p50"] / 1000,
        p99_ms=result["latency_us"]["p99"] / 1000,
        requests=result["requests"],
        seconds=seconds,
        mean_tile_bytes=result["body_bytes"] / max(result["responses"], 1),
        detail={"wrk": result, "wrk_output": done.stdout.replace(line, "").strip()},
    )
    errors = {k: v for k, v in result["errors"].items() if v}
    if errors:
        phase.problems.append(f"socket or status errors: {errors}")
    if result["non200"]:
        phase.problems.append(f"{result['non200']} responses were not 200")
    if result["nonjpeg"]:
        phase.problems.append(f"{result['nonjpeg']} responses were not JPEG")
    if result["regranted"]:
        phase.problems.append(f"{result['regranted']} responses re-issued the grant (refused)")
    if result["repeats"]:
        phase.problems.append(f"{result['repeats']} tiles requested twice; shorten --duration")
    if result["requests"] == 0:
        phase.problems.append("no request completed")
    return phase


# --- profiling ------------------------------------------------------------------------------


def profiler_start(server: Server, seconds: int, workdir: Path) -> list[subprocess.Popen]:
    """Sample every gunicorn worker with py-spy for ``seconds``.

    Only the thread holding the GIL is sampled (--gil), so the stacks show where Python spends
    CPU, not threads waiting for a core, a lock or a socket. Output: collapsed stacks, one file
    per worker, that speedscope or flamegraph.pl read.
    """
    py_spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not Path(py_spy).exists():
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    profilers = []
    for pid in server.worker_pids():
        output = workdir / f"profile-b-{time.strftime('%H%M%S')}-{pid}.txt"
        profilers.append(
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(seconds),
                    "--rate",
                    "250",
                    "--nonblocking",
                    "--gil",
                    "--format",
                    "raw",
                    "--output",
                    str(output),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return profilers


# --- the run --------------------------------------------------------------------------------


def write_paths(path: Path, slide_id: int, level: int, tiles: list[tuple[int, int]]) -> None:
    lines = (f"/slides/{slide_id}_files/{level}/{col}_{row}.jpeg\n" for col, row in tiles)
    path.write_text("".join(lines))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/wsi2ml-bench"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument(
        "--gunicorn-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra gunicorn argument, repeatable (e.g. --gunicorn-arg=--keep-alive=30)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra server environment, repeatable (e.g. --env CONN_MAX_AGE=0)",
    )
    parser.add_argument("--phases", default="abc", help="which phases to run, e.g. 'ab' or 'c'")
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk phase")
    parser.add_argument("--ceiling-seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--warm-tiles", type=int, default=2000)
    parser.add_argument("--database", default="wsi2ml_bench")
    parser.add_argument("--redis-db", type=int, default=14)
    parser.add_argument("--force-flush", action="store_true", help="flush a non-empty Redis db")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30,
        help="before each phase, wait up to this many seconds for a nearly idle machine",
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample the workers with py-spy during (b)"
    )
    parser.add_argument("--label", default="", help="a word for the results file name")
    parser.add_argument(
        "--lock-wait",
        type=float,
        default=600,
        help="seconds to wait for another benchmark run on this machine to finish",
    )
    args = parser.parse_args(argv)
    if not set(args.phases) <= set("abc") or not args.phases:
        parser.error("--phases takes letters among a, b, c")
    if any("=" not in pair for pair in args.env):
        parser.error("--env takes NAME=VALUE")
    return args


def _per_cpu_second(phase: Phase) -> float:
    work = phase.cpu.get("work_cores", 0) * phase.seconds
    return phase.requests / work if work else 0.0


def report(phases: dict[str, Phase], args: argparse.Namespace, warnings: list[str]) -> dict:
    print()
    print(
        f"{'phase':<26}{'tiles/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'requests':>9}{'KB/tile':>8}"
        f"{'cores: work':>13}{'client':>7}{'others':>7}{'tiles/CPU-s':>12}"
    )
    for phase in phases.values():
        cpu = phase.cpu
        print(
            f"{phase.name:<26}{phase.tiles_per_s:>9.1f}{phase.p50_ms:>8.1f}{phase.p99_ms:>8.1f}"
            f"{phase.requests:>9}{phase.mean_tile_bytes / 1024:>8.1f}"
            f"{cpu.get('work_cores', 0):>13.2f}{cpu.get('client_cores', 0):>7.2f}"
            f"{cpu.get('others_cores', 0):>7.2f}{_per_cpu_second(phase):>12.0f}"
            + ("  FAILED" if phase.problems else "")
        )
        if cpu.get("others_cores", 0) > SHARED_CORES:
            warnings.append(
                f"{phase.name}: other processes used {cpu['others_cores']:.2f} of "
                f"{os.cpu_count()} cores; its figures understate this machine"
            )
    ratios = {}
    ceiling = phases.get("c")
    for key in ("a", "b"):
        if key in phases and ceiling and ceiling.tiles_per_s:
            name = f"{key}/c"
            ratio = phases[key].tiles_per_s / ceiling.tiles_per_s
            met = ratio >= TARGETS[name]
            per_cpu = _per_cpu_second(phases[key]) / (_per_cpu_second(ceiling) or math.inf)
            ratios[name] = {
                "ratio": ratio,
                "target": TARGETS[name],
                "met": met,
                "per_cpu_second_ratio": per_cpu,
            }
            print(
                f"({key})/(c) = {ratio:.2f}   target >= {TARGETS[name]:g}   "
                + ("met" if met else "MISSED")
                + f"   (per CPU-second of work: {per_cpu:.2f})"
            )
    extra = " ".join(args.gunicorn_arg)
    print(
        f"gunicorn: {args.workers} workers x {args.threads} threads ({args.worker_class})"
        f"{' ' + extra if extra else ''}; wrk: {args.connections} connections, "
        f"{args.wrk_threads} threads, {args.duration} s; {os.cpu_count()} CPUs"
    )
    for env in args.env:
        print(f"server env: {env}")
    for phase in phases.values():
        for problem in phase.problems:
            print(f"FAILED {phase.name}: {problem}")
    for warning in warnings:
        print(f"WARNING: {warning}")
    return ratios


def phase_ceiling(slide: Path, tiles: list[tuple[int, int]], args: argparse.Namespace) -> Phase:
    threads = os.cpu_count() or 1
    quality = int(dict(pair.split("=", 1) for pair in args.env).get("TILE_JPEG_QUALITY", 75))
    wait_for_quiet(args.quiet_wait, "(c)")
    log(f"(c) in-process ceiling: {threads} threads, {args.ceiling_seconds:g} s")
    with CpuMeter() as meter:
        phase = ceiling_measure(slide, tiles, args.ceiling_seconds, threads, quality)
    phase.cpu = meter.result
    return phase


def phase_served(
    name: str, server: Server, cookie: str, paths_file: Path, mode: str, args: argparse.Namespace
) -> Phase:
    load = LoadOptions(args.duration, args.connections, args.wrk_threads)
    wait_for_quiet(args.quiet_wait, name[:3])
    profiling = args.profile and mode == "cycle"
    profilers = profiler_start(server, args.duration, args.workdir) if profiling else []
    log(f"{name}: {args.duration} s, {args.connections} connections")
    try:
        with CpuMeter(server.process.pid) as meter:
            phase = wrk_measure(name, server, cookie, paths_file, mode, load)
    finally:
        for profiler in profilers:
            try:
                profiler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                profiler.kill()
    phase.cpu = meter.result
    if profilers:
        log(f"py-spy profiles (collapsed stacks): {args.workdir}/profile-b-*.txt")
    return phase


def phases_served(
    server: Server,
    deepest: tuple[int, int, int],
    tiles: dict[str, list[tuple[int, int]]],
    args: argparse.Namespace,
    warnings: list[str],
) -> dict[str, Phase]:
    """Prepare and start the server, log in, then run (a) and (b) as asked.

    ``deepest`` is (level, columns, rows) of the deepest level, as OpenSlide sees the slide.
    """
    level, cols, rows = deepest
    log(f"preparing database {args.database}, static files, slide and user")
    slide_id = server.prepare()
    log(f"starting gunicorn {' '.join(server.command()[2:])}")
    server.start()
    cookie, dzi = browser_session(server, slide_id, warnings)
    expected = {"width": SLIDE_WIDTH, "height": SLIDE_HEIGHT, "cols": cols, "rows": rows}
    if any(dzi[k] != v for k, v in expected.items()) or dzi["deepest_level"] != level:
        raise BenchError(f"the DZI disagrees with OpenSlide: {dzi}")
    phases = {}
    if "a" in args.phases:
        paths_file = args.workdir / "paths-uncached.txt"
        write_paths(paths_file, slide_id, level, tiles["cold"])
        tile_cache_flush(args.redis_db)
        phases["a"] = phase_served("(a) uncached, HTTP", server, cookie, paths_file, "once", args)
    if "b" in args.phases:
        paths_file = args.workdir / "paths-cached.txt"
        write_paths(paths_file, slide_id, level, tiles["warm"])
        log(f"(b) warming {len(tiles['warm'])} tiles")
        warmed = fetch_tiles(server, paths_file.read_text().split(), cookie)
        phases["b"] = phase_served("(b) cached, HTTP", server, cookie, paths_file, "cycle", args)
        phases["b"].detail["warm"] = warmed
        if warmed["bad"] or warmed["regranted"]:
            phases["b"].problems.append(f"warming failed: {warmed}")
    return phases


def versions() -> dict[str, str]:
    """Versions of the packages that shape the figures (the virtualenv is shared and changes)."""
    found = {}
    for name in (
        "Django",
        "gunicorn",
        "gunicorn-h1c",
        "redis",
        "hiredis",
        "django-redis",
        "Pillow",
        "openslide-python",
        "openslide-bin",
        "whitenoise",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def app_digest() -> str:
    """Fingerprint the server code measured (there are no commits to name it by yet)."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted((REPO / "wsi2ml").glob("*.py")) + sorted((REPO / "slides").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def result_write(result: dict, label: str, name: str = "tiles") -> Path:
    """Write bench/results/<name>-<date>-<time>[-<label>].json; return its path."""
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = results / f"{name}-{stamp}{'-' + label if label else ''}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    serving = "a" in args.phases or "b" in args.phases
    if serving and shutil.which("wrk") is None:
        raise BenchError("wrk is missing: apt-get install -y wrk")
    return run_in_workdir(args, run_all)


def run_all(args: argparse.Namespace) -> int:
    serving = "a" in args.phases or "b" in args.phases
    started = time.perf_counter()
    slide = slide_ensure(args.workdir)
    level, cols, rows = slide_check(slide)
    shuffled = tiles_shuffled(cols, rows)
    # (b) warms the last tiles of the shuffle; (a) and (c) walk the others from the start.
    tiles = {"warm": shuffled[-args.warm_tiles :], "cold": shuffled[: -args.warm_tiles]}
    phases: dict[str, Phase] = {}
    warnings: list[str] = []
    if "c" in args.phases:
        phases["c"] = phase_ceiling(slide, tiles["cold"], args)
    if serving:
        options = ServerOptions(
            workers=args.workers,
            threads=args.threads,
            worker_class=args.worker_class,
            extra_args=args.gunicorn_arg,
            extra_env=dict(pair.split("=", 1) for pair in args.env),
            database=args.database,
            redis_db=args.redis_db,
        )
        server = Server(args.workdir, slide, options)
        redis_bench_db(args.redis_db, args.force_flush)  # refuses someone else's database
        try:
            phases |= phases_served(server, (level, cols, rows), tiles, args, warnings)
        finally:
            server.stop()
            redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db).flushdb()
            if not args.keep_db:
                database_recreate(args.database, drop_only=True)
    ratios = report(phases, args, warnings)
    out = result_write(
        {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "openslide": openslide.__library_version__,
            },
            "app_digest": app_digest(),
            "versions": versions(),
            "slide": {"path": str(slide), "level": level, "cols": cols, "rows": rows},
            "gunicorn": {
                "workers": args.workers,
                "threads": args.threads,
                "worker_class": args.worker_class,
                "extra_args": args.gunicorn_arg,
            },
            "server_env": dict(pair.split("=", 1) for pair in args.env),
            "wrk": {"connections": args.connections, "threads": args.wrk_threads},
            "phases": {key: asdict(phase) for key, phase in phases.items()},
            "ratios": ratios,
            "warnings": warnings,
            "seconds": round(time.perf_counter() - started, 1),
        },
        args.label,
    )
    print(f"results: {out.relative_to(REPO)}")
    return 1 if any(phase.problems for phase in phases.values()) else 0


if __name__ == "__main__":
    run_script(main)
