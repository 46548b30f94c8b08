"""
Benchmark the layer import: a million features of one GeoJSON file stored on one slide.

The file (written once into the work directory and kept) is a model's output as the toolkit and
QuPath write it: half WSInfer-style tiles (256 px squares with ``prob_tumor`` and
``prob_benign``), half detections (20-vertex polygons of about 12 px radius, a class and a
``score``), on a slide registered with a scanner's size (no pixels are read). A dedicated
database (``wsi2ml_bench_layers``) holds the slide, a project with its labels and the layers.

Each run imports the file through ``layers.services.layer_import`` in a fresh process (the
server's code path for an upload, without HTTP) and reports features/s and that process's peak
RSS (VmHWM, the import's memory with Django, numpy and shapely loaded), then deletes the layer.
``--profile`` writes a cProfile of the import and prints its top functions.

Targets (issue 13 §2): >= 30,000 features/s, peak RSS < 300 MB; the exit status is 1 on a
miss. ``--smoke`` imports 20,000 features (CI). Run ``.venv/bin/python bench/layers_ingest.py
--help``; see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import tiles as bench  # bench/tiles.py: the harness (lock, log, quiet wait, database)

REPO = bench.REPO
BENCH = bench.BENCH
log = bench.log
BenchError = bench.BenchError

DATABASE = "wsi2ml_bench_layers"
TARGETS = {"features_per_s": 30_000, "peak_rss_mb": 300.0}
TILE = 256
VERTICES = 20
RADIUS = 12.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--features", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="20,000 features, for CI")
    parser.add_argument("--profile", action="store_true", help="cProfile the import")
    parser.add_argument("--workdir", type=Path, default=REPO / "var" / "bench-layers")
    parser.add_argument("--lock-wait", type=float, default=1800)
    parser.add_argument("--quiet-wait", type=float, default=60)
    parser.add_argument("--label", default="")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.features = 20_000
    return args


# --- the file -------------------------------------------------------------------------------


def file_write(path: Path, count: int) -> tuple[int, int]:
    """Write ``count`` features (half tiles, half detections); return the slide's size."""
    tiles = count // 2
    side = int(np.ceil(np.sqrt(tiles)))
    width = height = side * TILE
    rng = np.random.default_rng(13)
    angles = np.linspace(0, 2 * np.pi, VERTICES, endpoint=False)
    ring = np.c_[np.cos(angles), np.sin(angles)] * RADIUS
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as out:
        out.write('{"type": "FeatureCollection", "features": [\n')
        first = True
        for start in range(0, count, 10_000):
            n = min(10_000, count - start)
            lines = []
            for i in range(start, start + n):
                if i < tiles:
                    x, y = (i % side) * TILE, (i // side) * TILE
                    p = round(float(rng.random()), 4)
                    geometry = (
                        f'{{"type": "Polygon", "coordinates": [[[{x}, {y}], [{x + TILE}, {y}], '
                        f"[{x + TILE}, {y + TILE}], [{x}, {y + TILE}], [{x}, {y}]]]}}"
                    )
                    properties = (
                        '{"objectType": "tile", "classification": {"name": "'
                        + ("tumor" if p >= 0.5 else "benign")
                        + f'"}}, "measurements": {{"prob_tumor": {p}, '
                        f'"prob_benign": {round(1 - p, 4)}}}}}'
                    )
                else:
                    cx, cy = rng.random(2) * (width - 40) + 20
                    xy = np.round(ring + np.array([cx, cy]), 2)
                    points = ", ".join(f"[{a}, {b}]" for a, b in xy.tolist())
                    geometry = (
                        f'{{"type": "Polygon", "coordinates": [[{points}, '
                        f"[{xy[0, 0]}, {xy[0, 1]}]]]}}"
                    )
                    cls = "Tumor" if i % 3 else "Lymphocyte"
                    properties = (
                        f'{{"objectType": "detection", "classification": {{"name": "{cls}"}}, '
                        f'"measurements": {{"score": {round(float(rng.random()), 4)}}}}}'
                    )
                line = f'{{"type": "Feature", "geometry": {geometry}, "properties": {properties}}}'
                lines.append(line)
            out.write(("" if first else ",\n") + ",\n".join(lines))
            first = False
        out.write("\n]}\n")
    tmp.replace(path)
    return width, height


# --- the import, in its own process -----------------------------------------------------------


def child(path: Path) -> int:
    """Import ``path`` once (in this fresh process); print the figures as JSON."""
    facts = json.loads(path.with_suffix(".json").read_text())
    os.environ["DJANGO_SETTINGS_MODULE"] = "wsi2ml.settings"
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from layers import services
    from layers.models import Layer
    from slides.models import Slide
    from tasks.models import Label, Project

    slide, _ = Slide.objects.update_or_create(
        path="bench/layers.tiff",
        defaults={
            "name": "layers.tiff",
            "file_size": 0,
            "file_mtime": timezone.now(),
            "width": facts["width"],
            "height": facts["height"],
            "mpp_x": 0.25,
            "mpp_y": 0.25,
        },
    )
    project, _ = Project.objects.get_or_create(name="Bench: layers")
    for name in ("Tumor", "Lymphocyte"):
        Label.objects.get_or_create(project=project, name=name)
    user, _ = get_user_model().objects.get_or_create(username="bench-layers")
    Layer.objects.filter(slide=slide).delete()
    layer = Layer.objects.create(
        slide=slide, project=project, name="bench", uploaded_by=user, source_name=path.name
    )
    options = services.ImportOptions(create_missing=True)
    profiler = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    layer = services.layer_import(layer=layer, path=path, options=options)
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(path.with_suffix(".prof")))
    status = Path("/proc/self/status").read_text()
    peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    services.layer_delete(layer=layer)
    print(json.dumps({"features": layer.feature_count, "seconds": seconds, "peak_kb": peak}))
    return 0


