"""Painting polygons into label masks, exactly: a pixel is inside when its centre is.

One rule for every mask WSI2ML makes (an export's ``masks/<stem>.png``, the toolkit's patch and
slide masks): a pixel belongs to a polygon when its centre lies inside it, by the even-odd rule
over all the polygon's rings (for a valid Polygon or MultiPolygon: its interior, holes left out,
islands within holes kept); where shapes overlap, the higher class index wins whatever the
order they are painted in. Pillow's ImageDraw was not used: it rounds vertices to whole pixels
and fills both ends of every span (a 20-pixel square came out 21 pixels wide), so pixel counts
would not match the polygons' areas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def spans(
    rings: Sequence[np.ndarray], *, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, first columns, columns past the last) of the runs of pixels of a ``width`` x
    ``height`` grid whose centres lie inside ``rings`` (closed rings, n x 2 arrays of x, y in
    the grid's pixels). The runs of one shape never overlap."""
    rings = [np.asarray(ring, dtype=float).reshape(-1, 2) for ring in rings]
    rings = [ring for ring in rings if len(ring) >= 2]
    empty = np.empty(0, dtype=np.int64)
    if not rings:
        return empty, empty, empty
    a = np.concatenate([ring[:-1] for ring in rings])
    b = np.concatenate([ring[1:] for ring in rings])
    # Row r (centre r + 0.5) crosses an edge when low <= r + 0.5 < high: half-open, so that a
    # closed ring crosses every row an even number of times, vertices included.
    low, high = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    first = np.clip(np.ceil(low - 0.5), 0, height).astype(np.int64)
    past = np.clip(np.ceil(high - 0.5), 0, height).astype(np.int64)
    counts = np.maximum(past - first, 0)
    total = int(counts.sum())
    if not total:
        return empty, empty, empty
    edge = np.repeat(np.arange(len(a)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = first[edge] + offsets
    ax, ay, bx, by = a[edge, 0], a[edge, 1], b[edge, 0], b[edge, 1]
    x = ax + (rows + 0.5 - ay) / (by - ay) * (bx - ax)
    order = np.lexsort((x, rows))
    rows, x = rows[order], x[order]
    # Crossings pair up within each row (even counts), so pairs can be taken over all rows.
    column_from = np.clip(np.ceil(x[0::2] - 0.5), 0, width).astype(np.int64)
    column_past = np.clip(np.ceil(x[1::2] - 0.5), 0, width).astype(np.int64)
    keep = column_past > column_from
    return rows[0::2][keep], column_from[keep], column_past[keep]


def inside(rings: Sequence[np.ndarray], *, width: int, height: int) -> np.ndarray:
    """A ``height`` x ``width`` boolean array: which pixels' centres lie inside ``rings``."""
    return _covered([rings], width=width, height=height)


def paint(pixels: np.ndarray, shapes: Sequence[Sequence[np.ndarray]], value: int) -> None:
    """Paint ``value`` into ``pixels`` (2-D, in place) wherever a pixel's centre lies inside one
    of ``shapes`` (each a list of rings in ``pixels``' coordinates) and the pixel holds less.

    Works in the shapes' bounding window, in time proportional to its area plus their edges: one
    cumulative sum over the window rather than a slice assignment per run.
    """
    height, width = pixels.shape
    boxes = [
        np.concatenate([np.asarray(r, dtype=float).reshape(-1, 2) for r in s])
        for s in shapes
        if len(s)
    ]
    if not boxes:
        return
    points = np.concatenate(boxes)
    x0 = int(np.clip(np.floor(points[:, 0].min()), 0, width))
    x1 = int(np.clip(np.ceil(points[:, 0].max()) + 1, 0, width))
    y0 = int(np.clip(np.floor(points[:, 1].min()), 0, height))
    y1 = int(np.clip(np.ceil(points[:, 1].max()) + 1, 0, height))
    if x1 <= x0 or y1 <= y0:
        return
    shifted = [[np.asarray(r, dtype=float).reshape(-1, 2) - (x0, y0) for r in s] for s in shapes]
    window = pixels[y0:y1, x0:x1]
    covered = _covered(shifted, width=x1 - x0, height=y1 - y0)
    value = window.dtype.type(value)
    np.maximum(window, np.where(covered, value, window.dtype.type(0)), out=window)


def _covered(shapes: Sequence[Sequence[np.ndarray]], *, width: int, height: int) -> np.ndarray:
    """Pixels inside any of ``shapes``: +1 where a run starts, -1 past its end, summed along
    each row (the runs of one shape are disjoint, so a sum above 0 is inside one of them)."""
    change = np.zeros((height, width + 1), dtype=np.int32)
    for rings in shapes:
        rows, starts, ends = spans(rings, width=width, height=height)
        np.add.at(change, (rows, starts), 1)
        np.add.at(change, (rows, ends), -1)
    # dtype given: numpy would sum int32 in int64, 14 times slower on a 256 x 257 window.
    return np.cumsum(change[:, :width], axis=1, dtype=np.int32) > 0
