"""The Digital Slide Archive's annotation JSON (HistomicsUI, large_image's annotation schema).

A document is ``{"name", "description", "attributes", "elements": [...]}``; Girder answers
``GET /annotation/{id}`` with it under ``"annotation"`` beside ``_id`` and ``itemId``. Read here:
one document, a list of documents, the Girder answer (or a list of them), or a bare list of
elements. Elements, their coordinates always ``[x, y, z]`` in level-0 pixels (z ignored: a
slide is a plane; ``[x, y]`` is accepted too):

- ``point`` (``center``): a Point;
- ``polyline`` (``points``; ``closed``, false when absent; ``holes``, lists of points, when
  closed): a Polygon with holes when closed, else a LineString. Rings are not closed in the
  file (the first point is not repeated); a repeated one is taken once;
- ``rectangle`` (``center``, ``width``, ``height``, ``rotation``): a Polygon of four corners;
- ``ellipse`` (the same keys, width and height the full axes) and ``circle`` (``center``,
  ``radius``): Polygons with their vertices on the curve, never more than 0.25 px inside it;
- ``arrow`` (two ``points``, the head first): a LineString.

``rotation`` is in radians; a corner at (dx, dy) from the centre goes to
(cx + dx cos r - dy sin r, cy + dx sin r + dy cos r), y down: what HistomicsUI (geojs) reads
back from a drawn rectangle as atan2 of its top edge. Elements that are overlays or plots rather
than shapes (``heatmap``, ``griddata``, ``image``, ``pixelmap``, ``rectanglegrid``) are left
out. The class is ``label.value``, else ``group`` (the style group HistomicsUI draws with);
the colour ``lineColor``, else ``fillColor`` (``#rgb``, ``#rrggbb``, ``rgb(r, g, b)``,
``rgba(r, g, b, a)``; alpha dropped). ``user`` (free-form) becomes the feature's properties,
with ``group`` when it is not the class and ``annotation``, the document's name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from wsi2ml_toolkit.features import AnnotationFileError, Feature
from wsi2ml_toolkit.formats.qupath import position, positions

SHAPE_TYPES = ("point", "polyline", "rectangle", "ellipse", "circle", "arrow")
NOT_SHAPES = ("heatmap", "griddata", "image", "pixelmap", "rectanglegrid")
# A circle or ellipse becomes a polygon whose edges lie at most this far (level-0 px) inside
# the curve: a quarter of a pixel is below what a mask or a person tells apart.
CURVE_TOLERANCE = 0.25
# Vertices of a curve: at least enough for a small circle to look round, at most enough for a
# radius of 2.6 * 10^6 px at the tolerance (no slide is that large).
MIN_CURVE_VERTICES, MAX_CURVE_VERTICES = 16, 4096
_HEX = re.compile(r"#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_RGB = re.compile(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*[0-9.]+\s*)?\)")


def is_dsa(document: Any) -> bool:
    """Whether a parsed JSON document has the shape of DSA annotations: a document (with
    ``elements``), a Girder answer (with ``annotation``), or a list beginning with either or
    with an element."""
    if isinstance(document, list):
        return bool(document) and (
            is_dsa(document[0])
            or (
                isinstance(document[0], dict)
                and document[0].get("type") in (*SHAPE_TYPES, *NOT_SHAPES)
            )
        )
    return isinstance(document, dict) and (
        isinstance(document.get("elements"), list) or isinstance(document.get("annotation"), dict)
    )


def features_of(document: Any, *, where: str | None = None) -> Iterator[Feature]:
    """The features of a parsed DSA document (or list of documents, Girder answer, element
    list), one at a time; AnnotationFileError naming the element and key at fault, after
    ``where`` when given: ``where: elements[3].points[2]: ...``."""
    try:
        for path, layer, element in _elements(document):
            feature = feature_of(element, path, layer=layer)
            if feature is not None:
                yield feature
    except AnnotationFileError as exc:
        if where:
            raise AnnotationFileError(f"{where}: {exc}") from None
        raise


def feature_of(element: Any, path: str = "", *, layer: str | None = None) -> Feature | None:
    """One element as a Feature, None for an overlay or plot element; ``layer`` is the name
    of its document, kept as properties["annotation"]."""
    if not isinstance(element, dict):
        raise AnnotationFileError(f"{path or 'the element'}: not an element object.")
    kind = element.get("type")
    if kind in NOT_SHAPES:
        return None
    if kind not in _SHAPES:
        raise AnnotationFileError(
            f"{_at(path, 'type')}: {json.dumps(kind)} is not an element type "
            f"({', '.join(SHAPE_TYPES + NOT_SHAPES)})."
        )
    geometry = _SHAPES[kind](element, path)
    label = element.get("label")
    label_value = label.get("value") if isinstance(label, dict) else None
    group = element.get("group")
    class_name = _name(label_value, _at(path, "label.value")) or _name(group, _at(path, "group"))
    user = element.get("user", {})
    if not isinstance(user, dict):
        raise AnnotationFileError(f"{_at(path, 'user')}: not an object.")
    properties = dict(user)
    if group and group != class_name:
        properties["group"] = group
    if layer:
        properties["annotation"] = layer
    return Feature(
        geometry=geometry,
        class_name=class_name,
        properties=properties,
        id=_name(element.get("id"), _at(path, "id")),
        colour=_element_colour(element, path),
    )


def css_colour(value: Any, path: str) -> tuple[int, int, int]:
    """A colour as the DSA schema writes it (``#rgb``, ``#rrggbb``, ``rgb(r, g, b)``,
    ``rgba(r, g, b, a)``, and ``#rgba``/``#rrggbbaa``) as (r, g, b)."""
    text = value.strip() if isinstance(value, str) else ""
    if match := _HEX.fullmatch(text):
        digits = match.group(1)
        if len(digits) <= 4:
            digits = "".join(d * 2 for d in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    if (match := _RGB.fullmatch(text)) and all(int(c) <= 255 for c in match.groups()):
        r, g, b = (int(c) for c in match.groups())
        return r, g, b
    raise AnnotationFileError(
        f"{path}: {json.dumps(value)} is not a colour (#rrggbb, #rgb, rgb(r, g, b) or "
        "rgba(r, g, b, a))."
    )


def ellipse_polygon(
    cx: float, cy: float, rx: float, ry: float, rotation: float = 0.0
) -> shapely.Polygon:
    """The ellipse of semi-axes ``rx`` (along x before rotating) and ``ry`` centred on (cx, cy)
    and rotated by ``rotation`` radians, as a polygon with its vertices on the curve.

    n equal steps of angle put the chord at most r (1 - cos(pi / n)) inside a circle of radius
    r: n is the least multiple of 4 (so that the ends of the axes are vertices) that keeps it
    within CURVE_TOLERANCE at the larger semi-axis.
    """
    r = max(rx, ry)
    steps = MIN_CURVE_VERTICES
    if r > CURVE_TOLERANCE:
        steps = math.ceil(math.pi / math.acos(1 - CURVE_TOLERANCE / r) / 4) * 4
    steps = min(max(steps, MIN_CURVE_VERTICES), MAX_CURVE_VERTICES)
    angles = np.linspace(0, 2 * math.pi, steps, endpoint=False)
    dx, dy = rx * np.cos(angles), ry * np.sin(angles)
    cos, sin = math.cos(rotation), math.sin(rotation)
    return shapely.Polygon(np.column_stack([cx + dx * cos - dy * sin, cy + dx * sin + dy * cos]))


def _elements(document: Any) -> Iterator[tuple[str, str | None, Any]]:
    """Each element of a DSA document, list or Girder answer: its path, its document's name
    and the element."""
    if isinstance(document, dict):
        yield from _document_elements(document, "")
        return
    if not isinstance(document, list):
        raise AnnotationFileError(
            "not Digital Slide Archive annotations: expected a document with elements, a list "
            "of documents or a list of elements."
        )
    for i, value in enumerate(document):
        if isinstance(value, dict) and ("elements" in value or "annotation" in value):
            yield from _document_elements(value, f"[{i}]")
        else:
            yield f"[{i}]", None, value


def _document_elements(document: dict, path: str) -> Iterator[tuple[str, str | None, Any]]:
    if "annotation" in document and "elements" not in document:
        document, path = document["annotation"], _at(path, "annotation")
        if not isinstance(document, dict):
            raise AnnotationFileError(f"{path}: not an annotation document.")
    elements = document.get("elements", [])
    if not isinstance(elements, list):
        raise AnnotationFileError(f"{_at(path, 'elements')}: not a list of elements.")
    layer = document.get("name")
    layer = layer if isinstance(layer, str) and layer else None
    for i, element in enumerate(elements):
        yield f"{_at(path, 'elements')}[{i}]", layer, element


def _point(element: dict, path: str) -> BaseGeometry:
    return shapely.Point(_centre(element, path))


def _polyline(element: dict, path: str) -> BaseGeometry:
    closed = element.get("closed", False)
    if not isinstance(closed, bool):
        raise AnnotationFileError(f"{_at(path, 'closed')}: {json.dumps(closed)} is not true/false.")
    holes = element.get("holes") or []
    if not closed:
        if holes:
            raise AnnotationFileError(f"{_at(path, 'holes')}: holes in an open polyline.")
        return shapely.LineString(positions(element.get("points"), _at(path, "points"), minimum=2))
    if not isinstance(holes, list):
        raise AnnotationFileError(f"{_at(path, 'holes')}: not a list of rings.")
    shell = _ring(element.get("points"), _at(path, "points"))
    return shapely.Polygon(
        shell, [_ring(hole, f"{_at(path, 'holes')}[{i}]") for i, hole in enumerate(holes)]
    )


def _rectangle(element: dict, path: str) -> BaseGeometry:
    cx, cy = _centre(element, path)
    half_w, half_h = _size(element, "width", path) / 2, _size(element, "height", path) / 2
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    rotation = _number(element.get("rotation", 0), _at(path, "rotation"))
    cos, sin = math.cos(rotation), math.sin(rotation)
    x = cx + corners[:, 0] * cos - corners[:, 1] * sin
    y = cy + corners[:, 0] * sin + corners[:, 1] * cos
    return shapely.Polygon(np.column_stack([x, y]))


def _ellipse(element: dict, path: str) -> BaseGeometry:
    cx, cy = _centre(element, path)
    return ellipse_polygon(
        cx,
        cy,
        _size(element, "width", path) / 2,
        _size(element, "height", path) / 2,
        _number(element.get("rotation", 0), _at(path, "rotation")),
    )


def _circle(element: dict, path: str) -> BaseGeometry:
    cx, cy = _centre(element, path)
    radius = _size(element, "radius", path)
    return ellipse_polygon(cx, cy, radius, radius)


def _arrow(element: dict, path: str) -> BaseGeometry:
    return shapely.LineString(positions(element.get("points"), _at(path, "points"), minimum=2))


_SHAPES = {
    "point": _point,
    "polyline": _polyline,
    "rectangle": _rectangle,
    "ellipse": _ellipse,
    "circle": _circle,
    "arrow": _arrow,
}


def _ring(value: Any, path: str) -> np.ndarray:
    """An open ring of points (the DSA does not repeat the first) of at least 3 points."""
    xy = positions(value, path, minimum=3)
    if len(xy) > 3 and np.array_equal(xy[0], xy[-1]):
        xy = xy[:-1]
    return xy


def _centre(element: dict, path: str) -> tuple[float, float]:
    if "center" not in element:
        raise AnnotationFileError(f"{path}: a {element['type']} without a center.")
    return position(element["center"], _at(path, "center"))


def _size(element: dict, key: str, path: str) -> float:
    if key not in element:
        raise AnnotationFileError(f"{path}: a {element['type']} without a {key}.")
    size = _number(element[key], _at(path, key))
    if size < 0:
        raise AnnotationFileError(f"{_at(path, key)}: {size} is negative.")
    return size


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AnnotationFileError(f"{path}: {json.dumps(value)} is not a finite number.")
    return float(value)


def _name(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise AnnotationFileError(f"{path}: {json.dumps(value)} is not text.")


def _element_colour(element: dict, path: str) -> tuple[int, int, int] | None:
    for key in ("lineColor", "fillColor"):
        if element.get(key):
            return css_colour(element[key], _at(path, key))
    return None


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
