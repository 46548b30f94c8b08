"""The one in-memory form of an annotation, whatever file it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry

# QuPath's object types (PathObjectTypeAdapters): what a feature is, not what class it has.
ANNOTATION, DETECTION, CELL, TILE = "annotation", "detection", "cell", "tile"
OBJECT_TYPES = (ANNOTATION, DETECTION, CELL, TILE)


@dataclass
class Feature:
    """An annotation, detection, cell or tile read from a file or made from model output.

    ``geometry`` is a shapely geometry in level-0 pixels of the slide, origin at the top left,
    y down (the convention of WSI2ML, QuPath, ASAP and the Digital Slide Archive alike).
    ``class_name`` is its class (QuPath's classification name, ASAP's group, a DSA label), None
    when the file gives none; ``colour`` its class colour as (r, g, b) when the file gives one.
    ``measurements`` are numbers by name (areas, scores, probabilities); ``properties`` whatever
    else the file said of it, as it said it. ``nucleus`` is a cell's nucleus geometry.
    """

    geometry: BaseGeometry
    class_name: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    measurements: dict[str, float] = field(default_factory=dict)
    object_type: str = ANNOTATION
    id: str | None = None
    name: str | None = None
    colour: tuple[int, int, int] | None = None
    nucleus: BaseGeometry | None = None


class AnnotationFileError(ValueError):
    """A file that cannot be read as annotations; the message names the file's part at fault
    (``features[12].geometry.coordinates[0]: ...``) and what is wrong with it."""
