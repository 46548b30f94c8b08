"""WSI2ML's toolkit: WSI2ML exports and QuPath, ASAP and Digital Slide Archive annotations into
patches, label masks and datasets; model output back into GeoJSON that WSI2ML and QuPath open.

Plain Python (openslide, numpy, shapely, Pillow): it imports no Django, and the WSI2ML server
imports its geometry rules and file formats from here. The names below are the public API;
toolkit/README.md shows them at work.
"""

__version__ = "0.1.0"

from wsi2ml_toolkit.dataset import PatchDataset
from wsi2ml_toolkit.export import ExportClass, ExportSlideInfo, ExportZip, open_export
from wsi2ml_toolkit.features import AnnotationFileError, Feature
from wsi2ml_toolkit.formats import detect_format, read_annotations, read_annotations_text
from wsi2ml_toolkit.formats.qupath import write_geojson
from wsi2ml_toolkit.geometry import GeometryError
from wsi2ml_toolkit.masks import LabelRasterizer
from wsi2ml_toolkit.predictions import (
    points_from_csv,
    points_from_detections,
    polygons_from_mask,
    polygons_from_mask_file,
    tiles_from_arrays,
    tiles_from_csv,
    with_layer,
    within_slide,
)
from wsi2ml_toolkit.slide import Slide
from wsi2ml_toolkit.tiles import Patch, patch_grid
from wsi2ml_toolkit.tissue import TissueMask, tissue_mask

__all__ = [
    "AnnotationFileError",
    "ExportClass",
    "ExportSlideInfo",
    "ExportZip",
    "Feature",
    "GeometryError",
    "LabelRasterizer",
    "Patch",
    "PatchDataset",
    "Slide",
    "TissueMask",
    "__version__",
    "detect_format",
    "open_export",
    "patch_grid",
    "points_from_csv",
    "points_from_detections",
    "polygons_from_mask",
    "polygons_from_mask_file",
    "read_annotations",
    "read_annotations_text",
    "tiles_from_arrays",
    "tiles_from_csv",
    "tissue_mask",
    "with_layer",
    "within_slide",
    "write_geojson",
]
