"""Annotation file formats: QuPath GeoJSON, ASAP XML, Digital Slide Archive JSON.

``read_annotations`` reads any of them into Features, telling them apart by content, not by
name: XML whose root is ``<ASAP_Annotations>`` is ASAP's; JSON shaped as GeoJSON (a
FeatureCollection, a Feature, a geometry, an array of features) is QuPath's, a WSI2ML export's
per-slide files among them; JSON with ``elements`` or ``annotation`` (or a list of such
documents, or of DSA elements) is the Digital Slide Archive's. Every file is read whole
(``json.loads``; the toolkit has no streaming JSON parser): 20,000 detections of 21 vertices
(19 MB of JSON) peaked at 110 MB of Python objects while being read, 5.7 times the text, and
kept 16 MB besides the shapes GEOS holds.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

from wsi2ml_toolkit import collector
from wsi2ml_toolkit.features import AnnotationFileError, Feature
from wsi2ml_toolkit.formats import asap, dsa, qupath

QUPATH, ASAP, DSA = "qupath", "asap", "dsa"
FORMATS = (QUPATH, ASAP, DSA)
# Bytes a UTF-8 file may start with before its first character of substance.
_LEADING = b"\xef\xbb\xbf \t\r\n"

Source = str | os.PathLike | IO[bytes]


def read_annotations(source: Source, *, format: str | None = None) -> list[Feature]:
    """The features of an annotation file: a path (str or Path) or a file open for reading in
    binary mode. ``format`` ("qupath", "asap" or "dsa") skips the detection and reads the file
    as that format. AnnotationFileError, beginning with the file's name, for a file that is
    empty, truncated, of no known format, or has a malformed feature (named with the fault)."""
    data, where = _read(source)
    return read_annotations_text(data, format=format, where=where)


def read_annotations_text(
    text: str | bytes, *, format: str | None = None, where: str | None = None
) -> list[Feature]:
    """The features of an annotation file's content (text, or bytes in its own encoding), as
    ``read_annotations`` reads them; ``where`` names it in errors."""
    data = text.encode() if isinstance(text, str) else text
    # Many containers, no cycles: json.loads of 20,000 features took three times as long
    # with the collector at its default thresholds (wsi2ml_toolkit.collector), paused here.
    with collector.paused():
        found, document = _load(data, format, where)
        reader = {QUPATH: qupath.features_of, ASAP: asap.features_of, DSA: dsa.features_of}
        return list(reader[found](document, where=where))


def detect_format(source: Source) -> str:
    """The format of an annotation file ("qupath", "asap" or "dsa"), found by reading it;
    AnnotationFileError when it is none of them."""
    data, where = _read(source)
    return _load(data, None, where)[0]


def _read(source: Source) -> tuple[bytes, str]:
    if hasattr(source, "read"):
        return source.read(), str(getattr(source, "name", "") or "the file")
    with open(source, "rb") as file:
        return file.read(), os.fspath(source)


def _load(data: bytes, format: str | None, where: str | None) -> tuple[str, Any]:
    """The format and parsed document (JSON value or XML root) of a file's content."""
    if format is not None and format not in FORMATS:
        raise AnnotationFileError(f"Unknown format {format!r}; use one of {', '.join(FORMATS)}.")
    name = where or "the content"
    start = data.lstrip(_LEADING)[:1]
    if not start:
        raise AnnotationFileError(f"{name}: empty; no annotations in it.")
    if start == b"<":
        if format not in (None, ASAP):
            raise AnnotationFileError(f"{name}: XML, not {format} JSON.")
        root = asap.parse(data, where=where)
        if not asap.is_asap(root):
            raise AnnotationFileError(
                f"{name}: XML whose root is <{root.tag}>; the only XML read is ASAP's "
                f"(<{asap.ROOT}>)."
            )
        return ASAP, root
    if format == ASAP:
        raise AnnotationFileError(f"{name}: not XML, so not an ASAP file.")
    document = _json(data, name)
    if format is not None:
        return format, document
    if qupath.is_geojson(document):
        return QUPATH, document
    if dsa.is_dsa(document):
        return DSA, document
    raise AnnotationFileError(
        f"{name}: JSON that is neither GeoJSON (QuPath: a FeatureCollection, Feature, geometry "
        "or array of features) nor Digital Slide Archive annotations (a document with "
        "elements, or a list of them)."
    )


def _json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise AnnotationFileError(f"{name}: not text in UTF-8, UTF-16 or UTF-32 ({exc}).") from None
    except json.JSONDecodeError as exc:
        # A cut file fails where the text ends, or inside a string it cut.
        if exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise AnnotationFileError(
                f"{name}: the JSON ends early (truncated?) at line {exc.lineno}, column "
                f"{exc.colno}."
            ) from None
        raise AnnotationFileError(
            f"{name}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
