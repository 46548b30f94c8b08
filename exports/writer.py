"""The export zip, written while it is sent: one GeoJSON FeatureCollection per slide in QuPath's
own keys, optional label masks, a README and a manifest.

Plain Python (orjson, zipstream-ng, Pillow, numpy), no Django, so that the benchmark can run the
same rows through it without a server. Memory stays constant whatever the number of features:
rows are read from an iterator, serialised ``CHUNK_ROWS`` at a time and sent on as they come;
only a label mask (at most 40 megapixels, a bound the export plan enforces) is held whole.

The zip's layout and names, QuPath's keys and the rule masks are painted by are the toolkit's
(wsi2ml_toolkit.export, .formats.qupath, .raster), which reads these zips back.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson
from PIL import Image
from wsi2ml_toolkit import collector, raster
from wsi2ml_toolkit.export import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    README,
    geojson_name,
    mask_name,
)
from wsi2ml_toolkit.formats.qupath import (
    AREA,
    LENGTH,
    PERIMETER,
    colour_rgb,
    is_ellipse,
    with_ellipse_flag,
)
from zipstream import ZIP_DEFLATED, ZIP_STORED, ZipStream

from exports.rows import ExportClass, ExportRow, ExportSlide

# Rows serialised by one orjson call. 100,000 features of 20 vertices: one call each, joined,
# took 1.0-1.7 s, against 0.19-0.32 s at 1,000 a call (1 MB of text, held once).
CHUNK_ROWS = 1000
# The GeoJSON is stored, not deflated: compressing costs more than everything else the export
# does. 100,000 features of 20 vertices (104 MB of GeoJSON) through zip_stream, one core of this
# two-core machine, no database (best and worst of two runs while other work ran):
#   stored:          0.63-1.19 s (84,000-160,000 features/s), 104 MB
#   deflate level 1: 1.81-1.92 s (52,000-55,000 features/s),  22 MB (21 %)
#   deflate level 6: 3.47-5.61 s (18,000-29,000 features/s),  19 MB (18 %)
# Deflate at level 1 alone (about 100 MB/s) would keep the whole export, database and rows
# included, well under the 60,000 features/s it must reach on two cores. A caller that would
# rather send a fifth of the bytes passes compress_level=1 (README and manifest are deflated
# whatever: they are small).
GEOJSON_COMPRESS_LEVEL: int | None = None
SMALL_FILES = {"compress_type": ZIP_DEFLATED, "compress_level": 6}
# What the consumer is given at a time: zipstream-ng yields every piece the compressor gives
# back, many of them empty or a few bytes long; one write per piece would cost the server more
# than the compression.
OUT_BYTES = 256 * 1024
MASK_MAX_CLASSES = 65535


@dataclass
class Summary:
    """What a complete export wrote: features per slide (by id) and per class (by name), the
    zip's size in bytes and the content hash (see ``zip_stream``)."""

    features: int = 0
    per_slide: dict[int, int] = field(default_factory=dict)
    per_class: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    sha256: str = ""


def manifest_base_make(
    *,
    created: str,
    wsi2ml_version: str,
    project: Mapping,
    parameters: Mapping[str, str],
    policy: str,
    labels: Sequence[Mapping] = (),
    dropped: Mapping[str, int] | Callable[[], Mapping[str, int]] | None = None,
) -> dict:
    """The part of the manifest known before writing, as ``zip_stream`` expects it.

    ``created`` is UTC ISO 8601; ``project`` is {"id", "name"}; ``parameters`` the export's
    canonical query parameters; ``policy`` the review policy in words; ``labels`` the project's
    labels as {"id", "name", "colour"} (their names go into each feature's provenance);
    ``dropped`` how many annotations the review policy and label filter left out, by reason,
    or a function giving them when the manifest is written (after every slide's rows).
    """
    return {
        "format": {"name": FORMAT_NAME, "version": FORMAT_VERSION},
        "created": created,
        "wsi2ml_version": wsi2ml_version,
        "project": dict(project),
        "parameters": dict(parameters),
        "policy": policy,
        "labels": [dict(label) for label in labels],
        "dropped": dropped if callable(dropped) else dict(dropped or {}),
    }


