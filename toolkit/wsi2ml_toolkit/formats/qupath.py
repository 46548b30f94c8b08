"""QuPath's GeoJSON, as QuPath 0.4-0.6 writes and reads it (PathObjectTypeAdapters).

A feature: top-level ``type``, ``id`` (a UUID), ``geometry``, then ``properties`` with
``objectType`` ("annotation", "detection", "cell", "tile"), ``name`` when set,
``classification`` ({"name", "color": [r, g, b]}: QuPath refuses a classification object
without a colour), ``isLocked`` only when true, ``measurements`` as a map of numbers; a cell's
nucleus as ``nucleusGeometry`` beside ``geometry``. An ellipse carries ``"isEllipse": true``
inside its geometry object. The server's export writer and the toolkit's converters write
these keys through the functions here.

Reading (``features_of``) accepts what QuPath's own reader accepts, the older forms of QuPath
0.2 and 0.3 included: see the notes under "Reading" below.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import uuid as uuid_module
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from wsi2ml_toolkit import geometry as rules
from wsi2ml_toolkit.features import ANNOTATION, CELL, DETECTION, TILE, AnnotationFileError, Feature

# QuPath's own measurement names for what it measures of an annotation (µm where the image's
# pixel size is known).
AREA = "Area µm^2"
PERIMETER = "Perimeter µm"
LENGTH = "Length µm"
# QuPath keeps a polygon with "isEllipse" in its geometry as an ellipse fitted to the bounding
# box; that is only true of an ellipse that was neither clipped nor edited into another shape.
# Its vertices must lie on that fitted ellipse within this (relative) distance, plus rounding.
ELLIPSE_TOLERANCE = 0.01


def colour_rgb(colour: str) -> list[int]:
    """The colour "#rrggbb" as QuPath's [r, g, b]."""
    value = int(colour.removeprefix("#"), 16)
    return [value >> 16, (value >> 8) & 0xFF, value & 0xFF]


