"""A layer's features in a box: filtering, the reduced form above the limit, bad input, and the
round trip from the toolkit's predictions through an upload back to the same shapes and scores."""

import io

import numpy as np
import pytest
import shapely
from django.urls import reverse
from wsi2ml_toolkit import predictions
from wsi2ml_toolkit.formats import qupath

from layers.models import Layer
from tests.layers.conftest import collection, detections, feature, square, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client_for, ml_specialist, task):
    return client_for(ml_specialist)


def _upload(client, slide, content: bytes) -> Layer:
    response = upload(client, slide, content)
    assert response.status_code == 201, response.content
    return Layer.objects.get(pk=response.json()["layer"]["layer"])


def _features(client, layer, **query):
    return client.get(reverse("layers:layer_features", args=[layer.pk]), query)


def test_only_the_features_meeting_the_box_are_given(client, slide):
    layer = _upload(client, slide, collection(detections(10)))  # x = 1000, 1150, ... 2350

    answer = _features(client, layer, bbox="1100,1000,1400,1050").json()

    assert (answer["reduced"], answer["total"]) == (False, 3)
    xs = sorted(f["geometry"]["coordinates"][0][0][0] for f in answer["features"])
    assert xs == [1000.0, 1150.0, 1300.0]


def test_features_carry_qupaths_properties_and_the_uploaded_ones(client, slide, labels):
    uploaded = feature(
        square(500, 500),
        objectType="detection",
        classification={"name": "Tumour", "color": [1, 2, 3]},
        measurements={"score": 0.25, "Area": 10000},
        name="cell 7",
        model={"version": 3},
    )
    uploaded["nucleusGeometry"] = square(540, 540, 10)
    layer = _upload(client, slide, collection([uploaded]))

    (got,) = _features(client, layer).json()["features"]

    assert got["properties"] == {
        "objectType": "detection",
        "classification": {"name": "Tumour", "color": [214, 39, 40], "label": labels["Tumour"].pk},
        "measurements": {"score": 0.25, "Area": 10000.0},
        "score": 0.25,
        "model": {"version": 3},
        "name": "cell 7",
    }
    assert got["nucleusGeometry"]["type"] == "Polygon"


def test_geometry_is_rounded_and_made_valid(client, slide):
    bow_tie = {
        "type": "Polygon",
        "coordinates": [[[0, 0], [100.123, 100.456], [100, 0], [0, 100], [0, 0]]],
    }
    layer = _upload(client, slide, collection([feature(bow_tie)]))

    (got,) = _features(client, layer).json()["features"]

    shape = shapely.geometry.shape(got["geometry"])
    assert shape.is_valid and shape.geom_type == "MultiPolygon"
    assert np.array_equal(
        shapely.get_coordinates(shape), np.round(shapely.get_coordinates(shape), 2)
    )


def test_above_the_limit_the_reduced_form_counts_per_cell_and_class(client, slide):
    content = collection(detections(30, cls="Tumor") + detections(10, cls="Mitosis", y=5000))
    layer = _upload(client, slide, content)

    answer = _features(client, layer, limit="20").json()

    assert (answer["reduced"], answer["total"]) == (True, 40)
    counts = {}
    for cell in answer["features"]:
        assert cell["properties"]["cluster"] is True
        for name, n in cell["properties"]["counts"].items():
            counts[name] = counts.get(name, 0) + n
    assert counts == {"Tumor": 30, "Mitosis": 10}
    dominant = {cell["properties"]["label"]["name"] for cell in answer["features"]}
    assert dominant == {"Tumor", "Mitosis"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "0,0,nan,5"}, "bbox"),
        ({"bbox": "10,10,0,0"}, "bbox"),
        ({"limit": "0"}, "limit"),
        ({"limit": "50001"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_bad_input_is_a_400_with_its_field(client, slide, query, field):
    layer = _upload(client, slide, collection(detections(1)))

    response = _features(client, layer, **query)

    assert response.status_code == 400 and response.json()["field"] == field


def test_the_toolkits_predictions_come_back_as_they_were_written(client, slide):
    """Tiles (WSInfer-style scores) and detections from the toolkit, uploaded, then read back
    through the viewport API: the same shapes (to 0.01 px) and the same scores."""
    rng = np.random.default_rng(7)
    boxes = np.array([[x, y, 256, 256] for x in (0, 256, 512) for y in (0, 256)], dtype=float)
    scores = rng.random((len(boxes), 2))
    tiles = predictions.tiles_from_arrays(boxes, scores, ["tumor", "benign"])
    points = predictions.points_from_detections(
        np.array([[1000.5, 2000.25], [3000.125, 100.0]]), scores=np.array([0.9, 0.4])
    )
    written = [*tiles, *points]
    out = io.BytesIO()
    qupath.write_geojson(predictions.with_layer(written, "model v2"), out)

    response = upload(client, slide, out.getvalue())
    layer = Layer.objects.get(pk=response.json()["layer"]["layer"])
    got = _features(client, layer).json()["features"]

    assert layer.name == "model v2"
    expected = {shapely.to_wkt(qupath_shape(f)): dict(f.measurements) for f in written}
    returned = {
        shapely.to_wkt(shapely.geometry.shape(f["geometry"])): f["properties"]["measurements"]
        for f in got
    }
    assert returned.keys() == expected.keys()
    for wkt, measurements in expected.items():
        assert returned[wkt] == pytest.approx(measurements)


def qupath_shape(feature):
    """The shape as the toolkit writes it (valid, rounded): what the server must give back."""
    return shapely.geometry.shape(qupath.feature_dict(feature)["geometry"])


def test_one_feature_is_given_as_the_features_in_a_box_give_it(client, slide):
    layer = _upload(client, slide, collection(detections(3)))
    [in_box] = _features(client, layer, bbox="1150,1000,1250,1100").json()["features"]

    response = client.get(reverse("layers:layer_feature", args=[layer.pk, in_box["id"]]))

    assert response.status_code == 200
    assert response.json() == in_box


def test_a_feature_of_another_layer_or_none_is_a_404(client, slide):
    first = _upload(client, slide, collection(detections(1)))
    second = _upload(client, slide, collection(detections(1)))
    theirs = second.features.get().pk

    for feature_id in (theirs, 999999):
        url = reverse("layers:layer_feature", args=[first.pk, feature_id])
        assert client.get(url).status_code == 404


def test_one_who_does_not_see_the_layer_gets_a_404_for_its_feature(
    client, client_for, other_annotator, slide
):
    layer = _upload(client, slide, collection(detections(1)))
    url = reverse("layers:layer_feature", args=[layer.pk, layer.features.get().pk])

    assert client_for(other_annotator).get(url).status_code == 404
