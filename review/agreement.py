"""
Measured agreement between the annotators of a slide, and the consensus of an annotation's verdicts.

Two layers in one module:

1. Pure functions on shapely 2 geometries (numpy, shapely, scipy; no Django), for the server,
   the benchmark (``bench/agreement.py``) and anyone comparing annotation sets outside it:

   - ``area_agreement``: Dice and IoU of the union of each annotator's regions;
   - ``object_agreement``: objects matched one-to-one by an optimal assignment (IoU >= 0.5 for
     regions, a distance for points), then precision, recall and F1 of one set against the
     other, and the mean IoU of the matched regions;
   - ``consensus_label``: the label most verdicts on an annotation give it, or a tie.

   ``prepare`` and ``compare`` do the work of the first two once for sets compared several times
   (three annotators: each set takes part in two pairs).

2. Django-side reads (below ``# --- Django side``): ``slide_agreement`` compares every pair of a
   task's assignments on a slide, per label and overall, cached under a fingerprint of the
   annotations; ``project_agreement`` aggregates those per task, annotator pair and label within a
   time budget per request; ``python manage.py compute_agreement`` fills the cache for all.

Geometries are compared as given (level-0 pixels for annotations). Which geometries count:

- regions are Polygons and MultiPolygons; invalid ones are repaired with ``shapely.make_valid``
  (the "structure" method, which keeps the area a self-crossing outline encloses) and keep
  their polygonal parts; what encloses no area is left out;
- points are matched to points within ``point_radius`` of each other (one-to-one, as many pairs
  as possible, then the closest); they have no area, so area agreement leaves them out;
- lines (and anything else) take part in neither: a line has no area and no extent to overlap,
  and "the same line" has no measure here that a pathologist would recognise.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import shapely
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

IOU_THRESHOLD = 0.5
# Points this close (in the geometries' units) may be the same object: 20 px is 5 µm at
# 0.25 µm/px, the radius of a small nucleus. The Django side turns POINT_RADIUS_UM into pixels
# with the slide's resolution.
POINT_RADIUS = 20.0
# IoUs are computed in floating point: two squares sharing exactly half their union come out a
# few ulps either side of 0.5. Pairs this close below the threshold still match.
IOU_SLACK = 1e-9

_POINT, _POLYGON, _MULTIPOLYGON, _COLLECTION = 0, 3, 6, 7  # shapely.get_type_id values
_EMPTY = np.empty(0, dtype=object)
_NO_INDEX = np.empty(0, dtype=np.intp)


@dataclass(frozen=True)
class AreaAgreement:
    """The area of each annotator's union and of their intersection (units², e.g. px²).

    ``dice`` = 2|A∩B| / (|A| + |B|) and ``iou`` = |A∩B| / |A∪B|. When neither annotator marked
    any area, both are None rather than 1.0 or 0.0: there is nothing to agree or disagree on,
    and a slide with no necrosis must neither raise nor lower a project's mean agreement on
    necrosis. When only one marked some, both are 0.
    """

    area_a: float
    area_b: float
    intersection: float

    @property
    def union(self) -> float:
        return self.area_a + self.area_b - self.intersection

    @property
    def dice(self) -> float | None:
        total = self.area_a + self.area_b
        return min(1.0, 2 * self.intersection / total) if total > 0 else None

    @property
    def iou(self) -> float | None:
        union = self.union
        return min(1.0, self.intersection / union) if union > 0 else None

    def __add__(self, other: AreaAgreement) -> AreaAgreement:
        """Pool two comparisons (e.g. two labels): areas add up, so larger regions weigh more."""
        return AreaAgreement(
            area_a=self.area_a + other.area_a,
            area_b=self.area_b + other.area_b,
            intersection=self.intersection + other.intersection,
        )


@dataclass(frozen=True)
class ObjectAgreement:
    """How many objects of set a were matched one-to-one to objects of set b (the reference).

    ``precision`` = matched / count_a, ``recall`` = matched / count_b, ``f1`` = 2 matched /
    (count_a + count_b). A ratio whose denominator is 0 is None (no objects in a: precision is
    undefined; in neither set: all three are). ``mean_iou`` is over the matched regions
    (points have no IoU).
    """

    count_a: int
    count_b: int
    matched: int
    iou_sum: float = 0.0  # of the matched regions, so that pooled means stay exact
    regions_matched: int = 0

    @property
    def precision(self) -> float | None:
        return self.matched / self.count_a if self.count_a else None

    @property
    def recall(self) -> float | None:
        return self.matched / self.count_b if self.count_b else None

    @property
    def f1(self) -> float | None:
        total = self.count_a + self.count_b
        return 2 * self.matched / total if total else None

    @property
    def mean_iou(self) -> float | None:
        return self.iou_sum / self.regions_matched if self.regions_matched else None

    def __add__(self, other: ObjectAgreement) -> ObjectAgreement:
        """Pool the counts of two comparisons (labels, slides): F1 of the pooled counts."""
        return ObjectAgreement(
            count_a=self.count_a + other.count_a,
            count_b=self.count_b + other.count_b,
            matched=self.matched + other.matched,
            iou_sum=self.iou_sum + other.iou_sum,
            regions_matched=self.regions_matched + other.regions_matched,
        )


NO_AREA = AreaAgreement(area_a=0.0, area_b=0.0, intersection=0.0)
NO_OBJECTS = ObjectAgreement(count_a=0, count_b=0, matched=0)


@dataclass(frozen=True, eq=False)
class Prepared:
    """One annotator's geometries (of one label), ready to be compared with others.

    ``regions`` are the valid polygonal objects. ``alone`` marks those that share area with no
    other region of the set; the others are unioned group by group into ``merged``. The alone
    regions and the merged groups share no area, so the union's ``area`` is the sum of theirs.
    """

    regions: np.ndarray
    region_areas: np.ndarray
    region_tree: STRtree
    alone: np.ndarray
    merged: np.ndarray
    merged_tree: STRtree
    area: float
    points: np.ndarray
    point_tree: STRtree
    # Where each region and point was in the geometries given to ``prepare``: matchings are
    # answered in those positions, so that callers can name the objects left unmatched.
    region_index: np.ndarray = field(default_factory=lambda: _NO_INDEX)
    point_index: np.ndarray = field(default_factory=lambda: _NO_INDEX)

    @property
    def object_count(self) -> int:
        return len(self.regions) + len(self.points)

    @property
    def object_index(self) -> np.ndarray:
        """The input positions of the objects compared (regions, then points)."""
        return np.concatenate([self.region_index, self.point_index])


@dataclass(frozen=True, eq=False)
class Matching:
    """Which objects of a were matched to which of b (positions in the geometries given to
    ``prepare``): regions with their IoU, points, and the objects of each left unmatched (a's
    false positives and b's false negatives when b is the reference)."""

    region_pairs: np.ndarray  # k x 2: (position in a, position in b)
    region_ious: np.ndarray
    point_pairs: np.ndarray  # m x 2
    unmatched_a: np.ndarray
    unmatched_b: np.ndarray


def prepare(geometries: Iterable[BaseGeometry | None]) -> Prepared:
    """Repair, sort and index one annotator's geometries (None and empty ones are left out)."""
    shapes = _objects(list(geometries))
    position = np.arange(len(shapes))
    kept = ~(shapely.is_missing(shapes) | shapely.is_empty(shapes))
    shapes, position = shapes[kept], position[kept]
    broken = ~shapely.is_valid(shapes)
    if broken.any():
        shapes[broken] = shapely.make_valid(
            shapes[broken], method="structure", keep_collapsed=False
        )
    kinds = shapely.get_type_id(shapes)
    collections = kinds == _COLLECTION
    if collections.any():
        shapes[collections] = [_polygonal_part(shape) for shape in shapes[collections]]
        kinds = shapely.get_type_id(shapes)
    polygonal = (kinds == _POLYGON) | (kinds == _MULTIPOLYGON)
    regions, region_index = shapes[polygonal], position[polygonal]
    areas = shapely.area(regions)
    regions, areas, region_index = regions[areas > 0], areas[areas > 0], region_index[areas > 0]
    tree = STRtree(regions)
    alone, merged = _dissolve(regions, tree)
    points, point_index = shapes[kinds == _POINT], position[kinds == _POINT]
    return Prepared(
        regions=regions,
        region_areas=areas,
        region_tree=tree,
        alone=alone,
        merged=merged,
        merged_tree=STRtree(merged),
        area=float(areas[alone].sum() + shapely.area(merged).sum()),
        points=points,
        point_tree=STRtree(points),
        region_index=region_index,
        point_index=point_index,
    )


def _objects(items: list) -> np.ndarray:
    """A one-dimensional array of objects (np.array would look into sequences)."""
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _polygonal_part(shape: BaseGeometry) -> BaseGeometry:
    """The polygons of a collection (what make_valid can leave beside stray lines), as one."""
    polygons = [part for part in shape.geoms if part.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polygons) if polygons else shapely.Polygon()


# Pairs of shapes whose boxes meet, at most, in one comparison: the bound of its cost. Real
# annotators' regions overlap a few neighbours each (3 × 20,000 cells: about 26,000 pairs per
# annotator pair); thousands of regions drawn on top of one another would make millions, and
# their intersections would hold a worker for minutes. Queried a chunk at a time, so that the
# bound is found before the pairs are all in memory.
MAX_CANDIDATE_PAIRS = 2_000_000
_QUERY_CHUNK = 2000


class AgreementTooLarge(ValueError):
    """A slide whose agreement costs more than one request may spend; the message says why."""


def _query(tree: STRtree, shapes: np.ndarray, **predicate) -> tuple[np.ndarray, np.ndarray]:
    """tree.query(shapes, **predicate), refused beyond MAX_CANDIDATE_PAIRS pairs."""
    found, total = [], 0
    for start in range(0, len(shapes), _QUERY_CHUNK):
        rows, cols = tree.query(shapes[start : start + _QUERY_CHUNK], **predicate)
        total += rows.size
        if total > MAX_CANDIDATE_PAIRS:
            raise AgreementTooLarge(
                f"More than {MAX_CANDIDATE_PAIRS} pairs of regions overlap on this slide: "
                "too many to compare."
            )
        found.append((rows + start, cols))
    if not found:
        return _NO_INDEX, _NO_INDEX
    return np.concatenate([r for r, _ in found]), np.concatenate([c for _, c in found])


def _dissolve(regions: np.ndarray, tree: STRtree) -> tuple[np.ndarray, np.ndarray]:
    """Which regions share area with no other (a mask), and the union of each group that does.

    Touching is not overlapping: only pairs whose intersection has area are grouped. One
    annotator's regions seldom overlap (cells drawn side by side touch at most), so the groups
    are few and small, and comparisons reuse the regions' own overlaps for all the others.
    """
    first, second = _query(tree, regions, predicate="intersects")
    pair = first < second
    first, second = first[pair], second[pair]
    if first.size:
        shared = shapely.area(shapely.intersection(regions[first], regions[second])) > 0
        first, second = first[shared], second[shared]
    if not first.size:
        return np.ones(len(regions), dtype=bool), _EMPTY
    count = len(regions)
    graph = coo_matrix((np.ones(first.size), (first, second)), shape=(count, count))
    _, group = connected_components(graph, directed=False)
    alone = np.bincount(group)[group] == 1
    grouped = np.flatnonzero(~alone)
    grouped = grouped[np.argsort(group[grouped], kind="stable")]
    cuts = np.flatnonzero(np.diff(group[grouped])) + 1
    return alone, _objects([shapely.union_all(regions[part]) for part in np.split(grouped, cuts)])


def compare(
    a: Prepared,
    b: Prepared,
    *,
    threshold: float = IOU_THRESHOLD,
    point_radius: float = POINT_RADIUS,
) -> tuple[AreaAgreement, ObjectAgreement]:
    """Area and object agreement of ``a`` against ``b`` (the reference), sharing the work.

    Only pairs whose bounding boxes meet (found with b's STR tree) and whose shapes intersect are
    intersected, all at once (one vectorised shapely call).
    """
    area, objects, _ = compare_matched(a, b, threshold=threshold, point_radius=point_radius)
    return area, objects


def compare_matched(
    a: Prepared,
    b: Prepared,
    *,
    threshold: float = IOU_THRESHOLD,
    point_radius: float = POINT_RADIUS,
) -> tuple[AreaAgreement, ObjectAgreement, Matching]:
    """``compare``, and which objects it matched (a model's layer against a person's work:
    the false positives and negatives to step through)."""
    rows, cols, overlap = _overlaps(a.regions, b.region_tree, b.regions)
    area = AreaAgreement(
        area_a=a.area, area_b=b.area, intersection=_union_overlap(a, b, rows, cols, overlap)
    )
    iou = overlap / (a.region_areas[rows] + b.region_areas[cols] - overlap)
    close = iou >= threshold - IOU_SLACK
    rows, cols, iou = rows[close], cols[close], iou[close]
    region_matches = _match(rows, cols, iou)
    point_rows, point_cols = _point_matches(a, b, point_radius)
    objects = ObjectAgreement(
        count_a=a.object_count,
        count_b=b.object_count,
        matched=len(region_matches) + len(point_rows),
        iou_sum=float(iou[region_matches].sum()),
        regions_matched=len(region_matches),
    )
    rows, cols = rows[region_matches], cols[region_matches]
    matched_a = np.concatenate([a.region_index[rows], a.point_index[point_rows]])
    matched_b = np.concatenate([b.region_index[cols], b.point_index[point_cols]])
    matching = Matching(
        region_pairs=np.stack([a.region_index[rows], b.region_index[cols]], axis=1),
        region_ious=iou[region_matches],
        point_pairs=np.stack([a.point_index[point_rows], b.point_index[point_cols]], axis=1),
        unmatched_a=np.setdiff1d(a.object_index, matched_a),
        unmatched_b=np.setdiff1d(b.object_index, matched_b),
    )
    return area, objects, matching


def _union_overlap(
    a: Prepared, b: Prepared, rows: np.ndarray, cols: np.ndarray, overlap: np.ndarray
) -> float:
    """The area shared by the union of a's regions and the union of b's.

    Both unions are made of parts that share no area (alone regions and merged groups), so it
    is the sum of the parts' pairwise overlaps: those of two alone regions are the regions'
    own (already computed); only pairs with a merged group are intersected here.
    """
    total = float(overlap[a.alone[rows] & b.alone[cols]].sum())
    if len(a.merged):
        _, j, shared = _overlaps(a.merged, b.region_tree, b.regions)
        total += float(shared[b.alone[j]].sum())
        total += float(_overlaps(a.merged, b.merged_tree, b.merged)[2].sum())
    if len(b.merged):
        _, i, shared = _overlaps(b.merged, a.region_tree, a.regions)
        total += float(shared[a.alone[i]].sum())
    return total


def _overlaps(
    shapes: np.ndarray, tree: STRtree, tree_shapes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i, j) of shapes[i] and tree_shapes[j] that intersect, with their shared area."""
    if not len(shapes) or not len(tree_shapes):
        return _NO_INDEX, _NO_INDEX, np.empty(0)
    rows, cols = _query(tree, shapes, predicate="intersects")
    return rows, cols, shapely.area(shapely.intersection(shapes[rows], tree_shapes[cols]))


def _point_matches(a: Prepared, b: Prepared, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of a's and b's points (indices into each's points) matched one-to-one within
    ``radius`` (as many as can be, then the closest)."""
    if not len(a.points) or not len(b.points) or radius <= 0:
        return _NO_INDEX, _NO_INDEX
    rows, cols = _query(b.point_tree, a.points, predicate="dwithin", distance=radius)
    closeness = 1 - shapely.distance(a.points[rows], b.points[cols]) / radius
    chosen = _match(rows, cols, closeness)
    return rows[chosen], cols[chosen]


# Matching, measured by bench/agreement.py on two of its 3 × 20,000 cell sets (16,170 candidate
# pairs at IoU >= 0.5, 2 cores): splitting the candidate graph into connected components, taking
# the components of one pair as they are and solving each of the few others with
# linear_sum_assignment took 0.005 s; min_weight_full_bipartite_matching (LAPJVsp) on the whole
# sparse graph, with a costly dummy column per row so that a full matching exists, took 0.77 s.
# A dense linear_sum_assignment on the full 20,000² matrix would need 3.2 GB. Components keep
# each dense problem as small as the tangle of overlaps it solves.


def _match(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Indices of the candidate pairs (rows[k], cols[k]) kept by an optimal one-to-one matching.

    Optimal means: as many pairs as possible (the count is what precision, recall and F1 use),
    and among those matchings the one with the greatest total weight (``weights`` in [0, 1]:
    the IoU, or the closeness of points). Greedy matching by weight is not optimal: a region
    overlapping two may take the one that was the only match of another.
    """
    if not rows.size:
        return _NO_INDEX
    row_ids, r = np.unique(rows, return_inverse=True)
    col_ids, c = np.unique(cols, return_inverse=True)
    nodes = len(row_ids) + len(col_ids)
    graph = coo_matrix((np.ones(r.size), (r, len(row_ids) + c)), shape=(nodes, nodes))
    _, component = connected_components(graph, directed=False)
    component = component[r]
    single = (np.bincount(r)[r] == 1) & (np.bincount(c)[c] == 1)
    chosen = [np.flatnonzero(single)]
    tangled = np.flatnonzero(~single)
    tangled = tangled[np.argsort(component[tangled], kind="stable")]
    cuts = np.flatnonzero(np.diff(component[tangled])) + 1
    for edges in np.split(tangled, cuts) if tangled.size else ():
        chosen.append(edges[_solve(r[edges], c[edges], weights[edges])])
    return np.sort(np.concatenate(chosen))


def _solve(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The optimal matching of one connected component, as indices into its edges."""
    row_ids, r = np.unique(rows, return_inverse=True)
    col_ids, c = np.unique(cols, return_inverse=True)
    # Each pair is worth more than all the weights together, so the count comes first.
    bonus = min(len(row_ids), len(col_ids)) + 1
    worth = np.zeros((len(row_ids), len(col_ids)))
    worth[r, c] = bonus + weights
    edge = np.full(worth.shape, -1, dtype=np.intp)
    edge[r, c] = np.arange(r.size)
    picked = edge[linear_sum_assignment(worth, maximize=True)]
    return picked[picked >= 0]


def area_agreement(a: Sequence[BaseGeometry], b: Sequence[BaseGeometry]) -> AreaAgreement:
    """Dice and IoU of the union of a's regions with the union of b's (points and lines are left
    out; both without area: None, see AreaAgreement)."""
    return compare(prepare(a), prepare(b))[0]


def object_agreement(
    a: Sequence[BaseGeometry],
    b: Sequence[BaseGeometry],
    *,
    threshold: float = IOU_THRESHOLD,
    point_radius: float = POINT_RADIUS,
) -> ObjectAgreement:
    """Match a's objects one-to-one to b's (regions at IoU >= ``threshold``, points within
    ``point_radius``) by an optimal assignment; precision and recall of a with b as reference."""
    return compare(prepare(a), prepare(b), threshold=threshold, point_radius=point_radius)[1]


# Verdict kinds, as the review app stores them.
AGREE, WRONG_LABEL, WRONG_REGION, REJECT = "agree", "wrong_label", "wrong_region", "reject"
VERDICT_KINDS = frozenset({AGREE, WRONG_LABEL, WRONG_REGION, REJECT})


@dataclass(frozen=True)
class Consensus:
    """The label the verdicts on one annotation give it.

    ``label`` is the label with the most votes, None when no verdict votes for a label or when
    several share the most (``tie`` True, ``candidates`` those labels, smallest id first).
    ``candidates`` is ``[label]`` when one label leads. ``agree_fraction`` = agree verdicts / all
    verdicts (rejections and wrong regions included), None without verdicts.
    """

    label: int | None
    tie: bool = False
    candidates: list[int] = field(default_factory=list)
    verdicts: int = 0
    agree: int = 0
    agree_fraction: float | None = None
    votes: dict[int, int] = field(default_factory=dict)


def consensus_label(verdicts: Iterable[tuple[str, int | None, int]]) -> Consensus:
    """Consensus of (verdict kind, label it should have or None, the annotation's own label).

    "agree" votes for the annotation's own label, "wrong_label" for the label it should have;
    "wrong_region" and "reject" count as verdicts but vote for no label. A tie is reported as a
    tie, never broken. ValueError for an unknown kind or a "wrong_label" without its label.
    """
    votes: Counter[int] = Counter()
    count = agree = 0
    for kind, relabel, own in verdicts:
        if kind not in VERDICT_KINDS:
            raise ValueError(f"Unknown verdict kind {kind!r}.")
        count += 1
        if kind == AGREE:
            agree += 1
            votes[own] += 1
        elif kind == WRONG_LABEL:
            if relabel is None:
                raise ValueError("A wrong_label verdict needs the label it should have.")
            votes[relabel] += 1
    most = max(votes.values(), default=0)
    leaders = sorted(label for label, n in votes.items() if n == most) if most else []
    return Consensus(
        label=leaders[0] if len(leaders) == 1 else None,
        tie=len(leaders) > 1,
        candidates=leaders,
        verdicts=count,
        agree=agree,
        agree_fraction=agree / count if count else None,
        votes=dict(votes),
    )


def pairs_of(keys: Sequence) -> list[tuple]:
    """Every unordered pair of ``keys``, in order (k keys: k(k-1)/2 pairs)."""
    return list(itertools.combinations(keys, 2))


NOTHING = prepare(())  # the set of an annotator who drew nothing of a label


@dataclass(frozen=True)
class Comparison:
    """Area and object agreement of one pair of annotators (one label, or all pooled)."""

    area: AreaAgreement
    objects: ObjectAgreement

    def __add__(self, other: Comparison) -> Comparison:
        return Comparison(area=self.area + other.area, objects=self.objects + other.objects)


NO_COMPARISON = Comparison(area=NO_AREA, objects=NO_OBJECTS)


# --- Django side ---------------------------------------------------------------------------------
# Everything above works on geometries alone; what follows reads annotations and the cache. The
# models are imported where they are used, so that importing this module needs no configured
# Django: bench/agreement.py and scripts outside the server use the part above as it is.

from django.db.models import Count, Max, Q, QuerySet, Sum, TextField  # noqa: E402
from django.db.models.functions import Cast  # noqa: E402

from slides import sharedcache  # noqa: E402

if TYPE_CHECKING:
    from annotations.models import Annotation
    from slides.models import Slide
    from tasks.models import Assignment, Label, Project, Task

# Bump when what is computed changes, so that results cached before are not reused.
METHOD_VERSION = 1
# Points within this distance match (see POINT_RADIUS); slides without a resolution use
# POINT_RADIUS pixels.
POINT_RADIUS_UM = 5.0
# Cache keys change whenever the annotations do, so old results are never read again; they
# only have to expire some day.
CACHE_SECONDS = 30 * 24 * 3600
# Time a page may spend computing slides that are not cached yet; the rest are counted as not
# yet computed (python manage.py compute_agreement fills them in).
PAGE_BUDGET_SECONDS = 2.0
SUMMARY_BUDGET_SECONDS = 0.5
# What one live annotation costs a computation (read, parse, prepare, compare), to skip a slide
# that would overrun the budget rather than start it. bench/agreement.py's 3 × 20,000 cells
# stored as annotations on PostgreSQL: slide_agreement_compute took 4.5-5.3 s of CPU and
# 5.9-8.3 s on the wall clock for the 58,148 of them, on 2 cores shared with other test runs
# (80-90 µs of CPU, 100-140 µs of wall clock each; the read itself 0.3 s).
SECONDS_PER_ANNOTATION = 120e-6
# A slide page computes a missing result itself only up to this many live annotations (about
# 12 s by SECONDS_PER_ANNOTATION); beyond, it asks for python manage.py compute_agreement.
MAX_PAGE_ANNOTATIONS = 100_000


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of assignment ``a`` (compared) with assignment ``b`` (reference), a < b, on one
    slide: per label, and ``overall`` pooled over labels (an area agrees only where both gave it
    the same label; objects match only within a label)."""

    a: int
    b: int
    overall: Comparison
    labels: dict[int, Comparison]


@dataclass(frozen=True)
class SlideAgreement:
    """Agreement of every pair of a task's assignments that hold the slide (none when fewer
    than two do)."""

    task_id: int
    slide_id: int
    assignments: tuple[int, ...]
    pairs: tuple[PairAgreement, ...]
    annotations: int = 0
    seconds: float = 0.0

    @property
    def annotators(self) -> int:
        return len(self.assignments)

    @property
    def overall(self) -> Comparison:
        """All pairs pooled."""
        return sum((pair.overall for pair in self.pairs), NO_COMPARISON)


@dataclass(frozen=True)
class SlideWork:
    """One (task, slide) to compare: who holds it, and what its cached result is stored under."""

    task_id: int
    slide_id: int
    assignments: tuple[int, ...]
    mpp: float | None
    live: int  # live annotations of the task on the slide
    key: str


def slide_agreement(*, task: Task, slide: Slide, bounded: bool = True) -> SlideAgreement:
    """Agreement of every pair of ``task``'s assignments holding ``slide``, per label.

    Reads the cache first (two small queries make its key); computes and stores the result on a
    miss. A cache that fails is skipped: the result is computed instead. When ``bounded``, a
    miss on more than MAX_PAGE_ANNOTATIONS live annotations raises AgreementTooLarge; so does,
    always, a slide of too many overlapping regions (see MAX_CANDIDATE_PAIRS).
    """
    work = _work(task_ids=[task.pk], slide_id=slide.pk)
    if not work or len(work[0].assignments) < 2:
        holders = work[0].assignments if work else ()
        return SlideAgreement(task_id=task.pk, slide_id=slide.pk, assignments=holders, pairs=())
    item = work[0]
    found = _cache_get_many([item.key]).get(item.key)
    if isinstance(found, SlideAgreement):
        return found
    if bounded and item.live > MAX_PAGE_ANNOTATIONS:
        raise AgreementTooLarge(
            f"This slide holds {item.live} annotations of the task, more than a page computes "
            f"({MAX_PAGE_ANNOTATIONS}): run python manage.py compute_agreement."
        )
    return _compute_and_store(item)


def _work(*, task_ids: Sequence[int], slide_id: int | None = None) -> list[SlideWork]:
    """The (task, slide) items of these tasks (of one slide, if given), in task then slide
    order: one query for the assignments holding each slide, one aggregate query for the
    fingerprint of the annotations."""
    from annotations.models import Annotation
    from slides.models import Slide
    from tasks.models import AssignmentSlide

    shares = AssignmentSlide.objects.filter(assignment__task_id__in=task_ids)
    notes = Annotation.objects.filter(assignment__task_id__in=task_ids)
    if slide_id is not None:
        shares, notes = shares.filter(slide_id=slide_id), notes.filter(slide_id=slide_id)
    holders: dict[tuple[int, int], list[int]] = {}
    mpps: dict[int, float | None] = {}
    rows = shares.values_list(
        "assignment__task_id", "slide_id", "assignment_id", "slide__mpp_x", "slide__mpp_y"
    )
    for task_id, slide, assignment_id, mpp_x, mpp_y in rows.order_by():
        holders.setdefault((task_id, slide), []).append(assignment_id)
        mpps[slide] = Slide(mpp_x=mpp_x, mpp_y=mpp_y).mpp  # the slide's own rule, unsaved
    fingerprints = _fingerprints(notes)
    order = {task_id: i for i, task_id in enumerate(task_ids)}
    return [
        _work_item(
            task_id=task_id,
            slide_id=slide,
            assignments=tuple(sorted(ids)),
            mpp=mpps[slide],
            fingerprint=fingerprints.get((task_id, slide), {}),
        )
        for (task_id, slide), ids in sorted(
            holders.items(), key=lambda item: (order[item[0][0]], item[0][1])
        )
    ]


def _fingerprints(notes: QuerySet[Annotation]) -> dict[tuple[int, int], dict]:
    """Per (task, slide): counts of live and all annotations, the newest id, the newest change
    and the sum of versions (every update, delete and restore adds one)."""
    rows = (
        notes.values("assignment__task_id", "slide_id")
        .annotate(
            live=Count("id", filter=Q(is_deleted=False)),
            total=Count("id"),
            last_id=Max("id"),
            last_change=Max("updated_at"),
            versions=Sum("version"),
        )
        .order_by()
    )
    return {(row.pop("assignment__task_id"), row.pop("slide_id")): row for row in rows}


def _work_item(
    *, task_id: int, slide_id: int, assignments: tuple[int, ...], mpp: float | None, fingerprint
) -> SlideWork:
    # Everything that changes the answer is in the key: the method, the slide's resolution (the
    # points' radius), who holds the slide and the fingerprint of the annotations.
    facts = (
        METHOD_VERSION,
        IOU_THRESHOLD,
        POINT_RADIUS_UM,
        mpp,
        assignments,
        sorted((name, str(value)) for name, value in fingerprint.items()),
    )
    digest = hashlib.sha256(repr(facts).encode()).hexdigest()[:32]
    return SlideWork(
        task_id=task_id,
        slide_id=slide_id,
        assignments=assignments,
        mpp=mpp,
        live=fingerprint.get("live", 0),
        key=f"agreement:{task_id}:{slide_id}:{digest}",
    )


def _compute_and_store(item: SlideWork) -> SlideAgreement:
    result = slide_agreement_compute(item)
    _cache_set(item.key, result)
    return result


def slide_agreement_compute(item: SlideWork) -> SlideAgreement:
    """Read the live annotations of the item's assignments on its slide and compare every pair.

    The geometries come out of the database as text and are parsed by GEOS all at once
    (``shapely.from_geojson``): about 40 µs a cell outline of 20-40 vertices, where json.loads
    alone, without making any shape, took 80-95 µs.
    """
    from annotations.models import Annotation

    started = time.perf_counter()
    rows = list(
        Annotation.objects.filter(
            slide_id=item.slide_id, assignment_id__in=item.assignments, is_deleted=False
        )
        .annotate(text=Cast("geometry", output_field=TextField()))
        .order_by("id")
        .values_list("assignment_id", "label_id", "text")
    )
    owners = np.array([row[0] for row in rows], dtype=np.int64)
    labels = np.array([row[1] for row in rows], dtype=np.int64)
    texts = _objects([row[2] for row in rows])
    shapes = shapely.from_geojson(texts, on_invalid="ignore") if rows else _EMPTY
    prepared = {
        (owner, label): prepare(shapes[(owners == owner) & (labels == label)])
        for owner, label in set(zip(owners.tolist(), labels.tolist(), strict=True))
    }
    radius = POINT_RADIUS_UM / item.mpp if item.mpp else POINT_RADIUS
    pairs = tuple(_pair_agreement(a, b, prepared, radius) for a, b in pairs_of(item.assignments))
    return SlideAgreement(
        task_id=item.task_id,
        slide_id=item.slide_id,
        assignments=item.assignments,
        pairs=pairs,
        annotations=len(rows),
        seconds=time.perf_counter() - started,
    )


def _pair_agreement(
    a: int, b: int, prepared: dict[tuple[int, int], Prepared], radius: float
) -> PairAgreement:
    present = sorted({label for owner, label in prepared if owner in (a, b)})
    labels = {}
    for label in present:
        area, objects = compare(
            prepared.get((a, label), NOTHING),
            prepared.get((b, label), NOTHING),
            point_radius=radius,
        )
        labels[label] = Comparison(area=area, objects=objects)
    overall = sum(labels.values(), NO_COMPARISON)
    return PairAgreement(a=a, b=b, overall=overall, labels=labels)


def _cache_get_many(keys: Sequence[str]) -> dict:
    if not keys:
        return {}
    try:
        return sharedcache.default.run(lambda store: store.get_many(keys))
    except sharedcache.CacheUnavailable:
        return {}  # computed instead; slides.sharedcache has logged why


def _cache_set(key: str, value: SlideAgreement) -> None:
    # A failure is logged by slides.sharedcache; the next request computes the result again.
    with contextlib.suppress(sharedcache.CacheUnavailable):
        sharedcache.default.run(lambda store: store.set(key, value, timeout=CACHE_SECONDS))


# --- Agreement over a project ---


@dataclass
class Figures:
    """Agreement over several slides (and pairs of annotators).

    ``mean_dice`` and ``mean_iou`` average the per-slide figures where they are defined (a slide
    where neither annotator drew the label counts for nothing); ``objects`` pools the object
    counts, so precision, recall and F1 are those of all objects together: a slide with two
    cells weighs less than one with two thousand.
    """

    dice_sum: float = 0.0
    iou_sum: float = 0.0
    areas: int = 0
    objects: ObjectAgreement = NO_OBJECTS
    slide_ids: set[int] = field(default_factory=set)

    def add(self, comparison: Comparison, slide_id: int) -> None:
        if comparison.area.dice is not None:
            self.dice_sum += comparison.area.dice
            self.iou_sum += comparison.area.iou or 0.0
            self.areas += 1
        self.objects = self.objects + comparison.objects
        self.slide_ids.add(slide_id)

    @property
    def mean_dice(self) -> float | None:
        return self.dice_sum / self.areas if self.areas else None

    @property
    def mean_iou(self) -> float | None:
        return self.iou_sum / self.areas if self.areas else None

    @property
    def slides(self) -> int:
        return len(self.slide_ids)


@dataclass
class PairFigures:
    a: Assignment
    b: Assignment
    overall: Figures
    labels: list[tuple[Label, Figures]]


@dataclass
class SlideRow:
    slide_id: int
    name: str
    annotators: int
    result: SlideAgreement | None  # None: not yet computed

    @property
    def overall(self) -> Comparison | None:
        return None if self.result is None else self.result.overall


@dataclass
class TaskAgreement:
    task: Task
    overall: Figures
    pairs: list[PairFigures]
    labels: list[tuple[Label, Figures]]
    slides: list[SlideRow]  # those held by two assignments or more, by name

    @property
    def missing(self) -> int:
        return sum(row.result is None for row in self.slides)


@dataclass
class ProjectAgreement:
    project: Project
    tasks: list[TaskAgreement]
    computed: int  # slides computed by this call (the others came from the cache)
    too_large: int = 0  # slides left out because comparing them costs too much (AgreementTooLarge)

    @property
    def missing(self) -> int:
        return sum(task.missing for task in self.tasks)

    @property
    def slides(self) -> int:
        """Slides with two annotators or more, in all the tasks."""
        return sum(len(task.slides) for task in self.tasks)

    @property
    def cached(self) -> int:
        """Slides whose result came from the cache."""
        return self.slides - self.computed - self.too_large

    def summary(self, seconds: float) -> str:
        """What a whole-project computation did, for the command's output and the job's page."""
        return (
            f"{self.project.name}: {self.slides} slides with two annotators or more, "
            f"{self.computed} computed, {self.cached} already cached ({seconds:.1f} s)"
        )


def project_agreement(
    *,
    project: Project,
    task: Task | None = None,
    budget_seconds: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ProjectAgreement:
    """Agreement per annotation task of ``project`` (only ``task``, if given), per annotator pair
    and per label, over the slides two or more assignments hold.

    Cached slide results are read in one round trip; missing ones are computed, in task and
    slide order, while ``budget_seconds`` lasts (a slide whose estimated cost would overrun it is
    left out); the rest are reported as not yet computed. The budget is PAGE_BUDGET_SECONDS
    unless given. ``progress(done, total)`` is called before each slide and once at the end.
    """
    from tasks.models import Task

    if task is not None and task.project_id != project.pk:
        raise ValueError("The task is not one of the project's.")
    tasks = [task] if task is not None else list(project.tasks.filter(kind=Task.Kind.ANNOTATION))
    work = [item for item in _work(task_ids=[t.pk for t in tasks]) if len(item.assignments) > 1]
    results = {
        key: value
        for key, value in _cache_get_many([item.key for item in work]).items()
        if isinstance(value, SlideAgreement)
    }
    deadline = time.monotonic() + (
        PAGE_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    )
    computed = too_large = 0
    for done, item in enumerate(work):
        if progress is not None:
            progress(done, len(work))
        if item.key in results:
            continue
        if time.monotonic() + item.live * SECONDS_PER_ANNOTATION > deadline:
            continue
        try:
            results[item.key] = _compute_and_store(item)
        except AgreementTooLarge:
            too_large += 1
            continue
        computed += 1
    if progress is not None:
        progress(len(work), len(work))
    return ProjectAgreement(
        project=project,
        tasks=_task_figures(project, tasks, work, results),
        computed=computed,
        too_large=too_large,
    )


def _task_figures(
    project: Project, tasks: list[Task], work: list[SlideWork], results: dict
) -> list[TaskAgreement]:
    from slides.models import Slide
    from tasks.models import Assignment, Label

    assignments = Assignment.objects.filter(task__in=tasks).select_related("assignee").in_bulk()
    labels = {label.pk: label for label in Label.objects.filter(project=project)}
    names = dict(
        Slide.objects.filter(pk__in={item.slide_id for item in work}).values_list("pk", "name")
    )
    reports = []
    for task in tasks:
        items = [item for item in work if item.task_id == task.pk]
        overall = Figures()
        pairs: dict[tuple[int, int], tuple[Figures, dict[int, Figures]]] = {}
        by_label: dict[int, Figures] = {}
        for item in items:
            result = results.get(item.key)
            for pair in result.pairs if result else ():
                pair_overall, pair_labels = pairs.setdefault((pair.a, pair.b), (Figures(), {}))
                overall.add(pair.overall, item.slide_id)
                pair_overall.add(pair.overall, item.slide_id)
                for label, comparison in pair.labels.items():
                    pair_labels.setdefault(label, Figures()).add(comparison, item.slide_id)
                    by_label.setdefault(label, Figures()).add(comparison, item.slide_id)
        reports.append(
            TaskAgreement(
                task=task,
                overall=overall,
                pairs=[
                    PairFigures(
                        a=assignments[a],
                        b=assignments[b],
                        overall=figures,
                        labels=_by_label_order(per_label, labels),
                    )
                    for (a, b), (figures, per_label) in sorted(pairs.items())
                ],
                labels=_by_label_order(by_label, labels),
                slides=sorted(
                    (
                        SlideRow(
                            slide_id=item.slide_id,
                            name=names.get(item.slide_id, ""),
                            annotators=len(item.assignments),
                            result=results.get(item.key),
                        )
                        for item in items
                    ),
                    key=lambda row: (row.name, row.slide_id),
                ),
            )
        )
    return reports


def _by_label_order(
    figures: dict[int, Figures], labels: dict[int, Label]
) -> list[tuple[Label, Figures]]:
    """The figures of the project's labels, in the labels' order."""
    known = [(labels[pk], value) for pk, value in figures.items() if pk in labels]
    return sorted(known, key=lambda pair: (pair[0].order, pair[0].name))


def slide_agreement_rows(*, task: Task, result: SlideAgreement) -> list[dict]:
    """The pairs of a slide's result with their assignments and labels, for a page."""
    assignments = task.assignments.select_related("assignee").in_bulk(result.assignments)
    labels = task.project.labels.in_bulk()
    return [
        {
            "a": assignments[pair.a],
            "b": assignments[pair.b],
            "overall": pair.overall,
            "labels": sorted(
                ((labels[pk], value) for pk, value in pair.labels.items() if pk in labels),
                key=lambda item: (item[0].order, item[0].name),
            ),
            "layers": f"assignment-{pair.a},assignment-{pair.b}",
        }
        for pair in result.pairs
    ]
