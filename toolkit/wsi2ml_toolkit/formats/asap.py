"""ASAP's annotation XML (computationalpathologygroup/ASAP, annotation/XmlRepository.cpp).

::

    <ASAP_Annotations>
      <Annotations>
        <Annotation Name="Annotation 0" Type="Polygon" PartOfGroup="Tumor" Color="#F4FA58">
          <Coordinates><Coordinate Order="0" X="10.5" Y="20"/>...</Coordinates>
        </Annotation>
      </Annotations>
      <AnnotationGroups>
        <Group Name="Tumor" PartOfGroup="None" Color="#ff0000"><Attributes/></Group>
      </AnnotationGroups>
    </ASAP_Annotations>

Coordinates are level-0 pixels, taken in ``Order`` (in the file's order when no coordinate has
one). Types: ``Dot`` (one coordinate) a Point; ``PointSet`` one MultiPoint, as ASAP keeps it
(``convert`` writes one point feature per point); ``Polygon`` and ``Rectangle`` (its four
corners) a Polygon, the ring closed implicitly; ``Measurement`` (a ruler) a LineString;
``Spline`` the closed curve ASAP draws through its points (``spline_ring``; ASAP's own
AnnotationToMask fills the polygon of the points instead, so its masks of splines differ from
what the annotator saw and from these shapes). The class is the
annotation's own group (``PartOfGroup``; "None" is none, a nested group's parents are not
its class), its colour that group's ``Color``; the annotation's own ``Color`` is kept as
properties["color"] = [r, g, b], QuPath's object colour. A group used but not declared still
names the class (ASAP itself refuses such a file). Some ASAP files were written where a comma
is the decimal mark (``X="1234,5"``), and other readers (wholeslidedata, dlup) accept it: so
does this one, when it is the number's only comma and there is no point.

XML is parsed by the standard library's expat through ElementTree's TreeBuilder with a
document type declaration refused before anything in it is read: entities (the "billion
laughs") and external references can only be declared there, so none is ever expanded or
fetched.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from xml.parsers import expat

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from wsi2ml_toolkit.features import AnnotationFileError, Feature

ROOT = "ASAP_Annotations"
NO_GROUP = "None"
SHAPE_TYPES = ("Dot", "PointSet", "Polygon", "Rectangle", "Spline", "Measurement")
# A spline's curve is flattened to a polygon whose edges stray at most this far (level-0 px)
# from it.
SPLINE_TOLERANCE = 0.25
# Steps of one cubic at most: the tolerance holds up to a bend (the second difference of its
# control points) of 5.6 * 10^6 px, wider than any slide.
MAX_SEGMENT_STEPS = 4096
_HEX = re.compile(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")
# What expat says of a document that stops before its end.
_CUT_SHORT = {
    expat.errors.codes[message]
    for message in (
        expat.errors.XML_ERROR_NO_ELEMENTS,
        expat.errors.XML_ERROR_UNCLOSED_TOKEN,
        expat.errors.XML_ERROR_PARTIAL_CHAR,
    )
}


def parse(data: bytes, *, where: str | None = None) -> ET.Element:
    """The root element of an XML document; AnnotationFileError when it is not well-formed or
    has a document type declaration (refused before its entities are read)."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.StartDoctypeDeclHandler = _refuse_doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        fault = (
            "the XML ends early (truncated?)" if exc.code in _CUT_SHORT else "not well-formed XML"
        )
        raise AnnotationFileError(f"{_prefix(where)}{fault} ({exc}).") from None
    except _DoctypeError:
        raise AnnotationFileError(
            f"{_prefix(where)}a <!DOCTYPE> declaration; ASAP files have none, and its entities "
            "are not expanded here."
        ) from None
    return builder.close()


def is_asap(root: ET.Element) -> bool:
    """Whether a parsed XML root element is ASAP's."""
    return root.tag == ROOT


def features_of(root: ET.Element, *, where: str | None = None) -> Iterator[Feature]:
    """The features of a parsed ASAP document, one per annotation; AnnotationFileError naming
    the annotation (its index among Annotations, from 0, and its Name) and what is wrong."""
    try:
        if not is_asap(root):
            raise AnnotationFileError(
                f"the root element is <{root.tag}>, not ASAP's <{ROOT}> (Aperio ImageScope and "
                "other XML annotations are not read)."
            )
        groups = _groups(root)
        annotations = root.find("Annotations")
        for i, element in enumerate([] if annotations is None else annotations):
            yield feature_of(element, groups, f"Annotation[{i}] {_quoted(element.get('Name'))}")
    except AnnotationFileError as exc:
        if where:
            raise AnnotationFileError(f"{where}: {exc}") from None
        raise


