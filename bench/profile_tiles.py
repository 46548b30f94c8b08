"""
Profile a granted, cached tile request: where its CPU time goes, in microseconds.

Sets up the server as bench/tiles.py does (fresh database, slide, viewer, gunicorn), logs in like
a browser and warms a few hundred tiles, then:

1. drives gunicorn with wrk for a few seconds and splits the CPU spent per request between the
   gunicorn processes, redis-server and the client;
2. stops gunicorn and calls the WSGI application (``wsi2ml.wsgi.application``) in this process,
   one thread, no HTTP: CPU per request of the application alone, the same for Django's stack
   without the tile fast path when there is one, and the cost of the pieces a request is made of
   (cookie parsing, grant check and revocation check, file stat, Redis round trip, unpickling);
3. prints cProfile's top functions for the application call.

CPU times are per-thread or per-process CPU, so a busy machine changes them far less than it
changes throughput. Run ``.venv/bin/python bench/profile_tiles.py --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import os
import pickle
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import tiles as bench  # bench/tiles.py, beside this file

WARM_TILES = 500
UNCACHED_TILES = 1000


def per_call_us(function: Callable[[], object], seconds: float = 1.0) -> float:
    """Return the thread CPU time of one call of ``function``, in microseconds."""
    calls, started = 0, time.thread_time()
    while time.thread_time() - started < seconds:
        for _ in range(50):
            function()
        calls += 50
    return (time.thread_time() - started) / calls * 1e6


def wsgi_environ(path: str, cookie: str, port: int) -> dict:
    """An environ like the one gunicorn builds for a browser's tile request."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "RAW_URI": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": f"127.0.0.1:{port}",
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        "HTTP_ACCEPT": "image/avif,image/webp,image/png,image/*;q=0.8,*/*;q=0.5",
        "HTTP_ACCEPT_ENCODING": "gzip, deflate",
        "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.5",
        "HTTP_REFERER": f"http://127.0.0.1:{port}/slides/1/",
        "HTTP_CONNECTION": "keep-alive",
        "HTTP_COOKIE": cookie,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call_app(app, environ: dict) -> tuple[str, bytes]:
    status = []

    def start_response(line: str, headers: list, exc_info=None) -> None:
        status.append(line)

    result = app(dict(environ, **{"wsgi.input": io.BytesIO(b"")}), start_response)
    body = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    return status[0], body


def app_cost(app, environs: list[dict], seconds: float) -> dict:
    """CPU and wall time per request of ``app`` over the warmed tiles, round robin."""
    for environ in environs[:50]:
        status, body = call_app(app, environ)
        if not status.startswith("200") or body[:3] != b"\xff\xd8\xff":
            raise bench.BenchError(f"{environ['PATH_INFO']}: {status}, not a JPEG")
    calls, wall, cpu = 0, time.perf_counter(), time.thread_time()
    while time.thread_time() - cpu < seconds:
        call_app(app, environs[calls % len(environs)])
        calls += 1
    return {
        "cpu_us": (time.thread_time() - cpu) / calls * 1e6,
        "wall_us": (time.perf_counter() - wall) / calls * 1e6,
        "calls": calls,
    }


