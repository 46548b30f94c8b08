"""
Benchmark the annotation API on PostgreSQL with a million polygons on one slide.

A dedicated database (``wsi2ml_bench_annotations`` by default) holds one large slide
(150000 x 100000 px) with 1,000,000 blob-shaped polygons of about 20 vertices (nuclei and cells,
8-60 px in radius), crowded into tissue fragments and clusters as on a real slide, all in one
annotator's assignment. The data is loaded with COPY once and kept between runs. gunicorn then
serves the API to a logged-in, non-staff annotator who owns the assignment, and this script
measures, one request at a time:

1. viewport queries (limit 2,000): on bare glass (the fixed cost), at random places with boxes
   that hold at most 2,000 features, and boxes grown to 1,800-2,000 features (target p95
   <= 100 ms); and the request the editor really sends (the view padded, limit 20,000);
2. the whole slide zoomed out (bbox = the slide, limit 2,000), which answers in the reduced
   (density cell) form, and quarter-slide views (target p95 <= 200 ms);
3. saving: POST of a new 20-vertex polygon, PATCH of its geometry (target p95 <= 50 ms), and
   DELETE;
4. random viewports from a few clients at once.

``--explain`` prints the viewport query's SQL with EXPLAIN (ANALYZE, BUFFERS); ``--profile``
runs the views in-process under cProfile and splits their time between SQL and Python.
Run ``.venv/bin/python bench/annotation_api.py --help``; see bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import os
import re
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg2
import redis
import tiles as bench  # bench/tiles.py, beside this file

REPO = bench.REPO
BENCH = bench.BENCH
log = bench.log
BenchError = bench.BenchError

# Bump when the data recipe changes, so that a cached database is reloaded.
RECIPE = "v2"
MPP = 0.25
VERTICES = 20  # per polygon, before the ring is closed
CHUNK = 50_000  # polygons generated and copied at a time
TARGETS_MS = {"viewport": 100.0, "whole": 200.0, "save": 50.0}
APP_FOLDERS = ("annotations", "tasks", "slides", "wsi2ml", "templates")
EDITOR_LIMIT = 20_000  # LOAD_LIMIT in annotations/static/annotations/editor.js

ANNOTATOR = "bench-annotator"
MANAGER = "bench-manager"
# name, colour, share of the polygons, radius range (px), elongation range
LABELS = (
    ("Tumour cell", "#e6194b", 0.35, (18, 60), (1.0, 1.5)),
    ("Lymphocyte", "#3cb44b", 0.30, (8, 14), (1.0, 1.2)),
    ("Stromal cell", "#4363d8", 0.20, (10, 30), (1.6, 2.6)),
    ("Necrotic cell", "#f58231", 0.10, (15, 50), (1.0, 1.4)),
    ("Mitosis", "#911eb4", 0.05, (12, 25), (1.0, 1.3)),
)


# --- the data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """What the generated polygons depend on; the cached database records it."""

    width: int
    height: int
    count: int
    seed: int = 20261126
    order: str = "random"  # "random" or "tiles": the order of the rows in the table
    version: str = RECIPE

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass
class Centres:
    """Where each polygon sits and what it is; the shapes are drawn from these chunk by chunk."""

    x: np.ndarray
    y: np.ndarray
    label: np.ndarray  # index into LABELS
    radius: np.ndarray
    elongation: np.ndarray


def _in_fragments(x: np.ndarray, y: np.ndarray, fragments: np.ndarray) -> np.ndarray:
    inside = np.zeros(x.shape, dtype=bool)
    for fx, fy, a, b, angle in fragments:
        c, s = math.cos(angle), math.sin(angle)
        u, v = (x - fx) * c + (y - fy) * s, -(x - fx) * s + (y - fy) * c
        inside |= (u / a) ** 2 + (v / b) ** 2 <= 1
    return inside


def centres_generate(recipe: Recipe) -> Centres:
    """Place ``recipe.count`` cells on tissue: a few fragments, dense clusters within them.

    A third of the cells are spread evenly over the tissue fragments (elliptic regions that
    cover about 40 % of the slide); the rest sit in a few thousand Gaussian clusters of very
    different sizes, never denser than one cell per 650 px^2 (a packed tumour nest at 0.25 µm
    per pixel), and nothing lies outside tissue.
    """
    rng = np.random.default_rng(recipe.seed)
    w, h, n = recipe.width, recipe.height, recipe.count
    k = 7
    fragments = np.column_stack(
        [
            rng.uniform(0.18 * w, 0.82 * w, k),
            rng.uniform(0.2 * h, 0.8 * h, k),
            rng.uniform(0.10 * w, 0.2 * w, k),
            rng.uniform(0.12 * h, 0.25 * h, k),
            rng.uniform(0, math.pi, k),
        ]
    )
    xs, ys = [], []
    spread = n // 3
    while sum(len(x) for x in xs) < spread:
        x, y = rng.uniform(0, w, spread), rng.uniform(0, h, spread)
        keep = _in_fragments(x, y, fragments)
        xs.append(x[keep])
        ys.append(y[keep])
    clustered = n - spread
    clusters = 3000
    cx, cy = rng.uniform(0, w, clusters * 4), rng.uniform(0, h, clusters * 4)
    keep = _in_fragments(cx, cy, fragments)
    cx, cy = cx[keep][:clusters], cy[keep][:clusters]
    weight = rng.pareto(1.5, len(cx)) + 0.2
    members = np.maximum(1, np.round(weight / weight.sum() * clustered * 1.3)).astype(int)
    # Peak density of a cluster of m cells is m / (2 pi sigma^2): keep it below 1 per 650 px^2.
    sigma = np.maximum(rng.lognormal(math.log(500), 0.6, len(cx)), np.sqrt(650 * members / 6.283))
    mx = np.repeat(cx, members) + rng.normal(0, 1, members.sum()) * np.repeat(sigma, members)
    my = np.repeat(cy, members) + rng.normal(0, 1, members.sum()) * np.repeat(sigma, members)
    keep = _in_fragments(mx, my, fragments)
    mx, my = mx[keep], my[keep]
    pick = rng.permutation(len(mx))[:clustered]
    x = np.concatenate([*xs, mx[pick]])[:n]
    y = np.concatenate([*ys, my[pick]])[:n]
    if len(x) < n:
        raise BenchError(f"generated only {len(x)} of {n} cells; adjust the recipe")
    shares = np.array([label[2] for label in LABELS])
    label = rng.choice(len(LABELS), size=n, p=shares / shares.sum())
    low = np.array([label[3][0] for label in LABELS], dtype=float)[label]
    high = np.array([label[3][1] for label in LABELS], dtype=float)[label]
    radius = np.exp(rng.uniform(np.log(low), np.log(high)))
    e_low = np.array([label[4][0] for label in LABELS])[label]
    e_high = np.array([label[4][1] for label in LABELS])[label]
    elongation = rng.uniform(e_low, e_high)
    # Keep every shape inside the slide: the API would clip it, the loader does not.
    margin = 2.2 * radius * elongation
    x = np.clip(x, margin, w - margin)
    y = np.clip(y, margin, h - margin)
    order = rng.permutation(n)
    if recipe.order == "tiles":
        # As a detection model's output arrives: tile by tile (2048 px), row by row.
        order = np.lexsort((x // 2048, y // 2048))
    return Centres(x[order], y[order], label[order], radius[order], elongation[order])


def shapes_generate(centres: Centres, start: int, stop: int, seed: int) -> np.ndarray:
    """Return (stop - start, VERTICES + 1, 2) closed rings: smooth, star-shaped blobs.

    r(t) = R (1 + sum of three small harmonics), stretched by the elongation and turned at
    random. Star-shaped with r > 0 and increasing angles, so every ring is a simple polygon.
    Coordinates are rounded to 0.01 px, as the API stores them.
    """
    rng = np.random.default_rng([seed, start])
    n = stop - start
    t = np.linspace(0, 2 * math.pi, VERTICES, endpoint=False)[None, :]
    t = t + rng.uniform(-0.08, 0.08, (n, VERTICES))
    r = np.ones((n, VERTICES))
    for harmonic in (2, 3, 5):
        amplitude = rng.uniform(0, 0.1, (n, 1))
        phase = rng.uniform(0, 2 * math.pi, (n, 1))
        r += amplitude * np.cos(harmonic * t + phase)
    r *= centres.radius[start:stop, None]
    e = centres.elongation[start:stop, None]
    u, v = r * np.cos(t) * np.sqrt(e), r * np.sin(t) / np.sqrt(e)
    angle = rng.uniform(0, math.pi, (n, 1))
    c, s = np.cos(angle), np.sin(angle)
    ring = np.empty((n, VERTICES + 1, 2))
    ring[:, :VERTICES, 0] = centres.x[start:stop, None] + u * c - v * s
    ring[:, :VERTICES, 1] = centres.y[start:stop, None] + u * s + v * c
    ring[:, VERTICES] = ring[:, 0]
    return np.round(ring, 2)


def rings_measure(rings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (bounding boxes (n, 4), areas in px^2) of closed rings."""
    x, y = rings[:, :, 0], rings[:, :, 1]
    area = 0.5 * np.abs(np.sum(x[:, :-1] * y[:, 1:] - x[:, 1:] * y[:, :-1], axis=1))
    boxes = np.column_stack([x.min(1), y.min(1), x.max(1), y.max(1)])
    return boxes, area


