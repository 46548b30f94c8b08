"""The WSI2ML export zip: its layout and names, shared by the server that writes it and the
toolkit that reads it (``open_export``).

Layout, in order:
    README.txt                      what is where, the coordinate convention, opening in QuPath
    annotations/<stem>.geojson      one FeatureCollection per slide
    masks/<stem>.png                one label mask per slide, when a mask mpp was chosen
    manifest.json                   last, so that its counts are those written, not foreseen
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from wsi2ml_toolkit import collector
from wsi2ml_toolkit.features import AnnotationFileError, Feature
from wsi2ml_toolkit.formats import qupath

FORMAT_NAME = "wsi2ml-export"
FORMAT_VERSION = 1
README = "README.txt"
MANIFEST = "manifest.json"
STEM_MAX = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def stem_make(*, slide_id: int, path: str) -> str:
    """A file stem that no other slide has: the id, then a safe form of the relative path
    without its extension (``a/case.tif`` of slide 7: ``7_a_case``)."""
    base = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    safe = _UNSAFE.sub("_", base).strip("._-")[:STEM_MAX].rstrip("._-")
    return f"{slide_id}_{safe}" if safe else str(slide_id)


def geojson_name(stem: str) -> str:
    """The name in the zip of a slide's FeatureCollection."""
    return f"annotations/{stem}.geojson"


def mask_name(stem: str) -> str:
    """The name in the zip of a slide's label mask."""
    return f"masks/{stem}.png"


@dataclass(frozen=True)
class ExportClass:
    """An export class: index 1..n (0 is a mask's background), name, colour and its labels."""

    index: int
    name: str
    colour: tuple[int, int, int]
    label_ids: tuple[int, ...]


@dataclass(frozen=True)
class ExportSlideInfo:
    """A slide of an export, as its manifest describes it; ``geojson`` and ``mask`` are the
    names of its files in the zip (``mask`` None without masks)."""

    id: int
    path: str
    name: str
    quickhash: str
    width: int | None
    height: int | None
    mpp_x: float | None
    mpp_y: float | None
    objective_power: float | None
    bounds: tuple[int, int, int, int] | None
    stem: str
    geojson: str
    mask: str | None
    features: int


