"""Reading an uploaded layer file in batches, each turned into the rows the database stores.

The toolkit's readers (wsi2ml_toolkit.formats) read a whole document; a model's output can be
a million features (400 MB of GeoJSON), so a QuPath FeatureCollection or array is streamed
here instead: ijson (its C backend) yields one feature at a time and the toolkit's
``qupath.features_of`` reads them BATCH at a time, which also makes their polygons in bulk. ASAP
XML, DSA JSON and single QuPath Features are small in practice and read whole by the toolkit.

Each batch's geometries are made storable together (``tidy_all``): rounded to 0.01 px in one
numpy call, checked with ``shapely.is_valid`` on the array, and only the invalid ones repaired
one by one with the toolkit's ``tidy`` (about 1 ms a feature: far too slow for all of them).
Every refusal is a LayerFileError naming the first feature at fault, as the readers name it:
``scores.geojson: features[12].geometry.coordinates[0]: not closed ...``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ijson
import numpy as np
import orjson
import shapely
from wsi2ml_toolkit.features import AnnotationFileError, Feature
from wsi2ml_toolkit.formats import ASAP, QUPATH, detect_format, qupath, read_annotations_text
from wsi2ml_toolkit.geometry import DIGITS, GeometryError, tidy

from wsi2ml.api import ApiError

BATCH = 2048  # features read, checked and written at a time: memory bounded, work amortised
SCORE = "score"
PROB_PREFIX = "prob_"
# shapely's type ids of what is stored: Point, LineString, Polygon, MultiPoint, MultiLineString,
# MultiPolygon (tidy's types, and ASAP's point sets and QuPath's multi-lines as they come).
STORED_TYPES = (0, 1, 3, 4, 5, 6)
_LEADING = b"\xef\xbb\xbf \t\r\n"


class LayerFileError(ApiError):
    """An uploaded file that cannot be imported; the message names the file and the first
    feature at fault."""


@dataclass
class Rows:
    """One batch of features as the database stores them (texts are JSON)."""

    geometry: list[str]
    nucleus: list[str | None]
    bounds: np.ndarray  # n x 4: x0, y0, x1, y1
    object_type: list[str]
    class_name: list[str]
    measurements: list[str]
    properties: list[str]
    score: list[float | None]
    colours: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    ranges: dict[str, list[float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.geometry)


# --- Reading ---------------------------------------------------------------------------------


def file_format(path: Path, *, name: str) -> str:
    """ "qupath", "asap" or "dsa", from the file's first bytes and JSON members; LayerFileError
    for an empty file or one of no known format. Reads only the start of a QuPath file."""
    mode, _prefix = _json_mode(path, name)
    if mode == ASAP:
        return ASAP
    if mode == "stream":
        return QUPATH
    return _refused(lambda: _whole(path, name)[0])


def features_of(path: Path, *, name: str) -> Iterator[tuple[int, list[Feature], str | None]]:
    """The file's features, BATCH at a time, each batch with the index of its first feature
    and the JSON path of the file's features ("features", "" for an array), which messages
    name them by (``features[12]``); None where they are only counted (``feature 12``)."""
    mode, prefix = _json_mode(path, name)
    if mode == "stream":
        base = "features" if prefix == "features.item" else ""
        for start, features in _streamed(path, name, prefix):
            yield start, features, base
        return
    _format, features = _refused(lambda: _whole(path, name))
    for start in range(0, len(features), BATCH):
        yield start, features[start : start + BATCH], None


def _json_mode(path: Path, name: str) -> tuple[str, str]:
    """How to read the file: ("stream", ijson prefix of its features), (ASAP, "") or
    ("whole", "") for what the toolkit reads whole."""
    with open(path, "rb") as file:
        start = file.read(4096).lstrip(_LEADING)[:1]
        if not start:
            raise LayerFileError(f"{name}: empty; no features in it.")
        if start == b"<":
            return ASAP, ""
        file.seek(0)
        try:
            return _json_members(file)
        except ijson.JSONError:
            return "whole", ""  # the toolkit's reader says what is wrong, and where


def _json_members(file) -> tuple[str, str]:
    events = ijson.parse(file, use_float=True)
    _prefix, event, _value = next(events)
    if event == "start_array":
        file.seek(0)
        first = next(ijson.items(file, "item", use_float=True), None)
        return ("stream", "item") if qupath.is_geojson([first]) else ("whole", "")
    if event != "start_map":
        return "whole", ""
    # The members before "type" or "features" are few and small in a FeatureCollection; a
    # DSA document's "elements" or "annotation" is not one.
    for prefix, event, value in events:
        if prefix != "" or event != "map_key":
            continue
        if value == "features":
            return "stream", "features.item"
        if value == "type":
            _prefix, event, value = next(events)
            return ("stream", "features.item") if value == "FeatureCollection" else ("whole", "")
        if value in ("elements", "annotation", "geometry"):
            return "whole", ""
    return "whole", ""


def _streamed(path: Path, name: str, prefix: str) -> Iterator[tuple[int, list[Feature]]]:
    base = "features" if prefix == "features.item" else ""
    with open(path, "rb") as file:
        items = ijson.items(file, prefix, use_float=True)
        start = 0
        while True:
            try:
                batch = [item for _, item in zip(range(BATCH), items, strict=False)]
            except ijson.IncompleteJSONError as exc:
                raise LayerFileError(_json_fault(name, start, exc, truncated=True)) from None
            except ijson.JSONError as exc:
                raise LayerFileError(_json_fault(name, start, exc, truncated=False)) from None
            if not batch:
                return
            try:
                features = list(qupath.features_of_part(batch, base=base, start=start, where=name))
            except AnnotationFileError as exc:
                raise LayerFileError(str(exc)) from None
            yield start, features
            start += len(batch)


def _json_fault(name: str, start: int, exc: Exception, *, truncated: bool) -> str:
    what = "the JSON ends early (truncated?)" if truncated else "not valid JSON"
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return f"{name}: {what} after {start} features were read ({detail})."


def _whole(path: Path, name: str) -> tuple[str, list[Feature]]:
    data = path.read_bytes()
    found = detect_format(_Named(data, name))
    return found, read_annotations_text(data, format=found, where=name)


class _Named(io.BytesIO):
    """The file's content under its uploaded name, which the toolkit's messages begin with
    (not the path it is stored at)."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name