def boxes_all(recipe: Recipe, centres: Centres) -> np.ndarray:
    """Bounding boxes of every polygon, as the database holds them (about 1 s per million)."""
    out = np.empty((recipe.count, 4))
    for start in range(0, recipe.count, CHUNK):
        stop = min(start + CHUNK, recipe.count)
        out[start:stop] = rings_measure(shapes_generate(centres, start, stop, recipe.seed))[0]
    return out


# --- the slide file -------------------------------------------------------------------------


def slide_synthesize(path: Path, width: int, height: int) -> None:
    """Write a small tiled pyramidal JPEG TIFF of H&E-like texture (0.25 µm/px) to ``path``."""
    import pyvips  # only needed once, to build the slide

    size = min(2048, width, height)
    blobs = pyvips.Image.gaussnoise(size, size, mean=128, sigma=60, seed=1).gaussblur(4)
    grain = pyvips.Image.gaussnoise(size, size, mean=0, sigma=8, seed=2)
    mix = (blobs - 128) * 0.08 + 0.5
    mix = (mix > 1).ifthenelse(1, (mix < 0).ifthenelse(0, mix))
    eosin, haematoxylin = [235, 170, 200], [110, 60, 150]
    stain = [h - e for h, e in zip(haematoxylin, eosin, strict=True)]
    texture = (mix * stain + eosin + grain).cast("uchar").copy_memory()
    image = texture.replicate(width // size + 1, height // size + 1).crop(0, 0, width, height)
    image.tiffsave(
        str(path),
        tile=True,
        tile_width=256,
        tile_height=256,
        pyramid=True,
        compression="jpeg",
        Q=80,
        bigtiff=True,
        xres=1000 / MPP,  # pixels per mm
        yres=1000 / MPP,
        resunit="cm",
    )


def slide_ensure(folder: Path, width: int, height: int) -> Path:
    """Return a generated slide file of this size in ``folder``, building it on first use."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench-annotations-{width}x{height}-v1.tiff"
    if not path.exists():
        log(f"building {path.name}")
        partial = path.with_suffix(".partial.tiff")
        slide_synthesize(partial, width, height)
        partial.replace(path)
    return path


# --- the database ---------------------------------------------------------------------------


# The application's databases and bench/tiles.py's (which it drops): never used here.
PROTECTED_DATABASES = {"wsi2ml", "wsi2ml_dev", "wsi2ml_a", "wsi2ml_b", "postgres", "wsi2ml_bench"}


def database_ensure(name: str) -> None:
    """Create the database unless it exists (it is kept between runs)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in PROTECTED_DATABASES:
        raise BenchError(f"refusing database name {name!r}")
    connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE DATABASE {name}")
    connection.close()


def db_connect(name: str):
    return psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=name)


# Run with manage.py shell: the slide (its size set in the registry when the file is only a
# stand-in: the pixels do not matter to the API), the users, a project with labels, a task and
# the annotator's assignment, made through tasks.services so that the slide permission and the
# assignment's slide rows are as in use.
SETUP = """
import json
from pathlib import Path
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from slides.models import Slide
from slides.services import slide_register_file
from tasks import roles, services
from tasks.models import Assignment, Label, Project, Task

User = get_user_model()
path = Path({path!r})
slide = Slide.objects.filter(path=path.name).first() or slide_register_file(path=path)
width, height, mpp = {width}, {height}, {mpp}
if (slide.width, slide.height) != (width, height):
    Slide.objects.filter(pk=slide.pk).update(
        width=width, height=height, level_dimensions=[[width, height]], mpp_x=mpp, mpp_y=mpp,
        bounds_x=None, bounds_y=None, bounds_width=None, bounds_height=None, status="ok",
    )
manager, _ = User.objects.get_or_create(username={manager!r})
manager.is_staff = manager.is_superuser = True
manager.save()
user, _ = User.objects.get_or_create(username={annotator!r})
user.is_staff = user.is_superuser = False
user.set_password({password!r})
user.save()
user.groups.add(Group.objects.get(name=roles.ANNOTATOR))  # only annotators can be given work
project, _ = Project.objects.get_or_create(name={project!r})
project.members.add(user)
labels = []
for order, (name, colour) in enumerate({labels!r}):
    label, _ = Label.objects.get_or_create(
        project=project, name=name, defaults={{"colour": colour, "order": order}}
    )
    labels.append(label.pk)
task, _ = Task.objects.get_or_create(
    project=project, name="Cells", defaults={{"created_by": manager}}
)
assignment = Assignment.objects.filter(task=task, assignee=user).first()
if assignment is None:
    assignment = services.assignment_create(task=task, assignee=user, slides=[slide], actor=manager)
elif not assignment.assignment_slides.filter(slide=slide).exists():
    services.assignment_set_slides(assignment=assignment, slides=[slide], actor=manager)
print(json.dumps({{"slide": slide.pk, "assignment": assignment.pk, "user": user.pk,
                  "labels": labels, "width": width, "height": height}}))
"""