def zip_stream(
    *,
    manifest_base: Mapping,
    slides: Sequence[ExportSlide],
    classes: Sequence[ExportClass],
    rows_for: Callable[[ExportSlide], Iterable[ExportRow]],
    mask_mpp: float | None,
    on_finish: Callable[[Summary], None],
    compress_level: int | None = GEOJSON_COMPRESS_LEVEL,
) -> Iterator[bytes]:
    """Yield the export zip's bytes as they are made.

    ``manifest_base`` comes from ``manifest_base_make``; ``rows_for(slide)`` gives the slide's
    rows, each with the class index of one of ``classes``. With ``mask_mpp`` each slide also gets
    a label mask at that many µm per pixel (slides must then have an mpp).

    ``on_finish(summary)`` is called once, after the last byte was yielded; it is not called when
    the consumer stops early (closing the generator) or when reading rows fails (the exception
    goes to the consumer). The content hash is SHA-256 over, for each slide file in order (the
    GeoJSON, then the mask), its name in the zip, a NUL byte and its bytes: it does not depend on
    when the zip was made, so downloading unchanged data again gives the same hash.
    """
    writer = _Writer(manifest_base, classes, mask_mpp)
    zipped = ZipStream(compress_type=ZIP_STORED)
    zipped.add(readme_text(manifest_base, mask_mpp is not None), README, **SMALL_FILES)
    geojson_compression = (
        {"compress_type": ZIP_STORED}
        if compress_level is None
        else {"compress_type": ZIP_DEFLATED, "compress_level": compress_level}
    )
    for slide in slides:
        zipped.add(
            writer.geojson(slide, rows_for),
            geojson_name(slide.stem),
            **geojson_compression,
        )
        if mask_mpp is not None:
            # Iterated only once the GeoJSON above is written: zipstream-ng writes entries in
            # order, and the mask is painted while the GeoJSON is. PNG is compressed already.
            zipped.add(writer.mask_png(slide), mask_name(slide.stem))
    zipped.add(writer.manifest(slides), MANIFEST, **SMALL_FILES)

    pieces = iter(zipped)
    held: list[bytes] = []
    size = 0
    # The rows make many dicts and no cycles (wsi2ml_toolkit.collector: a fifth of the time).
    with collector.spaced():
        try:
            for piece in pieces:
                if piece:
                    held.append(piece)
                    size += len(piece)
                if size >= OUT_BYTES:
                    writer.summary.bytes += size
                    yield b"".join(held)
                    held, size = [], 0
            writer.summary.bytes += size
            if held:
                yield b"".join(held)
        finally:
            # Closes the entry being written, and with it the rows' iterator (a cursor).
            pieces.close()
    writer.summary.sha256 = writer.content_hash.hexdigest()
    on_finish(writer.summary)


