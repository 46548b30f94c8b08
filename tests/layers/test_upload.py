"""Uploading layers: every format the toolkit reads, zips of per-slide files, class mapping,
malformed files (refused, nothing stored) and the background job of a large file."""

import io
import json
import zipfile

import numpy as np
import pytest
from django.urls import reverse
from wsi2ml_toolkit import predictions
from wsi2ml_toolkit.formats import qupath

from jobs.models import Job
from jobs.services import job_run
from layers import services
from layers.models import Layer, LayerFeature
from tasks.models import Label
from tests.layers.conftest import collection, detections, feature, square, stored, upload, value

pytestmark = pytest.mark.django_db

ASAP = b"""<?xml version="1.0"?>
<ASAP_Annotations><Annotations>
  <Annotation Name="A" Type="Polygon" PartOfGroup="Tumor" Color="#F4FA58"><Coordinates>
    <Coordinate Order="0" X="100" Y="100"/><Coordinate Order="1" X="400" Y="100"/>
    <Coordinate Order="2" X="400" Y="300"/>
  </Coordinates></Annotation>
  <Annotation Name="Cells" Type="PointSet" PartOfGroup="Lymphocyte" Color="#000000"><Coordinates>
    <Coordinate Order="0" X="5" Y="5"/><Coordinate Order="1" X="6" Y="7"/>
  </Coordinates></Annotation>
</Annotations><AnnotationGroups>
  <Group Name="Tumor" PartOfGroup="None" Color="#ff0000"><Attributes/></Group>
</AnnotationGroups></ASAP_Annotations>"""

DSA = {
    "name": "HistomicsTK nuclei",
    "elements": [
        {
            "type": "polyline",
            "closed": True,
            "points": [[10, 10, 0], [60, 10, 0], [60, 50, 0], [10, 10, 0]],
            "label": {"value": "Nucleus"},
        },
        {"type": "rectangle", "center": [500, 500, 0], "width": 100, "height": 50, "rotation": 0},
    ],
}


@pytest.fixture
def ml_client(client_for, ml_specialist, task):
    return client_for(ml_specialist)


def _layer(response) -> Layer:
    assert response.status_code == 201, response.content
    return Layer.objects.get(pk=response.json()["layer"]["layer"])


def test_a_feature_collection_of_detections_becomes_a_ready_layer(ml_client, slide):
    layer = _layer(upload(ml_client, slide, collection(detections(5)), name="model v1"))

    assert (layer.state, layer.feature_count, layer.format) == ("ready", 5, "qupath")
    assert layer.name == "model v1" and layer.kind == "predictions"
    scores = sorted(LayerFeature.objects.filter(layer=layer).values_list("score", flat=True))
    assert scores == [0.5, 0.6, 0.7, 0.8, 0.9]
    assert layer.measurements == [{"name": "score", "min": 0.5, "max": 0.9}]
    assert set(LayerFeature.objects.values_list("object_type", flat=True)) == {"detection"}


def test_an_array_of_features_is_read_as_qupath_writes_it(ml_client, slide):
    content = json.dumps(detections(3)).encode()

    layer = _layer(upload(ml_client, slide, content))

    assert layer.feature_count == 3 and layer.name == "layer"


def test_measurements_as_a_list_are_read_as_qupath_0_3_wrote_them(ml_client, slide):
    old = feature(
        square(500, 500),
        object_type="detection",
        measurements=[{"name": "Nucleus: Area", "value": 42.5}, {"name": "score", "value": 0.75}],
    )

    layer = _layer(upload(ml_client, slide, collection([old])))

    stored_feature = LayerFeature.objects.get(layer=layer)
    assert value(stored_feature.measurements) == {"Nucleus: Area": 42.5, "score": 0.75}
    assert stored_feature.score == 0.75 and stored_feature.object_type == "detection"


def test_cells_keep_their_nucleus(ml_client, slide):
    cell = feature(square(1000, 1000, 40), objectType="cell", classification="Lymphocyte")
    cell["nucleusGeometry"] = square(1010, 1010, 10)

    layer = _layer(upload(ml_client, slide, collection([cell])))

    stored_feature = LayerFeature.objects.get(layer=layer)
    assert stored_feature.object_type == "cell"
    assert value(stored_feature.nucleus)["coordinates"][0][0] == [1010.0, 1010.0]