CELLS_REBUILD = """
import json, time
from annotations.services import annotation_cells_rebuild
from slides.models import Slide
started = time.perf_counter()
annotation_cells_rebuild(slide=Slide.objects.get(pk={slide}))
print(json.dumps({{"seconds": time.perf_counter() - started}}))
"""

# Check a few loaded rows against what annotations.geometry says the API would store.
ROWS_CHECK = """
import json
from annotations import geometry
from annotations.models import Annotation
bad = []
for a in Annotation.objects.filter(pk__in={ids!r}).select_related("slide"):
    s = a.slide
    c = geometry.clean(a.geometry, kind=a.kind, width=s.width, height=s.height,
                       mpp_x=s.mpp_x, mpp_y=s.mpp_y)
    stored = (a.x0, a.y0, a.x1, a.y1, a.vertex_count, a.area_px)
    api = (*c.bbox, c.vertex_count, c.area_px)
    if c.repaired or any(abs(p - q) > 0.02 for p, q in zip(stored, api)):
        bad.append({{"id": a.pk, "stored": stored, "api": api, "repaired": c.repaired}})
print(json.dumps(bad))
"""

COPY_COLUMNS = (
    "uuid",
    "slide_id",
    "assignment_id",
    "author_id",
    "label_id",
    "kind",
    "geometry",
    "name",
    "comment",
    "x0",
    "y0",
    "x1",
    "y1",
    "vertex_count",
    "area_px",
    "area_um2",
    "length_px",
    "length_um",
    "version",
    "is_deleted",
    "created_at",
    "updated_at",
)
# The text Django's JSONField stores for the geometry annotations.geometry.clean returns:
# json.dumps with its default separators, floats as repr() writes them.
_RING = ", ".join(["[%r, %r]"] * (VERTICES + 1))
GEOMETRY_TEMPLATE = '{"type": "Polygon", "coordinates": [[' + _RING + "]]}"


class CopyStream(io.RawIOBase):
    """A file-like stream of COPY text rows, generated chunk by chunk as PostgreSQL reads."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while len(self.buffer) < len(target):
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        return size


def copy_rows(recipe: Recipe, centres: Centres, ids: dict, progress) -> object:
    """Yield COPY text for every polygon, one chunk of CHUNK rows at a time."""
    label_ids = ids["labels"]
    now = datetime.now(UTC).isoformat()
    fixed_head = f"{ids['slide']}\t{ids['assignment']}\t{ids['user']}\t"
    tail = f"\t0\t\\N\t1\tf\t{now}\t{now}\n"
    for start in range(0, recipe.count, CHUNK):
        stop = min(start + CHUNK, recipe.count)
        rings = shapes_generate(centres, start, stop, recipe.seed)
        boxes, area = rings_measure(rings)
        flat = rings.reshape(len(rings), -1).tolist()
        labels = centres.label[start:stop].tolist()
        rows = []
        for i, coordinates in enumerate(flat):
            x0, y0, x1, y1 = boxes[i]
            a = round(float(area[i]), 4)
            rows.append(
                f"{uuid.uuid4()}\t{fixed_head}{label_ids[labels[i]]}\tpolygon\t"
                f"{GEOMETRY_TEMPLATE % tuple(coordinates)}\t\t\t{x0:.2f}\t{y0:.2f}\t{x1:.2f}\t"
                f"{y1:.2f}\t{VERTICES + 1}\t{a}\t{round(a * MPP * MPP, 4)}{tail}"
            )
        progress(stop)
        yield "".join(rows).encode()


def secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the table's indexes that back no constraint."""
    cursor.execute(
        """
        SELECT i.relname, pg_get_indexdef(x.indexrelid)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = %s::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        """,
        [table],
    )
    return cursor.fetchall()


def marker_read(cursor) -> dict | None:
    cursor.execute("CREATE TABLE IF NOT EXISTS bench_dataset (key text PRIMARY KEY, value text)")
    cursor.execute("SELECT value FROM bench_dataset WHERE key = 'dataset'")
    row = cursor.fetchone()
    return json.loads(row[0]) if row else None


def bulk_load(database: str, recipe: Recipe, centres: Centres, ids: dict) -> dict:
    """Replace every annotation in the database by the recipe's polygons, with COPY.

    The table's secondary indexes (the GiST bounding-box index among them) are dropped first and
    built again afterwards, which is several times faster than maintaining them row by row; the
    foreign-key triggers are skipped (session_replication_role), as the ids are the setup's own.
    """
    table = "annotations_annotation"
    timings = {}
    connection = db_connect(database)
    with connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM bench_dataset WHERE key = 'dataset'")
        cursor.execute(
            "TRUNCATE annotations_annotationrevision, annotations_annotationcell, "
            f"{table} RESTART IDENTITY CASCADE"
        )
        # The ids are known to exist: skip the per-row foreign-key triggers for this load.
        cursor.execute("SET LOCAL session_replication_role = replica")
        indexes = secondary_indexes(cursor, table)
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        last = [started]

        def progress(done: int) -> None:
            if time.perf_counter() - last[0] > 15:
                last[0] = time.perf_counter()
                log(f"  copied {done:,} of {recipe.count:,} polygons")

        stream = io.BufferedReader(CopyStream(copy_rows(recipe, centres, ids, progress)), 1 << 20)
        cursor.copy_expert(
            f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN WITH (FORMAT text)",
            stream,
            size=1 << 20,
        )
        timings["copy_s"] = time.perf_counter() - started
        log(f"  COPY of {recipe.count:,} polygons: {timings['copy_s']:.0f} s")
        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for name, definition in indexes:
            began = time.perf_counter()
            cursor.execute(definition)
            log(f"  index {name}: {time.perf_counter() - began:.1f} s")
        timings["indexes_s"] = time.perf_counter() - started
        timings["indexes"] = [name for name, _ in indexes]
    connection.close()
    return timings


def database_vacuum(database: str) -> float:
    """VACUUM ANALYZE the annotation tables (the visibility map lets index-only scans work)."""
    started = time.perf_counter()
    connection = db_connect(database)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) annotations_annotation")
        cursor.execute("VACUUM (ANALYZE) annotations_annotationcell")
    connection.close()
    return time.perf_counter() - started


