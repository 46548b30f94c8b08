"""A whole-slide image read at a target resolution from the pyramid level that serves it best.

``Slide(path)`` opens the file with OpenSlide on first use and pickles as its path alone, so a
dataset holding slides can be sent to worker processes (each opens its own handle: OpenSlide
handles are neither picklable nor safe to share across a fork).

Resolution is given either as micrometres per pixel (``mpp``, which needs the slide's own mpp)
or as a pyramid level. A patch at ``mpp`` covers ``size * mpp / slide.mpp`` level-0 pixels
along each side, where ``slide.mpp`` is the mean of the file's mpp-x and mpp-y (scanners
differ between the two by well under 0.1 %, a quarter of a level-0 pixel across a 256-pixel
patch at 0.5 µm/px). It is read from the coarsest level that is no coarser than the target
(``best_level``) and shrunk to ``size`` pixels by area averaging, so level 0 is read only when
nothing coarser will do.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import openslide
from PIL import Image

if TYPE_CHECKING:
    from wsi2ml_toolkit.tiles import Patch

# A level counts as no coarser than the target when its downsample exceeds the target's by at
# most this much: pyramids store 2.0005 or 3.9998 where 2 and 4 are meant (the TCGA test slide).
LEVEL_TOLERANCE = 0.01
WHITE = (255, 255, 255)


class Slide:
    """A slide file, opened with OpenSlide when first read; picklable (as its path)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._handle: openslide.OpenSlide | None = None
        self._pid = 0

    # --- Opening and pickling ------------------------------------------------------------

    @property
    def handle(self) -> openslide.OpenSlide:
        """The OpenSlide handle, opened on first use in this process. OSError when the file
        is missing or OpenSlide cannot read it."""
        # A handle inherited across a fork shares its file offsets with the parent's: reads
        # from both would interleave. A child opens its own.
        if self._handle is not None and self._pid != os.getpid():
            self._handle = None
        if self._handle is None:
            if not self.path.is_file():
                raise FileNotFoundError(2, "No such slide file", str(self.path))
            try:
                self._handle = openslide.OpenSlide(str(self.path))
                self._pid = os.getpid()
            except openslide.OpenSlideError as exc:
                raise OSError(f"OpenSlide cannot read {self.path}: {exc}") from exc
        return self._handle

    def close(self) -> None:
        """Close the handle, if open; the next read opens it again."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self._handle, self._pid = state["path"], None, 0

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Slide({str(self.path)!r})"

    # --- What the file says --------------------------------------------------------------

    @property
    def properties(self) -> dict[str, str]:
        """OpenSlide's properties of the file (vendor keys and ``openslide.*``)."""
        return dict(self.handle.properties)

    @property
    def width(self) -> int:
        return self.handle.dimensions[0]

    @property
    def height(self) -> int:
        return self.handle.dimensions[1]

    @property
    def mpp_x(self) -> float | None:
        """Micrometres per level-0 pixel across, None when the file does not say."""
        return self._float_property(openslide.PROPERTY_NAME_MPP_X)

    @property
    def mpp_y(self) -> float | None:
        """Micrometres per level-0 pixel down, None when the file does not say."""
        return self._float_property(openslide.PROPERTY_NAME_MPP_Y)

    @property
    def mpp(self) -> float | None:
        """The mean of ``mpp_x`` and ``mpp_y`` (either alone when only one is known), None
        when the file gives neither: the scale every ``mpp=`` target is taken against."""
        known = [m for m in (self.mpp_x, self.mpp_y) if m]
        return sum(known) / len(known) if known else None

    @property
    def quickhash(self) -> str | None:
        """OpenSlide's quickhash-1 of the file (what WSI2ML's exports record)."""
        return self.handle.properties.get(openslide.PROPERTY_NAME_QUICKHASH1)

    @property
    def level_count(self) -> int:
        return self.handle.level_count

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return self.handle.level_dimensions

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        return self.handle.level_downsamples

    def _float_property(self, name: str) -> float | None:
        value = self.handle.properties.get(name)
        try:
            number = float(value) if value is not None else None
        except ValueError:
            return None
        return number if number and math.isfinite(number) and number > 0 else None

    # --- Resolution ----------------------------------------------------------------------

    def downsample_for(self, *, mpp: float | None = None, level: int | None = None) -> float:
        """Level-0 pixels per target pixel, for a target given as ``mpp`` or as ``level``
        (exactly one). ValueError when ``mpp`` is asked of a slide without one, or the level
        does not exist."""
        if (mpp is None) == (level is None):
            raise ValueError("Give the target resolution as mpp= or as level=, not both.")
        if level is not None:
            if not 0 <= level < self.level_count:
                raise ValueError(
                    f"{self.path.name} has levels 0 to {self.level_count - 1}; not {level}."
                )
            return float(self.level_downsamples[level])
        if not mpp or mpp <= 0:
            raise ValueError(f"mpp must be a positive number of µm per pixel, not {mpp}.")
        if self.mpp is None:
            raise ValueError(
                f"{self.path.name} does not record its µm per pixel (openslide.mpp-x): "
                "give the target as a pyramid level instead of mpp."
            )
        return mpp / self.mpp

    def best_level(self, downsample: float) -> int:
        """The level to read a target of ``downsample`` level-0 pixels per pixel from: the
        coarsest whose downsample is at most the target's (plus LEVEL_TOLERANCE); level 0
        when the target is finer than every level."""
        limit = downsample * (1 + LEVEL_TOLERANCE)
        fitting = [i for i, d in enumerate(self.level_downsamples) if d <= limit]
        return max(fitting, key=lambda i: self.level_downsamples[i]) if fitting else 0

    # --- Reading -------------------------------------------------------------------------

    def read(
        self, x: int, y: int, size: int, *, mpp: float | None = None, level: int | None = None
    ) -> np.ndarray:
        """A ``size`` x ``size`` x 3 uint8 RGB patch whose top-left corner is level-0 pixel
        (``x``, ``y``), at ``mpp`` µm per pixel or at pyramid ``level``. Parts outside the
        slide or transparent in the file are white."""
        downsample = self.downsample_for(mpp=mpp, level=level)
        return self.read_scaled(x, y, size, size, downsample=downsample)

    def read_patch(self, patch: Patch) -> np.ndarray:
        """The pixels of ``patch`` (from ``tiles.patch_grid``): ``read`` at its resolution."""
        return self.read_scaled(
            patch.x, patch.y, patch.size, patch.size, downsample=patch.downsample
        )

    def read_scaled(
        self, x: int, y: int, width: int, height: int, *, downsample: float
    ) -> np.ndarray:
        """A ``height`` x ``width`` x 3 uint8 RGB image of the level-0 box from (``x``, ``y``)
        spanning ``width * downsample`` by ``height * downsample`` level-0 pixels, read from
        ``best_level(downsample)`` and shrunk by area averaging, unless that level holds it,
        or a whole multiple of it, to within half a pixel."""
        level = self.best_level(downsample)
        scale = downsample / self.level_downsamples[level]
        span_x, span_y = width * scale, height * scale
        factor = max(1, round(scale))
        whole = abs(span_x - width * factor) < 0.5 and abs(span_y - height * factor) < 0.5
        if whole:
            read_w, read_h = width * factor, height * factor
        else:
            read_w, read_h = max(1, math.ceil(span_x - 1e-6)), max(1, math.ceil(span_y - 1e-6))
        image = _on_white(self.handle.read_region((int(x), int(y)), level, (read_w, read_h)))
        if whole and factor > 1:
            # A whole factor (0.5 µm/px from a 0.25 slide lacking a level 2: SVS pyramids go
            # 1, 4, 16): Pillow's reduce is the same area average, ten times faster than
            # resize (0.14 against 1.35 ms for a 256-px patch, measured).
            image = image.reduce(factor)
        elif not whole:
            # BOX is area averaging (OpenCV's INTER_AREA) when shrinking; the sub-pixel box
            # keeps the patch's level-0 extent exact. Enlarging (a target finer than level 0)
            # needs interpolation instead.
            method = Image.Resampling.BOX if scale >= 1 else Image.Resampling.BILINEAR
            image = image.resize((width, height), method, box=(0, 0, span_x, span_y))
        # A copy (0.2 MB for 256 px): np.asarray of a Pillow image is read-only, which PyTorch
        # warns of when a DataLoader turns it into a tensor.
        return np.array(image)


def _on_white(region: Image.Image) -> Image.Image:
    """An RGBA region from OpenSlide as RGB, composited on white where not opaque."""
    # The alpha channel's extrema alone: a third of the cost of all four channels'.
    if region.getchannel("A").getextrema()[0] == 255:
        return region.convert("RGB")
    background = Image.new("RGB", region.size, WHITE)
    background.paste(region, mask=region.getchannel("A"))
    return background
