"""Which parts of a slide hold tissue, from one low-resolution read.

Method (``tissue_mask``), numpy only:
1. Read the whole slide at a low resolution (default about 8 µm per pixel; slides without an
   mpp: about 2,048 pixels along the longer side), from the closest pyramid level, on white.
2. Take one value per pixel: ``"otsu"`` (the default, for brightfield stains such as H&E) the
   HSV saturation, ``(max - min) / max`` of R, G, B, because glass is white or grey whatever
   the illumination while stained tissue is coloured; ``"otsu-grey"`` the darkness,
   ``255 - grey``, for unstained or greyscale slides.
3. Split the values with Otsu's threshold (the cut of the 256-bin histogram maximising the
   between-class variance), never below a floor (MIN_SATURATION, MIN_DARKNESS) so that a
   slide of bare glass does not have its noise called tissue.
4. Clean up with a 3 x 3 opening (removes specks of dust one or two pixels wide) then a
   3 x 3 closing (fills pinholes within tissue).

``TissueMask.fraction`` then answers "how much of this level-0 box is tissue" in constant time
from an integral image (summed-area table) of the mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from wsi2ml_toolkit.slide import Slide

METHODS = ("otsu", "otsu-grey")
DEFAULT_MPP = 8.0
# Slides without an mpp are read at about this many pixels along their longer side.
DEFAULT_LONG_SIDE = 2048
# Floors under Otsu's threshold, in 0-255 units: bare glass scanned brightfield has a
# saturation under 10 and a darkness under 20; faintly stained tissue lies above both.
MIN_SATURATION = 15
MIN_DARKNESS = 25


@dataclass(frozen=True)
class TissueMask:
    """A boolean tissue mask of a slide and its scale: ``mask[row, column]`` covers level-0
    pixels ``column * downsample`` to ``(column + 1) * downsample`` across (and rows alike).
    ``threshold`` is the value (0-255) above which a pixel was tissue, ``method`` how."""

    mask: np.ndarray
    downsample: float
    threshold: float = 0.0
    method: str = "otsu"
    _integral: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        integral = np.zeros((self.mask.shape[0] + 1, self.mask.shape[1] + 1), dtype=np.int64)
        np.cumsum(np.cumsum(self.mask, axis=0), axis=1, out=integral[1:, 1:])
        object.__setattr__(self, "_integral", integral)

    def fraction(self, x: float, y: float, width: float, height: float) -> float:
        """The fraction of the level-0 box (``x``, ``y``, ``width``, ``height``) that is
        tissue, 0 to 1; the box is taken to whole mask pixels (at least one), and parts of
        it outside the slide count as background."""
        return float(self.fractions(np.array([x]), np.array([y]), width, height)[0])

    def fractions(self, xs: np.ndarray, ys: np.ndarray, width: float, height: float) -> np.ndarray:
        """``fraction`` of many boxes of one size at once (level-0 top-lefts ``xs``, ``ys``)."""
        rows, columns = self.mask.shape
        x0 = np.rint(np.asarray(xs, dtype=float) / self.downsample).astype(np.int64)
        y0 = np.rint(np.asarray(ys, dtype=float) / self.downsample).astype(np.int64)
        span_x = max(1, round(width / self.downsample))
        span_y = max(1, round(height / self.downsample))
        x1, y1 = x0 + span_x, y0 + span_y
        x0, x1 = np.clip(x0, 0, columns), np.clip(x1, 0, columns)
        y0, y1 = np.clip(y0, 0, rows), np.clip(y1, 0, rows)
        s = self._integral
        count = s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]
        return count / float(span_x * span_y)

    @property
    def tissue_fraction(self) -> float:
        """The fraction of the whole slide that is tissue."""
        return float(self.mask.mean()) if self.mask.size else 0.0


def tissue_mask(slide: Slide, *, mpp: float | None = None, method: str = "otsu") -> TissueMask:
    """The tissue mask of ``slide`` read at ``mpp`` µm per pixel (default: DEFAULT_MPP, or
    about DEFAULT_LONG_SIDE pixels along the longer side for a slide without an mpp), by
    ``method`` (METHODS; see the module's docstring). ValueError for an unknown method."""
    if method not in METHODS:
        raise ValueError(f"Unknown tissue method {method!r}; use one of {', '.join(METHODS)}.")
    downsample = _downsample(slide, mpp)
    width = max(1, math.ceil(slide.width / downsample))
    height = max(1, math.ceil(slide.height / downsample))
    image = slide.read_scaled(0, 0, width, height, downsample=downsample)
    values = saturation(image) if method == "otsu" else 255 - grey(image)
    floor = MIN_SATURATION if method == "otsu" else MIN_DARKNESS
    threshold = max(otsu_threshold(values), floor)
    mask = closing(opening(values > threshold))
    return TissueMask(mask=mask, downsample=downsample, threshold=threshold, method=method)


def _downsample(slide: Slide, mpp: float | None) -> float:
    if mpp is not None:
        return max(1.0, slide.downsample_for(mpp=mpp))
    if slide.mpp is not None:
        return max(1.0, DEFAULT_MPP / slide.mpp)
    return max(1.0, max(slide.width, slide.height) / DEFAULT_LONG_SIDE)


def saturation(image: np.ndarray) -> np.ndarray:
    """HSV saturation of an RGB uint8 image, 0-255 (uint8): 255 * (max - min) / max."""
    high = image.max(axis=2).astype(np.int32)
    low = image.min(axis=2).astype(np.int32)
    return (255 * (high - low) // np.maximum(high, 1)).astype(np.uint8)


def grey(image: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an RGB uint8 image, 0-255 (uint8), as Pillow's "L" conversion."""
    weights = np.array([299, 587, 114], dtype=np.int32)
    return ((image.astype(np.int32) @ weights + 500) // 1000).astype(np.uint8)


def otsu_threshold(values: np.ndarray) -> int:
    """Otsu's threshold of uint8 ``values``: the ``t`` for which splitting them into
    ``<= t`` and ``> t`` maximises the between-class variance (0 when all are equal)."""
    histogram = np.bincount(np.asarray(values, dtype=np.uint8).ravel(), minlength=256)
    weight_low = np.cumsum(histogram).astype(float)
    weight_high = weight_low[-1] - weight_low
    mass_low = np.cumsum(histogram * np.arange(256, dtype=float))
    mean_low = mass_low / np.maximum(weight_low, 1)
    mean_high = (mass_low[-1] - mass_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return int(np.argmax(between))


def erode(mask: np.ndarray) -> np.ndarray:
    """3 x 3 binary erosion; outside the mask counts as set, so that edges do not erode."""
    padded = np.pad(mask, 1, constant_values=True)
    return _combine(padded, mask.shape, np.logical_and)


def dilate(mask: np.ndarray) -> np.ndarray:
    """3 x 3 binary dilation."""
    padded = np.pad(mask, 1, constant_values=False)
    return _combine(padded, mask.shape, np.logical_or)


def opening(mask: np.ndarray) -> np.ndarray:
    return dilate(erode(mask))


def closing(mask: np.ndarray) -> np.ndarray:
    return erode(dilate(mask))


def _combine(padded: np.ndarray, shape: tuple[int, ...], op) -> np.ndarray:
    rows, columns = shape
    out = padded[1 : rows + 1, 1 : columns + 1].copy()
    for dy in range(3):
        for dx in range(3):
            op(out, padded[dy : dy + rows, dx : dx + columns], out=out)
    return out
