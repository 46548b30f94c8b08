"""
Benchmark agreement between annotators (review/agreement.py) against the issue's targets.

Two cases, as on a 100,000 × 100,000 px slide: 2 annotators × 5,000 cells (target 2 s) and
3 annotators × 20,000 cells (target 15 s). A reference set of cell outlines (20–40 vertices,
8–15 px radius, packed in patches of tissue so that neighbours' boxes meet and a few cells
overlap) is copied once per annotator with jitter (centre, size, every vertex), misses (8 %),
extras (5 %) and wrong labels (3 %), over three labels. The time measured (wall clock, median of
``--repeat``) is what the server does for a slide once the geometries are read: ``prepare`` every
annotator's set per label, then ``compare`` every pair of annotators per label. Parsing the
GeoJSON (``shapely.from_geojson``, as ``slide_agreement`` reads it) is timed beside it; it adds
to the server's time but not to the target's.

It also times the two ways of solving the one-to-one matching (see the comment above
``review.agreement._match``): connected components with linear_sum_assignment, and LAPJVsp
(min_weight_full_bipartite_matching) on the whole sparse graph.

``--smoke`` runs 2 × 500 and 3 × 2,000 against the targets scaled by size and exits 1 on a miss,
so that CI can run it in seconds. Run ``.venv/bin/python bench/agreement.py --help``; see
bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
import shapely
import tiles as bench  # bench/tiles.py, beside this file
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

sys.path.insert(0, str(bench.REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wsi2ml.settings")

from review import agreement  # the pure part: no database, no Django setup needed

SLIDE = 100_000
LABELS = 3
MISS, EXTRA, RELABEL = 0.08, 0.05, 0.03
PATCH_CELLS = 400  # cells per patch of tissue: 20 × 20 on a 40 px grid
SPACING = 40.0


@dataclass(frozen=True)
class Case:
    name: str
    annotators: int
    cells: int
    target_s: float


FULL = [Case("2 × 5,000", 2, 5_000, 2.0), Case("3 × 20,000", 3, 20_000, 15.0)]
SMOKE = [
    Case("2 × 500 (smoke)", 2, 500, 2.0 * 500 / 5_000),
    Case("3 × 2,000 (smoke)", 3, 2_000, 15.0 * 2_000 / 20_000),
]


@dataclass
class Row:
    case: str
    annotators: int
    cells: int
    polygons: int
    pairs: int
    candidate_pairs: int
    matched: int
    mean_dice: float
    mean_f1: float
    prepare_s: float
    compare_s: float
    total_s: float
    total_cpu_s: float
    parse_s: float
    match_components_s: float
    match_lapjvsp_s: float
    target_s: float

    @property
    def ratio(self) -> float:
        return self.total_s / self.target_s


# --- the synthetic annotators ------------------------------------------------------------------


def reference_cells(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Centres and radii of ``count`` cells in square patches of tissue spread over the slide."""
    patches = -(-count // PATCH_CELLS)
    side = int(np.sqrt(PATCH_CELLS))
    origins = rng.uniform(1_000, SLIDE - 1_000 - side * SPACING, size=(patches, 2))
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), axis=-1).reshape(-1, 2)
    centres = (origins[:, None, :] + grid[None, :, :] * SPACING).reshape(-1, 2)[:count]
    centres = centres + rng.normal(0, 4, size=centres.shape)
    return centres, rng.uniform(8, 15, size=count)


