"""Read what the registry stores about a slide file, in plain Python (OpenSlide, no Django)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import openslide


@dataclass
class SlideFacts:
    """Everything the registry records about one file; ``error`` is set when OpenSlide fails."""

    file_size: int
    file_mtime: datetime
    quickhash: str = ""
    vendor: str = ""
    width: int | None = None
    height: int | None = None
    level_count: int | None = None
    level_dimensions: list[list[int]] = field(default_factory=list)
    level_downsamples: list[float] = field(default_factory=list)
    mpp_x: float | None = None
    mpp_y: float | None = None
    objective_power: float | None = None
    bounds_x: int | None = None
    bounds_y: int | None = None
    bounds_width: int | None = None
    bounds_height: int | None = None
    properties: dict[str, str] = field(default_factory=dict)
    associated_images: list[str] = field(default_factory=list)
    error: str = ""


def _number(properties: dict[str, str], key: str, kind=float):
    """Return a property as a number, or None when it is absent, empty or not a number."""
    value = properties.get(key)
    if value in (None, ""):
        return None
    try:
        number = kind(float(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 or key.startswith("openslide.bounds-") else None


def read_slide_facts(path: Path) -> SlideFacts:
    """Stat and open ``path``; record OpenSlide's error instead of raising for unreadable files."""
    st = os.stat(path)
    facts = SlideFacts(file_size=st.st_size, file_mtime=datetime.fromtimestamp(st.st_mtime, tz=UTC))
    try:
        with openslide.OpenSlide(path) as osr:
            props = dict(osr.properties)
            facts.properties = props
            facts.quickhash = props.get(openslide.PROPERTY_NAME_QUICKHASH1, "")
            facts.vendor = props.get(openslide.PROPERTY_NAME_VENDOR, "")
            facts.width, facts.height = osr.dimensions
            facts.level_count = osr.level_count
            facts.level_dimensions = [list(d) for d in osr.level_dimensions]
            facts.level_downsamples = list(osr.level_downsamples)
            facts.associated_images = sorted(osr.associated_images.keys())
    except (openslide.OpenSlideError, ValueError, OSError) as exc:
        facts.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return facts
    facts.mpp_x = _number(props, openslide.PROPERTY_NAME_MPP_X)
    facts.mpp_y = _number(props, openslide.PROPERTY_NAME_MPP_Y)
    facts.objective_power = _number(props, openslide.PROPERTY_NAME_OBJECTIVE_POWER)
    facts.bounds_x = _number(props, openslide.PROPERTY_NAME_BOUNDS_X, int)
    facts.bounds_y = _number(props, openslide.PROPERTY_NAME_BOUNDS_Y, int)
    facts.bounds_width = _number(props, openslide.PROPERTY_NAME_BOUNDS_WIDTH, int)
    facts.bounds_height = _number(props, openslide.PROPERTY_NAME_BOUNDS_HEIGHT, int)
    return facts
