"""
Tile, thumbnail and associated-image rendering for the views, with the server-side tile cache.

The per-process ``SlideCache`` keeps files open; rendered JPEGs go to the "tiles" cache
(Redis in production) under keys that include the file's version, so a changed file never
serves stale pixels. Callers authorise first: nothing here checks permissions.
"""

import contextlib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cachetools import LRUCache, TTLCache
from django.conf import settings
from django.core.cache import caches
from django.utils.http import parse_etags

from slides import sharedcache
from slides.deepzoom import OpenedSlide, SlideCache, SlideUnavailable, TileOptions
from slides.files import PathOutsideRoot, resolve_in_root
from slides.models import Slide

# Slide id -> absolute path, so that a tile request with a valid grant needs no database query.
# Short-lived: a moved or re-registered slide is picked up within this many seconds.
_LOCATION_SECONDS = 30
_locations: TTLCache = TTLCache(maxsize=4096, ttl=_LOCATION_SECONDS)
_locations_lock = threading.Lock()


@cache
def slide_cache() -> SlideCache:
    options = TileOptions(
        tile_size=settings.TILE_SIZE,
        overlap=settings.TILE_OVERLAP,
        limit_bounds=settings.TILE_LIMIT_BOUNDS,
        quality=settings.TILE_JPEG_QUALITY,
    )
    return SlideCache(
        options,
        max_open=settings.SLIDE_CACHE_SIZE,
        pixel_cache_bytes=settings.SLIDE_PIXEL_CACHE_BYTES,
    )


def tile_cache():
    return caches["tiles"]


def slide_location(slide_id: int, slide: Slide | None = None) -> Path:
    """Return the absolute path of a readable slide's file.

    Raise SlideUnavailable when the slide is unknown, not readable, or its path leaves the root.
    """
    with _locations_lock:
        path = _locations.get(slide_id)
    if path is not None:
        return path
    if slide is None:
        slide = Slide.objects.filter(pk=slide_id).only("path", "status").first()
    if slide is None or slide.status != Slide.Status.OK:
        raise SlideUnavailable(f"slide {slide_id} is not available")
    try:
        path = resolve_in_root(slide.path)
    except PathOutsideRoot as exc:
        raise SlideUnavailable(str(exc)) from exc
    with _locations_lock:
        _locations[slide_id] = path
    return path


def forget_locations() -> None:
    with _locations_lock:
        _locations.clear()


def open_slide(slide_id: int, slide: Slide | None = None) -> OpenedSlide:
    path = slide_location(slide_id, slide)
    try:
        return slide_cache().get(path)
    except SlideUnavailable:
        slide_cache().discard(path)
        with _locations_lock:
            _locations.pop(slide_id, None)
        raise


def etag_for(opened: OpenedSlide, *parts: object) -> str:
    """A strong ETag for one rendering of this file: changes with the file and the options."""
    o = opened.options
    key = f"{opened.version}|{o.tile_size}|{o.overlap}|{o.limit_bounds}|{o.quality}|{parts}"
    return '"' + hashlib.blake2b(key.encode(), digest_size=12).hexdigest() + '"'


@cache
def _memory() -> tuple[LRUCache, threading.Lock]:
    """Each worker's own LRU of recent JPEGs, bounded in bytes, in front of the shared cache."""
    return LRUCache(
        maxsize=max(1, settings.TILE_MEMORY_CACHE_BYTES), getsizeof=len
    ), threading.Lock()


def _cached(key: str, render: Callable[[], bytes], shared: bool = True) -> bytes:
    """Return the JPEG under ``key`` from this worker's memory, the shared cache, or ``render``.

    With ``shared`` false the shared cache is neither asked nor filled. A shared cache that fails
    is gone without (slides.sharedcache): the JPEG is rendered, never an error.
    """
    memory, lock = _memory()
    with lock:
        data = memory.get(key)
    if data is not None:
        return data
    data = _shared_get(key) if shared else None
    if data is None:
        data = render()
        if shared:
            _shared_set(key, data)
    if len(data) <= memory.maxsize:
        with lock:
            memory[key] = data
    return data


def _shared_get(key: str) -> bytes | None:
    try:
        return sharedcache.tiles.run(lambda store: store.get(key))
    except sharedcache.CacheUnavailable:
        return None  # render instead: the cache only saves work


def _shared_set(key: str, data: bytes) -> None:
    with contextlib.suppress(sharedcache.CacheUnavailable):
        sharedcache.tiles.run(lambda store: store.set(key, data))


def forget_memory() -> None:
    memory, lock = _memory()
    with lock:
        memory.clear()


@dataclass(frozen=True)
class ImageReply:
    """A rendered JPEG (status 200) or a "your copy is current" (status 304, empty body)."""

    status: int
    body: bytes
    etag: str


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Apply If-None-Match's weak comparison to a strong ETag of ours."""
    if not if_none_match:
        return False
    etags = parse_etags(if_none_match)
    return "*" in etags or etag in (e.removeprefix("W/") for e in etags)


def image_reply(
    opened: OpenedSlide, etag: str, render: Callable[[], bytes], if_none_match: str = ""
) -> ImageReply:
    """Answer 304 when the client's copy is current, else render (through the tile cache).

    Raise TileNotFound or SlideUnavailable; a slide that failed is dropped from the open cache.
    """
    if etag_matches(if_none_match, etag):
        return ImageReply(304, b"", etag)
    try:
        return ImageReply(200, render(), etag)
    except SlideUnavailable:
        slide_cache().discard(opened.path)
        raise


def tile_reply(
    slide_id: int,
    level: int,
    col: int,
    row: int,
    if_none_match: str = "",
    slide: Slide | None = None,
) -> ImageReply:
    """Serve one Deep Zoom tile of an authorised slide."""
    opened = open_slide(slide_id, slide)
    etag = etag_for(opened, level, col, row)
    return image_reply(
        opened, etag, lambda: tile_jpeg(slide_id, opened, level, col, row), if_none_match
    )


def tile_jpeg(slide_id: int, opened: OpenedSlide, level: int, col: int, row: int) -> bytes:
    key = f"t:{slide_id}:{opened.version}:{opened.options.quality}:{level}:{col}:{row}"
    # A tile cut straight from a stored level renders about as fast as it costs to miss, fetch
    # and fill the shared cache (bench/README.md); only resampled tiles go there by default.
    shared = settings.TILE_SHARE_NATIVE_LEVELS or level not in opened.native_levels
    return _cached(key, lambda: opened.tile_jpeg(level, col, row), shared)


def thumbnail_jpeg(slide_id: int, opened: OpenedSlide, size: int) -> bytes:
    key = f"th:{slide_id}:{opened.version}:{opened.options.quality}:{size}"
    return _cached(key, lambda: opened.thumbnail_jpeg(size))


def associated_jpeg(slide_id: int, opened: OpenedSlide, name: str) -> bytes:
    digest = hashlib.blake2b(name.encode(), digest_size=8).hexdigest()
    key = f"a:{slide_id}:{opened.version}:{opened.options.quality}:{digest}"
    return _cached(key, lambda: opened.associated_jpeg(name))
