"""
Benchmark the annotation editor in headless chromium: first load of 20,000 polygons, then panning.

A dedicated database (``wsi2ml_bench_browser``) holds a generated 20000 x 15000 slide with
20,000 cell polygons, all in the annotator's assignment, so that the editor's first request for
the whole slide (the view padded by half, limit 20,000) returns every one of them. Playwright
drives Debian's chromium: log in, open the work page /work/<assignment>/slides/<slide>/ and time
navigation start -> ``document.body.dataset.annotationsReady == "1"`` (target <= 3 s), checking
that window.wsi2mlEditor has 20,000 features drawn; then drag the slide with the mouse and pan
it with OpenSeadragon's ``viewport.panBy`` for a few seconds each while requestAnimationFrame
records every frame in the page. A screenshot goes to /tmp.

Run ``.venv/bin/python bench/annotation_editor.py --help``; see bench/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import annotation_api as data  # bench/annotation_api.py, beside this file
import redis
import tiles as bench

log = bench.log
BenchError = bench.BenchError
TARGET_READY_MS = 3000

# Installed before any page script: note when the editor marks the first load drawn, and
# collect long tasks, so that the timings come from the page's own clock (navigation start = 0).
INIT_SCRIPT = """
(() => {
  window.__bench = { readyAt: null, longTasks: [] };
  const watch = () => {
    const body = document.body;
    if (body && body.dataset.annotationsReady === "1" && !window.__bench.readyAt) {
      window.__bench.readyAt = performance.now();
    }
  };
  new MutationObserver(watch).observe(document, {
    attributes: true, subtree: true, attributeFilter: ["data-annotations-ready"],
  });
  // When each annotation answer is in and parsed (fetch resolves at the headers; json() reads
  // the body and parses it).
  window.__bench.parsed = [];
  const json = Response.prototype.json;
  Response.prototype.json = async function () {
    const value = await json.call(this);
    if (this.url.includes("/annotations?")) {
      window.__bench.parsed.push({ url: this.url, end: performance.now() });
    }
    return value;
  };
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        window.__bench.longTasks.push([entry.startTime, entry.duration]);
      }
    }).observe({ type: "longtask", buffered: true });
  } catch (error) {}
})();
"""

LOAD_FACTS = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const api = performance.getEntriesByType("resource")
    .filter((r) => r.name.includes("/annotations?"))
    .map((r) => ({ start: r.startTime, firstByte: r.responseStart, end: r.responseEnd,
                   bytes: r.encodedBodySize, url: r.name }));
  const osd = window.wsi2mlViewer && window.wsi2mlViewer.viewer;
  return {
    readyAt: window.__bench.readyAt,
    parsed: window.__bench.parsed,
    domContentLoaded: nav ? nav.domContentLoadedEventEnd : null,
    load: nav ? nav.loadEventEnd : null,
    htmlEnd: nav ? nav.responseEnd : null,
    api,
    longTasks: window.__bench.longTasks,
    summary: window.wsi2mlEditor.summary(),
    zoom: osd ? osd.viewport.getZoom() : null,
    devicePixelRatio: window.devicePixelRatio,
  };
}
"""

# Record every animation frame for ``ms`` milliseconds; resolves to the frame timestamps.
FRAMES_START = """
(ms) => {
  window.__frames = { stamps: [], drawsBefore: window.wsi2mlEditor.summary().frames };
  const until = performance.now() + ms;
  const tick = (now) => {
    window.__frames.stamps.push(now);
    if (now < until) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
"""

FRAMES_RESULT = """
() => ({ stamps: window.__frames.stamps,
         draws: window.wsi2mlEditor.summary().frames - window.__frames.drawsBefore,
         summary: window.wsi2mlEditor.summary() })
"""

# Pan with OpenSeadragon's viewport.panBy on every frame for ``ms`` milliseconds, a few screen
# pixels at a time, back and forth (immediately: no spring animation between steps).
PAN_BY = """
(ms) => new Promise((resolve) => {
  const viewer = window.wsi2mlViewer.viewer;
  const P = window.OpenSeadragon.Point;
  const started = performance.now();
  const step = (now) => {
    const t = now - started;
    const direction = Math.floor(t / 1000) % 2 ? -1 : 1;
    const delta = viewer.viewport.deltaPointsFromPixels(new P(12 * direction, 5 * direction));
    viewer.viewport.panBy(delta, true);
    if (t < ms) requestAnimationFrame(step);
    else resolve();
  };
  requestAnimationFrame(step);
})
"""