def _refused(read):
    try:
        return read()
    except AnnotationFileError as exc:
        raise LayerFileError(str(exc)) from None


# --- Rows ------------------------------------------------------------------------------------


def rows_of(
    features: list[Feature],
    *,
    start: int,
    name: str,
    base: str | None,
    size: tuple[float | None, float | None],
    score_name: str,
    max_properties: int,
) -> Rows:
    """The batch's features as rows; ``start`` and ``base`` name them in messages (see
    features_of), ``size`` is the slide's (a feature wholly outside it is refused),
    ``score_name`` the measurement that is each feature's score ("" for the default, see
    ``score_of``)."""

    def where(i: int) -> str:
        if base is None:
            return f"{name}: feature {start + i}"
        return f"{name}: {base}[{start + i}]"

    shapes = tidy_all(np.array([f.geometry for f in features], dtype=object), where)
    bounds = shapely.bounds(shapes)
    _check_inside(bounds, size, where)
    nuclei = [f.nucleus for f in features]
    nucleus_text: list[str | None] = [None] * len(features)
    with_nucleus = [i for i, n in enumerate(nuclei) if n is not None and not n.is_empty]
    if with_nucleus:
        made = tidy_all(np.array([nuclei[i] for i in with_nucleus], dtype=object), where)
        for i, text in zip(with_nucleus, shapely.to_geojson(made).tolist(), strict=True):
            nucleus_text[i] = text
    rows = Rows(
        geometry=shapely.to_geojson(shapes).tolist(),
        nucleus=nucleus_text,
        bounds=bounds,
        object_type=[f.object_type for f in features],
        class_name=[],
        measurements=[],
        properties=[],
        score=[],
    )
    for i, feature in enumerate(features):
        _add_details(rows, feature, where(i), score_name, max_properties)
    return rows


