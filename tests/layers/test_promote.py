"""Promoting a layer's feature into one's own annotation: who may (persona × status), which label
it gets, the provenance stored, the shapes that become which kind, and bad input refused with
nothing stored."""

import json

import pytest
from django.test import Client
from django.urls import reverse
from guardian.shortcuts import assign_perm

from annotations.models import Annotation, AnnotationRevision
from layers.models import Layer, LayerFeature
from tasks.models import Label
from tests import factories
from tests.layers.conftest import collection, feature, square, upload
from wsi2ml.tokens import api_token_create

pytestmark = pytest.mark.django_db

TUMOUR_CELL = feature(
    square(500, 500),
    objectType="detection",
    classification={"name": "Tumour", "color": [200, 0, 0]},
    measurements={"score": 0.9, "Area": 10000},
)
UNKNOWN_CELL = feature(
    square(900, 900),
    objectType="detection",
    classification={"name": "Mitosis", "color": [0, 0, 200]},
    measurements={"score": 0.4},
)
LINE = feature(
    {"type": "LineString", "coordinates": [[10, 10], [200, 40]]}, objectType="annotation"
)
TWO_PARTS = feature(
    {
        "type": "MultiPolygon",
        "coordinates": [square(0, 0)["coordinates"], square(300, 0)["coordinates"]],
    },
    objectType="annotation",
    classification={"name": "Stroma"},
)
POINTS = feature({"type": "MultiPoint", "coordinates": [[5, 5], [50, 50]]}, objectType="detection")


@pytest.fixture
def layer(client_for, ml_specialist, task, slide) -> Layer:
    content = collection([TUMOUR_CELL, UNKNOWN_CELL, LINE, TWO_PARTS, POINTS])
    response = upload(client_for(ml_specialist), slide, content, name="model-v3.geojson")
    assert response.status_code == 201, response.content
    return Layer.objects.get(pk=response.json()["layer"]["layer"])


@pytest.fixture
def own(task, annotator):
    return task.assignments.get(assignee=annotator)


def _feature(layer: Layer, geometry_type: str, class_name: str = "") -> LayerFeature:
    for item in layer.features.all():
        geometry = item.geometry if isinstance(item.geometry, dict) else json.loads(item.geometry)
        if geometry["type"] == geometry_type and item.class_name == class_name:
            return item
    raise AssertionError(f"no {geometry_type} of class {class_name!r}")


def _promote(client, layer, item, headers=None, **body):
    url = reverse("layers:feature_promote", args=[layer.pk, item.pk])
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


# --- Who may -----------------------------------------------------------------------------------


@pytest.fixture
def people(admin_user, manager, ml_specialist, annotator, reviewer, other_annotator, task, slides):
    second = factories.user_create("second")
    factories.annotation_task_create(
        project=task.project, name="Round 2", slides=slides, annotators=[second]
    )
    return {
        "anonymous": None,
        "assignee": annotator,
        # sees the layer (work in the project) but not the assignee's assignment: as annotations
        # answer, an assignment one does not see is one that does not exist
        "annotator of the project": second,
        # sees the assignment, may not change it
        "manager": manager,
        "reviewer": reviewer,
        "admin": admin_user,
        # does not see the layer (another project's work on the slide)
        "other annotator": other_annotator,
        "outsider": factories.user_create("outsider-2"),
    }


EXPECTED = {
    "anonymous": 401,
    "assignee": 201,
    "annotator of the project": 400,
    "manager": 403,
    "reviewer": 403,
    "admin": 403,
    "other annotator": 404,
    "outsider": 404,
}


@pytest.mark.parametrize("persona", EXPECTED)
def test_only_the_assignee_promotes_into_their_assignment(
    client_for, people, layer, own, labels, persona
):
    item = _feature(layer, "Polygon", "Tumour")

    response = _promote(client_for(people[persona]), layer, item, assignment=own.pk)

    assert response.status_code == EXPECTED[persona], response.content
    assert Annotation.objects.count() == (1 if EXPECTED[persona] == 201 else 0)


def test_a_refusal_tells_nothing_of_a_layer_one_does_not_see(client_for, people, layer, own):
    client = client_for(people["outsider"])
    item = _feature(layer, "Polygon", "Tumour")

    seen = _promote(client, layer, item, assignment=own.pk).json()
    missing = _promote(client, layer, item.__class__(pk=item.pk + 1000), assignment=own.pk)

    assert seen == {"error": "No such layer."}
    assert missing.status_code == 404