ZOOM_IN = """
(factor) => {
  const viewport = window.wsi2mlViewer.viewer.viewport;
  viewport.zoomTo(viewport.getHomeZoom() * factor, null, true);
}
"""

# Hide (or show again) every label, as the panel's check boxes do.
OVERLAY_HIDDEN = """
(hidden) => {
  const editor = window.wsi2mlEditor.editor;
  for (const label of editor.labels) {
    if (hidden) editor.display.hidden.add(label.id);
    else editor.display.hidden.delete(label.id);
  }
  editor.overlay.requestAll();
}
"""


def frames_stats(stamps: list[float], seconds: float) -> dict:
    """Frame rate and frame times (ms) from requestAnimationFrame timestamps."""
    gaps = sorted(b - a for a, b in itertools.pairwise(stamps))
    if not gaps:
        return {"fps": 0.0, "frames": 0}
    return {
        "fps": len(gaps) / ((stamps[-1] - stamps[0]) / 1000),
        "frames": len(gaps),
        "p50_ms": bench.percentile(gaps, 0.50),
        "p95_ms": bench.percentile(gaps, 0.95),
        "max_ms": gaps[-1],
        "over_50ms": sum(gap > 50 for gap in gaps),
        "seconds": seconds,
    }


def page_login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form [type=submit]")
    if "/accounts/login/" in page.url:
        raise BenchError("logging in through the login page failed")


def wait_until(page, expression: str, timeout_s: float) -> None:
    """Poll ``expression`` in the page until it is true.

    Not page.wait_for_function: that evaluates a string inside the page, which the site's
    Content-Security-Policy (no 'unsafe-eval') rightly refuses. The timings themselves come
    from the page's clock, so the polling interval does not blur them.
    """
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout_s:g} s waiting for {expression}")
        time.sleep(0.02)


def first_load(page, url: str, timeout_s: float) -> dict:
    """Open the work page; return the page's own timings once the first load is drawn."""
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    wait_until(page, "document.body && document.body.dataset.annotationsReady === '1'", timeout_s)
    facts = page.evaluate(LOAD_FACTS)
    facts["wall_ms"] = (time.perf_counter() - started) * 1000
    return facts


def frames_during(page, seconds: float, action, meter) -> dict:
    with meter:
        page.evaluate(FRAMES_START, seconds * 1000 + 200)
        started = time.perf_counter()
        action(seconds)
        page.wait_for_timeout(max(0, 300 - (time.perf_counter() - started) * 1000))
        done = f"performance.now() >= window.__frames.stamps[0] + {seconds * 1000 + 200}"
        wait_until(page, done, 60)
    result = page.evaluate(FRAMES_RESULT)
    stats = frames_stats(result["stamps"], seconds)
    stats["overlay_draws"] = result["draws"]
    stats["overlay_last_frame_ms"] = result["summary"]["lastFrameMs"]
    stats["drawn_after"] = result["summary"]["drawnCount"]
    stats["cpu"] = meter.result
    return stats