def test_tiles_take_the_highest_probability_as_their_score(ml_client, slide, tmp_path):
    boxes = np.array([[0, 0, 256, 256], [256, 0, 256, 256]], dtype=float)
    scores = np.array([[0.9, 0.1], [0.3, 0.7]])
    out = io.BytesIO()
    qupath.write_geojson(predictions.tiles_from_arrays(boxes, scores, ["tumor", "benign"]), out)

    layer = _layer(upload(ml_client, slide, out.getvalue()))

    rows = LayerFeature.objects.filter(layer=layer).order_by("x0")
    assert [(r.object_type, r.class_name, r.score) for r in rows] == [
        ("tile", "tumor", 0.9),
        ("tile", "benign", 0.7),
    ]


def test_asap_xml_is_read_with_its_groups_as_classes(ml_client, slide):
    layer = _layer(upload(ml_client, slide, ASAP, name="asap.xml", kind="imported"))

    assert (layer.format, layer.kind, layer.feature_count) == ("asap", "imported", 2)
    assert {c["name"] for c in layer.classes} == {"Tumor", "Lymphocyte"}


def test_dsa_json_is_read_with_its_labels_as_classes(ml_client, slide):
    layer = _layer(upload(ml_client, slide, json.dumps(DSA).encode(), name="dsa.json"))

    assert (layer.format, layer.feature_count) == ("dsa", 2)
    assert [c["name"] for c in layer.classes] == ["", "Nucleus"]


def test_a_zip_makes_one_layer_per_slide_by_name_and_by_fingerprint(
    client_for, ml_specialist, task, slides, project
):
    assert slides[1].quickhash
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("preds/CASE-01-A.geojson", collection(detections(2)))
        out.writestr(f"{slides[1].quickhash}.geojson", collection(detections(3)))
        out.writestr("unrelated.geojson", collection(detections(1)))
    archive.seek(0)
    archive.name = "model.zip"

    response = client_for(ml_specialist).post(
        reverse("layers:project_layers", args=[project.pk]), {"file": archive}
    )

    assert response.status_code == 201, response.content
    counts = {layer["slide"]: layer["count"] for layer in response.json()["layers"]}
    assert counts == {slides[0].pk: 2, slides[1].pk: 3}
    assert response.json()["unmatched"] == [
        {"file": "unrelated.geojson", "reason": "matches no slide of the project"}
    ]


# --- Classes ------------------------------------------------------------------------------


def _classes(layer: Layer) -> dict:
    return {c["name"]: (c["label"], c["created"]) for c in layer.classes}


def test_a_class_named_as_a_label_is_mapped_and_others_are_listed(ml_client, slide, labels):
    content = collection(detections(1, cls="Tumour") + detections(1, cls="Mitosis", y=3000))

    response = upload(ml_client, slide, content)

    layer = _layer(response)
    assert _classes(layer) == {"Tumour": (labels["Tumour"].pk, False), "Mitosis": (None, False)}
    assert response.json()["layer"]["unknownClasses"] == ["Mitosis"]
    mitosis = LayerFeature.objects.get(layer=layer, class_name="Mitosis")
    assert mitosis.label_id is None


def test_the_uploader_maps_creates_or_keeps_each_class(ml_client, slide, labels, project):
    content = collection(
        detections(1, cls="Tumor")
        + detections(1, cls="Mitosis", y=3000)
        + detections(1, cls="Artefact", y=6000)
    )
    fields = {
        "map.Tumor": str(labels["Tumour"].pk),
        "map.Mitosis": "create",
        "map.Artefact": "none",
    }

    layer = _layer(upload(ml_client, slide, content, **fields))

    mitosis = Label.objects.get(project=project, name="Mitosis")
    assert mitosis.colour == "#c80000"  # the file's class colour
    assert _classes(layer) == {
        "Tumor": (labels["Tumour"].pk, False),
        "Mitosis": (mitosis.pk, True),
        "Artefact": (None, False),
    }


