"""
A synthetic, tissue-looking pyramidal slide for demonstrations, in plain Python (no Django).

The picture is H&E-like: pink stroma with purple nuclei in a few tissue islands on white glass,
coloured through the Beer-Lambert law from amounts of haematoxylin and eosin. It is
deterministic for a given seed, takes a few seconds, and never holds the full-resolution level in
memory: level 0 is generated and written one row of tiles at a time, and only level 1 (a quarter
of the pixels) is accumulated to build the smaller levels.

numpy and tifffile are imported here, so import this module only where they are installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

TILE = 256
DEMO_WIDTH, DEMO_HEIGHT = 8192, 6144
DEMO_MPP = 0.5

# Optical density per unit of stain in R, G and B: haematoxylin as in Ruifrok & Johnston (2001),
# eosin bluer than theirs so that stroma looks pink rather than magenta on screen.
_HAEMATOXYLIN = (0.65, 0.70, 0.29)
_EOSIN = (0.10, 0.85, 0.35)
_FIELD_STEP = 32  # level-0 pixels per sample of the tissue and eosin fields
_TEXTURE_STEP = 6  # level-0 pixels per sample of the fibrous texture
_CELL = 32  # level-0 pixels per square of the grid on which nuclei are placed
_NUCLEI_PER_CELL = 2
_BAND = 64  # rows computed at once (a multiple of CELL): bounds the float temporaries


class _Tissue:
    """Random fields and nuclei from which any band of level-0 rows can be computed.

    The smooth parts (where the tissue is, how much eosin it took) are computed at half
    resolution; the nuclei are discs drawn cell by cell on a grid of CELL-pixel squares.
    """

    def __init__(self, width: int, height: int, seed: int):
        self.width, self.height = width, height
        rng = np.random.default_rng(seed)
        field_shape = (height // _FIELD_STEP + 2, width // _FIELD_STEP + 2)
        self.density = _islands(field_shape, rng)
        self.eosin = 0.35 + 0.3 * _smooth_noise(field_shape, rng, passes=3)
        self.cellularity = _smooth_noise(field_shape, rng, passes=6) ** 2
        texture_shape = (height // _TEXTURE_STEP + 2, width // _TEXTURE_STEP + 2)
        self.texture = 0.6 + 0.8 * _smooth_noise(texture_shape, rng, passes=1)
        self.grain = rng.standard_normal((_BAND, width), dtype=np.float32)[..., None] * 1.5
        self._place_nuclei(rng)

    def _place_nuclei(self, rng: np.random.Generator) -> None:
        """Choose up to NUCLEI_PER_CELL nuclei per cell, more of them where tissue is cellular."""
        shape = (_NUCLEI_PER_CELL, self.height // _CELL, self.width // _CELL)
        self.nucleus_x = rng.uniform(6, _CELL - 6, shape).astype(np.float32)
        self.nucleus_y = rng.uniform(6, _CELL - 6, shape).astype(np.float32)
        self.nucleus_r2 = rng.uniform(3.0, 6.5, shape).astype(np.float32) ** 2
        stain = rng.uniform(0.8, 1.5, shape).astype(np.float32)
        centre_x = (np.arange(shape[2], dtype=np.float32)[None, :] + 0.5) * _CELL / _FIELD_STEP
        centre_y = (np.arange(shape[1], dtype=np.float32)[:, None] + 0.5) * _CELL / _FIELD_STEP
        tissue = self._tissue(centre_x, centre_y)
        cellular = tissue * _sample(self.cellularity, centre_x, centre_y)
        present = rng.random(shape, dtype=np.float32) < tissue * 0.4 + cellular * 0.6
        # Transmission of each colour through each nucleus; 1 where the cell has none.
        absorbance = stain[..., None] * np.array(_HAEMATOXYLIN, dtype=np.float32)
        self.nucleus_light = np.where(present[..., None], np.exp(-absorbance), np.float32(1))

    def _tissue(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        return np.clip((_sample(self.density, fx, fy) - 0.4) * 6.0, 0.0, 1.0)

    def band(self, top: int) -> np.ndarray:
        """Return level-0 RGB pixels of rows ``top`` to ``top + BAND`` as uint8."""
        light = np.repeat(np.repeat(self._stroma(top), 2, axis=0), 2, axis=1)
        self._darken_nuclei(light, top)
        light += self.grain
        return np.clip(light, 0, 255).astype(np.uint8)

    def _stroma(self, top: int) -> np.ndarray:
        """Half-resolution RGB light through the stroma of the band (white glass elsewhere)."""
        x = np.arange(1, self.width, 2, dtype=np.float32)[None, :]
        y = np.arange(top + 1, top + _BAND, 2, dtype=np.float32)[:, None]
        fx, fy = x / _FIELD_STEP, y / _FIELD_STEP
        tissue = self._tissue(fx, fy)
        texture = _sample(self.texture, x / _TEXTURE_STEP, y / _TEXTURE_STEP)
        eosin = tissue * _sample(self.eosin, fx, fy) * texture
        haematoxylin = tissue * 0.04
        light = np.empty((*tissue.shape, 3), dtype=np.float32)
        for channel in range(3):
            absorbance = haematoxylin * _HAEMATOXYLIN[channel] + eosin * _EOSIN[channel]
            light[..., channel] = np.exp(-absorbance) * 248.0
        return light

    def _darken_nuclei(self, light: np.ndarray, top: int) -> None:
        """Multiply the light of the band's pixels inside a nucleus by its transmission."""
        rows = slice(top // _CELL, (top + _BAND) // _CELL)
        cells = light.reshape(_BAND // _CELL, _CELL, self.width // _CELL, _CELL, 3)
        local = np.arange(_CELL, dtype=np.float32) + 0.5
        for k in range(_NUCLEI_PER_CELL):
            dx = local[None, None, None, :] - self.nucleus_x[k, rows][:, None, :, None]
            dy = local[None, :, None, None] - self.nucleus_y[k, rows][:, None, :, None]
            inside = dx * dx * 0.7 + dy * dy < self.nucleus_r2[k, rows][:, None, :, None]
            row, y, col, x = np.nonzero(inside)
            cells[row, y, col, x] *= self.nucleus_light[k, rows][row, col]


def _islands(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A low-resolution tissue density map: a few irregular pieces on glass (0)."""
    height, width = shape
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    density = np.zeros(shape, dtype=np.float32)
    places = rng.permutation(6)[:4]  # four of six places on a 3 x 2 grid
    for place in places:
        cx = (place % 3 + rng.uniform(0.35, 0.65)) / 3 * width
        cy = (place // 3 + rng.uniform(0.35, 0.65)) / 2 * height
        rx, ry = rng.uniform(0.11, 0.16) * width, rng.uniform(0.15, 0.22) * height
        density += np.exp(-(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2))
    wobble = _smooth_noise(shape, rng, passes=3)
    return np.clip(density, 0.0, 1.0) * (0.5 + wobble)


def _smooth_noise(shape: tuple[int, int], rng: np.random.Generator, passes: int) -> np.ndarray:
    """Uniform noise blurred by repeated 3x3 box filters and rescaled to 0..1."""
    noise = rng.random(shape, dtype=np.float32)
    for _ in range(passes):
        padded = np.pad(noise, 1, mode="edge")
        noise = sum(
            padded[1 + dy : 1 + dy + shape[0], 1 + dx : 1 + dx + shape[1]]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        ) / np.float32(9)
    low, high = noise.min(), noise.max()
    return (noise - low) / max(high - low, 1e-6)


def _sample(field: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Interpolate ``field`` bilinearly at rows ``fy`` (a column) and columns ``fx`` (a row)."""
    y0 = np.minimum(fy.astype(np.intp), field.shape[0] - 2)
    x0 = np.minimum(fx.astype(np.intp), field.shape[1] - 2)
    wy, wx = fy - y0, fx - x0
    top = field[y0[:, 0]] * (1 - wy) + field[y0[:, 0] + 1] * wy
    return top[:, x0[0]] * (1 - wx) + top[:, x0[0] + 1] * wx


def _halve(pixels: np.ndarray) -> np.ndarray:
    """Average 2x2 blocks (the dimensions must be even)."""
    total = pixels[0::2, 0::2].astype(np.uint16)
    total += pixels[1::2, 0::2]
    total += pixels[0::2, 1::2]
    total += pixels[1::2, 1::2]
    total //= 4
    return total.astype(np.uint8)


def write_demo_slide(
    path: Path, width: int = DEMO_WIDTH, height: int = DEMO_HEIGHT, seed: int = 7
) -> Path:
    """Write the demo pyramid as a tiled generic TIFF at ``path``, atomically.

    ``width`` and ``height`` must be multiples of 256. Levels halve until the largest side is at
    most 512 pixels; reduced levels are flagged as such (SubFileType 1) so OpenSlide reads them
    as one pyramid. The resolution tags say DEMO_MPP micrometres per pixel.
    """
    if width % TILE or height % TILE:
        raise ValueError(f"width and height must be multiples of {TILE}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden and without a slide suffix while incomplete, so that no scan registers it.
    partial = path.with_name(f".{path.name}.partial")
    try:
        with tifffile.TiffWriter(partial) as tiff:
            _write_levels(tiff, _Tissue(width, height, seed))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return path


def _write_levels(tiff: tifffile.TiffWriter, tissue: _Tissue) -> None:
    pixels_per_cm = 1e4 / DEMO_MPP
    options = {
        "tile": (TILE, TILE),
        "compression": "zlib",
        "compressionargs": {"level": 1},  # four times faster than the default, 15 % larger
        "photometric": "rgb",
        "metadata": None,
        "resolutionunit": "CENTIMETER",
    }
    level = np.empty((tissue.height // 2, tissue.width // 2, 3), dtype=np.uint8)
    tiff.write(
        _level0_tiles(tissue, level),
        shape=(tissue.height, tissue.width, 3),
        dtype=np.uint8,
        subfiletype=0,
        resolution=(pixels_per_cm, pixels_per_cm),
        description="WSI2ML synthetic demo slide",
        **options,
    )
    scale = 2
    while True:
        resolution = (pixels_per_cm / scale, pixels_per_cm / scale)
        tiff.write(level, subfiletype=1, resolution=resolution, **options)
        if max(level.shape[:2]) <= 512:
            break
        level, scale = _halve(level), scale * 2


def _level0_tiles(tissue: _Tissue, half: np.ndarray) -> Iterator[np.ndarray]:
    """Yield level-0 tiles in row-major order, filling ``half`` (level 1) on the way."""
    for top in range(0, tissue.height, TILE):
        band = np.concatenate([tissue.band(y) for y in range(top, top + TILE, _BAND)])
        half[top // 2 : (top + TILE) // 2] = _halve(band)
        for left in range(0, tissue.width, TILE):
            yield band[:, left : left + TILE]