class _Writer:
    """The state of one zip: counts, the content hash and the mask being painted."""

    def __init__(self, manifest_base: Mapping, classes: Sequence[ExportClass], mask_mpp):
        self.base = manifest_base
        self.classes = list(classes)
        self.mask_mpp = mask_mpp
        if mask_mpp is not None and len(self.classes) > MASK_MAX_CLASSES:
            raise ValueError(f"A label mask holds at most {MASK_MAX_CLASSES} classes.")
        self.class_names = {c.index: c.name for c in self.classes}
        self.classification = {
            c.index: {"name": c.name, "color": colour_rgb(c.colour)} for c in self.classes
        }
        self.label_names = {label["id"]: label["name"] for label in manifest_base.get("labels", ())}
        self.summary = Summary(per_class={c.name: 0 for c in self.classes})
        self.content_hash = hashlib.sha256()
        self.painter: _MaskPainter | None = None

    def geojson(self, slide: ExportSlide, rows_for) -> Iterator[bytes]:
        """The slide's FeatureCollection, ``CHUNK_ROWS`` features per orjson call."""
        name = geojson_name(slide.stem)
        self.content_hash.update(name.encode() + b"\0")
        if self.mask_mpp is not None:
            self.painter = _MaskPainter(slide, self.mask_mpp, len(self.classes))
        per_class = dict.fromkeys(self.class_names, 0)
        features = 0
        rows = iter(rows_for(slide))
        try:
            opening = b'{"type":"FeatureCollection","features":['
            self.content_hash.update(opening)
            yield opening
            chunk: list[dict] = []
            for row in rows:
                chunk.append(self.feature(row))
                per_class[row.class_index] += 1
                if self.painter is not None:
                    self.painter.paint(row)
                if len(chunk) == CHUNK_ROWS:
                    yield self._features_text(chunk, first=features == 0)
                    features += len(chunk)
                    chunk = []
            if chunk:
                yield self._features_text(chunk, first=features == 0)
                features += len(chunk)
            closing = b"]}\n"
            self.content_hash.update(closing)
            yield closing
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
        self.summary.features += features
        self.summary.per_slide[slide.id] = features
        for index, count in per_class.items():
            self.summary.per_class[self.class_names[index]] += count

    def _features_text(self, chunk: list[dict], *, first: bool) -> bytes:
        # The list's brackets dropped: chunks are parts of one "features" array.
        text = orjson.dumps(chunk)[1:-1]
        if not first:
            text = b"," + text
        self.content_hash.update(text)
        return text

    def feature(self, row: ExportRow) -> dict:
        """One annotation as QuPath writes it (PathObjectTypeAdapters, QuPath 0.4-0.6): type, id,
        geometry, then properties objectType, name (when set), classification, measurements
        (when any); WSI2ML's provenance under properties.wsi2ml, which QuPath ignores."""
        # One unpacking rather than twenty attribute reads: this runs for every feature (the
        # order is checked against ExportRow's below).
        (
            annotation_id, uuid, kind, geometry, class_index, label_id, original_label_id,
            name, author, assignment_id, task_id, created_at, updated_at, area_um2,
            perimeter_um, verdicts, agreement, consensus_label_id, corrected, missed_region,
            origin, origin_detail, changed_since_origin,
        ) = row  # fmt: skip
        provenance = {
            "annotationId": annotation_id,
            "kind": kind,
            "labelId": label_id,
            "label": self.label_names.get(label_id, ""),
            "author": author,
            "taskId": task_id,
            "assignmentId": assignment_id,
            "created": created_at,
            "updated": updated_at,
            "verdicts": verdicts,
            "agreement": agreement,
            "consensusLabelId": consensus_label_id,
            "corrected": corrected,
            "missedRegion": missed_region,
        }
        if original_label_id != label_id:
            provenance["originalLabelId"] = original_label_id
        if origin != "drawn":
            provenance["origin"] = origin
            provenance["originDetail"] = orjson.Fragment(origin_detail or "null")
            provenance["changedSinceOrigin"] = bool(changed_since_origin)
        properties = {"objectType": "annotation"}
        if name:
            properties["name"] = name
        properties["classification"] = self.classification[class_index]
        if agreement is None and area_um2 is not None and kind not in ("point", "line"):
            # Most features: an unreviewed region with its stored area and perimeter (one dict
            # here rather than feature_measurements' checks: 0.3 µs a feature against 2.1 µs).
            properties["measurements"] = (
                {AREA: area_um2}
                if perimeter_um is None
                else {AREA: area_um2, PERIMETER: perimeter_um}
            )
        else:
            measurements = feature_measurements(kind, area_um2, perimeter_um, verdicts, agreement)
            if measurements:
                properties["measurements"] = measurements
        properties["wsi2ml"] = provenance
        if kind == "ellipse" and not corrected and is_ellipse(geometry):
            geometry = with_ellipse_flag(geometry)
        return {
            "type": "Feature",
            "id": uuid,
            "geometry": orjson.Fragment(geometry),
            "properties": properties,
        }

    def mask_png(self, slide: ExportSlide) -> Iterator[bytes]:
        """The mask painted while the slide's GeoJSON was written, as PNG."""
        painter, self.painter = self.painter, None
        assert painter is not None and painter.slide is slide, "mask before its GeoJSON"
        data = painter.png()
        self.content_hash.update(mask_name(slide.stem).encode() + b"\0")
        self.content_hash.update(data)
        yield data

    def manifest(self, slides: Sequence[ExportSlide]) -> Iterator[bytes]:
        """manifest.json, once every slide file is written (its counts are the written ones)."""
        yield orjson.dumps(self.manifest_document(slides), option=orjson.OPT_INDENT_2) + b"\n"

    def manifest_document(self, slides: Sequence[ExportSlide]) -> dict:
        base = dict(self.base)
        dropped = base.pop("dropped", {})
        if callable(dropped):
            dropped = dict(dropped())
        class_of = {label_id: c for c in self.classes for label_id in c.label_ids}
        base["labels"] = [
            {
                **label,
                "class": class_of[label["id"]].name if label["id"] in class_of else None,
                "classIndex": class_of[label["id"]].index if label["id"] in class_of else None,
            }
            for label in base.get("labels", ())
        ]
        masks = self.mask_mpp is not None
        document = {
            **base,
            "slides": [
                {
                    "id": slide.id,
                    "path": slide.path,
                    "name": slide.name,
                    "quickhash": slide.quickhash,
                    "width": slide.width,
                    "height": slide.height,
                    "mpp_x": slide.mpp_x,
                    "mpp_y": slide.mpp_y,
                    "objective_power": slide.objective_power,
                    "bounds": list(slide.bounds) if slide.bounds else None,
                    "geojson": geojson_name(slide.stem),
                    "mask": mask_name(slide.stem) if masks else None,
                    "features": self.summary.per_slide.get(slide.id, 0),
                }
                for slide in slides
            ],
            "classes": [
                {
                    "index": c.index,
                    "name": c.name,
                    "colour": c.colour,
                    "labelIds": list(c.label_ids),
                }
                for c in self.classes
            ],
            "mask": (
                {
                    "mpp": self.mask_mpp,
                    "background": 0,
                    "classes": {str(c.index): c.name for c in self.classes},
                }
                if masks
                else None
            ),
            "counts": {
                "features": self.summary.features,
                "per_class": self.summary.per_class,
                "dropped": dropped,
            },
        }
        return document


