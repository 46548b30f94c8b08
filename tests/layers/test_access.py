"""Who sees and who changes a layer: persona × request × expected status, and the list of the
slide's layers for each persona (the annotations' rule, annotations.permissions)."""

import pytest
from django.urls import reverse

from layers import services
from layers.models import Layer
from tests import factories
from tests.layers.conftest import collection, detections, upload
from wsi2ml.tokens import api_token_create

pytestmark = pytest.mark.django_db

PERSONAS = (
    "anonymous",
    "admin",
    "manager",
    "ml specialist",
    "annotator",
    "reviewer",
    "other annotator",
    "outsider",
)
# persona: status of (list the slide's layers, read the layer, its features, upload, delete)
EXPECTED = {
    "anonymous": (401, 401, 401, 401, 401),
    "admin": (200, 200, 200, 201, 204),
    "manager": (200, 200, 200, 201, 204),
    "ml specialist": (200, 200, 200, 201, 204),
    "annotator": (200, 200, 200, 403, 403),
    "reviewer": (200, 200, 200, 403, 403),
    # sees the slide, through another project's work: not this project's layers
    "other annotator": (200, 404, 404, 403, 404),
    "outsider": (404, 404, 404, 404, 404),
}


@pytest.fixture
def world(slide, task, admin_user, manager, ml_specialist, annotator, reviewer, other_annotator):
    people = {
        "anonymous": None,
        "admin": admin_user,
        "manager": manager,
        "ml specialist": ml_specialist,
        "annotator": annotator,
        "reviewer": reviewer,
        "other annotator": other_annotator,
        "outsider": factories.user_create("outsider-2"),
    }
    return people


def _layer(client_for, ml_specialist, slide) -> Layer:
    response = upload(client_for(ml_specialist), slide, collection(detections(3)))
    return Layer.objects.get(pk=response.json()["layer"]["layer"])


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_gets_what_the_table_says(client_for, world, slide, persona):
    layer = _layer(client_for, world["ml specialist"], slide)
    client = client_for(world[persona])

    statuses = (
        client.get(reverse("layers:slide_layers", args=[slide.pk])).status_code,
        client.get(reverse("layers:layer", args=[layer.pk])).status_code,
        client.get(reverse("layers:layer_features", args=[layer.pk])).status_code,
        upload(client, slide, collection(detections(1)), project=str(layer.project_id)).status_code,
        client.delete(reverse("layers:layer", args=[layer.pk])).status_code,
    )

    assert statuses == EXPECTED[persona]


@pytest.mark.parametrize("persona", PERSONAS[1:])
def test_the_slides_list_holds_the_layer_for_those_who_see_it(client_for, world, slide, persona):
    layer = _layer(client_for, world["ml specialist"], slide)

    response = client_for(world[persona]).get(reverse("layers:slide_layers", args=[slide.pk]))

    if EXPECTED[persona][0] == 404:
        return
    uploaded = [item for item in response.json()["layers"] if item["kind"] == "predictions"]
    assert [item["id"] for item in uploaded] == (
        [f"layer-{layer.pk}"] if EXPECTED[persona][1] == 200 else []
    )


def test_the_human_layers_stay_first_and_as_they_were(client_for, world, slide, task):
    _layer(client_for, world["ml specialist"], slide)

    layers = (
        client_for(world["annotator"])
        .get(reverse("layers:slide_layers", args=[slide.pk]))
        .json()["layers"]
    )

    assert [layer["kind"] for layer in layers] == ["annotations", "predictions"]
    assert layers[0]["assignment"] == task.assignments.get().pk
    assert {"id", "name", "count", "state", "featuresUrl", "job"} <= set(layers[1])


def test_an_outsider_learns_nothing_of_a_layer(client_for, world, slide):
    layer = _layer(client_for, world["ml specialist"], slide)
    client = client_for(world["outsider"])

    seen = client.get(reverse("layers:layer", args=[layer.pk])).json()
    missing = client.get(reverse("layers:layer", args=[layer.pk + 1000])).json()

    assert seen == missing == {"error": "No such layer."}


@pytest.mark.parametrize(("persona", "status"), [("ml specialist", 201), ("annotator", 403)])
def test_an_api_token_uploads_for_those_who_may(client, world, slide, persona, status):
    _token, secret = api_token_create(user=world[persona], name="script")

    headers = {"Authorization": f"Bearer {secret}"}

    response = upload(client, slide, collection(detections(2)), headers=headers)

    assert response.status_code == status


def test_an_api_token_reads_the_features(client, world, slide, client_for):
    layer = _layer(client_for, world["ml specialist"], slide)
    _token, secret = api_token_create(user=world["annotator"], name="script")
    client.logout()

    response = client.get(
        reverse("layers:layer_features", args=[layer.pk]), HTTP_AUTHORIZATION=f"Bearer {secret}"
    )

    assert response.status_code == 200 and len(response.json()["features"]) == 3


def test_a_session_upload_needs_the_csrf_token(world, slide):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world["ml specialist"])

    response = upload(client, slide, collection(detections(1)))

    assert response.status_code == 403 and "CSRF" in response.json()["error"]
    assert not Layer.objects.exists()


def test_with_several_projects_the_upload_names_one(client_for, world, slide, other_annotator):
    other = other_annotator.assignments.get().task.project
    world["ml specialist"].projects.add(other)
    client = client_for(world["ml specialist"])

    unnamed = upload(client, slide, collection(detections(1)))
    named = upload(client, slide, collection(detections(1)), project=str(other.pk))

    assert unnamed.status_code == 400 and unnamed.json()["field"] == "project"
    assert named.status_code == 201 and named.json()["layer"]["project"] == other.pk


def test_deleting_a_layer_removes_its_features(client_for, world, slide):
    layer = _layer(client_for, world["ml specialist"], slide)

    services.layer_delete(layer=layer)

    assert not Layer.objects.exists()
    assert not layer.features.exists()
