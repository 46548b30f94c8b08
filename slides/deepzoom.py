"""
OpenSlide access for the tile service, in plain Python.

A ``SlideCache`` keeps a bounded number of slides open per process, each with its Deep Zoom
generator and, when the file embeds an ICC profile, a transform to sRGB. A slide is reopened when
its file changes (size or modification time) and dropped when OpenSlide reports an error, so one
damaged file never affects another slide. Nothing here knows about Django, users or permissions.
"""

from __future__ import annotations

import io
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import openslide
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image, ImageCms

THUMBNAIL_MIN, THUMBNAIL_MAX = 16, 1024
ASSOCIATED_MAX = 2048


class SlideUnavailable(Exception):
    """The slide file is missing, unreadable or damaged."""


class TileNotFound(Exception):
    """The requested level, column or row does not exist in the slide's Deep Zoom pyramid."""


@dataclass(frozen=True)
class TileOptions:
    tile_size: int = 254
    overlap: int = 1
    limit_bounds: bool = True
    quality: int = 75


def file_signature(path: Path) -> tuple[int, int]:
    """Return (mtime in ns, size) of a file; raise SlideUnavailable when it is gone."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SlideUnavailable(f"cannot read {path}: {exc.strerror}") from exc
    return st.st_mtime_ns, st.st_size


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def srgb_transform(osr: openslide.AbstractSlide) -> ImageCms.ImageCmsTransform | None:
    """Build a transform from the slide's embedded ICC profile to sRGB, or None without one."""
    profile = osr.color_profile
    if profile is None:
        return None
    return ImageCms.buildTransform(
        profile, ImageCms.createProfile("sRGB"), "RGB", "RGB", ImageCms.Intent.PERCEPTUAL
    )


def native_dz_levels(osr: openslide.AbstractSlide, dz: DeepZoomGenerator) -> frozenset[int]:
    """The Deep Zoom levels whose tiles are cut straight from a level stored in the file.

    Tiles of the other levels are read from a larger level and resampled, which costs several
    times more; the tile service caches them more eagerly.
    """
    native = set()
    for level in range(dz.level_count):
        downsample = 2 ** (dz.level_count - 1 - level)
        stored = osr.level_downsamples[osr.get_best_level_for_downsample(downsample)]
        if math.isclose(downsample / stored, 1.0, rel_tol=0.01):
            native.add(level)
    return frozenset(native)


class OpenedSlide:
    """One open slide file with its Deep Zoom generator."""

    def __init__(self, path: Path, signature: tuple[int, int], options: TileOptions, cache):
        try:
            self.osr = openslide.OpenSlide(path)
            self.osr.set_cache(cache)
            self.dz = DeepZoomGenerator(
                self.osr,
                tile_size=options.tile_size,
                overlap=options.overlap,
                limit_bounds=options.limit_bounds,
            )
            self.transform = srgb_transform(self.osr)
            self.native_levels = native_dz_levels(self.osr, self.dz)
        except (openslide.OpenSlideError, OSError, ValueError) as exc:
            raise SlideUnavailable(f"cannot open {path}: {exc}") from exc
        self.path = path
        self.signature = signature
        self.options = options
        # Changes whenever the file does: part of every ETag served for this slide.
        self.version = f"{signature[0]:x}-{signature[1]:x}"

    def _to_srgb(self, image: Image.Image) -> Image.Image:
        if self.transform is not None:
            ImageCms.applyTransform(image, self.transform, inPlace=True)
        return image

    def dzi(self) -> str:
        return self.dz.get_dzi("jpeg")

    def tile_jpeg(self, level: int, col: int, row: int) -> bytes:
        if not 0 <= level < self.dz.level_count:
            raise TileNotFound(f"no level {level}")
        cols, rows = self.dz.level_tiles[level]
        if not (0 <= col < cols and 0 <= row < rows):
            raise TileNotFound(f"no tile {col}_{row} at level {level}")
        try:
            tile = self.dz.get_tile(level, (col, row))
        except openslide.OpenSlideError as exc:
            raise SlideUnavailable(f"cannot read {self.path}: {exc}") from exc
        return encode_jpeg(self._to_srgb(tile), self.options.quality)

    def thumbnail_jpeg(self, size: int) -> bytes:
        size = max(THUMBNAIL_MIN, min(THUMBNAIL_MAX, size))
        try:
            image = self.osr.get_thumbnail((size, size))
        except openslide.OpenSlideError as exc:
            raise SlideUnavailable(f"cannot read {self.path}: {exc}") from exc
        return encode_jpeg(self._to_srgb(image.convert("RGB")), self.options.quality)

    def associated_jpeg(self, name: str) -> bytes:
        try:
            image = self.osr.associated_images[name]
        except KeyError as exc:
            raise TileNotFound(f"no associated image {name!r}") from exc
        except openslide.OpenSlideError as exc:
            raise SlideUnavailable(f"cannot read {self.path}: {exc}") from exc
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.getchannel("A") if image.mode == "RGBA" else None)
        background.thumbnail((ASSOCIATED_MAX, ASSOCIATED_MAX))
        return encode_jpeg(self._to_srgb(background), self.options.quality)


class SlideCache:
    """A thread-safe, bounded, least-recently-used cache of open slides, keyed by file path.

    Evicted slides are not closed explicitly (another thread may still be reading from them);
    OpenSlide closes the handle when the last reference goes.
    """

    def __init__(self, options: TileOptions, max_open: int = 32, pixel_cache_bytes: int = 32 << 20):
        self.options = options
        self.max_open = max_open
        self._pixel_cache = openslide.OpenSlideCache(pixel_cache_bytes)
        self._slides: OrderedDict[Path, OpenedSlide] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> OpenedSlide:
        """Return the open slide at ``path``, opening or reopening it when needed."""
        signature = file_signature(path)
        with self._lock:
            opened = self._slides.get(path)
            if opened is not None and opened.signature == signature:
                self._slides.move_to_end(path)
                return opened
        opened = OpenedSlide(path, signature, self.options, self._pixel_cache)
        with self._lock:
            self._slides[path] = opened
            self._slides.move_to_end(path)
            while len(self._slides) > self.max_open:
                self._slides.popitem(last=False)
        return opened

    def discard(self, path: Path) -> None:
        """Forget ``path``, so that the next request opens the file afresh."""
        with self._lock:
            self._slides.pop(path, None)

    def __len__(self) -> int:
        return len(self._slides)