def outlines(centres: np.ndarray, radii: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One irregular closed outline of 20–40 vertices per cell, as shapely Polygons."""
    vertices = rng.integers(20, 41, size=len(centres))
    shapes = np.empty(len(centres), dtype=object)
    for n in np.unique(vertices):
        which = np.flatnonzero(vertices == n)
        angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
        wobble = 1 + 0.08 * np.sin(angles[None, :] * rng.integers(2, 5, size=(len(which), 1)))
        wobble = wobble + rng.normal(0, 0.03, size=(len(which), n))
        r = radii[which, None] * wobble
        ring = np.stack(
            [
                centres[which, 0, None] + r * np.cos(angles),
                centres[which, 1, None] + r * np.sin(angles),
            ],
            axis=-1,
        )
        shapes[which] = shapely.polygons(ring)
    return shapes


def annotator(
    centres: np.ndarray, radii: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One annotator's copy of the reference: jittered, with misses, extras and wrong labels."""
    kept = rng.random(len(centres)) >= MISS
    extra = int(EXTRA * len(centres))
    near = rng.integers(0, len(centres), size=extra)
    mine = np.concatenate(
        [
            centres[kept] + rng.normal(0, 1.5, size=(kept.sum(), 2)),
            centres[near] + rng.uniform(-200, 200, size=(extra, 2)),
        ]
    )
    sizes = np.concatenate([radii[kept] * rng.normal(1, 0.08, kept.sum()), radii[near]])
    classes = np.concatenate([labels[kept], rng.integers(0, LABELS, size=extra)])
    wrong = rng.random(len(classes)) < RELABEL
    classes[wrong] = (classes[wrong] + 1) % LABELS
    return outlines(mine, sizes, rng), classes


def annotators(case: Case, seed: int = 20261201) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    centres, radii = reference_cells(case.cells, rng)
    labels = rng.choice(LABELS, size=case.cells, p=[0.6, 0.3, 0.1])
    return [annotator(centres, radii, labels, rng) for _ in range(case.annotators)]


# --- the measures ------------------------------------------------------------------------------


def agreement_once(sets: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, float, list]:
    """Prepare every set per label, compare every pair per label; return the times (prepare and
    compare on the wall clock, both in CPU time) and the results."""
    cpu = time.process_time()
    started = time.perf_counter()
    prepared = [
        {label: agreement.prepare(shapes[classes == label]) for label in range(LABELS)}
        for shapes, classes in sets
    ]
    prepared_at = time.perf_counter()
    results = [
        [agreement.compare(prepared[i][label], prepared[j][label]) for label in range(LABELS)]
        for i, j in agreement.pairs_of(range(len(sets)))
    ]
    ended = time.perf_counter()
    return prepared_at - started, ended - prepared_at, time.process_time() - cpu, results


def parse_once(texts: np.ndarray) -> float:
    started = time.perf_counter()
    shapely.from_geojson(texts)
    return time.perf_counter() - started


def candidates(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs at IoU >= 0.5 of two sets (labels ignored), as the matching receives them."""
    pa, pb = agreement.prepare(a), agreement.prepare(b)
    rows, cols, overlap = agreement._overlaps(pa.regions, pb.region_tree, pb.regions)
    iou = overlap / (pa.region_areas[rows] + pb.region_areas[cols] - overlap)
    close = iou >= agreement.IOU_THRESHOLD
    return rows[close], cols[close], iou[close]


def lapjvsp(rows: np.ndarray, cols: np.ndarray, iou: np.ndarray) -> int:
    """The same matching by LAPJVsp on the whole graph: each row also gets a dummy column that
    costs more than any real pair, so that a full matching exists."""
    row_ids, r = np.unique(rows, return_inverse=True)
    col_ids, c = np.unique(cols, return_inverse=True)
    n = len(row_ids)
    dummy = 2.0 * (n + 1)
    graph = coo_matrix(
        (
            np.concatenate([2 - iou, np.full(n, dummy)]),
            (np.concatenate([r, np.arange(n)]), np.concatenate([c, len(col_ids) + np.arange(n)])),
        ),
        shape=(n, len(col_ids) + n),
    ).tocsr()
    _, matched_cols = min_weight_full_bipartite_matching(graph)
    return int((matched_cols < len(col_ids)).sum())


def timed(function, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def measure(case: Case, repeat: int) -> Row:
    sets = annotators(case)
    texts = np.concatenate([shapely.to_geojson(shapes) for shapes, _ in sets])
    runs = [agreement_once(sets) for _ in range(repeat)]
    prepare_s = statistics.median(run[0] for run in runs)
    compare_s = statistics.median(run[1] for run in runs)
    total_s = statistics.median(run[0] + run[1] for run in runs)
    results = [pair for pairs in runs[-1][3] for pair in pairs]
    rows, cols, iou = candidates(sets[0][0], sets[1][0])
    components_s, matched = timed(agreement._match, rows, cols, iou)
    lapjvsp_s, matched_lapjvsp = timed(lapjvsp, rows, cols, iou)
    if len(matched) != matched_lapjvsp:
        raise bench.BenchError(f"the matchings disagree: {len(matched)} != {matched_lapjvsp}")
    dices = [area.dice for area, _ in results if area.dice is not None]
    f1s = [objects.f1 for _, objects in results if objects.f1 is not None]
    return Row(
        case=case.name,
        annotators=case.annotators,
        cells=case.cells,
        polygons=sum(len(shapes) for shapes, _ in sets),
        pairs=len(agreement.pairs_of(range(case.annotators))),
        candidate_pairs=len(rows),
        matched=sum(objects.matched for _, objects in results),
        mean_dice=statistics.fmean(dices),
        mean_f1=statistics.fmean(f1s),
        prepare_s=prepare_s,
        compare_s=compare_s,
        total_s=total_s,
        total_cpu_s=statistics.median(run[2] for run in runs),
        parse_s=statistics.median(parse_once(texts) for _ in range(repeat)),
        match_components_s=components_s,
        match_lapjvsp_s=lapjvsp_s,
        target_s=case.target_s,
    )


# --- the report --------------------------------------------------------------------------------


def report(rows: list[Row]) -> bool:
    print(
        f"\n{'case':<18} {'polygons':>8} {'pairs':>5} {'matched':>7} {'Dice':>5} {'F1':>5} "
        f"{'prepare s':>9} {'compare s':>9} {'total s':>7} {'CPU s':>6} {'target':>6} "
        f"{'ratio':>5}  "
        f"{'parse s':>7}  matching: components / LAPJVsp s"
    )
    met = True
    for r in rows:
        ok = r.total_s <= r.target_s
        met = met and ok
        print(
            f"{r.case:<18} {r.polygons:>8,} {r.pairs:>5} {r.matched:>7,} {r.mean_dice:>5.3f} "
            f"{r.mean_f1:>5.3f} {r.prepare_s:>9.3f} {r.compare_s:>9.3f} {r.total_s:>7.3f} "
            f"{r.total_cpu_s:>6.3f} "
            f"{r.target_s:>6.2f} {r.ratio:>5.2f}  {r.parse_s:>7.3f}  "
            f"{r.match_components_s:.4f} / {r.match_lapjvsp_s:.4f} "
            f"({r.candidate_pairs:,} candidates)  {'met' if ok else 'MISSED'}"
        )
    print(
        f"{os.cpu_count()} CPUs; shapely {shapely.__version__}, GEOS {shapely.geos_version_string}"
    )
    return met


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--smoke", action="store_true", help="small sizes, fast; exit 1 on a miss")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    parser.add_argument("--lock-wait", type=float, default=600)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with bench.exclusive_run(args.lock_wait):
        rows = []
        for case in SMOKE if args.smoke else FULL:
            bench.log(f"{case.name}: building and measuring")
            rows.append(measure(case, args.repeat))
        met = report(rows)
    out = bench.BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / f"agreement-{datetime.now():%Y%m%d-%H%M%S}{'-smoke' if args.smoke else ''}.json"
    payload = {"rows": [{**asdict(r), "ratio": r.ratio} for r in rows], "met": met}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    bench.log(f"results: {path.relative_to(bench.REPO)}")
    return 0 if met else 1


if __name__ == "__main__":
    bench.run_script(main, "agreement bench")
