"""``wsi2ml-toolkit convert``: QuPath, ASAP or Digital Slide Archive annotations as one QuPath
GeoJSON FeatureCollection, which QuPath, WSI2ML and GeoJSON tools open.

Every feature is written as ``formats.qupath.feature_dict`` writes it: valid geometry (repaired
as the server repairs what a person draws, rounded to 0.01 px), a classification with a colour
(the file's, else one made from the class name), objectType. What QuPath reads as one object
but the server stores as several (a MultiPoint, such as an ASAP PointSet, or a
MultiLineString) is written as one feature per part, each with the feature's class and
properties. A feature whose geometry cannot be repaired into anything (a polygon without
area, a line without length) stops the conversion with its number and name; nothing is
written then, not even part of the output.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import shapely
from shapely.geometry import MultiLineString, MultiPoint

from wsi2ml_toolkit.features import Feature
from wsi2ml_toolkit.formats import FORMATS, qupath, read_annotations
from wsi2ml_toolkit.geometry import GeometryError

# The ids of the parts of a split feature are derived from its id in this namespace, so that
# converting the same file twice writes the same ids.
_PART_IDS = uuid.UUID("7d4a3c52-6f0e-4b8e-9a51-2f3c8e1b0d47")


def convert_file(
    input: str | os.PathLike, output: str | os.PathLike, *, format: str | None = None
) -> int:
    """Write the annotations of ``input`` (QuPath, ASAP or DSA; ``format`` to say which rather
    than detect it) to ``output`` as one QuPath FeatureCollection; return how many features
    were written. AnnotationFileError for a file that cannot be read, GeometryError naming the
    feature whose geometry cannot be repaired; ``output`` is then left as it was."""
    return sum(convert_counts(input, output, format=format).values())


def convert_counts(
    input: str | os.PathLike, output: str | os.PathLike, *, format: str | None = None
) -> Counter[str | None]:
    """``convert_file``, returning the number of features written per class (None: no
    class)."""
    features = read_annotations(input, format=format)
    numbered = _Numbered(single_parts(features))
    target = Path(output)
    partial = target.with_name(f".{target.name}.part")
    try:
        with open(partial, "wb") as out:
            qupath.write_geojson(numbered, out)
        os.replace(partial, target)
    except GeometryError as exc:
        raise GeometryError(f"{os.fspath(input)}: {numbered.current()}: {exc.message}") from None
    finally:
        partial.unlink(missing_ok=True)
    return numbered.classes


def single_parts(features: Iterable[Feature]) -> Iterator[tuple[int, Feature]]:
    """Each feature with its number in ``features``, a MultiPoint or MultiLineString split
    into one feature per part (ids derived from the feature's, when it has one)."""
    for number, feature in enumerate(features):
        if not isinstance(feature.geometry, MultiPoint | MultiLineString):
            yield number, feature
            continue
        for part, geometry in enumerate(shapely.get_parts(feature.geometry)):
            part_id = (
                None if feature.id is None else str(uuid.uuid5(_PART_IDS, f"{feature.id}/{part}"))
            )
            yield number, replace(feature, geometry=geometry, id=part_id)


def add_parser(commands) -> None:
    """Add ``convert INPUT --out OUTPUT.geojson [--from FORMAT]`` to the subcommands."""
    command = commands.add_parser(
        "convert",
        help="write QuPath, ASAP or DSA annotations as one QuPath GeoJSON file",
        description="Write the annotations of a QuPath GeoJSON, ASAP XML or Digital Slide "
        "Archive JSON file as one QuPath-compatible GeoJSON FeatureCollection: valid "
        "geometry, classes with colours. The format is found from the content unless --from "
        "says it.",
    )
    command.add_argument("input", metavar="INPUT", help="the annotation file to read")
    command.add_argument(
        "--out", required=True, metavar="OUTPUT.geojson", help="the GeoJSON file to write"
    )
    command.add_argument(
        "--from", dest="format", choices=FORMATS, help="the input's format (default: detected)"
    )
    command.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Convert, then say on stderr how many features of each class were written."""
    counts = convert_counts(arguments.input, arguments.out, format=arguments.format)
    print(summary(counts, arguments.out), file=sys.stderr)
    return 0


def summary(counts: Counter[str | None], output: str | os.PathLike) -> str:
    """One line: features written in all and per class, most first."""
    total = sum(counts.values())
    classes = ", ".join(
        f"{name if name is not None else '(no class)'} {count}"
        for name, count in sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    )
    noun = "feature" if total == 1 else "features"
    return f"wrote {total} {noun} to {os.fspath(output)}" + (f": {classes}" if classes else "")


class _Numbered:
    """The features to write, remembering which one is being written (for a GeometryError
    raised while writing it) and counting them per class."""

    def __init__(self, parts: Iterator[tuple[int, Feature]]):
        self._parts = parts
        self._number: int | None = None
        self._feature: Feature | None = None
        self.classes: Counter[str | None] = Counter()

    def __iter__(self) -> Iterator[Feature]:
        for number, feature in self._parts:
            self._number, self._feature = number, feature
            yield feature
            self.classes[feature.class_name] += 1

    def current(self) -> str:
        """The feature being written, as a person finds it in the input: its number (from 0,
        in the order read), name, class and id."""
        feature = self._feature
        assert feature is not None, "write_geojson fails only on a feature it was given"
        details = [
            f"name {feature.name!r}" if feature.name else "",
            f"class {feature.class_name!r}" if feature.class_name else "",
            f"id {feature.id}" if feature.id else "",
        ]
        described = ", ".join(detail for detail in details if detail)
        return f"feature {self._number}" + (f" ({described})" if described else "")