class ExportZip:
    """An open WSI2ML export zip (``open_export``): its manifest, slides, classes and each
    slide's features. Use it in a ``with`` block, or ``close()`` it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except zipfile.BadZipFile as exc:
            raise AnnotationFileError(f"{self.path}: not a zip file ({exc}).") from None
        try:
            self.manifest = self._manifest()
            self.classes = [_class(c, i) for i, c in enumerate(self.manifest.get("classes", []))]
            self.slides = [_slide(s, i) for i, s in enumerate(self.manifest.get("slides", []))]
        except Exception:
            self._zip.close()
            raise
        self._class_by_name = {c.name: c for c in self.classes}

    @property
    def policy(self) -> str:
        """The review policy that chose the annotations, in words."""
        return str(self.manifest.get("policy", ""))

    @property
    def parameters(self) -> dict:
        """The export's query parameters: the same ones download it again."""
        return dict(self.manifest.get("parameters", {}))

    def class_index(self, name: str) -> int:
        """The index of the export class ``name``; KeyError naming the classes there are."""
        if name not in self._class_by_name:
            known = ", ".join(self._class_by_name) or "none"
            raise KeyError(f"No class {name!r} in this export (classes: {known}).")
        return self._class_by_name[name].index

    def slide(self, key: int | str) -> ExportSlideInfo:
        """The slide of id, path, file name or OpenSlide quickhash ``key``; KeyError when none
        is, or when a file name is shared by several slides (use the path or the id)."""
        for slide in self.slides:
            if key in (slide.id, str(slide.id), slide.path, slide.quickhash):
                return slide
        named = [slide for slide in self.slides if slide.name == key]
        if len(named) == 1:
            return named[0]
        if named:
            raise KeyError(f"{len(named)} slides of this export are named {key!r}: give the path.")
        raise KeyError(f"No slide {key!r} in this export.")

    def features(self, slide: ExportSlideInfo | int | str) -> Iterator[Feature]:
        """The features of ``slide`` (an ExportSlideInfo or a key of ``slide``), in the order
        written: class_name is the export class, measurements QuPath's, properties["wsi2ml"]
        the provenance (annotation id, author, task, verdicts, agreement, ...)."""
        if not isinstance(slide, ExportSlideInfo):
            slide = self.slide(slide)
        # Parsed and built with the collector paused (wsi2ml_toolkit.collector: reading 20,000
        # features took three times as long at its default thresholds), then handed out.
        with collector.paused():
            try:
                with self._zip.open(slide.geojson) as file:
                    document = json.load(file)
            except KeyError:
                raise AnnotationFileError(f"{self.path}: {slide.geojson} is missing.") from None
            except ValueError as exc:
                message = f"{self.path}: {slide.geojson} is not JSON ({exc})."
                raise AnnotationFileError(message) from None
            features = list(qupath.features_of(document, where=slide.geojson))
        del document
        yield from features

    def mask(self, slide: ExportSlideInfo | int | str) -> np.ndarray:
        """The slide's label mask as the export wrote it (class index per pixel, 0 background,
        at ``manifest["mask"]["mpp"]``); AnnotationFileError when the export has no masks."""
        if not isinstance(slide, ExportSlideInfo):
            slide = self.slide(slide)
        if not slide.mask:
            raise AnnotationFileError(f"{self.path}: exported without masks (no mask mpp chosen).")
        try:
            with self._zip.open(slide.mask) as file, Image.open(file) as image:
                return np.asarray(image)
        except KeyError:
            raise AnnotationFileError(f"{self.path}: {slide.mask} is missing.") from None

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> ExportZip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _manifest(self) -> dict:
        try:
            document = json.loads(self._zip.read(MANIFEST))
        except KeyError:
            raise AnnotationFileError(
                f"{self.path}: no {MANIFEST}; is this a WSI2ML export?"
            ) from None
        except ValueError as exc:
            raise AnnotationFileError(f"{self.path}: {MANIFEST} is not JSON ({exc}).") from None
        found = document.get("format", {}) if isinstance(document, dict) else {}
        if not isinstance(found, dict) or found.get("name") != FORMAT_NAME:
            raise AnnotationFileError(f"{self.path}: {MANIFEST} is not a WSI2ML export's.")
        if found.get("version", 0) > FORMAT_VERSION:
            raise AnnotationFileError(
                f"{self.path}: export format {found['version']} is newer than this toolkit reads "
                f"({FORMAT_VERSION}); upgrade wsi2ml-toolkit."
            )
        return document


def open_export(path: str | Path) -> ExportZip:
    """Open a WSI2ML export zip; AnnotationFileError when it is not one."""
    return ExportZip(path)


def _class(value: dict, i: int) -> ExportClass:
    try:
        return ExportClass(
            index=int(value["index"]),
            name=str(value["name"]),
            colour=tuple(qupath.colour_rgb(value["colour"])),
            label_ids=tuple(int(label) for label in value.get("labelIds", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AnnotationFileError(f"{MANIFEST}: classes[{i}] is malformed ({exc!r}).") from None


def _slide(value: dict, i: int) -> ExportSlideInfo:
    try:
        geojson = str(value["geojson"])
        bounds = value.get("bounds")
        return ExportSlideInfo(
            id=int(value["id"]),
            path=str(value["path"]),
            name=str(value.get("name") or value["path"].rsplit("/", 1)[-1]),
            quickhash=str(value.get("quickhash") or ""),
            width=value.get("width"),
            height=value.get("height"),
            mpp_x=value.get("mpp_x"),
            mpp_y=value.get("mpp_y"),
            objective_power=value.get("objective_power"),
            bounds=tuple(bounds) if bounds else None,
            stem=geojson.removeprefix("annotations/").removesuffix(".geojson"),
            geojson=geojson,
            mask=value.get("mask"),
            features=int(value.get("features", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AnnotationFileError(f"{MANIFEST}: slides[{i}] is malformed ({exc!r}).") from None
