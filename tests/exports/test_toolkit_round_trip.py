"""The loop through the toolkit: a server export opens in wsi2ml_toolkit with the stored shapes,
classes and provenance; the toolkit's slide masks are the export's masks pixel for pixel; and
predictions written from it read back with equal geometry and scores.

Data and personas: tests/exports/conftest.py.
"""

import numpy as np
import pytest
import shapely
from django.urls import reverse
from wsi2ml_toolkit.export import open_export
from wsi2ml_toolkit.formats import read_annotations
from wsi2ml_toolkit.formats.qupath import write_geojson
from wsi2ml_toolkit.masks import LabelRasterizer
from wsi2ml_toolkit.predictions import tiles_from_arrays, with_layer

pytestmark = pytest.mark.django_db


@pytest.fixture
def export_zip(client_for, people, export_data, tmp_path):
    url = reverse("exports_api:project_zip", args=[export_data.project.pk])
    response = client_for(people["mlspecialist"]).get(f"{url}?include_in_progress=1&mask_mpp=8")
    assert response.status_code == 200, response.content
    path = tmp_path / "export.zip"
    path.write_bytes(b"".join(response.streaming_content))
    return path


def test_an_ml_specialist_reads_the_server_export_with_the_toolkit(export_zip, export_data):
    data = export_data
    with open_export(export_zip) as export:
        assert [c.name for c in export.classes] == ["Tumour", "Stroma", "Necrosis"]
        read = {
            feature.properties["wsi2ml"]["annotationId"]: (slide.id, feature)
            for slide in export.slides
            for feature in export.features(slide)
        }
    for name in ["a1", "a2", "b1", "b3", "c1", "c2", "m1"]:
        annotation = data.annotations[name]
        slide_id, feature = read[annotation.pk]
        assert slide_id == annotation.slide_id
        assert feature.id == str(annotation.uuid)
        assert feature.class_name == annotation.label.name
        assert feature.geometry.equals(shapely.geometry.shape(annotation.geometry))
        assert feature.properties["wsi2ml"]["author"] == annotation.author.username
    assert data.annotations["a6"].pk not in read  # deleted


def test_the_toolkits_slide_mask_is_the_exports_mask_pixel_for_pixel(export_zip):
    with open_export(export_zip) as export:
        names = [c.name for c in export.classes]
        for slide in export.slides:
            written = export.mask(slide)
            labels = LabelRasterizer(
                export.features(slide), names, mpp_x=slide.mpp_x, mpp_y=slide.mpp_y
            )
            painted = labels.slide_mask(8, slide.width, slide.height)
            assert painted.shape == written.shape == (500, 625)
            assert np.array_equal(painted, written), slide.path
            assert painted.any()


def test_predictions_made_from_an_export_read_back_with_their_shapes_and_scores(
    export_zip, tmp_path
):
    with open_export(export_zip) as export:
        slide = export.slide("a/case.tif")
        regions = [f for f in export.features(slide) if f.geometry.area > 0]
    boxes = np.array([[*f.geometry.bounds[:2], 100, 100] for f in regions])
    scores = np.linspace(0.05, 0.95, len(regions))
    tiles = with_layer(tiles_from_arrays(boxes, scores, ["tumour"]), "model v1")
    out = tmp_path / "predictions.geojson"
    with out.open("wb") as file:
        assert write_geojson(tiles, file) == len(regions)

    back = read_annotations(out)
    assert len(back) == len(regions)
    for made, read in zip(tiles, back, strict=True):
        assert read.object_type == "tile"
        assert read.geometry.equals(made.geometry)
        assert read.measurements == pytest.approx(made.measurements)
        assert read.properties["wsi2ml"]["layer"] == "model v1"
    assert [round(t.measurements["prob_tumour"], 6) for t in back] == [round(s, 6) for s in scores]
