"""
Annotation geometry: the one module that reads, checks and measures coordinates.

Geometries are GeoJSON in level-0 pixel coordinates, origin at the top left, y down. ``clean``
turns what a browser sent into a geometry fit to store: it rejects what cannot be meant
(``GeometryError``, whose message says where), repairs self-intersections, clips to the slide and
rounds to 0.01 px. Plain Python and shapely 2, no Django.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

PRECISION = 0.01  # level-0 px: coordinates are rounded to this grid
DIGITS = 2

POINT, LINE, POLYGONAL = "point", "line", "polygonal"
# Annotation.Kind value -> what its geometry must be.
KIND_SHAPES = {
    "polygon": POLYGONAL,
    "freehand": POLYGONAL,
    "rectangle": POLYGONAL,
    "ellipse": POLYGONAL,
    "brush": POLYGONAL,
    "point": POINT,
    "line": LINE,
}
TYPES = {"Point": POINT, "LineString": LINE, "Polygon": POLYGONAL, "MultiPolygon": POLYGONAL}
SHAPE_NEEDS = {POINT: "a Point", LINE: "a LineString", POLYGONAL: "a Polygon or MultiPolygon"}
# Where no slide size is known, shapes are still kept on the positive side of the origin.
NO_LIMIT = float(2**31)


class GeometryError(ValueError):
    """A geometry that cannot be stored; the message says what is wrong and where."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CleanGeometry:
    """A checked geometry with its measures, ready to store."""

    geojson: dict
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1
    vertex_count: int
    area_px: float
    area_um2: float | None
    length_px: float
    length_um: float | None
    repaired: str  # what was repaired or clipped, "" when nothing was


def clean(
    raw: object,
    *,
    kind: str,
    width: float | None,
    height: float | None,
    mpp_x: float | None = None,
    mpp_y: float | None = None,
    max_vertices: int = 20000,
) -> CleanGeometry:
    """Check, repair, clip and measure a GeoJSON geometry drawn as ``kind`` on a slide.

    Raise GeometryError for anything that must be rejected (see docs/annotations-spec.md).
    """
    shape_type, coordinates = _type_and_coordinates(raw)
    if not isinstance(kind, str) or kind not in KIND_SHAPES:
        raise GeometryError(f"Unknown kind {kind!r}; use one of {', '.join(KIND_SHAPES)}.")
    if KIND_SHAPES[kind] != TYPES[shape_type]:
        raise GeometryError(
            f"A {kind} needs {SHAPE_NEEDS[KIND_SHAPES[kind]]} geometry, not a {shape_type}."
        )
    notes: list[str] = []
    shape = _PARSERS[shape_type](coordinates, max_vertices, notes)
    shape = _clip(shape, width, height, notes)
    shape = _round(shape)
    return _measure(shape, mpp_x, mpp_y, "; ".join(notes))


def measure(geojson: dict, *, mpp_x: float | None, mpp_y: float | None) -> CleanGeometry:
    """Measure a geometry that was cleaned before (e.g. one read back from the database)."""
    return _measure(shapely.geometry.shape(geojson), mpp_x, mpp_y, "")


def simplify(geojson: dict, *, tolerance: float) -> dict:
    """Return ``geojson`` simplified to within ``tolerance`` px, keeping polygons valid."""
    shape = shapely.geometry.shape(geojson)
    simpler = shape.simplify(tolerance, preserve_topology=True)
    if simpler.is_empty:
        return geojson
    return to_geojson(_round(simpler))


def to_geojson(shape: BaseGeometry) -> dict:
    """GeoJSON of a Point, LineString, Polygon or MultiPolygon, coordinates rounded."""
    if isinstance(shape, Point):
        return {"type": "Point", "coordinates": _out(shape.coords[0])}
    if isinstance(shape, LineString):
        return {"type": "LineString", "coordinates": _positions(shape.coords)}
    if isinstance(shape, Polygon):
        return {"type": "Polygon", "coordinates": _rings(shape)}
    if isinstance(shape, MultiPolygon):
        return {"type": "MultiPolygon", "coordinates": [_rings(part) for part in shape.geoms]}
    raise GeometryError(f"Cannot store a {shape.geom_type}.")  # pragma: no cover


# --- Parsing ---------------------------------------------------------------------------------