# --- the run ----------------------------------------------------------------------------------


def run_all(args: argparse.Namespace) -> int:
    path = args.workdir / f"layer-{args.features}.geojson"
    facts_path = path.with_suffix(".json")
    if not path.exists() or not facts_path.exists():
        log(f"writing {args.features:,} features to {path}")
        width, height = file_write(path, args.features)
        facts_path.write_text(json.dumps({"width": width, "height": height}))
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}"}
    env.update(DEBUG="0", SECRET_KEY="bench-" + "x" * 60, LOG_LEVEL="WARNING")
    if args.profile:
        env["BENCH_PROFILE"] = "1"
    _database_ensure(env)
    bench.wait_for_quiet(args.quiet_wait, "the import")
    log(f"importing {path.name} ({path.stat().st_size / 2**20:,.0f} MB)")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(path)]
    output = bench.run(command, env, timeout=3600)
    figures = json.loads(output.strip().splitlines()[-1])
    result = {
        "features": figures["features"],
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "seconds": round(figures["seconds"], 2),
        "features_per_s": round(figures["features"] / figures["seconds"]),
        "peak_rss_mb": round(figures["peak_kb"] / 1024, 1),
        "targets": TARGETS,
        "at": datetime.now().isoformat(timespec="seconds"),
    }
    missed = []
    for key, target in TARGETS.items():
        ok = result[key] >= target if key == "features_per_s" else result[key] < target
        log(f"{key}: {result[key]:,} (target {target:,}){'' if ok else '  MISSED'}")
        if not ok:
            missed.append(key)
    if args.profile:
        _profile_print(path.with_suffix(".prof"))
    out = bench.result_write(result, args.label or ("smoke" if args.smoke else ""), "layers-ingest")
    log(f"results in {out}")
    return 1 if missed else 0


def _database_ensure(env: dict[str, str]) -> None:
    """Create the benchmark's database once; migrate it (quick when it is up to date)."""
    try:
        bench.run([sys.executable, "manage.py", "migrate", "--check"], env)
    except BenchError:
        try:
            bench.run([sys.executable, "manage.py", "showmigrations", "layers"], env)
        except BenchError:
            bench.database_recreate(DATABASE)
        bench.run([sys.executable, "manage.py", "migrate", "-v", "0"], env, timeout=600)


def _profile_print(path: Path) -> None:
    import pstats

    pstats.Stats(str(path)).sort_stats("tottime").print_stats(15)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args.child)
    return bench.run_in_workdir(args, run_all)


if __name__ == "__main__":
    bench.run_script(main, "layers_ingest")
