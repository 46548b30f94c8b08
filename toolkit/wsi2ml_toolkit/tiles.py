"""Tiling a slide into patches at a target resolution: where they are, not their pixels.

``patch_grid`` lays a regular grid of square patches over the slide, keeps those fully inside
it, then optionally those with enough tissue (``tissue.tissue_mask``) and those touching
annotated regions (or a margin around them). Reading the pixels is ``Slide.read_patch``'s
business, the labels ``masks.LabelRasterizer``'s; a ``Patch`` carries what both need.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from wsi2ml_toolkit.slide import Slide
from wsi2ml_toolkit.tissue import TissueMask, tissue_mask


class Patch(NamedTuple):
    """A square patch of a slide.

    ``x``, ``y``: its top-left corner in level-0 pixels; ``size``: its side in pixels at the
    target resolution; ``mpp``: that resolution in µm per pixel (None when the target was a
    level of a slide without an mpp); ``level``: the pyramid level its pixels are read from;
    ``tissue``: the fraction of it that is tissue (None when not measured); ``downsample``:
    level-0 pixels per patch pixel, so that it spans ``extent = size * downsample`` level-0
    pixels along each side.
    """

    x: int
    y: int
    size: int
    mpp: float | None
    level: int
    tissue: float | None
    downsample: float

    @property
    def extent(self) -> float:
        """Its side in level-0 pixels."""
        return self.size * self.downsample

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(min x, min y, max x, max y) in level-0 pixels."""
        return (self.x, self.y, self.x + self.extent, self.y + self.extent)


def patch_grid(
    slide: Slide,
    *,
    size: int,
    mpp: float | None = None,
    level: int | None = None,
    stride: int | None = None,
    tissue: TissueMask | bool | None = None,
    min_tissue: float = 0.0,
    regions: Iterable[BaseGeometry] | None = None,
    around: float | None = None,
) -> list[Patch]:
    """The patches of ``slide`` at ``mpp`` µm per pixel or at pyramid ``level`` (exactly one),
    ``size`` pixels square, every ``stride`` pixels (at the target resolution; default
    ``size``, no overlap), from the top-left corner, in rows; only patches wholly inside the
    slide.

    ``tissue``: a TissueMask to measure each patch's tissue fraction with, True to compute one
    (``tissue_mask(slide)``), None not to measure (unless ``min_tissue`` > 0, which needs it).
    ``min_tissue``: keep patches with at least this tissue fraction (0 keeps all).
    ``regions``: shapely geometries in level-0 pixels; keep patches whose box intersects one of
    them (of their area; points and lines count where they pass). ``around``: a margin in µm
    (needs the slide's mpp) by which the regions are grown first, to sample around them too.
    """
    if size < 1 or (stride is not None and stride < 1):
        raise ValueError("Patch size and stride must be at least 1 pixel.")
    downsample = slide.downsample_for(mpp=mpp, level=level)
    read_level = slide.best_level(downsample)
    xs, ys = _grid(slide.width, slide.height, size * downsample, (stride or size) * downsample)
    if regions is not None:
        keep = _touching(xs, ys, size * downsample, _grown(slide, regions, around))
        xs, ys = xs[keep], ys[keep]
    fractions = None
    if isinstance(tissue, TissueMask) or tissue is True or min_tissue > 0:
        mask = tissue if isinstance(tissue, TissueMask) else tissue_mask(slide)
        fractions = mask.fractions(xs, ys, size * downsample, size * downsample)
        keep = fractions >= min_tissue
        xs, ys, fractions = xs[keep], ys[keep], fractions[keep]
    target_mpp = mpp if mpp is not None else _level_mpp(slide, downsample)
    tissues = [None] * len(xs) if fractions is None else [float(f) for f in fractions]
    return [
        Patch(int(x), int(y), size, target_mpp, read_level, t, downsample)
        for x, y, t in zip(xs.tolist(), ys.tolist(), tissues, strict=True)
    ]


def _grid(width: int, height: int, extent: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Level-0 top-lefts (rounded to whole pixels) of the grid's patches wholly inside."""
    columns = _count(width, extent, step)
    rows = _count(height, extent, step)
    x = np.rint(np.arange(columns) * step).astype(np.int64)
    y = np.rint(np.arange(rows) * step).astype(np.int64)
    ys, xs = np.meshgrid(y, x, indexing="ij")
    return xs.ravel(), ys.ravel()


def _count(length: int, extent: float, step: float) -> int:
    # A hair of slack, so that 4096 level-0 pixels hold 16 patches of 256 at downsample 1.
    return max(0, math.floor((length - extent + 1e-6) / step) + 1)


def _grown(
    slide: Slide, regions: Iterable[BaseGeometry], around: float | None
) -> list[BaseGeometry]:
    shapes = [shape for shape in regions if shape is not None and not shape.is_empty]
    if not around:
        return shapes
    if slide.mpp is None:
        raise ValueError(
            f"{slide.path.name} does not record its µm per pixel: a margin around regions "
            "in µm cannot be measured."
        )
    return list(shapely.buffer(np.array(shapes, dtype=object), around / slide.mpp))


def _touching(
    xs: np.ndarray, ys: np.ndarray, extent: float, shapes: list[BaseGeometry]
) -> np.ndarray:
    """Which of the boxes at (xs, ys) intersect one of ``shapes``, by one bulk STRtree query."""
    if not shapes or not len(xs):
        return np.zeros(len(xs), dtype=bool)
    boxes = shapely.box(xs, ys, xs + extent, ys + extent)
    tree = shapely.STRtree(shapes)
    hits = tree.query(boxes, predicate="intersects")
    keep = np.zeros(len(xs), dtype=bool)
    keep[hits[0]] = True
    return keep


def _level_mpp(slide: Slide, downsample: float) -> float | None:
    return slide.mpp * downsample if slide.mpp is not None else None