def colour_hex(rgb: Iterable[int]) -> str:
    """[r, g, b] as "#rrggbb"."""
    r, g, b = (int(c) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def class_colour(name: str) -> list[int]:
    """A colour for a class that has none, the same for the same name in every file and run
    (a hash of the name, kept away from the darkest and palest colours)."""
    digest = hashlib.sha256(name.encode()).digest()
    return [40 + digest[i] * 175 // 255 for i in range(3)]


def classification(name: str, colour: Iterable[int] | None = None) -> dict:
    """QuPath's classification object, always with a colour."""
    return {"name": name, "color": [int(c) for c in colour] if colour else class_colour(name)}


def is_ellipse(geometry: str) -> bool:
    """Whether the polygon (GeoJSON text) has its vertices on the ellipse inscribed in its
    bounding box, the shape QuPath rebuilds from a geometry flagged ``isEllipse``."""
    shape = json.loads(geometry)
    if shape.get("type") != "Polygon" or len(shape["coordinates"]) != 1:
        return False
    xy = np.asarray(shape["coordinates"][0], dtype=float)
    if len(xy) < 8:
        return False
    low, high = xy.min(axis=0), xy.max(axis=0)
    centre, radii = (low + high) / 2, (high - low) / 2
    if radii.min() <= 0:
        return False
    distance = np.hypot(*((xy - centre) / radii).T)
    # 0.01 px of rounding, relative to the smaller radius, on top of the tolerance.
    return bool(np.abs(distance - 1).max() <= ELLIPSE_TOLERANCE + 0.02 / radii.min())


def with_ellipse_flag(geometry: str) -> str:
    """The geometry's JSON text with QuPath's foreign member ``"isEllipse": true`` added (QuPath's
    ROITypeAdapters writes it inside the geometry object, not in the properties)."""
    return geometry.rstrip().removesuffix("}") + ', "isEllipse": true}'


def feature_dict(feature: Feature, *, colours: Mapping[str, Iterable[int]] | None = None) -> dict:
    """``feature`` as QuPath writes it, its geometry made valid and rounded to 0.01 px
    (``wsi2ml_toolkit.geometry.tidy``; GeometryError when nothing is left of it).

    The class colour is the feature's own, else ``colours[class_name]``, else
    ``class_colour``. ``properties`` the feature carried are kept beside QuPath's keys, which
    win where names clash.
    """
    properties: dict[str, Any] = dict(feature.properties)
    properties["objectType"] = feature.object_type or ANNOTATION
    if feature.name:
        properties["name"] = feature.name
    if feature.class_name:
        colour = feature.colour or (colours or {}).get(feature.class_name)
        properties["classification"] = classification(feature.class_name, colour)
    else:
        properties.pop("classification", None)
    if feature.measurements:
        properties["measurements"] = dict(feature.measurements)
    out = {
        "type": "Feature",
        "id": feature.id or str(uuid_module.uuid4()),
        "geometry": rules.to_geojson(rules.tidy(feature.geometry)),
        "properties": properties,
    }
    if feature.nucleus is not None and not feature.nucleus.is_empty:
        out["nucleusGeometry"] = rules.to_geojson(rules.tidy(feature.nucleus))
    return out


def write_geojson(
    features: Iterable[Feature],
    out: IO[bytes],
    *,
    colours: Mapping[str, Iterable[int]] | None = None,
) -> int:
    """Write ``features`` to the binary file ``out`` as one FeatureCollection, one feature at a
    time (constant memory); return how many were written."""
    out.write(b'{"type":"FeatureCollection","features":[')
    count = 0
    for feature in features:
        if count:
            out.write(b",\n")
        out.write(_dumps(feature_dict(feature, colours=colours)))
        count += 1
    out.write(b"]}\n")
    return count


def _dumps(value: Any) -> bytes:
    # The standard library's json: the toolkit depends on nothing that is not needed to read
    # slides and shapes.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


# --- Reading ---------------------------------------------------------------------------------
#
# QuPath's reader (PathObjectTypeAdapters, GsonTools.PathClassTypeAdapter) accepts more than its
# writer writes, and files from QuPath 0.2 and 0.3 are still about. Read here as QuPath reads
# them:
# - the document: a FeatureCollection, a JSON array of features, one Feature, or one bare
#   geometry (a feature without properties);
# - the object type: properties.objectType, else object_type (0.3), else properties.type when it
#   names one, else the 0.2 "id": "PathAnnotationObject"...; "tmaCore", "root" and names QuPath
#   does not know become annotations, as QuPath makes them;
# - the classification: a string ("Tumor: Positive"), {"name", "color"}, {"names": [...]} for a
#   derived class (joined with ": " as QuPath names it), or 0.2's {"name", "colorRGB": packed}
#   with an optional "parentClass"; a colour as [r, g, b], [r, g, b, a], [packed] or packed;
# - measurements: a map of numbers or 0.3's list of {"name", "value"}; NaN (QuPath's "no value")
#   and null are left out, so that what is written back is strict JSON;
# - a cell's nucleus from "nucleusGeometry";
# - "isEllipse" in a geometry and the third coordinate of a position are ignored.
# Geometry is kept as the file gives it (a self-intersecting polygon stays one: feature_dict
# repairs it when it is written), but what is not a geometry (a position that is not numbers,
# a ring that is not closed, a line of one position, a GeometryCollection) is refused, naming
# the part: "features[12].geometry.coordinates[0]: ...". A closed LineString stays a line: QuPath
# writes regions as Polygons, and a polyline whose ends meet is still a polyline.

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
_OBJECT_TYPES = {
    "annotation": ANNOTATION,
    "detection": DETECTION,
    "cell": CELL,
    "tile": TILE,
    "PathAnnotationObject": ANNOTATION,
    "PathDetectionObject": DETECTION,
    "PathCellObject": CELL,
    "PathTileObject": TILE,
}
# QuPath 0.2 wrote the object's Java class as its "id".
_LEGACY_IDS = {
    "PathAnnotationObject",
    "PathDetectionObject",
    "PathCellObject",
    "PathTileObject",
    "TMACoreObject",
    "PathRootObject",
}
# How deep QuPath 0.2's parentClass chains may go (Tumor: Positive: ... never nests this far).
_MAX_CLASS_DEPTH = 16


def is_geojson(document: Any) -> bool:
    """Whether a parsed JSON document has the shape of GeoJSON: a FeatureCollection, a Feature
    or a geometry, or an array (empty, or beginning with a Feature or geometry)."""
    if isinstance(document, list):
        return not document or is_geojson(document[0])
    if not isinstance(document, dict):
        return False
    kind = document.get("type")
    return kind in ("FeatureCollection", "Feature", "GeometryCollection", *GEOMETRY_TYPES) or (
        kind is None and "geometry" in document
    )


def features_of(document: Any, *, where: str | None = None) -> Iterator[Feature]:
    """The features of a parsed GeoJSON document, one at a time: a FeatureCollection, an array
    of features (or geometries), a single Feature or a bare geometry.

    Raise AnnotationFileError naming the part at fault, after ``where`` (the file's name) when
    given: ``where: features[12].geometry.coordinates[0]: not closed ...``.
    """
    return _read(_members(document), where)


def features_of_part(
    values: Sequence[Any], *, base: str = "features", start: int = 0, where: str | None = None
) -> Iterator[Feature]:
    """The features of a part of a document's features, as a streaming reader hands them over
    (``values`` are the items ``start``, ``start + 1``, ... of the array at ``base``: "features"
    in a FeatureCollection, "" for an array), named in errors by their place in the whole
    document: ``where: features[2060].geometry: ...``."""
    return _read(((f"{base}[{start + i}]", value) for i, value in enumerate(values)), where)


def _read(members: Iterable[tuple[str, Any]], where: str | None) -> Iterator[Feature]:
    try:
        for batch in _batches(members, _BATCH):
            # Polygons made in bulk: 20,000 of 20-60 vertices took 0.19 s, against 0.55 s made
            # one by one. A batch with anything the bulk path does not take (or anything wrong
            # in it) is read feature by feature, which names the first part at fault.
            features = _in_bulk(batch)
            if features is None:
                features = [feature_of(value, path) for path, value in batch]
            yield from features
    except AnnotationFileError as exc:
        if where:
            raise AnnotationFileError(f"{where}: {exc}") from None
        raise


def feature_of(value: Any, path: str = "") -> Feature:
    """One GeoJSON Feature (or bare geometry) as a Feature; ``path`` names it in errors."""
    if not isinstance(value, dict):
        raise AnnotationFileError(f"{_at(path) or 'the document'}: not a GeoJSON object.")
    kind = value.get("type")
    if kind in GEOMETRY_TYPES or kind == "GeometryCollection":
        return Feature(geometry=shape_from_geojson(value, path))
    parts = _feature_parts(value, path)
    nucleus = value.get("nucleusGeometry")
    return Feature(
        geometry=shape_from_geojson(value["geometry"], _at(path, "geometry")),
        nucleus=None
        if nucleus is None
        else shape_from_geojson(nucleus, _at(path, "nucleusGeometry")),
        **parts,
    )


def _feature_parts(value: dict, path: str) -> dict[str, Any]:
    """Everything of a Feature but its geometries, checked, as Feature's keyword arguments."""
    kind = value.get("type")
    if kind not in ("Feature", None) or "geometry" not in value:
        raise AnnotationFileError(
            f"{_at(path, 'type')}: {_shown(kind)}; expected a Feature (with a geometry) or a "
            "geometry."
        )
    if value["geometry"] is None:
        raise AnnotationFileError(f"{_at(path, 'geometry')}: null; a feature needs a geometry.")
    properties = value.get("properties") or {}
    if not isinstance(properties, dict):
        raise AnnotationFileError(f"{_at(path, 'properties')}: not an object.")
    properties = dict(properties)
    raw_id = value.get("id")
    object_type = _object_type(properties, raw_id)
    class_name, colour = _classification(properties.pop("classification", None), path)
    measurements = _measurements(properties.pop("measurements", None), path)
    name = properties.pop("name", None)
    if type(name) is not str:  # text is the rule: a number is taken as text, else an error
        name = _text(name, _at(path, "properties.name"))
    return {
        "class_name": class_name,
        "properties": properties,
        "measurements": measurements,
        "object_type": object_type,
        "id": None if raw_id in _LEGACY_IDS else _text(raw_id, _at(path, "id")),
        "name": name or None,
        "colour": colour,
    }


_BATCH = 2048  # features read in bulk at a time: memory bounded, Python's work amortised


def _batches(members: Iterable[tuple[str, Any]], size: int) -> Iterator[list[tuple[str, Any]]]:
    batch: list[tuple[str, Any]] = []
    for member in members:
        batch.append(member)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _in_bulk(batch: list[tuple[str, Any]]) -> list[Feature] | None:
    """The features of ``batch``, their Polygons made together (other geometries one by one);
    None when any of them is not a Feature or fails a check."""
    try:
        parts, shapes, nuclei, rings, ring_counts = [], [], [], [], []
        for path, value in batch:
            if type(value) is not dict or value.get("type") != "Feature":
                return None
            parts.append(_feature_parts(value, path))
            geometry = value["geometry"]
            if (
                type(geometry) is dict
                and geometry.get("type") == "Polygon"
                and type(coordinates := geometry.get("coordinates")) is list
                and coordinates
                and set(map(type, coordinates)) == {list}
            ):
                shapes.append(None)
                rings += coordinates
                ring_counts.append(len(coordinates))
            else:
                shapes.append(shape_from_geojson(geometry, _at(path, "geometry")))
            nucleus = value.get("nucleusGeometry")
            if nucleus is not None:
                nucleus = shape_from_geojson(nucleus, _at(path, "nucleusGeometry"))
            nuclei.append(nucleus)
    except AnnotationFileError:
        return None
    polygons = _polygons_in_bulk(rings, ring_counts)
    if polygons is None:
        return None
    made = iter(polygons.tolist())
    return [
        Feature(geometry=next(made) if shape is None else shape, nucleus=nucleus, **kwargs)
        for kwargs, shape, nucleus in zip(parts, shapes, nuclei, strict=True)
    ]


def _polygons_in_bulk(rings: list[list], ring_counts: list[int]) -> np.ndarray | None:
    """Polygons of ``rings`` (``ring_counts[i]`` rings each: a shell, then its holes), or None
    when any ring is not at least four planar, finite positions, closed."""
    if not rings:
        return np.empty(0, dtype=object)
    lengths = np.fromiter(map(len, rings), dtype=np.int64, count=len(rings))
    if lengths.min() < 4:
        return None
    positions = list(itertools.chain.from_iterable(rings))
    if set(map(type, positions)) != {list} or set(map(len, positions)) != {2}:
        return None
    if not set(map(type, itertools.chain.from_iterable(positions))) <= {int, float}:
        return None
    try:
        flat = itertools.chain.from_iterable(positions)
        xy = np.fromiter(flat, dtype=float, count=2 * len(positions)).reshape(-1, 2)
    except OverflowError:  # an integer of 400 digits
        return None
    ends = np.cumsum(lengths)
    if not (np.isfinite(xy).all() and (xy[ends - lengths] == xy[ends - 1]).all()):
        return None
    shells_and_holes = shapely.linearrings(xy, indices=np.repeat(np.arange(len(rings)), lengths))
    owners = np.repeat(np.arange(len(ring_counts)), ring_counts)
    return shapely.polygons(shells_and_holes, indices=owners)


def shape_from_geojson(value: Any, path: str = "") -> BaseGeometry:
    """The shapely geometry of a GeoJSON geometry object, checked but not repaired (foreign
    members such as ``isEllipse`` and third coordinates ignored); AnnotationFileError naming
    the part of it at ``path`` that is not a geometry."""
    if not isinstance(value, dict):
        raise AnnotationFileError(
            f"{_at(path) or 'the geometry'}: not a GeoJSON geometry (an object with type and "
            "coordinates)."
        )
    kind = value.get("type")
    if kind == "GeometryCollection":
        raise AnnotationFileError(
            f"{_at(path, 'type')}: a GeometryCollection is not read; write each of its parts as "
            "a feature of its own."
        )
    if kind not in _SHAPES:
        raise AnnotationFileError(
            f"{_at(path, 'type')}: {_shown(kind)} is not a GeoJSON geometry type "
            f"({', '.join(GEOMETRY_TYPES)})."
        )
    if "coordinates" not in value:
        raise AnnotationFileError(f"{_at(path)}: a {kind} without coordinates.")
    return _SHAPES[kind](value["coordinates"], _at(path, "coordinates"))


def positions(value: Any, path: str, *, minimum: int = 1) -> np.ndarray:
    """A JSON array of positions ([x, y] or [x, y, z], z dropped) as an n x 2 float array;
    AnnotationFileError naming the first position at fault, or saying that fewer than
    ``minimum`` were given.

    Checked by type in bulk, then converted by numpy in one go: a million positions took
    0.6-1.2 s, against 1.8-4.0 s checked one by one (this two-core machine while other work
    ran); np.fromiter over the flattened numbers converts them 2.3 times as fast as np.array
    of the nested lists. Only an array with something wrong in it takes the slow path, which
    finds the position at fault.
    """
    if not isinstance(value, list):
        raise AnnotationFileError(f"{path}: not an array of positions.")
    if len(value) < minimum:
        raise AnnotationFileError(
            f"{path}: {len(value)} position{'' if len(value) == 1 else 's'}; at least {minimum} "
            "needed."
        )
    # map() and set() run in C: the same checks as generator expressions took three times as
    # long. type(True) is bool, not int: true is not a coordinate.
    lengths = set(map(len, value)) if set(map(type, value)) == {list} else set()
    if (
        lengths
        and lengths <= {2, 3}
        and set(map(type, itertools.chain.from_iterable(value))) <= {int, float}
    ):
        xy = _array(value, planar=lengths == {2})
        if xy is not None and np.isfinite(xy).all():
            return xy
    for i, p in enumerate(value):
        position(p, f"{path}[{i}]")
    raise AssertionError("unreachable: a bad position was not found")  # pragma: no cover


def position(value: Any, path: str) -> tuple[float, float]:
    """One position [x, y] or [x, y, z] (z a number, dropped) as (x, y); AnnotationFileError
    when it is not one."""
    if not isinstance(value, list) or not 2 <= len(value) <= 3:
        raise AnnotationFileError(f"{path}: {_shown(value)} is not a position [x, y].")
    for c in value:
        if isinstance(c, bool) or not isinstance(c, int | float):
            raise AnnotationFileError(f"{path}: {_shown(c)} is not a number.")
    xy = []
    for c in value[:2]:
        try:
            number = float(c)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise AnnotationFileError(f"{path}: {_shown(c)} is not a finite number.")
        xy.append(number)
    return xy[0], xy[1]


def _array(value: list[list[float]], *, planar: bool) -> np.ndarray | None:
    """Positions of 2 (``planar``) or 3 numbers each as an n x 2 array; None when a number
    overflows."""
    flat = itertools.chain.from_iterable(value if planar else (p[:2] for p in value))
    try:
        return np.fromiter(flat, dtype=float, count=2 * len(value)).reshape(-1, 2)
    except OverflowError:  # an integer of 400 digits
        return None


def colour_of(value: Any, path: str) -> tuple[int, int, int]:
    """A QuPath colour as (r, g, b): [r, g, b], [r, g, b, a], [packed] or a packed (A)RGB
    integer, as Java's Color.getRGB() gives it (negative when opaque)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**32:
        return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF
    if (
        isinstance(value, list)
        and len(value) in (3, 4)
        and all(type(c) is int and 0 <= c <= 255 for c in value)
    ):
        return value[0], value[1], value[2]
    raise AnnotationFileError(
        f"{path}: {_shown(value)} is not a colour ([r, g, b] of 0-255, or a packed RGB integer)."
    )


def _members(document: Any) -> Iterator[tuple[str, Any]]:
    """Each feature of a GeoJSON document with its path."""
    if isinstance(document, list):
        for i, value in enumerate(document):
            yield f"[{i}]", value
    elif isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise AnnotationFileError("features: missing or not an array.")
        for i, value in enumerate(features):
            yield f"features[{i}]", value
    elif is_geojson(document):
        yield "", document
    else:
        raise AnnotationFileError(
            "not GeoJSON: expected a FeatureCollection, a Feature, a geometry or an array of "
            "features."
        )


def _object_type(properties: dict, raw_id: Any) -> str:
    """QuPath's object type, its keys taken out of ``properties``."""
    found = properties.pop("objectType", None)
    legacy = properties.pop("object_type", None)
    if found is None:
        found = legacy
    if found is None and properties.get("type") in _OBJECT_TYPES:
        found = properties.pop("type")
    if found is None:
        found = raw_id
    return _OBJECT_TYPES.get(found, ANNOTATION) if isinstance(found, str) else ANNOTATION


def _classification(value: Any, feature: str) -> tuple[str | None, tuple[int, int, int] | None]:
    """The class name and colour of a QuPath classification (None, None when it has none) of the
    feature at ``feature``."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return value or None, None
    path = _at(feature, "properties.classification")
    if not isinstance(value, dict):
        raise AnnotationFileError(f"{path}: {_shown(value)} is not a classification.")
    name = _class_name(value, path, depth=0)
    colour_key = "color" if "color" in value else "colorRGB"
    colour = value.get(colour_key)
    return name or None, None if colour is None else colour_of(colour, f"{path}.{colour_key}")


def _class_name(value: dict, path: str, *, depth: int) -> str:
    if "names" in value:
        names = value["names"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise AnnotationFileError(f"{path}.names: not an array of names.")
        return ": ".join(names)
    name = value.get("name")
    if name is not None and not isinstance(name, str):
        raise AnnotationFileError(f"{path}.name: {_shown(name)} is not a name.")
    parent = value.get("parentClass")
    if isinstance(parent, dict) and depth < _MAX_CLASS_DEPTH:
        above = _class_name(parent, f"{path}.parentClass", depth=depth + 1)
        return f"{above}: {name}" if above and name else above or name or ""
    return name or ""


def _measurements(value: Any, feature: str) -> dict[str, float]:
    """QuPath's measurements of the feature at ``feature``, a map or a list of {"name",
    "value"}, as finite numbers."""
    if value is None:
        return {}
    # Most files hold a map of plain numbers: taken in one pass (a quarter of the time).
    if type(value) is dict and set(map(type, value.values())) <= {float, int}:
        try:
            return {k: float(v) for k, v in value.items() if math.isfinite(v)}
        except OverflowError:  # an integer of 400 digits: the path below leaves it out
            pass
    path = _at(feature, "properties.measurements")
    if isinstance(value, list):
        pairs = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise AnnotationFileError(f'{path}[{i}]: not a {{"name", "value"}} object.')
            pairs.append((item["name"], item.get("value"), f"{path}[{i}].value"))
    elif isinstance(value, dict):
        pairs = [(name, number, f"{path}[{json.dumps(name)}]") for name, number in value.items()]
    else:
        raise AnnotationFileError(f"{path}: not a map of numbers.")
    out = {}
    for name, number, where in pairs:
        if number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise AnnotationFileError(f"{where}: {_shown(number)} is not a number.")
        try:
            number = float(number)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            out[name] = number
    return out


def _text(value: Any, path: str) -> str | None:
    """A name or id: text, or a number written as text."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise AnnotationFileError(f"{path}: {_shown(value)} is not text.")


def _point(coordinates: Any, path: str) -> BaseGeometry:
    return shapely.Point(position(coordinates, path))


def _multipoint(coordinates: Any, path: str) -> BaseGeometry:
    return shapely.MultiPoint(positions(coordinates, path))


def _line(coordinates: Any, path: str) -> BaseGeometry:
    return shapely.LineString(positions(coordinates, path, minimum=2))


def _multiline(coordinates: Any, path: str) -> BaseGeometry:
    return shapely.MultiLineString(
        [_line(part, f"{path}[{i}]") for i, part in enumerate(_parts(coordinates, path, "lines"))]
    )


def _polygon(coordinates: Any, path: str) -> BaseGeometry:
    rings = [
        _ring(ring, f"{path}[{i}]") for i, ring in enumerate(_parts(coordinates, path, "rings"))
    ]
    # shapely.polygons rather than Polygon(): 9 µs against 22 µs for a 41-vertex ring alone.
    return shapely.polygons(rings[0], holes=rings[1:] or None)


def _multipolygon(coordinates: Any, path: str) -> BaseGeometry:
    return shapely.MultiPolygon(
        [
            _polygon(part, f"{path}[{i}]")
            for i, part in enumerate(_parts(coordinates, path, "polygons"))
        ]
    )


def _parts(coordinates: Any, path: str, what: str) -> list:
    if not isinstance(coordinates, list) or not coordinates:
        raise AnnotationFileError(f"{path}: not a non-empty array of {what}.")
    return coordinates


def _ring(value: Any, path: str) -> np.ndarray:
    xy = positions(value, path, minimum=4)
    # Compared as scalars: np.array_equal of two points took 5.5 µs, this 0.4 µs.
    if not (xy[0, 0] == xy[-1, 0] and xy[0, 1] == xy[-1, 1]):
        raise AnnotationFileError(
            f"{path}: not closed (a ring's last position must repeat its first)."
        )
    return xy


_SHAPES = {
    "Point": _point,
    "MultiPoint": _multipoint,
    "LineString": _line,
    "MultiLineString": _multiline,
    "Polygon": _polygon,
    "MultiPolygon": _multipolygon,
}


def _at(path: str, key: str = "") -> str:
    """``path`` and ``key`` joined as a JSON path (``features[3]`` + ``geometry``)."""
    return f"{path}.{key}" if path and key else path or key


def _shown(value: Any) -> str:
    """``value`` as JSON, cut short, for a message."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