def uncached_cost(app, environs: list[dict], slide: Path, cold: list[tuple[int, int]]) -> dict:
    """CPU per request of ``app`` for tiles in no cache, and of cutting the same ones as (c) does.

    The ceiling opens the slide afresh, so it starts with as cold an OpenSlide cache as the app.
    """
    from django.conf import settings
    from django.core.cache import caches
    from openslide import OpenSlide, OpenSlideCache
    from openslide.deepzoom import DeepZoomGenerator
    from PIL import Image

    from slides import grants

    spent: dict[str, float] = {}
    targets = [
        (DeepZoomGenerator, "get_tile", "DeepZoomGenerator.get_tile"),
        (Image.Image, "save", "Image.save (JPEG encode)"),
        (type(caches["tiles"]), "get", "tile cache get (a miss)"),
        (type(caches["tiles"]), "set", "tile cache set"),
        (grants, "_not_revoked", "grant revocation check"),
    ]
    with contextlib.ExitStack() as stack:
        for owner, name, label in targets:
            stack.enter_context(thread_time_into(owner, name, label, spent))
        stack.enter_context(gc_time_into("of all that, garbage collection", spent))
        started, process_started = time.thread_time(), time.process_time()
        for environ in environs:
            status, _ = call_app(app, environ)
            if not status.startswith("200"):
                raise bench.BenchError(f"{environ['PATH_INFO']}: {status}")
        app_us = (time.thread_time() - started) / len(environs) * 1e6
        time.sleep(1)  # let any background cache writes finish: they count in the process time
        process_us = (time.process_time() - process_started) / len(environs) * 1e6
    parts = {label: total / len(environs) * 1e6 for label, total in spent.items()}
    gc_label = "of all that, garbage collection"
    parts["everything else"] = app_us - sum(v for k, v in parts.items() if k != gc_label)
    parts[gc_label] = parts.pop(gc_label, 0.0)
    osr = OpenSlide(slide)
    osr.set_cache(OpenSlideCache(bench.PIXEL_CACHE_BYTES))
    dz = DeepZoomGenerator(osr, bench.TILE_SIZE, bench.TILE_OVERLAP, limit_bounds=True)
    level = dz.level_count - 1
    started = time.thread_time()
    for address in cold:
        dz.get_tile(level, address).save(io.BytesIO(), "JPEG", quality=settings.TILE_JPEG_QUALITY)
    ceiling_us = (time.thread_time() - started) / len(cold) * 1e6
    osr.close()
    return {
        "app_cpu_us": app_us,
        "app_process_cpu_us": process_us,
        "ceiling_cpu_us": ceiling_us,
        "tiles": len(environs),
        "app_parts_us": parts,
    }


@contextlib.contextmanager
def gc_time_into(label: str, spent: dict[str, float]):
    """Add the thread CPU time of Python's cyclic garbage collections to ``spent[label]``."""
    started = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.thread_time()
        else:
            spent[label] = spent.get(label, 0.0) + time.thread_time() - started[0]

    gc.callbacks.append(callback)
    try:
        yield
    finally:
        gc.callbacks.remove(callback)


@contextlib.contextmanager
def thread_time_into(owner: type, name: str, label: str, spent: dict[str, float]):
    """Add the thread CPU time of every call of ``owner.name`` to ``spent[label]``."""
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.thread_time() - started

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, original)


def redis_py_client(store):
    """Return the redis-py client behind a Django cache, whichever Redis backend it is."""
    if hasattr(store, "client") and hasattr(store.client, "get_client"):  # django-redis
        return store.client.get_client(write=False)
    return store._cache.get_client()  # django.core.cache.backends.redis


def pieces_cost(cookie: str, slide: Path, tile_bytes: bytes) -> dict[str, float]:
    """Time the building blocks of a granted, cached tile request, µs of CPU per call."""
    from django.conf import settings
    from django.core import signing
    from django.core.cache import caches
    from django.http.cookie import parse_cookie
    from django.utils.crypto import salted_hmac

    from slides import grants

    cookies = parse_cookie(cookie)
    grant = cookies[bench.GRANT_COOKIE]
    verified = grants._verify(grant, cookies.get(settings.SESSION_COOKIE_NAME, ""))
    salt = "wsi2ml.slides.grants"
    store = caches["tiles"]
    store.set("bench-probe", tile_bytes)
    client = redis_py_client(store)
    raw_key = store.make_key("bench-probe")
    pickled = pickle.dumps(tile_bytes, pickle.HIGHEST_PROTOCOL)
    backend = type(store).__module__.split(".")[0]
    pieces = {
        "parse the Cookie header (django parse_cookie)": lambda: parse_cookie(cookie),
        "TimestampSigner.unsign(grant, max_age)": lambda: signing.TimestampSigner(salt=salt).unsign(
            grant, max_age=600
        ),
        "salted_hmac(session key) for the grant": lambda: salted_hmac(
            salt, cookies.get(settings.SESSION_COOKIE_NAME, "")
        ).hexdigest(),
        "grant revocation check (3 keys, one round trip)": lambda: grants._not_revoked(verified),
        "os.stat(slide file)": lambda: os.stat(slide),
        "Redis GET 15 KB via redis-py (round trip)": lambda: client.get(raw_key),
        f"Redis GET 15 KB via {backend} cache": lambda: store.get("bench-probe"),
        f"Redis GET, a miss, via {backend} cache": lambda: store.get("bench-absent"),
        f"Redis SET 15 KB via {backend} cache": lambda: store.set("bench-probe", tile_bytes),
        "pickle.loads(15 KB bytes)": lambda: pickle.loads(pickled),
    }
    costs = {name: per_call_us(function, 0.5) for name, function in pieces.items()}
    store.delete("bench-probe")
    return costs


