"""Label masks of patches and of whole slides, from annotations, by the export's rule.

A mask holds a class index per pixel: 0 background, ``i + 1`` for ``classes[i]``. A pixel is a
polygon's when its centre lies inside it (holes left out, islands in holes kept), and where
polygons of different classes overlap the higher index wins: the rule of ``raster`` that the
export's ``masks/<stem>.png`` are painted by, so that a slide mask here equals the export's.
Points and lines have no area and are not painted; features of classes not listed are left out.

Speed: the polygons go into a shapely STRtree once; a patch's mask is one query of the tree
with the patch's box, then one ``raster.spans`` and ``raster.fill`` per class present, in time
proportional to the pixels painted plus the edges of the polygons the patch touches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from wsi2ml_toolkit import raster
from wsi2ml_toolkit.features import Feature


class LabelRasterizer:
    """Paints the polygons of ``features`` whose class is one of ``classes`` (names, in index
    order: ``classes[0]`` is 1) into label masks. ``mpp_x``, ``mpp_y`` are the slide's µm per
    level-0 pixel, needed to ask for masks by mpp rather than by downsample."""

    def __init__(
        self,
        features: Iterable[Feature],
        classes: Sequence[str],
        *,
        mpp_x: float | None = None,
        mpp_y: float | None = None,
    ):
        self.classes = tuple(classes)
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"Classes are named more than once: {', '.join(self.classes)}.")
        self.mpp_x, self.mpp_y = mpp_x, mpp_y
        self.dtype = np.uint8 if len(self.classes) <= 255 else np.uint16
        index = {name: i + 1 for i, name in enumerate(self.classes)}
        shapes, values = [], []
        for feature in features:
            value = index.get(feature.class_name)
            area = _polygonal(feature.geometry) if value else None
            if area is not None:
                shapes.append(area)
                values.append(value)
        units, unit_values = _disjoint_per_class(shapes, values)
        self.shapes: list[BaseGeometry] = units
        self.values = unit_values
        # Rings as arrays, taken out of shapely once; and every ring's edges in two arrays
        # (from, to), with where each polygon's begin: a patch then gathers, shifts and scales
        # the edges it needs in a few numpy calls.
        self.rings: list[list[np.ndarray]] = [_rings(shape) for shape in units]
        froms = [ring[:-1] for rings in self.rings for ring in rings]
        tos = [ring[1:] for rings in self.rings for ring in rings]
        self.edge_counts = np.array(
            [sum(len(ring) - 1 for ring in rings) for rings in self.rings], dtype=np.int64
        )
        self.edge_starts = np.cumsum(self.edge_counts) - self.edge_counts
        self.edge_a = np.concatenate(froms) if froms else np.empty((0, 2))
        self.edge_b = np.concatenate(tos) if tos else np.empty((0, 2))
        self.tree = shapely.STRtree(units)

    def __len__(self) -> int:
        """How many polygons it paints (once overlapping ones of a class are merged)."""
        return len(self.shapes)

    @property
    def mpp(self) -> float | None:
        """Mean of ``mpp_x`` and ``mpp_y``: the scale ``mpp=`` is taken against, as Slide.mpp."""
        known = [m for m in (self.mpp_x, self.mpp_y) if m]
        return sum(known) / len(known) if known else None

    def patch_mask(
        self,
        x: float,
        y: float,
        size: int,
        mpp: float | None = None,
        *,
        downsample: float | None = None,
    ) -> np.ndarray:
        """The ``size`` x ``size`` label mask of the patch whose top-left is level-0 pixel
        (``x``, ``y``), at ``mpp`` µm per pixel or ``downsample`` level-0 pixels per pixel
        (exactly one; Patch.downsample fits), covering the same pixels ``Slide.read`` does."""
        scale = self._downsample(mpp, downsample)
        pixels = np.zeros((size, size), dtype=self.dtype)
        extent = size * scale
        hits = self.tree.query(shapely.box(x, y, x + extent, y + extent))
        if not len(hits):
            return pixels
        # The hit polygons' edges, gathered from the arrays made at construction, shifted and
        # scaled at once, each tagged with its class: the polygons of one class are disjoint
        # (_disjoint_per_class), so their rings together, by the even-odd rule, are their
        # union, and one raster.edge_spans call paints every class.
        hits = np.sort(hits)
        counts = self.edge_counts[hits]
        edges = np.repeat(self.edge_starts[hits] - (np.cumsum(counts) - counts), counts)
        edges += np.arange(int(counts.sum()))
        origin = np.array([x, y], dtype=float)
        a = (self.edge_a[edges] - origin) / scale
        b = (self.edge_b[edges] - origin) / scale
        rows, starts, ends, values = raster.edge_spans(
            a, b, np.repeat(self.values[hits], counts), width=size, height=size
        )
        # Ascending (edge_spans orders runs by class), so that a higher class paints over.
        bounds = np.flatnonzero(np.diff(values)) + 1
        for part in np.split(np.arange(len(values)), bounds):
            if len(part):
                runs = (rows[part], starts[part], ends[part])
                raster.fill(pixels, runs, int(values[part[0]]))
        return pixels

    def coverage(self, mask: np.ndarray) -> dict[str, float]:
        """The fraction of ``mask``'s pixels that each class holds, by class name."""
        counts = np.bincount(mask.ravel(), minlength=len(self.classes) + 1)
        total = max(mask.size, 1)
        return {name: counts[i + 1] / total for i, name in enumerate(self.classes)}

    def slide_mask(self, mpp: float, width: int, height: int) -> np.ndarray:
        """The label mask of a whole slide of ``width`` x ``height`` level-0 pixels at ``mpp``
        µm per pixel: ``ceil(width * mpp_x / mpp)`` pixels across, ``ceil(height * mpp_y /
        mpp)`` down, pixel for pixel what the export writes as ``masks/<stem>.png``."""
        if not (self.mpp_x and self.mpp_y):
            raise ValueError("A slide mask by mpp needs the slide's mpp_x and mpp_y.")
        # Less a hair, as the export: 4096 px at 0.25 µm/px are 2048 mask pixels at 0.5.
        columns = max(1, math.ceil(width * self.mpp_x / mpp - 1e-9))
        rows = max(1, math.ceil(height * self.mpp_y / mpp - 1e-9))
        pixels = np.zeros((rows, columns), dtype=self.dtype)
        scale = np.array([self.mpp_x / mpp, self.mpp_y / mpp])
        for rings, value in zip(self.rings, self.values.tolist(), strict=True):
            raster.paint(pixels, [[ring * scale for ring in rings]], value)
        return pixels

    def _downsample(self, mpp: float | None, downsample: float | None) -> float:
        if (mpp is None) == (downsample is None):
            raise ValueError("Give the mask's resolution as mpp= or downsample=, not both.")
        if downsample is not None:
            return float(downsample)
        if self.mpp is None:
            raise ValueError("A mask by mpp needs the slide's mpp; give downsample= instead.")
        return mpp / self.mpp