def feature_of(
    element: ET.Element, groups: dict[str, tuple[int, int, int] | None], path: str
) -> Feature:
    """One <Annotation> as a Feature; ``groups`` are the declared groups' colours by name."""
    kind = element.get("Type")
    if kind not in _SHAPES:
        raise AnnotationFileError(
            f"{path}: Type {_quoted(kind)} is not one of {', '.join(SHAPE_TYPES)}."
        )
    geometry = _SHAPES[kind](_coordinates(element, path), path)
    group = element.get("PartOfGroup")
    class_name = None if group in (None, "", NO_GROUP) else group
    properties: dict = {}
    if element.get("Color"):
        properties["color"] = list(_colour(element.get("Color"), f"{path}: Color"))
    return Feature(
        geometry=geometry,
        class_name=class_name,
        properties=properties,
        name=element.get("Name") or None,
        colour=groups.get(class_name) if class_name else None,
    )


def spline_ring(points: np.ndarray) -> np.ndarray:
    """The closed curve ASAP draws through ``points`` (n x 2, n >= 3 distinct in a row), as
    positions of a ring whose first is not repeated.

    ASAP (PolyQtAnnotation::getCurrentPath) draws each span from point i to i + 1 as the cubic
    Bézier of the centripetal Catmull-Rom spline through points i - 1 .. i + 2, with its own end
    conditions, kept here so that the shape is the one the annotator saw: the first span's
    outer neighbour is the last point; the last-but-one span's is its end mirrored (p2 + (p2 -
    p1)), not the first point; the closing span (last point to first) mirrors its start for the
    point before it and takes the second point after it. Each cubic is cut into n equal steps
    of its parameter: a cubic's second derivative is at most 6 D (D the larger of |B0 - 2 B1 +
    B2| and |B1 - 2 B2 + B3|), so a chord strays at most 6 D / (8 n^2) from it, and n is the
    least that keeps that within SPLINE_TOLERANCE.
    """
    count = len(points)
    spans = []
    for i in range(count - 1):
        p1, p2 = points[i], points[i + 1]
        p0 = points[i - 1] if i > 0 else points[-1]
        p3 = points[i + 2] if i < count - 2 else p2 + (p2 - p1)
        spans.append(_bezier(p0, p1, p2, p3))
    p1, p2 = points[-1], points[0]
    spans.append(_bezier(p1 - (p2 - p1), p1, p2, points[1]))
    return np.concatenate([_flattened(span) for span in spans])


def _refuse_doctype(*_args) -> None:
    raise _DoctypeError


class _DoctypeError(Exception):
    """Raised from inside expat to stop at a document type declaration."""


def _groups(root: ET.Element) -> dict[str, tuple[int, int, int] | None]:
    """The colour of each declared group by name (ASAP writes <Group>; any child element of
    <AnnotationGroups> is taken as one, as ASAP does)."""
    groups: dict[str, tuple[int, int, int] | None] = {}
    declared = root.find("AnnotationGroups")
    for i, element in enumerate([] if declared is None else declared):
        name = element.get("Name")
        path = f"AnnotationGroups[{i}] {_quoted(name)}"
        if not name:
            raise AnnotationFileError(f"{path}: a group without a Name.")
        colour = element.get("Color")
        groups[name] = _colour(colour, f"{path}: Color") if colour else None
    return groups


def _coordinates(element: ET.Element, path: str) -> np.ndarray:
    """The annotation's coordinates in Order, as an n x 2 array."""
    holder = element.find("Coordinates")
    found = [] if holder is None else [c for c in holder if c.tag == "Coordinate"]
    if not found:
        raise AnnotationFileError(f"{path}: no <Coordinates><Coordinate .../>.")
    xy = np.array(
        [
            (
                _number(c.get("X"), f"{path}: Coordinate[{j}] X"),
                _number(c.get("Y"), f"{path}: Coordinate[{j}] Y"),
            )
            for j, c in enumerate(found)
        ]
    )
    orders = [c.get("Order") for c in found]
    if all(order is None for order in orders):
        return xy
    keys = [_order(order, f"{path}: Coordinate[{j}] Order") for j, order in enumerate(orders)]
    if len(set(keys)) != len(keys):
        raise AnnotationFileError(f"{path}: two coordinates have the same Order.")
    return xy[np.argsort(keys)]