def drag(page, seconds: float, viewport: dict) -> None:
    """Hold Space and drag the slide with the mouse, back and forth, for ``seconds``.

    Space makes every tool hand the pointer to OpenSeadragon; without it a drag that starts on
    a shape would move the shape (and save it).
    """
    cx, cy = viewport["width"] / 2, viewport["height"] / 2
    deadline = time.perf_counter() + seconds
    sign = 1
    page.mouse.move(cx, cy)
    page.keyboard.down(" ")
    while time.perf_counter() < deadline:
        page.mouse.move(cx, cy)
        page.mouse.down()
        for i in range(1, 31):
            page.mouse.move(cx + sign * 10 * i, cy + sign * 4 * i)
        page.mouse.up()
        sign = -sign
    page.keyboard.up(" ")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/wsi2ml-bench"))
    parser.add_argument("--database", default="wsi2ml_bench_browser")
    parser.add_argument("--redis-db", type=int, default=12)
    parser.add_argument("--force-flush", action="store_true", help="flush a non-empty Redis db")
    parser.add_argument("--polygons", type=int, default=20_000)
    parser.add_argument("--width", type=int, default=20_000, help="slide width, level-0 px")
    parser.add_argument("--height", type=int, default=15_000, help="slide height, level-0 px")
    parser.add_argument("--reload", action="store_true", help="load the polygons again")
    parser.add_argument("--loads", type=int, default=5, help="page loads to time")
    parser.add_argument("--pan-seconds", type=float, default=4.0, help="per panning method")
    parser.add_argument("--window", default="1920x1080", help="browser viewport, WxH")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--headed", action="store_true", help="show the browser (needs X)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for a load")
    parser.add_argument("--screenshot", type=Path, default=Path("/tmp/wsi2ml-editor-20k.png"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--quiet-wait", type=float, default=30)
    parser.add_argument("--lock-wait", type=float, default=600)
    parser.add_argument("--label", default="", help="a word for the results file name")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.window.split("x"))
    except ValueError:
        parser.error("--window takes WIDTHxHEIGHT")
    args.viewport = {"width": width, "height": height}
    return args


def main(argv: list[str] | None = None) -> int:
    return bench.run_in_workdir(parse_args(argv), run_all)


def run_all(args: argparse.Namespace) -> int:
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    recipe = data.Recipe(args.width, args.height, args.polygons)
    slide = data.slide_ensure(args.workdir / "slides-browser", args.width, args.height)
    options = bench.ServerOptions(
        workers=args.workers,
        threads=args.threads,
        worker_class="gthread",
        extra_args=[],
        extra_env=dict(pair.split("=", 1) for pair in args.env),
        database=args.database,
        redis_db=args.redis_db,
    )
    server = bench.Server(args.workdir, slide, options)
    server.log_path = args.workdir / "gunicorn-browser.log"
    bench.redis_bench_db(args.redis_db, args.force_flush)
    ids = data.dataset_ensure(server, recipe, args)
    work_url = f"{server.base}/work/{ids['assignment']}/slides/{ids['slide']}/"
    result: dict = {"loads": [], "pans": {}}
    problems: list[str] = []
    try:
        log(f"starting gunicorn {' '.join(server.command()[2:])}")
        server.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox"], headless=not args.headed
            )
            context = browser.new_context(viewport=args.viewport)
            context.add_init_script(INIT_SCRIPT)
            page = context.new_page()
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

            def meter() -> data.CpuMeter:
                return data.CpuMeter(server.process.pid, args.database, browser=True)

            page_login(page, server.base, data.ANNOTATOR, server.password)
            bench.wait_for_quiet(args.quiet_wait, "the page loads")
            for i in range(args.loads):
                with meter() as cpu:
                    facts = first_load(page, work_url, args.timeout)
                facts["cpu"] = cpu.result
                result["loads"].append(facts)
                s = facts["summary"]
                log(
                    f"load {i + 1}: ready at {facts['readyAt']:.0f} ms, "
                    f"{s['features']} features, {s['drawnCount']} drawn, reduced {s['reduced']}"
                )
                if s["features"] != args.polygons or s["drawnCount"] != args.polygons:
                    problems.append(
                        f"load {i + 1}: {s['features']} features, {s['drawnCount']} drawn, "
                        f"not {args.polygons}"
                    )
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.screenshot))
            bench.wait_for_quiet(args.quiet_wait, "panning")
            log(f"panning: mouse drags, {args.pan_seconds:g} s")
            result["pans"]["mouse drags"] = frames_during(
                page, args.pan_seconds, lambda s: drag(page, s, args.viewport), meter()
            )
            page.wait_for_timeout(1500)
            log(f"panning: viewport.panBy every frame, {args.pan_seconds:g} s")
            result["pans"]["viewport.panBy"] = frames_during(
                page, args.pan_seconds, lambda s: page.evaluate(PAN_BY, s * 1000), meter()
            )
            page.wait_for_timeout(1500)
            page.evaluate(ZOOM_IN, 4)
            page.wait_for_timeout(2000)
            log(f"panning: viewport.panBy every frame, zoomed in x4, {args.pan_seconds:g} s")
            result["pans"]["panBy, zoom x4"] = frames_during(
                page, args.pan_seconds, lambda s: page.evaluate(PAN_BY, s * 1000), meter()
            )
            page.wait_for_timeout(1500)
            # The same without the annotation layer: what OpenSeadragon alone costs here.
            page.evaluate(OVERLAY_HIDDEN, True)
            page.wait_for_timeout(1000)
            result["pans"]["same, shapes hidden"] = frames_during(
                page, args.pan_seconds, lambda s: page.evaluate(PAN_BY, s * 1000), meter()
            )
            page.evaluate(OVERLAY_HIDDEN, False)
            page.wait_for_timeout(1500)
            result["pans"]["idle (no input)"] = frames_during(
                page, 2.0, lambda s: page.wait_for_timeout(s * 1000), meter()
            )
            result["after"] = page.evaluate("() => window.wsi2mlEditor.summary()")
            result["browser"] = browser.version
            browser.close()
    finally:
        server.stop()
        redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db).flushdb()
    report(result, args, problems)
    out = data.result_write(
        {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "app_version": data.app_version(),
            "recipe": {"width": args.width, "height": args.height, "polygons": args.polygons},
            "window": args.viewport,
            **result,
            "problems": problems,
            "seconds": round(time.perf_counter() - started, 1),
        },
        args.label,
        "annotations-browser",
    )
    print(f"screenshot: {args.screenshot}")
    print(f"results: {out.relative_to(bench.REPO)}")
    return 1 if problems else 0