def leftovers_remove(database: str, last_loaded_id: int) -> int:
    """Delete the annotations (and revisions) a run added after the load.

    A run deletes what it creates through the API, which keeps the density cells right; return
    how many were still live (then the cells must be rebuilt).
    """
    connection = db_connect(database)
    with connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM annotations_annotation WHERE id > %s AND NOT is_deleted",
            [last_loaded_id],
        )
        live = cursor.fetchone()[0]
        cursor.execute(
            "DELETE FROM annotations_annotationrevision WHERE annotation_id > %s", [last_loaded_id]
        )
        cursor.execute("DELETE FROM annotations_annotation WHERE id > %s", [last_loaded_id])
    connection.close()
    return live


def loaded_edited(database: str, last_loaded_id: int) -> bool:
    """Whether any loaded polygon was changed since the load (its version is no longer 1)."""
    connection = db_connect(database)
    with connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM annotations_annotation WHERE id <= %s AND version <> 1)",
            [last_loaded_id],
        )
        edited = cursor.fetchone()[0]
    connection.close()
    return edited


def dataset_ensure(server: bench.Server, recipe: Recipe, args: argparse.Namespace) -> dict:
    """Set up users, assignment and slide; load the polygons unless the database has them.

    Return the ids (slide, assignment, user, labels) and what loading took.
    """
    database_ensure(args.database)
    log(f"migrating {args.database}")
    server.manage("migrate", "--noinput", "-v", "0", timeout=1800)
    server.manage("collectstatic", "--noinput", "-v", "0")  # manifest storage, DEBUG off
    code = SETUP.format(
        path=str(server.slide),
        width=recipe.width,
        height=recipe.height,
        mpp=MPP,
        manager=MANAGER,
        annotator=ANNOTATOR,
        password=server.password,
        project="Bench: cells",
        labels=[(name, colour) for name, colour, *_ in LABELS],
    )
    ids = json.loads(server.manage("shell", "-c", code).strip().splitlines()[-1])
    connection = db_connect(args.database)
    with connection, connection.cursor() as cursor:
        marker = marker_read(cursor)
        cursor.execute(
            "SELECT count(*), max(id) FROM annotations_annotation WHERE slide_id = %s AND id <= %s",
            [ids["slide"], (marker or {}).get("last_id", 0)],
        )
        loaded, last_id = cursor.fetchone()
    connection.close()
    cached = (
        not args.reload
        and marker
        and marker.get("recipe") == recipe.key()
        and marker.get("ids") == ids
        and loaded == recipe.count
    )
    if cached:
        removed = leftovers_remove(args.database, marker["last_id"])
        if removed:
            log(f"removed {removed} annotations left by an interrupted run; rebuilding cells")
            cells_rebuild(server, ids)
        if loaded_edited(args.database, marker["last_id"]):
            log("some loaded polygons were edited (e.g. by a browser run): loading afresh")
            cached = False
    if cached:
        log(f"{args.database} already holds the {recipe.count:,} polygons (use --reload)")
        return {**ids, "last_id": marker["last_id"], "load": marker.get("load", {}), "cached": True}
    log(f"loading {recipe.count:,} polygons into {args.database} (once; --reload to redo)")
    started = time.perf_counter()
    centres = centres_generate(recipe)
    load = {"generate_s": time.perf_counter() - started}
    load |= bulk_load(args.database, recipe, centres, ids)
    load["cells_rebuild_s"] = cells_rebuild(server, ids)
    load["vacuum_analyze_s"] = database_vacuum(args.database)
    load["total_s"] = time.perf_counter() - started
    connection = db_connect(args.database)
    with connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(id), pg_total_relation_size('annotations_annotation') "
            "FROM annotations_annotation"
        )
        last_id, size = cursor.fetchone()
        load["table_bytes"] = size
        marker = {"recipe": recipe.key(), "ids": ids, "last_id": last_id, "load": load}
        cursor.execute(
            "INSERT INTO bench_dataset VALUES ('dataset', %s)", [json.dumps(marker, default=str)]
        )
    connection.close()
    rows_check(server, last_id)
    log(f"loaded in {load['total_s']:.0f} s; table with indexes {size / 2**30:.2f} GiB")
    return {**ids, "last_id": last_id, "load": load, "cached": False}


def cells_rebuild(server: bench.Server, ids: dict) -> float:
    output = server.manage("shell", "-c", CELLS_REBUILD.format(slide=ids["slide"]), timeout=1800)
    seconds = json.loads(output.strip().splitlines()[-1])["seconds"]
    log(f"  annotation_cells_rebuild: {seconds:.1f} s")
    return seconds