def test_create_missing_creates_every_unknown_class(ml_client, slide, project):
    content = collection(detections(1, cls="Mitosis") + detections(1, cls="Stroma", y=3000))

    layer = _layer(upload(ml_client, slide, content, create_missing="1"))

    assert Label.objects.filter(project=project, name="Mitosis").exists()
    assert _classes(layer)["Stroma"] == (
        Label.objects.get(project=project, name="Stroma").pk,
        False,
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"map.Tumor": "999999"}, "map.Tumor"),
        ({"map.Tumor": "tumour"}, "map.Tumor"),
        ({"kind": "heatmap"}, "kind"),
        ({"create_missing": "yes"}, "create_missing"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_bad_choices_are_refused_with_their_field(ml_client, slide, fields, field):
    response = upload(ml_client, slide, collection(detections(1)), **fields)

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert stored() == (0, 0, 0)


def test_a_label_of_another_project_cannot_be_mapped_to(ml_client, slide, other_annotator):
    foreign = Label.objects.get(name="Nodule")

    response = upload(ml_client, slide, collection(detections(1)), **{"map.Tumor": str(foreign.pk)})

    assert response.status_code == 400 and stored() == (0, 0, 0)


# --- Malformed files ----------------------------------------------------------------------


def polygon(ring: list) -> dict:
    return {"type": "Polygon", "coordinates": [ring]}


BAD_FILES = [
    ("empty", b"", "layer.geojson: empty"),
    ("not json", b"{features: [", "layer.geojson: not valid JSON"),
    ("truncated", collection(detections(3))[:-40], "layer.geojson: the JSON ends early"),
    (
        "an open ring in the 3rd feature",
        collection(
            [
                *detections(2),
                feature({"type": "Polygon", "coordinates": [[[0, 0], [9, 0], [9, 9], [0, 1]]]}),
            ]
        ),
        "layer.geojson: features[2].geometry.coordinates[0]: not closed",
    ),
    (
        "a feature past the first batch",
        collection([*detections(2050), {"type": "Feature", "geometry": None}]),
        "layer.geojson: features[2050].geometry: null",
    ),
    (
        "a flat polygon",
        collection(
            [feature({"type": "Polygon", "coordinates": [[[0, 0], [9, 0], [5, 0], [0, 0]]]})]
        ),
        "layer.geojson: features[0]: The shape encloses no area.",
    ),
    (
        "a feature outside the slide",
        collection([*detections(1), feature(square(99999, 99999))]),
        "layer.geojson: features[1]: lies wholly outside the slide",
    ),
    ("xml that is not asap", b"<svg></svg>", "layer.geojson: XML whose root is <svg>"),
    ("json of no known format", b'{"rows": []}', "neither GeoJSON"),
]


@pytest.mark.parametrize(("what", "content", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_refused_naming_the_fault_and_nothing_is_stored(
    ml_client, slide, upload_dir, what, content, message
):
    response = upload(ml_client, slide, content)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert stored() == (0, 0, 0)
    assert not any(upload_dir.iterdir())


def test_a_file_over_the_limit_is_refused(ml_client, slide, settings):
    settings.LAYER_UPLOAD_MAX_MB = 0

    response = upload(ml_client, slide, collection(detections(1)))

    assert response.status_code == 413 and stored() == (0, 0, 0)


def test_an_upload_without_a_file_is_refused(ml_client, slide):
    response = ml_client.post(reverse("layers:slide_layers", args=[slide.pk]), {"name": "x"})

    assert response.status_code == 400 and response.json()["field"] == "file"


# --- Large files: the background job ------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """Every upload goes to a job, whatever its size."""
    monkeypatch.setattr(services, "INLINE_IMPORT_BYTES", 0)


def test_a_large_file_is_imported_by_a_job(ml_client, slide, queued, upload_dir):
    response = upload(ml_client, slide, collection(detections(4)))

    answer = response.json()["layer"]
    assert response.status_code == 201
    assert (answer["state"], answer["job"]["state"], answer["count"]) == ("uploaded", "queued", 0)
    job = job_run(job_id=answer["job"]["id"])
    assert (job.state, job.done) == (Job.State.SUCCEEDED, 4)
    layer = ml_client.get(reverse("layers:layer", args=[answer["layer"]])).json()["layer"]
    assert (layer["state"], layer["count"], layer["job"]["state"]) == ("ready", 4, "succeeded")
    assert not any(upload_dir.iterdir())


def test_a_bad_large_file_fails_its_job_and_stores_nothing(ml_client, slide, queued):
    bad = collection([*detections(3), feature({"type": "Polygon", "coordinates": [[[0, 0]]]})])

    answer = upload(ml_client, slide, bad).json()["layer"]
    job = job_run(job_id=answer["job"]["id"])

    assert job.state == Job.State.FAILED
    assert job.message.startswith("layer.geojson: features[3].geometry.coordinates[0]")
    layer = Layer.objects.get(pk=answer["layer"])
    assert (layer.state, layer.message, layer.feature_count) == ("failed", job.message, 0)
    assert stored()[1:] == (0, 0)
