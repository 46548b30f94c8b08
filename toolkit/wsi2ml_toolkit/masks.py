"""Label masks of patches and of whole slides, from annotations, by the export's rule.

A mask holds a class index per pixel: 0 background, ``i + 1`` for ``classes[i]``. A pixel is a
polygon's when its centre lies inside it (holes left out, islands in holes kept), and where
polygons of different classes overlap the higher index wins: the rule of ``raster`` that the
export's ``masks/<stem>.png`` are painted by, so that a slide mask here equals the export's.
Points and lines have no area and are not painted; features of classes not listed are left out.

Speed: the polygons go into a shapely STRtree once; a patch's mask is one query of the tree
with the patch's box, then one ``raster.edge_spans`` over the edges of every polygon hit and one
``raster.fill`` per class present, in time proportional to the pixels painted plus those
edges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from wsi2ml_toolkit import raster
from wsi2ml_toolkit.features import Feature

SLIDE_MASK_BATCH = 2000  # polygons painted together into a slide mask


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
        # Kept as drawn, overlapping ones of a class too: each polygon's runs are its own
        # (even-odd over its rings), and painting a class's runs sets the same value twice
        # where two overlap. Merging them first cost 0.9-1.2 s of 20,000 polygons' setup.
        units = shapes
        self.shapes: list[BaseGeometry] = units
        self.values = np.asarray(values, dtype=np.int64)
        # Every ring's edges in two arrays (from, to), ordered by polygon, with where each
        # polygon's begin: a patch then gathers, shifts and scales the edges it needs in a few
        # numpy calls. Taken out of shapely in three calls for all polygons: polygon by polygon
        # it cost 0.6 s of 20,000 polygons' setup.
        self.edge_a, self.edge_b, owner = _edges(units)
        self.edge_counts = np.bincount(owner, minlength=len(units)).astype(np.int64)
        self.edge_starts = np.cumsum(self.edge_counts) - self.edge_counts
        self.tree = shapely.STRtree(units)

    def __len__(self) -> int:
        """How many polygons it paints."""
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
        # scaled at once, each tagged with its polygon: one raster.edge_spans call gives the
        # runs of every polygon the patch touches.
        counts = self.edge_counts[hits]
        edges = np.repeat(self.edge_starts[hits] - (np.cumsum(counts) - counts), counts)
        edges += np.arange(int(counts.sum()))
        origin = np.array([x, y], dtype=float)
        a = (self.edge_a[edges] - origin) / scale
        b = (self.edge_b[edges] - origin) / scale
        rows, starts, ends, polygons = raster.edge_spans(
            a, b, np.repeat(hits, counts), width=size, height=size
        )
        classes = self.values[polygons]
        # Ascending, so that a higher class paints over a lower one: one fill per class.
        for value in np.unique(classes).tolist():
            chosen = classes == value
            raster.fill(pixels, (rows[chosen], starts[chosen], ends[chosen]), value)
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
        owner = np.repeat(np.arange(len(self.shapes)), self.edge_counts)
        # A few thousand polygons at a time: their crossings of the mask's rows are held at
        # once (every row each edge spans, 8 bytes each several times over).
        for first in range(0, len(self.shapes), SLIDE_MASK_BATCH):
            chosen = (owner >= first) & (owner < first + SLIDE_MASK_BATCH)
            rows_, starts, ends, polygons = raster.edge_spans(
                self.edge_a[chosen] * scale,
                self.edge_b[chosen] * scale,
                owner[chosen],
                width=columns,
                height=rows,
            )
            classes = self.values[polygons]
            for value in np.unique(classes).tolist():
                picked = classes == value
                raster.fill(pixels, (rows_[picked], starts[picked], ends[picked]), value)
        return pixels

    def _downsample(self, mpp: float | None, downsample: float | None) -> float:
        if (mpp is None) == (downsample is None):
            raise ValueError("Give the mask's resolution as mpp= or downsample=, not both.")
        if downsample is not None:
            return float(downsample)
        if self.mpp is None:
            raise ValueError("A mask by mpp needs the slide's mpp; give downsample= instead.")
        return mpp / self.mpp


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


def _edges(shapes: list[BaseGeometry]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges of every ring (exterior and interiors) of ``shapes`` (Polygons or
    MultiPolygons): from-points, to-points (n x 2 each) and the index of the shape each edge
    belongs to, in shape order."""
    if not shapes:
        return np.empty((0, 2)), np.empty((0, 2)), np.empty(0, dtype=np.int64)
    shapes = np.array(shapes, dtype=object)
    if (shapely.get_type_id(shapes) == shapely.GeometryType.POLYGON).all():
        # Polygons are their own parts: get_parts copies each (0.09 s of 20,000 polygons).
        parts, part_owner = shapes, np.arange(len(shapes))
    else:
        parts, part_owner = shapely.get_parts(shapes, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, point_ring = shapely.get_coordinates(rings, return_index=True)
    # Consecutive points of one ring make an edge; the last point of a ring and the first of
    # the next do not.
    same = point_ring[:-1] == point_ring[1:]
    return xy[:-1][same], xy[1:][same], part_owner[ring_part[point_ring[:-1][same]]]