def test_a_feature_of_another_layer_is_not_found(client_for, annotator, layer, own, slide):
    item = _feature(layer, "Polygon", "Tumour")
    other = Layer.objects.create(
        slide=slide, project=layer.project, name="other", uploaded_by=layer.uploaded_by
    )

    response = _promote(client_for(annotator), other, item, assignment=own.pk)

    assert response.status_code == 404 and response.json() == {"error": "No such feature."}


def test_an_api_token_may_not_promote(client, annotator, layer, own):
    _token, secret = api_token_create(user=annotator, name="script")
    item = _feature(layer, "Polygon", "Tumour")

    response = _promote(
        client, layer, item, {"Authorization": f"Bearer {secret}"}, assignment=own.pk
    )

    assert response.status_code == 403 and "read only" in response.json()["error"]
    assert not Annotation.objects.exists()


def test_a_session_promote_needs_the_csrf_token(annotator, layer, own):
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)

    response = _promote(client, layer, _feature(layer, "Polygon", "Tumour"), assignment=own.pk)

    assert response.status_code == 403 and "CSRF" in response.json()["error"]
    assert not Annotation.objects.exists()


def test_a_slide_marked_done_is_not_changed(client_for, annotator, layer, own, slide):
    own.assignment_slides.filter(slide=slide).update(state="done")

    response = _promote(
        client_for(annotator), layer, _feature(layer, "Polygon", "Tumour"), assignment=own.pk
    )

    assert response.status_code == 403 and "marked done" in response.json()["error"]
    assert not Annotation.objects.exists()


# --- What is stored ----------------------------------------------------------------------------


def test_the_annotation_takes_the_mapped_label_and_keeps_its_provenance(
    client_for, annotator, layer, own, labels
):
    item = _feature(layer, "Polygon", "Tumour")

    response = _promote(client_for(annotator), layer, item, assignment=own.pk)

    assert response.status_code == 201
    answer = response.json()
    assert answer["properties"]["label"]["id"] == labels["Tumour"].pk
    assert answer["properties"]["kind"] == "polygon"
    assert answer["properties"]["assignment"] == own.pk
    stored = Annotation.objects.get(pk=answer["id"])
    assert (stored.author, stored.assignment, stored.slide_id) == (annotator, own, layer.slide_id)
    assert stored.origin == Annotation.Origin.MODEL
    assert stored.origin_detail == {
        "layer": layer.pk,
        "layerName": "model-v3",
        "feature": item.pk,
        "class": "Tumour",
        "measurements": {"score": 0.9, "Area": 10000.0},
        "score": 0.9,
    }
    assert stored.geometry == square(500, 500)
    assert stored.area_px == 10000
    revision = AnnotationRevision.objects.get(annotation=stored)
    assert revision.action == AnnotationRevision.Action.CREATE and revision.actor == annotator


def test_an_imported_layers_feature_is_marked_imported(client_for, ml_specialist, annotator, own):
    slide = own.assignment_slides.first().slide
    content = collection([TUMOUR_CELL])
    response = upload(client_for(ml_specialist), slide, content, kind="imported")
    layer = Layer.objects.get(pk=response.json()["layer"]["layer"])

    answer = _promote(client_for(annotator), layer, layer.features.get(), assignment=own.pk).json()

    assert Annotation.objects.get(pk=answer["id"]).origin == Annotation.Origin.IMPORTED


def test_a_label_given_replaces_the_mapped_one(client_for, annotator, layer, own, labels):
    item = _feature(layer, "Polygon", "Tumour")

    response = _promote(
        client_for(annotator), layer, item, assignment=own.pk, label=labels["Stroma"].pk
    )

    assert response.status_code == 201
    assert Annotation.objects.get().label == labels["Stroma"]


def test_a_feature_without_a_mapped_label_needs_one(client_for, annotator, layer, own, labels):
    item = _feature(layer, "Polygon", "Mitosis")  # no such label in the project: kept unmapped
    client = client_for(annotator)

    refused = _promote(client, layer, item, assignment=own.pk)
    given = _promote(client, layer, item, assignment=own.pk, label=labels["Necrosis"].pk)

    assert refused.status_code == 400 and refused.json()["field"] == "label"
    assert "Mitosis" in refused.json()["error"]
    assert given.status_code == 201
    assert Annotation.objects.get().label == labels["Necrosis"]


def test_a_line_becomes_a_line_and_a_multipolygon_one_polygon_annotation(
    client_for, annotator, layer, own, labels
):
    client = client_for(annotator)
    line = _feature(layer, "LineString")
    parts = _feature(layer, "MultiPolygon", "Stroma")

    drawn_line = _promote(client, layer, line, assignment=own.pk, label=labels["Tumour"].pk)
    two_parts = _promote(client, layer, parts, assignment=own.pk)

    assert drawn_line.status_code == two_parts.status_code == 201
    by_kind = {a.kind: a for a in Annotation.objects.all()}
    assert set(by_kind) == {"line", "polygon"}
    assert by_kind["line"].length_px == pytest.approx((190**2 + 30**2) ** 0.5)
    assert by_kind["polygon"].geometry["type"] == "MultiPolygon"
    assert by_kind["polygon"].label == labels["Stroma"]
    assert by_kind["polygon"].area_px == 20000