def _number(text: str | None, path: str) -> float:
    if text is None:
        raise AnnotationFileError(f"{path}: missing.")
    # A decimal comma, from a locale that writes one: "1234,5".
    candidate = text.replace(",", ".") if text.count(",") == 1 and "." not in text else text
    try:
        number = float(candidate)
    except ValueError:
        raise AnnotationFileError(f"{path}: {_quoted(text)} is not a number.") from None
    if not math.isfinite(number):
        raise AnnotationFileError(f"{path}: {_quoted(text)} is not a finite number.")
    return number


def _order(text: str | None, path: str) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise AnnotationFileError(f"{path}: {_quoted(text)} is not a whole number.") from None


def _colour(text: str, path: str) -> tuple[int, int, int]:
    match = _HEX.fullmatch(text.strip())
    if not match:
        raise AnnotationFileError(f"{path}: {_quoted(text)} is not a colour (#rrggbb).")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _dot(xy: np.ndarray, path: str) -> BaseGeometry:
    if len(xy) != 1:
        raise AnnotationFileError(f"{path}: a Dot has one coordinate, not {len(xy)}.")
    return shapely.Point(xy[0])


def _point_set(xy: np.ndarray, path: str) -> BaseGeometry:
    return shapely.MultiPoint(xy)


def _polygon(xy: np.ndarray, path: str) -> BaseGeometry:
    return shapely.Polygon(_ring(xy, path))


def _measurement(xy: np.ndarray, path: str) -> BaseGeometry:
    if len(xy) < 2:
        raise AnnotationFileError(f"{path}: a Measurement needs 2 coordinates, not {len(xy)}.")
    return shapely.LineString(xy)


def _spline(xy: np.ndarray, path: str) -> BaseGeometry:
    return shapely.Polygon(spline_ring(_ring(xy, path)))


_SHAPES = {
    "Dot": _dot,
    "PointSet": _point_set,
    "Polygon": _polygon,
    "Rectangle": _polygon,
    "Spline": _spline,
    "Measurement": _measurement,
}


def _ring(xy: np.ndarray, path: str) -> np.ndarray:
    """The coordinates of a closed shape without repeats in a row (nor the first repeated at
    the end); at least 3 distinct ones."""
    kept = xy[np.r_[True, np.any(xy[1:] != xy[:-1], axis=1)]]
    if len(kept) > 1 and np.array_equal(kept[0], kept[-1]):
        kept = kept[:-1]
    if len(kept) < 3:
        raise AnnotationFileError(
            f"{path}: {len(kept)} distinct coordinate{'' if len(kept) == 1 else 's'}; a region "
            "needs at least 3."
        )
    return kept


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> np.ndarray:
    """The cubic Bézier (4 x 2 control points) ASAP makes of the centripetal Catmull-Rom span
    p1 -> p2 (PolyQtAnnotation::catmullRomToBezier)."""
    d1, d2, d3 = (float(np.hypot(*(b - a))) for a, b in ((p0, p1), (p1, p2), (p2, p3)))
    r1, r2, r3 = math.sqrt(d1), math.sqrt(d2), math.sqrt(d3)
    b1 = (d1 * p2 - d2 * p0 + (2 * d1 + 3 * r1 * r2 + d2) * p1) / (3 * r1 * (r1 + r2))
    b2 = (d3 * p1 - d2 * p3 + (2 * d3 + 3 * r3 * r2 + d2) * p2) / (3 * r3 * (r3 + r2))
    return np.array([p1, b1, b2, p2])


def _flattened(control: np.ndarray) -> np.ndarray:
    """Points along a cubic Bézier from its start up to (not including) its end."""
    b0, b1, b2, b3 = control
    bend = max(float(np.hypot(*(b0 - 2 * b1 + b2))), float(np.hypot(*(b1 - 2 * b2 + b3))))
    steps = max(1, min(MAX_SEGMENT_STEPS, math.ceil(math.sqrt(0.75 * bend / SPLINE_TOLERANCE))))
    t = np.arange(steps)[:, None] / steps
    u = 1 - t
    return u**3 * b0 + 3 * u**2 * t * b1 + 3 * u * t**2 * b2 + t**3 * b3


def _prefix(where: str | None) -> str:
    return f"{where}: " if where else ""


def _quoted(text: str | None) -> str:
    if text is None:
        return "(none)"
    return f'"{text}"' if len(text) <= 60 else f'"{text[:57]}..."'
