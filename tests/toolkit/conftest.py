"""Slides for the toolkit's tests: the real scanner files, and pyramids generated with known
tissue and a known mpp; export zips built by hand, as the server writes them (no server here).
"""

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
import wsi2ml_toolkit.geometry as toolkit_geometry
from wsi2ml_toolkit.export import FORMAT_NAME, FORMAT_VERSION, MANIFEST, geojson_name, stem_make
from wsi2ml_toolkit.slide import Slide

TISSUE_COLOUR = (190, 90, 160)  # H&E pink-purple: saturated
GLASS_COLOUR = (242, 242, 240)  # bright, near-grey


@pytest.fixture(scope="session")
def real_slides() -> Path:
    """The folder of real scanner files (WSI2ML_TEST_SLIDES); the test is skipped without it."""
    folder = Path(os.environ.get("WSI2ML_TEST_SLIDES", "/work/shared/slides"))
    if not (folder / "CMU-1-Small-Region.svs").is_file():
        pytest.skip(f"real test slides not found in {folder} (set WSI2ML_TEST_SLIDES)")
    return folder


def write_pyramid(path: Path, image: np.ndarray, *, mpp: float | None, levels: int) -> Path:
    """A tiled generic TIFF of ``image`` with ``levels`` levels, each half the one before
    (averaged 2 x 2), and ``mpp`` as X/YResolution in pixels per centimetre, which OpenSlide
    reports as openslide.mpp-x/-y."""
    with tifffile.TiffWriter(path) as tiff:
        level = image
        for i in range(levels):
            extra = {}
            if mpp is not None:
                per_cm = 1e4 / (mpp * 2**i)
                extra = {"resolution": (per_cm, per_cm), "resolutionunit": "CENTIMETER"}
            tiff.write(
                level,
                tile=(128, 128),
                photometric="rgb",
                compression="zlib",
                compressionargs={"level": 1},
                subfiletype=1 if i else 0,
                **extra,
            )
            height, width = level.shape[0] // 2 * 2, level.shape[1] // 2 * 2
            level = level[:height, :width].reshape(height // 2, 2, width // 2, 2, 3)
            level = level.mean(axis=(1, 3)).round().astype(np.uint8)
    return path


@dataclass
class GeneratedSlide:
    """A generated pyramid: its file, level-0 size, mpp, and the boxes (x0, y0, x1, y1) in
    level-0 pixels painted as tissue on glass."""

    path: Path
    width: int
    height: int
    mpp: float
    tissue: list[tuple[int, int, int, int]]

    def open(self) -> Slide:
        return Slide(self.path)


# 2048 x 1536 at 0.25 µm/px: a 0.5 x 0.4 mm field, its tissue one wide block and one small.
TISSUE_BOXES = [(256, 256, 1280, 1024), (1536, 1152, 1920, 1408)]


@pytest.fixture(scope="session")
def tissue_slide(tmp_path_factory) -> GeneratedSlide:
    """A 5-level pyramid at 0.25 µm/px: glass with faint noise, tissue in TISSUE_BOXES."""
    width, height = 2048, 1536
    rng = np.random.default_rng(12)
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = GLASS_COLOUR
    image += rng.integers(0, 4, size=(height, width, 1), dtype=np.uint8)
    for x0, y0, x1, y1 in TISSUE_BOXES:
        image[y0:y1, x0:x1] = TISSUE_COLOUR
    path = write_pyramid(
        tmp_path_factory.mktemp("tissue") / "tissue.tif", image, mpp=0.25, levels=5
    )
    return GeneratedSlide(path, width, height, 0.25, TISSUE_BOXES)


@pytest.fixture(scope="session")
def gradient_slide(tmp_path_factory) -> GeneratedSlide:
    """A 3-level pyramid at 0.5 µm/px whose pixel (x, y) at level 0 is (x % 256, y % 256,
    (x // 256 + y // 256) % 256): a patch's content tells where it was read from."""
    width, height = 1024, 1024
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x % 256, y % 256, (x // 256 + y // 256) % 256], axis=2).astype(np.uint8)
    path = write_pyramid(
        tmp_path_factory.mktemp("gradient") / "gradient.tif", image, mpp=0.5, levels=3
    )
    return GeneratedSlide(path, width, height, 0.5, [])


def qupath_feature(shape, class_name: str | None, *, object_type: str = "annotation") -> dict:
    """A QuPath GeoJSON Feature of a shapely ``shape``, as the export writes one."""
    properties: dict = {"objectType": object_type}
    if class_name is not None:
        properties["classification"] = {"name": class_name, "color": [200, 0, 0]}
    return {
        "type": "Feature",
        "geometry": toolkit_geometry.to_geojson(shape),
        "properties": properties,
    }


def write_export(
    path: Path,
    slides: list[dict],
    classes: list[str],
) -> Path:
    """An export zip by hand: ``slides`` are dicts with "path" (relative, as the server's
    registry names it), "file" (the real file, for its size, mpp and quickhash) and
    "features" (shapely shapes with a class name: (shape, class_name) pairs)."""
    manifest_slides, files = [], {}
    for slide_id, item in enumerate(slides, 1):
        stem = stem_make(slide_id=slide_id, path=item["path"])
        with Slide(item["file"]) as slide:
            facts = {
                "quickhash": item.get("quickhash", slide.quickhash),
                "width": slide.width,
                "height": slide.height,
                "mpp_x": slide.mpp_x,
                "mpp_y": slide.mpp_y,
            }
        features = [qupath_feature(shape, name) for shape, name in item["features"]]
        files[geojson_name(stem)] = {"type": "FeatureCollection", "features": features}
        manifest_slides.append(
            {
                "id": slide_id,
                "path": item["path"],
                "name": item["path"].rsplit("/", 1)[-1],
                **facts,
                "objective_power": None,
                "bounds": None,
                "geojson": geojson_name(stem),
                "mask": None,
                "features": len(features),
            }
        )
    manifest = {
        "format": {"name": FORMAT_NAME, "version": FORMAT_VERSION},
        "created": "2025-01-01T00:00:00Z",
        "policy": "every annotation",
        "parameters": {},
        "slides": manifest_slides,
        "classes": [
            {"index": i, "name": name, "colour": "#c80000", "labelIds": [i]}
            for i, name in enumerate(classes, 1)
        ],
        "mask": None,
    }
    with zipfile.ZipFile(path, "w") as zipped:
        for name, document in files.items():
            zipped.writestr(name, json.dumps(document))
        zipped.writestr(MANIFEST, json.dumps(manifest))
    return path


@pytest.fixture
def make_pyramid(tmp_path):
    """``write_pyramid`` into this test's folder: make_pyramid(name, image, mpp=, levels=)."""

    def make(name: str, image: np.ndarray, *, mpp: float | None, levels: int) -> Path:
        return write_pyramid(tmp_path / name, image, mpp=mpp, levels=levels)

    return make


@pytest.fixture
def make_export(tmp_path):
    """``write_export`` into this test's folder: make_export(slides, classes) -> zip path."""

    def make(slides: list[dict], classes: list[str], name: str = "export.zip") -> Path:
        return write_export(tmp_path / name, slides, classes)

    return make