def test_a_shape_no_annotation_takes_is_refused(client_for, annotator, layer, own, labels):
    item = _feature(layer, "MultiPoint")

    response = _promote(
        client_for(annotator), layer, item, assignment=own.pk, label=labels["Tumour"].pk
    )

    assert response.status_code == 400
    assert "MultiPoint cannot become an annotation" in response.json()["error"]
    assert not Annotation.objects.exists()


def test_promoting_twice_keeps_one_annotation_and_brings_a_deleted_one_back(
    client_for, annotator, layer, own
):
    from annotations import services as annotation_services

    client = client_for(annotator)
    item = _feature(layer, "Polygon", "Tumour")

    first = _promote(client, layer, item, assignment=own.pk)
    again = _promote(client, layer, item, assignment=own.pk)
    annotation_services.annotation_delete(annotation=Annotation.objects.get(), actor=annotator)
    restored = _promote(client, layer, item, assignment=own.pk)

    assert (first.status_code, again.status_code, restored.status_code) == (201, 200, 200)
    assert first.json()["id"] == again.json()["id"] == restored.json()["id"]
    assert Annotation.objects.count() == 1
    assert restored.json()["properties"]["deleted"] is False


OWN = "own assignment"  # replaced by its id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "assignment"),
        ({"assignment": "seven"}, "assignment"),
        ({"assignment": 10**9}, "assignment"),
        ({"assignment": OWN, "label": 10**9}, "label"),
        ({"assignment": OWN, "label": True}, "label"),
    ],
)
def test_bad_input_is_refused_with_nothing_stored(client_for, annotator, layer, own, body, field):
    body = {key: own.pk if value == OWN else value for key, value in body.items()}

    response = _promote(client_for(annotator), layer, _feature(layer, "Polygon", "Tumour"), **body)

    assert response.status_code == 400 and response.json()["field"] == field
    assert not Annotation.objects.exists()


def test_another_projects_label_is_an_unknown_one(
    client_for, annotator, layer, own, other_annotator
):
    foreign = Label.objects.get(name="Nodule")

    response = _promote(
        client_for(annotator),
        layer,
        _feature(layer, "Polygon", "Tumour"),
        assignment=own.pk,
        label=foreign.pk,
    )

    assert response.status_code == 400
    assert response.json() == {"error": f"No label {foreign.pk}.", "field": "label"}


def test_a_body_that_is_not_json_is_refused(client_for, annotator, layer):
    url = reverse("layers:feature_promote", args=[layer.pk, layer.features.first().pk])

    response = client_for(annotator).post(url, "{", content_type="application/json")

    assert response.status_code == 400 and not Annotation.objects.exists()


# --- The pages' URLs ---------------------------------------------------------------------------


def test_the_work_page_gives_the_promote_and_metrics_urls(client_for, annotator, layer, own):
    item = _feature(layer, "Polygon", "Tumour")
    slide_id = own.assignment_slides.get(slide=layer.slide).slide_id

    response = client_for(annotator).get(reverse("annotations:work", args=[own.pk, slide_id]))

    urls = response.context["editor_config"]["urls"]
    assert urls["featurePromote"].format(layer=layer.pk, feature=item.pk) == reverse(
        "layers:feature_promote", args=[layer.pk, item.pk]
    )
    assert urls["layerMetrics"].format(layer=layer.pk) == reverse(
        "layers:layer_metrics", args=[layer.pk]
    )
    assert urls["layers"] == reverse("layers:slide_layers", args=[slide_id])
    assert urls["layerFeature"].format(layer=layer.pk, feature=item.pk) == reverse(
        "layers:layer_feature", args=[layer.pk, item.pk]
    )


def test_the_viewer_lists_uploaded_layers_for_one_who_sees_no_annotations(
    client_for, ml_specialist, layer
):
    assign_perm("slides.view_slide", ml_specialist, layer.slide)

    response = client_for(ml_specialist).get(reverse("slides:viewer", args=[layer.slide_id]))

    config = response.context["layer_config"]
    assert config["layers"] == []  # the ML specialist sees nobody's annotations here
    assert config["urls"]["layers"] == reverse("layers:slide_layers", args=[layer.slide_id])
    assert b'id="layer-config"' in response.content