def _type_and_coordinates(raw: object) -> tuple[str, list]:
    if not isinstance(raw, dict):
        raise GeometryError("geometry must be a GeoJSON object with type and coordinates.")
    shape_type = raw.get("type")
    if not isinstance(shape_type, str) or shape_type not in TYPES:
        raise GeometryError(
            f"geometry.type {shape_type!r} is not supported; use Point, LineString, Polygon "
            "or MultiPolygon."
        )
    coordinates = raw.get("coordinates")
    if not isinstance(coordinates, list):
        raise GeometryError("geometry.coordinates must be an array.")
    return shape_type, coordinates


def _number(value: object, where: str) -> float:
    # bool is an int in Python, but true is not a coordinate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GeometryError(f"{where} is not a number.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise GeometryError(f"{where} is not a finite number.")
    return number


def _out(xy) -> list[float]:
    # + 0.0 turns -0.0 into 0.0.
    return [round(xy[0], DIGITS) + 0.0, round(xy[1], DIGITS) + 0.0]


def _position(value: object, where: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise GeometryError(f"{where} must be a position [x, y].")
    return _number(value[0], f"{where}[0]"), _number(value[1], f"{where}[1]")


def _positions(coords) -> list[list[float]]:
    return [_out(xy) for xy in coords]


def _rings(polygon: Polygon) -> list[list[list[float]]]:
    return [_positions(polygon.exterior.coords)] + [
        _positions(ring.coords) for ring in polygon.interiors
    ]


def _ring(value: object, where: str) -> list[tuple[float, float]]:
    if not isinstance(value, list):
        raise GeometryError(f"{where} must be an array of positions.")
    if len(value) < 4:
        raise GeometryError(
            f"{where} has {len(value)} positions; a ring needs at least 4 (the first repeated "
            "at the end)."
        )
    ring = [_position(p, f"{where}[{i}]") for i, p in enumerate(value)]
    if ring[0] != ring[-1]:
        raise GeometryError(f"{where} is not closed: its last position must equal its first.")
    return ring


def _count(count: int, max_vertices: int) -> None:
    if count > max_vertices:
        raise GeometryError(
            f"The geometry has {count} vertices; at most {max_vertices} are allowed."
        )


def _parse_point(coordinates: list, max_vertices: int, notes: list[str]) -> Point:
    return Point(_position(coordinates, "coordinates"))


def _parse_line(coordinates: list, max_vertices: int, notes: list[str]) -> LineString:
    _count(len(coordinates), max_vertices)
    if len(coordinates) < 2:
        raise GeometryError("A LineString needs at least 2 positions.")
    line = LineString([_position(p, f"coordinates[{i}]") for i, p in enumerate(coordinates)])
    if line.length == 0:
        raise GeometryError("The line has no length: all its positions are the same.")
    return line


def _parse_polygon(coordinates: list, max_vertices: int, notes: list[str]) -> BaseGeometry:
    _count(sum(len(r) for r in coordinates if isinstance(r, list)), max_vertices)
    return _polygon(coordinates, "coordinates", notes)


def _parse_multipolygon(coordinates: list, max_vertices: int, notes: list[str]) -> BaseGeometry:
    if not coordinates:
        raise GeometryError("A MultiPolygon needs at least one polygon.")
    _count(
        sum(len(r) for p in coordinates if isinstance(p, list) for r in p if isinstance(r, list)),
        max_vertices,
    )
    parts = [
        _polygon(p, f"coordinates[{i}]", notes, part=f" in polygon {i}")
        for i, p in enumerate(coordinates)
    ]
    return _polygonal(shapely.union_all(parts), "The geometry")


def _polygon(value: object, where: str, notes: list[str], part: str = "") -> BaseGeometry:
    if not isinstance(value, list) or not value:
        raise GeometryError(f"{where} must be an array of rings (the shell, then any holes).")
    shell, *holes = (_ring(r, f"{where}[{i}]") for i, r in enumerate(value))
    outline = Polygon(shell)
    if _fixed(outline).area == 0:
        raise GeometryError(f"{where}[0] encloses no area.")
    for i, hole in enumerate(holes, start=1):
        if not _fixed(Polygon(hole)).intersects(_fixed(outline)):
            raise GeometryError(f"{where}[{i}] is a hole outside its shell.")
    polygon = Polygon(shell, holes)
    if polygon.is_valid:
        return polygon
    notes.append(f"{_reason(polygon)}{part} repaired")
    # Repair shell and holes apart, so that a hole crossing its shell only ever removes area
    # (make_valid of the whole would fill the part of the hole outside the shell).
    repaired = _fixed(outline).difference(shapely.union_all([_fixed(Polygon(h)) for h in holes]))
    return _polygonal(repaired, where)


def _fixed(shape: BaseGeometry) -> BaseGeometry:
    return shape if shape.is_valid else shapely.make_valid(shape)


def _reason(shape: BaseGeometry) -> str:
    """'Self-intersection at (120.5, 44.0)' from shapely's 'Self-intersection[120.5 44]'."""
    reason = shapely.is_valid_reason(shape)
    match = re.match(r"(.+?)\[(\S+) (\S+)\]", reason)
    if not match:
        return reason
    x, y = float(match[2]), float(match[3])
    return f"{match[1]} at ({round(x, DIGITS)}, {round(y, DIGITS)})"


def _polygonal(shape: BaseGeometry, where: str) -> BaseGeometry:
    """The polygonal parts of ``shape`` as a Polygon or MultiPolygon; reject when none has area."""
    parts = [
        part
        for part in shapely.get_parts(shape)
        if isinstance(part, Polygon | MultiPolygon) and part.area > 0
    ]
    polygons = [p for part in parts for p in shapely.get_parts(part)]
    if not polygons:
        raise GeometryError(f"{where} encloses no area.")
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


_PARSERS = {
    "Point": _parse_point,
    "LineString": _parse_line,
    "Polygon": _parse_polygon,
    "MultiPolygon": _parse_multipolygon,
}


# --- Clipping, rounding, measuring -------------------------------------------------------------


def _clip(
    shape: BaseGeometry, width: float | None, height: float | None, notes: list[str]
) -> BaseGeometry:
    limits = (width or NO_LIMIT, height or NO_LIMIT)
    slide = box(0, 0, *limits)
    if slide.covers(shape):
        return shape
    size = f"{limits[0]:g} × {limits[1]:g} px"
    if isinstance(shape, Point):
        raise GeometryError(f"The point lies outside the slide ({size}).")
    inside = shape.intersection(slide)
    if isinstance(shape, LineString):
        lines = [p for p in shapely.get_parts(inside) if isinstance(p, LineString) and p.length]
        if not lines:
            raise GeometryError(f"The line lies wholly outside the slide ({size}).")
        notes.append("Clipped to the slide's edge")
        if len(lines) > 1:
            notes.append("kept the longest part of the line inside the slide")
        return max(lines, key=lambda line: line.length)
    if inside.is_empty or inside.area == 0:
        raise GeometryError(f"The shape lies wholly outside the slide ({size}).")
    notes.append("Clipped to the slide's edge")
    return _polygonal(inside, "The shape inside the slide")


def _round(shape: BaseGeometry) -> BaseGeometry:
    """Round coordinates to PRECISION, keeping the vertex order the author drew."""
    rounded = shapely.transform(shape, lambda xy: np.round(xy, DIGITS))
    if isinstance(shape, LineString) and rounded.length == 0:
        raise GeometryError("The line is shorter than 0.01 px.")
    if isinstance(shape, Point | LineString) or rounded.is_valid:
        return rounded
    # Rounding can make a sliver cross itself; snapping to the grid repairs it.
    return _polygonal(shapely.set_precision(shape, PRECISION), "The shape, rounded to 0.01 px,")


def _measure(
    shape: BaseGeometry, mpp_x: float | None, mpp_y: float | None, repaired: str
) -> CleanGeometry:
    x0, y0, x1, y1 = shape.bounds
    polygonal = isinstance(shape, Polygon | MultiPolygon)
    area_px = shape.area if polygonal else 0.0
    length_px = shape.length if isinstance(shape, LineString) else 0.0
    known = bool(mpp_x and mpp_y)
    length_um = None
    if known and isinstance(shape, LineString):
        length_um = shapely.affinity.scale(shape, mpp_x, mpp_y, origin=(0, 0)).length
    return CleanGeometry(
        geojson=to_geojson(shape),
        bbox=(x0, y0, x1, y1),
        vertex_count=int(shapely.get_num_coordinates(shape)),
        area_px=round(area_px, 4),
        area_um2=round(area_px * mpp_x * mpp_y, 4) if known and polygonal else None,
        length_px=round(length_px, 4),
        length_um=None if length_um is None else round(length_um, 4),
        repaired=repaired,
    )