@contextlib.contextmanager
def redis_client_reused():
    """What if Django's Redis cache kept one client instead of building one per operation?

    Django's RedisCacheClient.get_client() makes a new redis.Redis (whose constructor builds a
    dict of ~170 response callbacks) for every get and set. This patches only this process.
    """
    from django.core.cache.backends.redis import RedisCacheClient

    original = RedisCacheClient.get_client

    def get_client(self, key=None, *, write=False):
        client = self.__dict__.get("_bench_client")
        if client is None:
            client = self.__dict__["_bench_client"] = original(self, key, write=write)
        return client

    RedisCacheClient.get_client = get_client
    try:
        yield
    finally:
        RedisCacheClient.get_client = original


def cprofile_top(app, environs: list[dict], calls: int, top: int, order: str = "tottime") -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(calls):
        call_app(app, environs[i % len(environs)])
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats(order).print_stats(top)
    return out.getvalue()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/wsi2ml-bench"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--database", default="wsi2ml_bench_profile")
    parser.add_argument("--redis-db", type=int, default=15)
    parser.add_argument("--force-flush", action="store_true")
    parser.add_argument("--seconds", type=float, default=5, help="per measurement")
    parser.add_argument("--top", type=int, default=25, help="cProfile rows to print")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.workdir = args.workdir.resolve()
    with bench.exclusive_run(600):
        return run_profile(args)