def _disjoint_per_class(
    shapes: list[BaseGeometry], values: list[int]
) -> tuple[list[BaseGeometry], np.ndarray]:
    """``shapes`` with those of one class whose interiors overlap replaced by their union,
    and the class of each: polygons of a class then never overlap, so that a patch paints a
    class in one pass. Shapes that overlap none of their class are kept as they are."""
    array = np.array(shapes, dtype=object)
    classes = np.asarray(values, dtype=np.int64)
    if len(array) < 2:
        return shapes, classes
    a, b = shapely.STRtree(array).query(array, predicate="intersects")
    linked = (a < b) & (classes[a] == classes[b])
    a, b = a[linked], b[linked]
    overlapping = ~shapely.touches(array[a], array[b])
    groups = _components(len(array), a[overlapping], b[overlapping])
    leaders, members = np.unique(groups, return_inverse=True)
    if len(leaders) == len(array):
        return shapes, classes
    sizes = np.bincount(members)
    merged = [
        array[leader] if sizes[i] == 1 else shapely.union_all(array[members == i])
        for i, leader in enumerate(leaders)
    ]
    return merged, classes[leaders]


def _components(count: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each of ``count`` items, the smallest item linked to it through pairs (a, b)."""
    labels = np.arange(count)
    while True:
        low = np.minimum(labels[a], labels[b])
        new = labels.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        new = new[new]  # pointer jumping: a long chain takes about log2(length) rounds
        if np.array_equal(new, labels):
            return labels
        labels = new


def _polygonal(shape: BaseGeometry | None) -> BaseGeometry | None:
    """The polygons of ``shape`` (a Polygon or MultiPolygon, or those in a collection), None
    when it has no area."""
    if shape is None or shape.is_empty:
        return None
    if shape.geom_type in ("Polygon", "MultiPolygon"):
        return shape
    if shape.geom_type == "GeometryCollection":
        parts = [part for part in shape.geoms if part.geom_type in ("Polygon", "MultiPolygon")]
        return shapely.union_all(parts) if parts else None
    return None


def _rings(shape: BaseGeometry) -> list[np.ndarray]:
    """Every ring of a Polygon or MultiPolygon, exterior and interiors, as n x 2 arrays."""
    polygons = shape.geoms if shape.geom_type == "MultiPolygon" else [shape]
    return [
        np.asarray(ring.coords, dtype=float)[:, :2]
        for polygon in polygons
        for ring in (polygon.exterior, *polygon.interiors)
    ]
