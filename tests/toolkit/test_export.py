"""wsi2ml_toolkit.export: an export zip opens with its manifest, slides, classes and features;
anything else is refused with a message saying what is wrong."""

import io
import json
import re
import zipfile

import numpy as np
import pytest
import shapely
from PIL import Image
from wsi2ml_toolkit.export import geojson_name, open_export, stem_make
from wsi2ml_toolkit.features import AnnotationFileError


def manifest(**changes) -> dict:
    document = {
        "format": {"name": "wsi2ml-export", "version": 1},
        "policy": "Only reviewed annotations",
        "parameters": {"policy": "reviewed"},
        "slides": [
            {
                "id": 7, "path": "a/case.tif", "name": "case.tif", "quickhash": "q7",
                "width": 2000, "height": 1000, "mpp_x": 0.25, "mpp_y": 0.25,
                "objective_power": 40, "bounds": [0, 0, 2000, 1000],
                "geojson": geojson_name(stem_make(slide_id=7, path="a/case.tif")),
                "mask": None, "features": 1,
            },
            {
                "id": 8, "path": "b/case.tif", "name": "case.tif", "quickhash": "q8",
                "width": 500, "height": 500, "mpp_x": None, "mpp_y": None,
                "objective_power": None, "bounds": None,
                "geojson": geojson_name(stem_make(slide_id=8, path="b/case.tif")),
                "mask": None, "features": 0,
            },
        ],
        "classes": [
            {"index": 1, "name": "Tumour", "colour": "#d62728", "labelIds": [3]},
            {"index": 2, "name": "Other", "colour": "#2ca02c", "labelIds": [4, 5]},
        ],
    }  # fmt: skip
    document.update(changes)
    return document


FEATURE = {
    "type": "Feature",
    "id": "6a1f0c1e-8e0e-4a55-9c43-0b1c5c0b0a11",
    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]},
    "properties": {
        "objectType": "annotation",
        "classification": {"name": "Tumour", "color": [214, 39, 40]},
        "measurements": {"Area µm^2": 6.25},
        "wsi2ml": {"annotationId": 41, "author": "pathologist", "agreement": 1.0},
    },
}


def write_zip(path, document, files=None):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "WSI2ML export")
        for name, content in (files or {}).items():
            archive.writestr(name, content)
        archive.writestr("manifest.json", json.dumps(document))
    return path


@pytest.fixture
def export_zip(tmp_path):
    collection = {"type": "FeatureCollection", "features": [FEATURE]}
    empty = {"type": "FeatureCollection", "features": []}
    return write_zip(
        tmp_path / "export.zip",
        manifest(),
        {
            "annotations/7_a_case.geojson": json.dumps(collection),
            "annotations/8_b_case.geojson": json.dumps(empty),
        },
    )


def test_an_export_gives_its_manifest_classes_and_slides(export_zip):
    with open_export(export_zip) as export:
        assert export.policy == "Only reviewed annotations"
        assert export.parameters == {"policy": "reviewed"}
        assert [(c.index, c.name, c.colour, c.label_ids) for c in export.classes] == [
            (1, "Tumour", (214, 39, 40), (3,)),
            (2, "Other", (44, 160, 44), (4, 5)),
        ]
        assert export.class_index("Other") == 2
        first, second = export.slides
        assert (first.id, first.stem, first.mpp_x, first.bounds) == (
            7,
            "7_a_case",
            0.25,
            (0, 0, 2000, 1000),
        )
        assert second.mpp_x is None and second.bounds is None


def test_slides_are_found_by_id_path_quickhash_and_unshared_file_name(export_zip):
    with open_export(export_zip) as export:
        assert export.slide(7).path == export.slide("7").path == "a/case.tif"
        assert export.slide("b/case.tif").id == 8
        assert export.slide("q8").id == 8
        with pytest.raises(
            KeyError, match=re.escape("2 slides of this export are named 'case.tif'")
        ):
            export.slide("case.tif")
        with pytest.raises(KeyError, match=re.escape("No slide 'nothing.svs'")):
            export.slide("nothing.svs")
        with pytest.raises(KeyError, match="classes: Tumour, Other"):
            export.class_index("Stroma")


def test_a_slides_features_come_with_class_measurements_and_provenance(export_zip):
    with open_export(export_zip) as export:
        (feature,) = export.features(7)
        assert list(export.features(export.slide(8))) == []
    assert feature.class_name == "Tumour"
    assert feature.colour == (214, 39, 40)
    assert feature.id == FEATURE["id"]
    assert feature.measurements == {"Area µm^2": 6.25}
    assert feature.properties["wsi2ml"]["annotationId"] == 41
    assert feature.geometry.equals(shapely.box(0, 0, 10, 10))


@pytest.mark.parametrize(
    ("document", "files", "message"),
    [
        (None, {}, "no manifest.json; is this a WSI2ML export"),
        ("{", {}, "manifest.json is not JSON"),
        (manifest(format={"name": "other"}), {}, "is not a WSI2ML export's"),
        (manifest(format={"name": "wsi2ml-export", "version": 9}), {}, "upgrade wsi2ml-toolkit"),
        (manifest(classes=[{"index": 1}]), {}, r"classes\[0\] is malformed"),
        (manifest(slides=[{"id": 1}]), {}, r"slides\[0\] is malformed"),
    ],
)
def test_what_is_not_an_export_is_refused_saying_why(tmp_path, document, files, message):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        if document is not None:
            archive.writestr(
                "manifest.json", document if isinstance(document, str) else json.dumps(document)
            )
    with pytest.raises(AnnotationFileError, match=message):
        open_export(path)


def test_a_missing_or_broken_slide_file_is_named(tmp_path):
    path = write_zip(tmp_path / "export.zip", manifest(), {"annotations/8_b_case.geojson": "[{"})
    with open_export(path) as export:
        with pytest.raises(
            AnnotationFileError, match=re.escape("annotations/7_a_case.geojson is missing")
        ):
            list(export.features(7))
        with pytest.raises(
            AnnotationFileError, match=re.escape("annotations/8_b_case.geojson is not JSON")
        ):
            list(export.features(8))


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "export.zip"
    path.write_text("not a zip")
    with pytest.raises(AnnotationFileError, match="not a zip file"):
        open_export(path)


def test_a_slides_label_mask_opens_as_an_array_and_its_absence_is_said(tmp_path, export_zip):
    pixels = np.zeros((4, 8), dtype=np.uint8)
    pixels[1:3, 2:5] = 2
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    document = manifest()
    document["slides"][0]["mask"] = "masks/7_a_case.png"
    path = write_zip(tmp_path / "masked.zip", document, {"masks/7_a_case.png": png.getvalue()})
    with open_export(path) as export:
        assert np.array_equal(export.mask(7), pixels)
    with (
        open_export(export_zip) as export,
        pytest.raises(AnnotationFileError, match="exported without masks"),
    ):
        export.mask(7)
