"""A map-style dataset of patches and their label masks, for PyTorch's DataLoader or any loop.

``PatchDataset`` has ``__len__`` and ``__getitem__`` and nothing torch-specific: DataLoader
takes it as it is (its default collate turns the arrays into tensors), with any number of
workers. It pickles as slide paths, patch coordinates and polygons: each worker process opens
its own OpenSlide handles on first read (a handle is never pickled, nor used across a fork).

Cost of construction, paid once: per slide, one low-resolution read for the tissue mask
(about 8 µm per pixel, from the pyramid level nearest it), the slide's features read from the
export and put into an STRtree, and, only with ``min_coverage`` > 0, the label mask of every
patch that touches an annotation (about 1.5 ms of CPU each at 256 px among 20,000 polygons,
measured on a busy machine: a minute or two for a hundred thousand such patches).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wsi2ml_toolkit.export import ExportSlideInfo, ExportZip, open_export, stem_make
from wsi2ml_toolkit.features import Feature
from wsi2ml_toolkit.masks import LabelRasterizer
from wsi2ml_toolkit.slide import Slide
from wsi2ml_toolkit.tiles import Patch, patch_grid
from wsi2ml_toolkit.tissue import tissue_mask

SlidesArgument = str | os.PathLike[str] | Mapping[Any, str | os.PathLike[str]]


@dataclass
class DatasetSlide:
    """A slide of the dataset: ``key`` names it (the export's slide path, or the key it was
    given under), ``stem`` is a file-safe name for it, ``slide`` the file, ``labels`` its
    rasterizer."""

    key: str
    stem: str
    slide: Slide
    labels: LabelRasterizer


class PatchDataset:
    """Patches of the slides of a WSI2ML export (or of features given directly), with masks.

    ``export``: the export zip's path, or a mapping {slide key: features} (then ``classes`` is
    required). ``slides``: a folder holding the slide files (found by their path relative to
    it, else by file name, else by OpenSlide quickhash among files of the same extension), or
    a mapping {slide key: file path} (keys as ``ExportZip.slide`` takes: id, path, file name
    or quickhash; only those slides are used). ``mpp``, ``size``, ``stride``: the patches
    (``tiles.patch_grid``). ``classes``: class names, in mask index order (1, 2, ...; default
    the export's classes in its order). ``min_coverage``: keep patches whose mask is at least
    this fraction annotated (any of ``classes``); ``min_tissue``: at least this fraction
    tissue. ``transform``: called on each sample dict, its result returned instead.

    ``dataset[i]`` is a dict: "image" (size x size x 3 uint8 RGB), "mask" (size x size class
    indices, uint8, or uint16 past 255 classes), "coverage" ({class: fraction}), "x", "y"
    (level-0 top-left), "slide" (the slide's key) and "tissue" (its tissue fraction).

    FileNotFoundError when a slide file cannot be found; ValueError when a slide has no mpp,
    a class is unknown, or a file's quickhash is not the exported slide's.
    """

    def __init__(
        self,
        export: str | os.PathLike[str] | Mapping[Any, Iterable[Feature]],
        slides: SlidesArgument,
        *,
        mpp: float,
        size: int,
        stride: int | None = None,
        classes: Sequence[str] | None = None,
        min_coverage: float = 0.0,
        min_tissue: float = 0.0,
        transform: Callable[[dict[str, Any]], Any] | None = None,
    ):
        self.mpp, self.size, self.stride = mpp, size, stride or size
        self.min_coverage, self.min_tissue = min_coverage, min_tissue
        self.transform = transform
        if isinstance(export, Mapping):
            if classes is None:
                raise ValueError("Give classes= when features are given rather than an export.")
            self.classes = tuple(classes)
            sources = _given_sources(export, slides)
        else:
            with open_export(export) as zipped:
                self.classes = _export_classes(zipped, classes)
                sources = _export_sources(zipped, slides)
        self.slides: list[DatasetSlide] = []
        self._levels: list[tuple[int, float]] = []
        patches: list[tuple[int, Patch]] = []
        for source in sources:
            entry, found = self._slide_patches(source)
            self.slides.append(entry)
            self._levels.append((found[0].level, found[0].downsample) if found else (0, 1.0))
            patches += [(len(self.slides) - 1, patch) for patch in found]
            entry.slide.close()
        # Arrays rather than Patch tuples: a million patches pickle to workers in 20 MB.
        self._slide_of = np.array([s for s, _ in patches], dtype=np.int32)
        self._xy = np.array([(p.x, p.y) for _, p in patches], dtype=np.int64).reshape(-1, 2)
        self._tissue = np.array([p.tissue for _, p in patches], dtype=float)

    def _slide_patches(self, source: _Source) -> tuple[DatasetSlide, list[Patch]]:
        slide = Slide(source.path)
        if source.quickhash and slide.quickhash != source.quickhash:
            raise ValueError(
                f"{slide.path} is not the exported slide {source.key!r}: its OpenSlide "
                "quickhash differs from the export's."
            )
        if slide.mpp is None:
            raise ValueError(f"{slide.path} does not record its µm per pixel (mpp).")
        labels = LabelRasterizer(
            source.features, self.classes, mpp_x=slide.mpp_x, mpp_y=slide.mpp_y
        )
        entry = DatasetSlide(key=source.key, stem=source.stem, slide=slide, labels=labels)
        found = patch_grid(
            slide,
            mpp=self.mpp,
            size=self.size,
            stride=self.stride,
            tissue=tissue_mask(slide),
            min_tissue=self.min_tissue,
            regions=labels.shapes if self.min_coverage > 0 else None,
        )
        if self.min_coverage > 0:
            found = [p for p in found if _annotated(labels, p) >= self.min_coverage]
        return entry, found

    def __len__(self) -> int:
        """How many patches."""
        return len(self._slide_of)

    def __getitem__(self, index: int) -> Any:
        """The sample of patch ``index`` (see the class docstring); IndexError past the end."""
        entry, patch = self.patch(index)
        mask = entry.labels.patch_mask(patch.x, patch.y, patch.size, downsample=patch.downsample)
        sample = {
            "image": entry.slide.read_patch(patch),
            "mask": mask,
            "coverage": entry.labels.coverage(mask),
            "x": patch.x,
            "y": patch.y,
            "slide": entry.key,
            "tissue": patch.tissue,
        }
        return self.transform(sample) if self.transform is not None else sample

    def patch(self, index: int) -> tuple[DatasetSlide, Patch]:
        """The slide and Patch of ``index``, without reading pixels."""
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"Patch {index} of a dataset of {count}.")
        which = int(self._slide_of[index])
        level, downsample = self._levels[which]
        x, y = (int(v) for v in self._xy[index])
        tissue = float(self._tissue[index])
        return self.slides[which], Patch(x, y, self.size, self.mpp, level, tissue, downsample)


@dataclass
class _Source:
    """Where a slide's file is and what is known of it before opening it."""

    key: str
    stem: str
    path: Path
    features: list[Feature]
    quickhash: str = ""


def _annotated(labels: LabelRasterizer, patch: Patch) -> float:
    mask = labels.patch_mask(patch.x, patch.y, patch.size, downsample=patch.downsample)
    return float(np.count_nonzero(mask)) / mask.size


def _export_classes(zipped: ExportZip, classes: Sequence[str] | None) -> tuple[str, ...]:
    if classes is None:
        return tuple(c.name for c in sorted(zipped.classes, key=lambda c: c.index))
    for name in classes:
        try:
            zipped.class_index(name)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
    return tuple(classes)


def _export_sources(zipped: ExportZip, slides: SlidesArgument) -> list[_Source]:
    if isinstance(slides, Mapping):
        chosen = [(_export_slide(zipped, key), Path(path)) for key, path in slides.items()]
    else:
        finder = _Finder(Path(slides))
        chosen = [(info, finder.find(info)) for info in zipped.slides]
    return [
        _Source(info.path, info.stem, path, list(zipped.features(info)), info.quickhash)
        for info, path in chosen
    ]


def _export_slide(zipped: ExportZip, key: Any) -> ExportSlideInfo:
    try:
        return zipped.slide(key)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None


def _given_sources(
    features: Mapping[Any, Iterable[Feature]], slides: SlidesArgument
) -> list[_Source]:
    sources = []
    for position, (key, shapes) in enumerate(features.items(), 1):
        if isinstance(slides, Mapping):
            if key not in slides:
                raise FileNotFoundError(f"No slide file given for {key!r}.")
            path = Path(slides[key])
        else:
            path = Path(slides) / str(key)
        stem = stem_make(slide_id=position, path=str(key))
        sources.append(_Source(str(key), stem, path, list(shapes)))
    return sources


class _Finder:
    """Finds an export's slides in a folder: by relative path, by file name, by quickhash."""

    def __init__(self, root: Path):
        if not root.is_dir():
            raise FileNotFoundError(2, "No such slides folder", str(root))
        self.root = root
        self._by_name: dict[str, list[Path]] | None = None

    def find(self, info: ExportSlideInfo) -> Path:
        exact = self.root / info.path
        if exact.is_file():
            return exact
        named = self.by_name().get(info.name, [])
        if len(named) == 1:
            return named[0]
        suffix = Path(info.name).suffix.lower()
        candidates = named or [p for ps in self.by_name().values() for p in ps]
        if info.quickhash:
            for path in candidates:
                if path.suffix.lower() == suffix and _quickhash(path) == info.quickhash:
                    return path
        raise FileNotFoundError(
            f"Slide {info.path!r} of the export is not in {self.root} (looked for it by that "
            f"relative path, by the name {info.name!r} and by its OpenSlide quickhash)."
        )

    def by_name(self) -> dict[str, list[Path]]:
        if self._by_name is None:
            self._by_name = {}
            for path in sorted(self.root.rglob("*")):
                if path.is_file():
                    self._by_name.setdefault(path.name, []).append(path)
        return self._by_name


def _quickhash(path: Path) -> str | None:
    try:
        with Slide(path) as slide:
            return slide.quickhash
    except OSError:
        return None