def run_profile(args: argparse.Namespace) -> int:
    slide = bench.slide_ensure(args.workdir)
    level, cols, rows = bench.slide_check(slide)
    shuffled = bench.tiles_shuffled(cols, rows)
    warm, cold = shuffled[-WARM_TILES:], shuffled[:UNCACHED_TILES]
    options = bench.ServerOptions(
        workers=args.workers,
        threads=args.threads,
        worker_class=args.worker_class,
        extra_args=[],
        extra_env=dict(pair.split("=", 1) for pair in args.env),
        database=args.database,
        redis_db=args.redis_db,
    )
    server = bench.Server(args.workdir, slide, options)
    warnings: list[str] = []
    bench.redis_bench_db(args.redis_db, args.force_flush)  # refuses someone else's database
    try:
        slide_id = server.prepare()
        server.start()
        cookie, _ = bench.browser_session(server, slide_id, warnings)
        paths = [f"/slides/{slide_id}_files/{level}/{col}_{row}.jpeg" for col, row in warm]
        warmed = bench.fetch_tiles(server, paths, cookie)
        if warmed["bad"]:
            raise bench.BenchError(f"warming failed: {warmed}")
        paths_file = args.workdir / "paths-profile.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        load = bench.LoadOptions(seconds=int(args.seconds) or 1, connections=16, threads=2)
        bench.wait_for_quiet(30, "the HTTP measurement")
        bench.log(f"HTTP: wrk on {len(paths)} cached tiles, {load.seconds} s")
        with bench.CpuMeter(server.process.pid) as meter:
            http = bench.wrk_measure("cached", server, cookie, paths_file, "cycle", load)
        if http.problems:
            raise bench.BenchError(f"HTTP measurement failed: {http.problems}")
        server.stop()

        bench.log("in-process: the WSGI application, one thread")
        os.environ.update(server.env)
        sys.path.insert(0, str(bench.REPO))
        from django.core.cache import caches

        from wsi2ml.wsgi import application

        environs = [wsgi_environ(path, cookie, server.port) for path in paths]
        whole = app_cost(application, environs, args.seconds)
        inner = getattr(application, "app", None)  # Django's handler behind a WSGI wrapper
        django_only = app_cost(inner, environs, args.seconds) if inner else None
        _, tile_bytes = call_app(application, environs[0])
        bench.log(f"in-process: {UNCACHED_TILES} uncached tiles")
        uncached = uncached_cost(
            application,
            [
                wsgi_environ(f"/slides/{slide_id}_files/{level}/{col}_{row}.jpeg", cookie, 0)
                for col, row in cold
            ],
            slide,
            cold,
        )
        reused = None
        if type(caches["tiles"]).__module__ == "django.core.cache.backends.redis":
            with redis_client_reused():
                reused = app_cost(application, environs, args.seconds)
        pieces = pieces_cost(cookie, slide, tile_bytes)
        profile = cprofile_top(application, environs, 3000, args.top)
        profile_uncached = cprofile_top(
            application,
            [
                wsgi_environ(f"/slides/{slide_id}_files/{level}/{col}_{row}.jpeg", cookie, 0)
                for col, row in shuffled[2 * UNCACHED_TILES : 2 * UNCACHED_TILES + 300]
            ],
            300,
            args.top,
            order="cumulative",
        )
    finally:
        server.stop()
        bench.redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db).flushdb()
        bench.database_recreate(args.database, drop_only=True)

    seconds, requests = http.seconds, http.requests
    per_request = {
        key.removesuffix("_cores"): value * seconds / requests * 1e6
        for key, value in meter.result.items()
    }
    print()
    print(
        f"HTTP, cached tiles: {http.tiles_per_s:.0f} tiles/s, p50 {http.p50_ms:.1f} ms, "
        f"others used {meter.result['others_cores']:.2f} cores"
    )
    print("CPU per request, µs:")
    for key in ("gunicorn", "redis", "client"):
        print(f"  {key:<50}{per_request[key]:>8.0f}")
    print(f"  {'(all work: gunicorn + redis)':<50}{per_request['work']:>8.0f}")
    print("In this process, one thread, µs per request:")
    print(f"  {'WSGI application (CPU)':<50}{whole['cpu_us']:>8.0f}   wall {whole['wall_us']:.0f}")
    if django_only:
        print(
            f"  {'Django stack without the wrapper (CPU)':<50}{django_only['cpu_us']:>8.0f}"
            f"   wall {django_only['wall_us']:.0f}"
        )
    if reused:
        print(
            f"  {'WSGI application, one Redis client reused (CPU)':<50}{reused['cpu_us']:>8.0f}"
            f"   wall {reused['wall_us']:.0f}"
        )
    gunicorn_share = per_request["gunicorn"] - whole["cpu_us"]
    print(f"  {'=> gunicorn itself, per request (difference)':<50}{gunicorn_share:>8.0f}")
    print(
        f"  {'uncached tile: WSGI application (CPU)':<50}{uncached['app_cpu_us']:>8.0f}\n"
        f"  {'uncached tile: ... all threads of this process':<50}"
        f"{uncached['app_process_cpu_us']:>8.0f}\n"
        f"  {'uncached tile: get_tile + JPEG encode only (c)':<50}"
        f"{uncached['ceiling_cpu_us']:>8.0f}"
    )
    for label, cost in uncached["app_parts_us"].items():
        print(f"    {'uncached, in the app: ' + label:<48}{cost:>8.0f}")
    print("Pieces, µs of CPU per call:")
    for name, cost in pieces.items():
        print(f"  {name:<50}{cost:>8.1f}")
    print()
    print("cProfile, cached tiles:")
    print(profile)
    print("cProfile, uncached tiles (cumulative):")
    print(profile_uncached)
    for warning in warnings:
        print(f"WARNING: {warning}")
    out = bench.result_write(
        {
            "kind": "profile",
            "app_digest": bench.app_digest(),
            "gunicorn": {
                "workers": args.workers,
                "threads": args.threads,
                "worker_class": args.worker_class,
            },
            "http": {"tiles_per_s": http.tiles_per_s, "p50_ms": http.p50_ms, "cpu": meter.result},
            "cpu_us_per_request": per_request,
            "app": whole,
            "django_without_wrapper": django_only,
            "uncached": uncached,
            "app_with_redis_client_reused": reused,
            "pieces_us": pieces,
            "cprofile": profile,
            "cprofile_uncached": profile_uncached,
        },
        "profile",
    )
    print(f"results: {out.relative_to(bench.REPO)}")
    return 0


if __name__ == "__main__":
    bench.run_script(main, "profile")