def report(result: dict, args: argparse.Namespace, problems: list[str]) -> None:
    loads = result["loads"]
    print()
    print("page load: ms since navigation start, on the page's clock")
    print(
        f"{'load':<5}{'HTML':>6}{'DOM':>6}{'API calls':>10}{'API start':>10}{'1st byte':>9}"
        f"{'API end':>8}{'parsed':>8}{'ready':>7}{'API MB':>8}{'features':>9}{'drawn':>7}"
        f"{'long tasks':>11}{'cores: app':>11}{'pg':>5}{'browser':>8}{'others':>7}"
    )
    for i, facts in enumerate(loads, start=1):
        api = facts["api"][-1] if facts["api"] else {}
        parsed = facts["parsed"][-1]["end"] if facts["parsed"] else 0
        long_ms = sum(duration for _, duration in facts["longTasks"])
        cpu = facts["cpu"]
        print(
            f"{i:<5}{facts['htmlEnd']:>6.0f}{facts['domContentLoaded']:>6.0f}"
            f"{len(facts['api']):>10}{api.get('start', 0):>10.0f}{api.get('firstByte', 0):>9.0f}"
            f"{api.get('end', 0):>8.0f}{parsed:>8.0f}{facts['readyAt']:>7.0f}"
            f"{api.get('bytes', 0) / 2**20:>8.1f}{facts['summary']['features']:>9}"
            f"{facts['summary']['drawnCount']:>7}{long_ms:>11.0f}{cpu['app_cores']:>11.2f}"
            f"{cpu['postgres_cores']:>5.2f}{cpu['client_cores']:>8.2f}{cpu['others_cores']:>7.2f}"
        )
    ready = [facts["readyAt"] for facts in loads]
    if ready:
        median = statistics.median(ready)
        verdict = "met" if max(ready) <= TARGET_READY_MS else "MISSED"
        print(
            f"ready: median {median:.0f} ms, worst {max(ready):.0f} ms   "
            f"target <= {TARGET_READY_MS} ms {verdict}"
        )
    print()
    print(
        f"{'panning':<20}{'fps':>6}{'frames':>8}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}"
        f"{'> 50 ms':>8}{'overlay draws':>15}{'full frame ms':>15}{'cores: app':>11}{'pg':>5}"
        f"{'browser':>8}{'others':>7}"
    )
    for name, stats in result["pans"].items():
        cpu = stats["cpu"]
        print(
            f"{name:<20}{stats['fps']:>6.1f}{stats['frames']:>8}{stats.get('p50_ms', 0):>8.1f}"
            f"{stats.get('p95_ms', 0):>8.1f}{stats.get('max_ms', 0):>8.1f}"
            f"{stats.get('over_50ms', 0):>8}{stats['overlay_draws']:>15}"
            f"{stats['overlay_last_frame_ms']:>15.1f}{cpu['app_cores']:>11.2f}"
            f"{cpu['postgres_cores']:>5.2f}{cpu['client_cores']:>8.2f}{cpu['others_cores']:>7.2f}"
        )
    print(
        f"chromium {result.get('browser', '?')} headless, {args.viewport['width']}x"
        f"{args.viewport['height']}, software rendering; {args.polygons:,} polygons on "
        f"{args.width} x {args.height} px; {os.cpu_count()} CPUs; application "
        f"{data.app_version()}"
    )
    for problem in problems[:10]:
        print(f"FAILED: {problem}")


if __name__ == "__main__":
    bench.run_script(main)