# The order _Writer.feature unpacks a row in.
assert ExportRow._fields == (
    "annotation_id", "uuid", "kind", "geometry", "class_index", "label_id", "original_label_id",
    "name", "author", "assignment_id", "task_id", "created_at", "updated_at", "area_um2",
    "perimeter_um", "verdicts", "agreement", "consensus_label_id", "corrected", "missed_region",
    "origin", "origin_detail", "changed_since_origin",
), "exports.writer unpacks ExportRow in its field order"  # fmt: skip


# --- Features ----------------------------------------------------------------------------------


def feature_measurements(
    kind: str,
    area_um2: float | None,
    perimeter_um: float | None,
    verdicts: Mapping[str, int],
    agreement: float | None,
) -> dict[str, float]:
    """QuPath's measurement map: its own names for area, perimeter and length (in µm, when the
    slide's mpp is known), then the review's agreement and verdict counts when reviewed."""
    measurements: dict[str, float] = {}
    if kind == "line":
        if perimeter_um is not None:
            measurements[LENGTH] = perimeter_um
    elif kind != "point":
        if area_um2 is not None:
            measurements[AREA] = area_um2
        if perimeter_um is not None:
            measurements[PERIMETER] = perimeter_um
    if agreement is not None:
        measurements["Agreement"] = agreement
    if any(verdicts.values()):
        measurements["Verdicts agree"] = verdicts.get("agree", 0)
        measurements["Verdicts wrong label"] = verdicts.get("wrong_label", 0)
        measurements["Verdicts wrong region"] = verdicts.get("wrong_region", 0)
        measurements["Verdicts reject"] = verdicts.get("reject", 0)
    return measurements


# --- Masks -------------------------------------------------------------------------------------


def mask_size(slide: ExportSlide, mask_mpp: float) -> tuple[int, int]:
    """(width, height) of the slide's mask at ``mask_mpp`` µm per pixel, rounded up."""
    if not (slide.mpp_x and slide.mpp_y and slide.width and slide.height):
        raise ValueError(f"Slide {slide.id} has no size or mpp; it cannot have a mask.")
    # Less a hair, so that 4096 px at 0.25 µm/px gives 2048 mask pixels at 0.5, not 2049.
    width = math.ceil(slide.width * slide.mpp_x / mask_mpp - 1e-9)
    height = math.ceil(slide.height * slide.mpp_y / mask_mpp - 1e-9)
    return max(width, 1), max(height, 1)