def tidy_all(shapes: np.ndarray, where) -> np.ndarray:
    """``shapes`` made storable as ``wsi2ml_toolkit.geometry.tidy`` makes one: valid, rounded
    to 0.01 px, regions with area and lines with length. Done for the whole array at once;
    only the shapes that are invalid once rounded go through ``tidy`` one by one."""
    types = shapely.get_type_id(shapes)
    unstored = ~np.isin(types, STORED_TYPES)
    if unstored.any():
        i = int(np.argmax(unstored))
        raise LayerFileError(
            f"{where(i)}: a {shapes[i].geom_type} is not stored; write each of its parts as a "
            "feature of its own."
        )
    empty = shapely.is_empty(shapes)
    if empty.any():
        raise LayerFileError(f"{where(int(np.argmax(empty)))}: The geometry is empty.")
    rounded = shapely.transform(shapes, lambda xy: np.round(xy, DIGITS))
    polygonal = (types == 3) | (types == 6)
    for i in np.flatnonzero(polygonal & ~shapely.is_valid(rounded)).tolist():
        try:
            rounded[i] = tidy(shapes[i])
        except GeometryError as exc:
            raise LayerFileError(f"{where(i)}: {exc.message}") from None
    flat = polygonal & (shapely.area(rounded) == 0)
    if flat.any():
        raise LayerFileError(f"{where(int(np.argmax(flat)))}: The shape encloses no area.")
    short = ((types == 1) | (types == 5)) & (shapely.length(rounded) == 0)
    if short.any():
        raise LayerFileError(f"{where(int(np.argmax(short)))}: The line is shorter than 0.01 px.")
    return rounded


def _check_inside(bounds: np.ndarray, size: tuple[float | None, float | None], where) -> None:
    width, height = size
    if not (width and height):
        return
    outside = (bounds[:, 0] > width) | (bounds[:, 1] > height) | (bounds[:, 2] < 0)
    outside |= bounds[:, 3] < 0
    if outside.any():
        raise LayerFileError(
            f"{where(int(np.argmax(outside)))}: lies wholly outside the slide ({width:g} × "
            f"{height:g} px); is the file this slide's, in level-0 pixels?"
        )


def _add_details(rows: Rows, feature: Feature, where: str, score_name: str, limit: int) -> None:
    measurements = dict(feature.measurements)
    properties = dict(feature.properties)
    if feature.name:
        properties["name"] = feature.name
    # "score" is the feature's own key in the answer (layers.selectors): a number found among
    # the properties is taken as the measurement it is; anything else keeps another name.
    if SCORE in properties:
        value = properties.pop(SCORE)
        if _is_number(value) and SCORE not in measurements:
            measurements[SCORE] = float(value)
        else:
            properties["score (uploaded)"] = value
    class_name = feature.class_name or ""
    if "\x00" in class_name:
        raise LayerFileError(f"{where}: the class name holds a NUL character.")
    if class_name and feature.colour and class_name not in rows.colours:
        rows.colours[class_name] = feature.colour
    try:
        measurements_text = orjson.dumps(measurements).decode()
        properties_text = orjson.dumps(properties).decode()
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise LayerFileError(f"{where}: its properties cannot be stored ({exc}).") from None
    if len(properties_text) > limit:
        raise LayerFileError(
            f"{where}: its properties take {len(properties_text):,} bytes of JSON; at most "
            f"{limit:,} are kept. Leave the rest out of the file."
        )
    for key, value in measurements.items():
        known = rows.ranges.get(key)
        if known is None:
            rows.ranges[key] = [value, value]
        elif value < known[0]:
            known[0] = value
        elif value > known[1]:
            known[1] = value
    rows.class_name.append(class_name)
    rows.measurements.append(measurements_text)
    rows.properties.append(properties_text)
    rows.score.append(score_of(measurements, score_name))


def score_of(measurements: dict[str, float], score_name: str) -> float | None:
    """The feature's score: the measurement ``score_name`` when one is chosen; else the
    measurement "score" (a detection's, as the toolkit writes it); else the highest of the
    ``prob_<class>`` measurements (a WSInfer tile's, whose class is that one); else None."""
    if score_name:
        return measurements.get(score_name)
    if SCORE in measurements:
        return measurements[SCORE]
    probabilities = [v for k, v in measurements.items() if k.startswith(PROB_PREFIX)]
    return max(probabilities) if probabilities else None


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)