def rows_check(server: bench.Server, last_id: int) -> None:
    """Fail when loaded rows disagree with what annotations.geometry would have stored."""
    sample = [1, 2, 3, last_id // 2, last_id - 1, last_id]
    bad = json.loads(server.manage("shell", "-c", ROWS_CHECK.format(ids=sample)).splitlines()[-1])
    if bad:
        raise BenchError(f"loaded rows differ from what the API stores: {bad}")


# --- an HTTP client that behaves like the editor --------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes
    seconds: float
    headers: dict

    def json(self):
        return json.loads(self.body)


class Client:
    """One keep-alive connection with a cookie jar, logged in like a browser."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: object = None, headers=None) -> Reply:
        sent = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate, br"}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, dict):
            body = json.dumps(body)
            sent["Content-Type"] = "application/json"
        if method not in ("GET", "HEAD") and "csrftoken" in self.cookies:
            sent["X-CSRFToken"] = self.cookies["csrftoken"]
        sent |= headers or {}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=sent)
                response = self.conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            seconds = time.perf_counter() - started
            break
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        return Reply(response.status, data, seconds, dict(response.headers))

    def login(self, username: str, password: str) -> None:
        reply = self.request("GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', reply.body.decode())
        if token is None:
            raise BenchError(f"the login page (HTTP {reply.status}) has no CSRF token")
        form = {"csrfmiddlewaretoken": token[1], "username": username, "password": password}
        reply = self.request(
            "POST",
            "/accounts/login/",
            body=urllib.parse.urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://127.0.0.1:{self.port}/accounts/login/",
            },
        )
        if reply.status != 302 or "sessionid" not in self.cookies:
            raise BenchError(f"logging in as {username} failed: HTTP {reply.status}")


# --- the queries ----------------------------------------------------------------------------

SCREEN = (1920, 1080)


def _count_in(boxes: np.ndarray, box: tuple[float, float, float, float]) -> int:
    x0, y0, x1, y1 = box
    return int(
        np.count_nonzero(
            (boxes[:, 0] <= x1) & (boxes[:, 2] >= x0) & (boxes[:, 1] <= y1) & (boxes[:, 3] >= y0)
        )
    )


def _box_at(cx: float, cy: float, width: float, recipe: Recipe) -> tuple[int, int, int, int]:
    height = width * SCREEN[1] / SCREEN[0]
    x0 = min(max(0.0, cx - width / 2), recipe.width - width)
    y0 = min(max(0.0, cy - height / 2), recipe.height - height)
    return round(x0), round(y0), round(x0 + width), round(y0 + height)


def viewports_plan(
    boxes: np.ndarray, recipe: Recipe, count: int, limit: int, full: bool, seed: int
) -> list[tuple[tuple[int, int, int, int], int]]:
    """Return ``count`` (bbox, expected features) screen-shaped viewports.

    Mixed (``full`` false): centres on a cell 80 % of the time (people look at tissue), anywhere
    on the slide otherwise; the box is the largest of screen widths 7680, 3840, 1920, 960 and
    480 level-0 px that holds at most ``limit`` boxes. Full: centres on cells, and the box is
    grown until it holds between 90 % and 100 % of ``limit`` (the worst case the API must
    answer with every feature).
    """
    rng = np.random.default_rng(seed)
    centres_x = (boxes[:, 0] + boxes[:, 2]) / 2
    centres_y = (boxes[:, 1] + boxes[:, 3]) / 2
    plan = []
    while len(plan) < count:
        if full or rng.random() < 0.8:
            i = int(rng.integers(len(boxes)))
            cx, cy = centres_x[i], centres_y[i]
        else:
            cx, cy = rng.uniform(0, recipe.width), rng.uniform(0, recipe.height)
        near = boxes[_box_mask(boxes, _box_at(cx, cy, 32768, recipe))]
        if not full:
            for width in (7680, 3840, 1920, 960, 480):
                box = _box_at(cx, cy, width, recipe)
                found = _count_in(near, box)
                if found <= limit:
                    plan.append((box, found))
                    break
            continue
        low, high = 64.0, 32768.0
        for _ in range(30):
            width = (low + high) / 2
            box = _box_at(cx, cy, width, recipe)
            found = _count_in(near, box)
            if 0.9 * limit <= found <= limit:
                plan.append((box, found))
                break
            low, high = (width, high) if found < 0.9 * limit else (low, width)
    return plan


def _box_mask(boxes: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return (boxes[:, 0] <= x1) & (boxes[:, 2] >= x0) & (boxes[:, 1] <= y1) & (boxes[:, 3] >= y0)


def blanks_plan(
    boxes: np.ndarray, recipe: Recipe, count: int, seed: int
) -> list[tuple[int, int, int, int]]:
    """Screen-sized (1920 px) viewports on bare glass: the cost of a request that finds nothing."""
    rng = np.random.default_rng(seed)
    plan = []
    while len(plan) < count:
        box = _box_at(rng.uniform(0, recipe.width), rng.uniform(0, recipe.height), 1920, recipe)
        if _count_in(boxes, box) == 0:
            plan.append(box)
    return plan


def overviews_plan(recipe: Recipe, count: int, seed: int) -> list[tuple[int, int, int, int]]:
    """Zoomed-out, screen-shaped views a quarter of the slide wide, anywhere on it."""
    rng = np.random.default_rng(seed)
    width = recipe.width / 4
    return [
        _box_at(rng.uniform(0, recipe.width), rng.uniform(0, recipe.height), width, recipe)
        for _ in range(count)
    ]


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    target_ms: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    features: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cpu: dict = field(default_factory=dict)
    seconds: float = 0.0
    detail: dict = field(default_factory=dict)

    def stat(self, fraction: float) -> float:
        return bench.percentile(sorted(self.latencies_ms), fraction)

    def summary(self) -> dict:
        return {
            "requests": len(self.latencies_ms),
            "p50_ms": self.stat(0.50),
            "p95_ms": self.stat(0.95),
            "p99_ms": self.stat(0.99),
            "max_ms": max(self.latencies_ms, default=0.0),
            "mean_features": float(np.mean(self.features)) if self.features else 0.0,
            "max_features": max(self.features, default=0),
            "mean_kb": float(np.mean(self.bytes)) / 1024 if self.bytes else 0.0,
            "per_s": len(self.latencies_ms) / self.seconds if self.seconds else 0.0,
            "target_ms": self.target_ms,
            "met": (self.stat(0.95) <= self.target_ms) if self.target_ms else None,
        }


class CpuMeter:
    """Split the machine's CPU time during a phase by who used it, in cores.

    ``app``: gunicorn's process group and redis-server; ``postgres``: the backends connected to
    the benchmark's database; ``client``: this process (its threads) and, for the browser
    benchmark, chromium and Playwright's driver; ``others``: everything else on the machine
    (other people's tests on a shared box). Processes that exit during the phase take their
    time with them into ``others``.
    """

    CLIENT_COMMANDS = ("chromium", "chrome", "headless_shell", "node")

    def __init__(self, server_group: int | None, database: str, browser: bool = False):
        self.server_group = server_group
        self.database = database.encode()
        self.browser = browser

    def _category(self, pid: int, command: str, group: int) -> str:
        if pid == os.getpid():
            return "client"
        if self.server_group is not None and group == self.server_group:
            return "app"
        if command == "redis-server":
            return "app"
        if command == "postgres":
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                return "others"
            return "postgres" if self.database in cmdline.split(b" ") else "others"
        if self.browser and command.startswith(self.CLIENT_COMMANDS):
            return "client"
        return "others"

    def _sample(self) -> tuple[float, int, dict[int, tuple[str, int]]]:
        processes = {}
        for pid, (command, group, ticks) in bench._proc_stats().items():
            processes[pid] = (self._category(pid, command, group), ticks)
        return time.monotonic(), bench._machine_busy_ticks(), processes

    def __enter__(self) -> CpuMeter:
        self.before = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        after = self._sample()
        seconds = after[0] - self.before[0]
        busy = after[1] - self.before[1]
        used = {"app": 0, "postgres": 0, "client": 0}
        for pid, (category, ticks) in after[2].items():
            if category in used:
                earlier = self.before[2].get(pid)
                used[category] += ticks - (earlier[1] if earlier else 0)
        scale = bench.CLOCK_TICKS * seconds
        self.result = {f"{name}_cores": round(ticks / scale, 3) for name, ticks in used.items()}
        self.result["others_cores"] = round(max(0, busy - sum(used.values())) / scale, 3)
        self.result["seconds"] = round(seconds, 2)


def measure_gets(
    phase: Phase, client: Client, paths: list[str], expect_reduced: bool | None, limit: int
) -> None:
    for path in paths:
        reply = client.request("GET", path)
        if reply.status != 200:
            phase.problems.append(f"GET {path}: HTTP {reply.status} {reply.body[:200]!r}")
            continue
        data = reply.json()
        phase.latencies_ms.append(reply.seconds * 1000)
        phase.features.append(len(data.get("features", [])))
        phase.bytes.append(len(reply.body))
        reduced = bool(data.get("reduced"))
        phase.detail.setdefault("reduced", 0)
        phase.detail["reduced"] += reduced
        if expect_reduced is not None and reduced != expect_reduced:
            phase.detail.setdefault("unexpected_form", 0)
            phase.detail["unexpected_form"] += 1
        if len(data.get("features", [])) > limit:
            phase.problems.append(f"GET {path}: {len(data['features'])} features > limit")


def polygon_feature(rng: np.random.Generator, recipe: Recipe, ids: dict, seed: int) -> dict:
    cx, cy = rng.uniform(0.2, 0.8) * recipe.width, rng.uniform(0.2, 0.8) * recipe.height
    centres = Centres(
        np.array([cx]), np.array([cy]), np.array([0]), np.array([30.0]), np.array([1.2])
    )
    ring = shapes_generate(centres, 0, 1, seed)[0].tolist()
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "assignment": ids["assignment"],
            "label": ids["labels"][int(rng.integers(len(ids["labels"])))],
            "kind": "polygon",
            "uuid": str(uuid.uuid4()),
        },
    }


def measure_saves(
    posts: Phase, patches: Phase, deletes: Phase, client: Client, recipe: Recipe, ids: dict, n: int
) -> None:
    """POST n new polygons, PATCH each one's geometry, then DELETE each (soft, via the API)."""
    rng = np.random.default_rng(7)
    created = []
    for i in range(n):
        feature = polygon_feature(rng, recipe, ids, seed=1000 + i)
        reply = client.request("POST", f"/api/slides/{ids['slide']}/annotations", feature)
        if reply.status != 201:
            posts.problems.append(f"POST: HTTP {reply.status} {reply.body[:300]!r}")
            continue
        posts.latencies_ms.append(reply.seconds * 1000)
        stored = reply.json()
        created.append((stored["id"], stored["properties"]["version"], feature["geometry"]))
    moved = []
    for pk, version, geometry in created:
        ring = [[x + 3.5, y - 2.25] for x, y in geometry["coordinates"][0]]
        body = {"version": version, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        reply = client.request("PATCH", f"/api/annotations/{pk}", body)
        if reply.status != 200:
            patches.problems.append(f"PATCH: HTTP {reply.status} {reply.body[:300]!r}")
            continue
        patches.latencies_ms.append(reply.seconds * 1000)
        moved.append((pk, reply.json()["properties"]["version"]))
    for pk, version in moved:
        reply = client.request("DELETE", f"/api/annotations/{pk}?version={version}")
        if reply.status != 200:
            deletes.problems.append(f"DELETE: HTTP {reply.status} {reply.body[:300]!r}")
            continue
        deletes.latencies_ms.append(reply.seconds * 1000)


def measure_concurrent(
    phase: Phase, port: int, cookies: dict, paths: list[str], threads: int, seconds: float
) -> None:
    """Viewport GETs from ``threads`` clients at once for ``seconds``."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def work(offset: int) -> None:
        client = Client(port)
        client.cookies = dict(cookies)
        i = offset
        while time.monotonic() < deadline:
            reply = client.request("GET", paths[i % len(paths)])
            i += threads
            with lock:
                if reply.status != 200:
                    phase.problems.append(f"HTTP {reply.status}")
                phase.latencies_ms.append(reply.seconds * 1000)
                phase.bytes.append(len(reply.body))

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def timed(phase: Phase, meter: CpuMeter, function, *args) -> Phase:
    started = time.perf_counter()
    with meter:
        function(*args)
    phase.seconds = time.perf_counter() - started
    phase.cpu = meter.result
    return phase


# --- in-process: EXPLAIN and profile --------------------------------------------------------

# Run with manage.py shell: call the views through Django's test client (full middleware stack,
# the annotator logged in), capture their SQL and split each call's time between SQL and Python;
# EXPLAIN (ANALYZE, BUFFERS) the selects on annotations (also with the slide id cast to bigint,
# the type of the column, which lets the GiST index use its leading slide_id column); cProfile.
PROBE = r"""
import cProfile, io, json, pstats, re, time, uuid
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

user = get_user_model().objects.get(username={username!r})
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(user)
feature = {feature!r}


def call(method, path, body=None):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, json.dumps(body), content_type="application/json")


def save_cycle(record):
    body = dict(feature, properties=dict(feature["properties"], uuid=str(uuid.uuid4())))
    created = record("POST", {annotations!r}, body).json()
    ring = [[x + 1, y + 1] for x, y in created["geometry"]["coordinates"][0]]
    patch = {{"version": created["properties"]["version"],
              "geometry": {{"type": "Polygon", "coordinates": [ring]}}}}
    patched = record("PATCH", {one!r} + str(created["id"]), patch).json()
    version = patched["properties"]["version"]
    record("DELETE", {one!r} + str(created["id"]) + "?version=" + str(version))


def measured(runs):
    def record(method, path, body=None):
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            response = call(method.lower(), path, body)
            total = time.perf_counter() - began
        sql = sum(float(q["time"]) for q in queries.captured_queries)
        runs.setdefault(method, []).append(
            (total, sql, len(queries.captured_queries), len(response.content), response.status_code,
             [q["sql"] for q in queries.captured_queries]))
        return response
    return record


out = {{}}
targets = [(name, "GET", path) for name, path in {views!r}] + [("save", "SAVE", None)]
for name, method, path in targets:
    runs = {{}}
    for i in range({repeat} + 1):
        record = measured(runs if i else {{}})  # the first call warms up
        if method == "SAVE":
            save_cycle(record)
        else:
            record("GET", path)
    for verb, calls in runs.items():
        calls.sort()
        total, sql, count, size, status, queries = calls[len(calls) // 2]
        item = {{"status": status, "bytes": size, "total_ms": total * 1000, "sql_ms": sql * 1000,
                 "queries": count, "sql": queries}}
        key = name if method != "SAVE" else verb + " (save)"
        if {explain} and method != "SAVE":
            plans = []
            # In one transaction, replaying the view's own SET LOCAL (planner settings) first.
            with transaction.atomic(), connection.cursor() as cursor:
                for q in queries:
                    if q.lstrip().upper().startswith("SET "):
                        cursor.execute(q)
                        plans.append({{"label": "setting", "sql": q, "plan": []}})
                    select = q.lstrip().upper().startswith("SELECT")
                    if not (select and "annotations_annotation" in q):
                        continue
                    variants = [("as sent", q)]
                    cast = re.sub(r"(slide_id\"? = )(\d+)", r"\1\2::bigint", q)
                    if cast != q:
                        variants.append(("slide id cast to bigint", cast))
                    for label, text in variants:
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + text)
                        plans.append({{"label": label, "sql": text,
                                       "plan": [r[0] for r in cursor.fetchall()]}})
            item["explain"] = plans
        out[key] = item
    if {profile}:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range({repeat}):
            if method == "SAVE":
                save_cycle(measured({{}}))
            else:
                client.get(path)
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(35)
        key = name if method != "SAVE" else "POST (save)"
        out.setdefault(key, {{}})["profile"] = text.getvalue()
print("PROBE " + json.dumps(out))
"""


def probe(
    server: bench.Server, views: list[tuple[str, str]], ids: dict, args: argparse.Namespace
) -> dict:
    recipe = Recipe(args.width, args.height, args.polygons)
    feature = polygon_feature(np.random.default_rng(11), recipe, ids, seed=99)
    code = PROBE.format(
        username=ANNOTATOR,
        views=views,
        feature=feature,
        annotations=f"/api/slides/{ids['slide']}/annotations",
        one="/api/annotations/",
        repeat=args.probe_repeat,
        explain=bool(args.explain),
        profile=bool(args.profile),
    )
    output = server.manage("shell", "-c", code, timeout=900)
    line = next(x for x in output.splitlines() if x.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


# --- the run --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/wsi2ml-bench"))
    parser.add_argument("--database", default="wsi2ml_bench_annotations")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--force-flush", action="store_true", help="flush a non-empty Redis db")
    parser.add_argument("--polygons", type=int, default=1_000_000)
    parser.add_argument("--width", type=int, default=150_000, help="slide width, level-0 px")
    parser.add_argument("--height", type=int, default=100_000, help="slide height, level-0 px")
    parser.add_argument(
        "--order",
        choices=("random", "tiles"),
        default="random",
        help="row order in the table: random (worst case) or tile by tile, as a model imports",
    )
    parser.add_argument("--reload", action="store_true", help="load the polygons again")
    parser.add_argument("--limit", type=int, default=2000, help="the limit= the editor sends")
    parser.add_argument("--requests", type=int, default=300, help="per viewport phase")
    parser.add_argument("--blank-requests", type=int, default=100)
    parser.add_argument(
        "--editor-requests", type=int, default=60, help="requests shaped as the editor sends them"
    )
    parser.add_argument("--whole-requests", type=int, default=60)
    parser.add_argument("--saves", type=int, default=200, help="POSTs (then PATCHes, DELETEs)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests first")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="clients for the concurrent viewport phase (0: skip it)",
    )
    parser.add_argument("--concurrent-seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--gunicorn-arg", action="append", default=[], metavar="ARG")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--explain", action="store_true", help="print the viewport SQL with EXPLAIN ANALYZE"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the views in-process and print the top"
    )
    parser.add_argument("--probe-repeat", type=int, default=15, help="in-process calls per view")
    parser.add_argument("--quiet-wait", type=float, default=30)
    parser.add_argument("--lock-wait", type=float, default=600)
    parser.add_argument("--label", default="", help="a word for the results file name")
    args = parser.parse_args(argv)
    if any("=" not in pair for pair in args.env):
        parser.error("--env takes NAME=VALUE")
    return args


def report(phases: list[Phase], args: argparse.Namespace, warnings: list[str]) -> None:
    print()
    print(
        f"{'phase':<34}{'requests':>9}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'features':>9}{'KB':>7}{'req/s':>7}{'cores: app':>11}{'pg':>5}{'client':>7}"
        f"{'others':>7}  target"
    )
    for phase in phases:
        s = phase.summary()
        cpu = phase.cpu
        verdict = ""
        if phase.target_ms:
            verdict = f"p95 <= {phase.target_ms:g} ms " + ("met" if s["met"] else "MISSED")
        print(
            f"{phase.name:<34}{s['requests']:>9}{s['p50_ms']:>8.1f}{s['p95_ms']:>8.1f}"
            f"{s['p99_ms']:>8.1f}{s['max_ms']:>8.1f}{s['mean_features']:>9.0f}"
            f"{s['mean_kb']:>7.0f}{s['per_s']:>7.1f}{cpu.get('app_cores', 0):>11.2f}"
            f"{cpu.get('postgres_cores', 0):>5.2f}{cpu.get('client_cores', 0):>7.2f}"
            f"{cpu.get('others_cores', 0):>7.2f}  {verdict}"
        )
        if cpu.get("others_cores", 0) > bench.SHARED_CORES:
            warnings.append(
                f"{phase.name}: other processes used {cpu['others_cores']:.2f} of "
                f"{os.cpu_count()} cores; its latencies overstate this machine's"
            )
    print(
        f"gunicorn: {args.workers} workers x {args.threads} threads ({args.worker_class}); "
        f"{args.polygons:,} polygons on {args.width} x {args.height} px; limit={args.limit}; "
        f"{os.cpu_count()} CPUs; application {app_version()}"
    )
    for phase in phases:
        for problem in phase.problems[:5]:
            print(f"FAILED {phase.name}: {problem}")
        if phase.detail.get("unexpected_form"):
            print(f"NOTE {phase.name}: {phase.detail['unexpected_form']} answers in the other form")
    for warning in warnings:
        print(f"WARNING: {warning}")


def probe_print(probed: dict, args: argparse.Namespace) -> None:
    print()
    print(
        f"in-process (Django test client, one thread, median of {args.probe_repeat} calls): "
        "total = SQL (as Django times it, including the driver) + Python"
    )
    for name, item in probed.items():
        if "total_ms" not in item:
            continue
        print(
            f"  {name:<18} total {item['total_ms']:7.1f} ms   SQL {item['sql_ms']:7.1f} ms "
            f"({item['queries']} queries)   Python {item['total_ms'] - item['sql_ms']:7.1f} ms   "
            f"{item['bytes'] / 1024:.0f} KB"
        )
    for name, item in probed.items():
        for plan in item.get("explain", []):
            if plan["label"] == "setting":
                print(f"\n--- {name}: the view sets {plan['sql'].strip()} first")
                continue
            print(f"\n--- {name}: EXPLAIN (ANALYZE, BUFFERS), {plan['label']}\n{plan['sql']}\n")
            print("\n".join(plan["plan"]))
        if item.get("profile"):
            print(f"\n--- {name}: cProfile of {args.probe_repeat} calls\n{item['profile']}")


def main(argv: list[str] | None = None) -> int:
    return bench.run_in_workdir(parse_args(argv), run_all)


def run_all(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    recipe = Recipe(args.width, args.height, args.polygons, order=args.order)
    # The pixels do not matter here: a small file, its size in the registry set to the recipe's.
    slide = slide_ensure(args.workdir / "slides-annotations", 1024, 768)
    options = bench.ServerOptions(
        workers=args.workers,
        threads=args.threads,
        worker_class=args.worker_class,
        extra_args=args.gunicorn_arg,
        extra_env=dict(pair.split("=", 1) for pair in args.env),
        database=args.database,
        redis_db=args.redis_db,
    )
    server = bench.Server(args.workdir, slide, options)
    server.log_path = args.workdir / "gunicorn-annotations.log"
    bench.redis_bench_db(args.redis_db, args.force_flush)
    ids = dataset_ensure(server, recipe, args)
    log("planning the viewports")
    boxes = boxes_all(recipe, centres_generate(recipe))
    mixed = viewports_plan(boxes, recipe, args.requests + args.warmup, args.limit, False, 1)
    full = viewports_plan(boxes, recipe, args.requests, args.limit, True, 2)
    overviews = overviews_plan(recipe, args.whole_requests, 3)
    blank = blanks_plan(boxes, recipe, args.blank_requests, 4)
    del boxes
    base = f"/api/slides/{ids['slide']}/annotations"

    def url(box) -> str:
        return f"{base}?bbox={','.join(map(str, box))}&limit={args.limit}"

    def editor_url(box) -> str:
        # What the editor asks for (annotations/static/annotations/editor.js): the view padded
        # by half its size on each side, its own assignment, limit EDITOR_LIMIT.
        x0, y0, x1, y1 = box
        w, h = (x1 - x0) / 2, (y1 - y0) / 2
        padded = (
            max(0, round(x0 - w)),
            max(0, round(y0 - h)),
            min(recipe.width, round(x1 + w)),
            min(recipe.height, round(y1 + h)),
        )
        return (
            f"{base}?bbox={','.join(map(str, padded))}&assignment={ids['assignment']}"
            f"&limit={EDITOR_LIMIT}"
        )

    whole = url((0, 0, recipe.width, recipe.height))
    editor_views = [editor_url(b) for b, _ in mixed[args.warmup :][: args.editor_requests]]
    warnings: list[str] = []
    phases: list[Phase] = []
    probed = {}
    try:
        log(f"starting gunicorn {' '.join(server.command()[2:])}")
        server.start()
        client = Client(server.port)
        client.login(ANNOTATOR, server.password)

        def gets(name, target, paths, reduced, limit=args.limit) -> Phase:
            phase = Phase(name, target)
            meter = CpuMeter(server.process.pid, args.database)
            phases.append(timed(phase, meter, measure_gets, phase, client, paths, reduced, limit))
            return phase

        log(f"warming up: {args.warmup} viewports")
        warm = [url(b) for b, _ in mixed[: args.warmup]]
        measure_gets(Phase("warm-up"), client, warm, None, 10**9)
        mixed = mixed[args.warmup :]
        bench.wait_for_quiet(args.quiet_wait, "the viewports")
        log(f"1. viewports: {len(blank)} blank, {len(mixed)} mixed, {len(full)} full")
        gets("1a viewport, nothing in it", TARGETS_MS["viewport"], [url(b) for b in blank], False)
        phase = gets(
            "1b viewport, random", TARGETS_MS["viewport"], [url(b) for b, _ in mixed], False
        )
        phase.detail["planned_features_mean"] = float(np.mean([n for _, n in mixed]))
        name = f"1c viewport, {int(0.9 * args.limit)}-{args.limit} features"
        gets(name, TARGETS_MS["viewport"], [url(b) for b, _ in full], False)
        if editor_views:
            name = f"1d editor's request (limit {EDITOR_LIMIT})"
            gets(name, None, editor_views, None, EDITOR_LIMIT)
        bench.wait_for_quiet(args.quiet_wait, "the zoomed-out views")
        log(f"2. whole slide x {args.whole_requests}, quarter-slide views x {len(overviews)}")
        gets("2a whole slide (reduced)", TARGETS_MS["whole"], [whole] * args.whole_requests, True)
        gets("2b quarter-slide views", TARGETS_MS["whole"], [url(b) for b in overviews], None)
        bench.wait_for_quiet(args.quiet_wait, "the saves")
        log(f"3. saves: {args.saves} POST, PATCH and DELETE")
        posts = Phase("3a POST new polygon", TARGETS_MS["save"])
        patches = Phase("3b PATCH its geometry", TARGETS_MS["save"])
        deletes = Phase("3c DELETE it (soft)")
        with CpuMeter(server.process.pid, args.database) as cpu:
            began = time.perf_counter()
            measure_saves(posts, patches, deletes, client, recipe, ids, args.saves)
            seconds = time.perf_counter() - began
        for phase in (posts, patches, deletes):
            phase.cpu = cpu.result
            phase.seconds = seconds * len(phase.latencies_ms) / max(1, 3 * args.saves)
        phases.extend((posts, patches, deletes))
        if args.concurrency:
            bench.wait_for_quiet(args.quiet_wait, "the concurrent phase")
            log(f"4. {args.concurrency} concurrent clients, {args.concurrent_seconds:g} s")
            phase = Phase(f"4 random viewports, {args.concurrency} clients")
            meter = CpuMeter(server.process.pid, args.database)
            paths = [url(b) for b, _ in mixed]
            concurrent = (server.port, client.cookies, paths, args.concurrency)
            timed(phase, meter, measure_concurrent, phase, *concurrent, args.concurrent_seconds)
            phases.append(phase)
        if args.explain or args.profile:
            server.stop()
            log("in-process probe (EXPLAIN / cProfile)")
            median_full = sorted(full, key=lambda item: item[1])[len(full) // 2][0]
            views = [
                ("viewport (blank)", url(blank[0])),
                ("viewport (full)", url(median_full)),
                ("whole slide", whole),
            ]
            probed = probe(server, views, ids, args)
    finally:
        server.stop()
        if leftovers_remove(args.database, ids["last_id"]):
            cells_rebuild(server, ids)
        redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db).flushdb()
    report(phases, args, warnings)
    if probed:
        probe_print(probed, args)
    out = result_write(
        {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": {"cpus": os.cpu_count()},
            "app_version": app_version(),
            "recipe": asdict(recipe),
            "dataset": ids,
            "gunicorn": {
                "workers": args.workers,
                "threads": args.threads,
                "worker_class": args.worker_class,
                "extra_args": args.gunicorn_arg,
            },
            "server_env": dict(pair.split("=", 1) for pair in args.env),
            "limit": args.limit,
            "phases": {
                p.name: {
                    **p.summary(),
                    "cpu": p.cpu,
                    "problems": p.problems[:20],
                    "detail": p.detail,
                }
                for p in phases
            },
            "probe": probed,
            "versions": bench.versions(),
            "warnings": warnings,
            "seconds": round(time.perf_counter() - started, 1),
        },
        args.label,
    )
    print(f"results: {out.relative_to(REPO)}")
    return 1 if any(p.problems for p in phases) else 0


def app_version() -> str:
    """The last commit of the application's code, "+changes" when its files differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", *APP_FOLDERS)
    last = git("log", "-1", "--format=%h", "--", *APP_FOLDERS)
    return last + ("+changes" if changed else "")


def result_write(result: dict, label: str, name: str = "annotations") -> Path:
    """Write bench/results/<name>-<date>-<time>[-<label>].json; return its path."""
    return bench.result_write(result, label, name)


if __name__ == "__main__":
    bench.run_script(main)