class _MaskPainter:
    """One slide's label mask, painted as each row is written, by the toolkit's one rule for
    masks (wsi2ml_toolkit.raster): a pixel is a polygon's when its centre lies inside it, holes
    left as they were, a higher class index over a lower one wherever they overlap."""

    def __init__(self, slide: ExportSlide, mask_mpp: float, class_count: int):
        self.slide = slide
        width, height = mask_size(slide, mask_mpp)
        self.dtype = np.uint8 if class_count <= 255 else np.uint16
        self.pixels = np.zeros((height, width), dtype=self.dtype)
        # Mask pixels per level-0 pixel, along each axis.
        self.scale = np.array([slide.mpp_x / mask_mpp, slide.mpp_y / mask_mpp])

    def paint(self, row: ExportRow) -> None:
        if row.kind in ("point", "line"):
            return
        shape = orjson.loads(row.geometry)
        if shape["type"] == "Polygon":
            rings = shape["coordinates"]
        elif shape["type"] == "MultiPolygon":
            rings = [ring for polygon in shape["coordinates"] for ring in polygon]
        else:
            return
        scaled = [np.asarray(ring, dtype=float) * self.scale for ring in rings]
        raster.paint(self.pixels, [scaled], row.class_index)

    def png(self) -> bytes:
        image = Image.fromarray(self.pixels)
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()


# --- README ------------------------------------------------------------------------------------


def readme_text(manifest_base: Mapping, masks: bool) -> str:
    """README.txt: the layout, the coordinates and what the classes, masks and provenance mean."""
    project = manifest_base.get("project", {})
    mask_part = (
        """
masks/<stem>.png
    A label mask per slide at manifest.json's mask.mpp micrometres per pixel (its size is the
    slide's level-0 size times mpp_x, mpp_y divided by mask.mpp, rounded up). 0 is background;
    each other value is a class index (manifest.json, mask.classes). Polygons are painted with
    their class index, holes left unpainted; where features overlap the higher class index wins.
    A mask pixel is painted when its centre lies inside a polygon. Points and lines are not
    painted. 8-bit greyscale PNG, 16-bit with more than 255 classes.
"""
        if masks
        else ""
    )
    return f"""WSI2ML export
=============

Project: {project.get("name", "")} (id {project.get("id", "")})
Made: {manifest_base.get("created", "")} (UTC), WSI2ML {manifest_base.get("wsi2ml_version", "")}
Review policy: {manifest_base.get("policy", "")}

Layout
------
manifest.json
    The export's parameters (the same query parameters download it again), the review policy,
    each slide (path, file name, OpenSlide quickhash, size, mpp, objective power, bounds, and
    its files in this zip), the project's labels, the export classes, and counts: features
    written per class and annotations left out, by reason.
annotations/<stem>.geojson
    One GeoJSON FeatureCollection per slide; <stem> is the slide's id and a safe form of its
    path, so slides of the same file name in different folders never share a file.
{mask_part}
Coordinates
-----------
Level-0 (full-resolution) pixels of the slide, origin at the top left corner of the image,
x to the right, y down, rounded to 0.01 px. Polygons are valid (repaired when drawn).
Multiply by the slide's mpp_x / mpp_y (manifest.json) for micrometres.

Features
--------
Written with QuPath's own keys. properties.classification is the export class (its name and
colour as [r, g, b]); properties.measurements holds "Area µm^2" (and "Perimeter µm", or
"Length µm" for a line, where known) when the slide's mpp is known, and for reviewed
annotations "Agreement" (the share of current verdicts that agree) and the verdict counts.
Ellipses carry QuPath's "isEllipse" in their geometry. properties.wsi2ml is WSI2ML's
provenance: annotation id, kind, label (id and name; originalLabelId when a consensus label
replaced the drawn one), author, task and assignment ids, created and updated times, current
verdicts by kind, agreement, consensus label id, whether a reviewer's corrected region replaced
the drawn geometry (corrected), and whether a reviewer drew the region as missed (missedRegion).
An annotation that started from an uploaded layer also says so: origin ("model" for a model's
predictions, "imported" for another tool's file), originDetail (the layer and feature it came
from) and changedSinceOrigin (whether a person has edited it since).

Classes
-------
Classes are numbered from 1 in the project's label order; renamed or merged labels form one
class (manifest.json, classes: index, name, colour, labelIds).

Opening in QuPath (0.4 to 0.6)
------------------------------
Open the slide in QuPath, then drag its annotations/<stem>.geojson onto the viewer (or File >
Import objects from file). Annotations come in with their classes, colours and measurements.

Content hash
------------
The export history's sha256 is SHA-256 over each slide file in manifest order (the GeoJSON,
then the mask): its name in the zip, a NUL byte, then its bytes. README.txt and manifest.json,
which hold the time of the export, are left out, so unchanged data downloads with the same hash.
"""
