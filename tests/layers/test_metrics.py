"""A model layer against a person's annotations, per label, against figures worked out by hand;
who may ask for which reference; bad input.

The slide is 0.25 µm/px. The annotator drew Tumour squares T1 (1000, 1000), T2 (3000, 1000) and
T3 (5000, 1000), 100 px each; a Stroma square S (1000, 5000), 200 px; a Necrosis point at
(8000, 8000). The model found Tumour M1 = T1 moved 10 px right (IoU 9,000 / 11,000), M2 = T2
moved 60 px right (IoU 4,000 / 16,000: below 0.5), M3 far from everything (50 px, score 0.1);
Stroma exactly S; a Necrosis point 10 px (2.5 µm) from the annotator's.
"""

import pytest
from django.urls import reverse

from layers.models import Layer, LayerFeature
from tests import factories
from tests.layers.conftest import collection, feature, square, upload

pytestmark = pytest.mark.django_db

approx = pytest.approx


@pytest.fixture
def drawn(task, slide, labels):
    assignment = task.assignments.get()

    def draw(label, geometry, kind="polygon"):
        return factories.annotation_draw(
            assignment=assignment, slide=slide, label=labels[label], geometry=geometry, kind=kind
        )

    return {
        "assignment": assignment,
        "T1": draw("Tumour", square(1000, 1000)),
        "T2": draw("Tumour", square(3000, 1000)),
        "T3": draw("Tumour", square(5000, 1000)),
        "S": draw("Stroma", square(1000, 5000, 200)),
        "P": draw("Necrosis", {"type": "Point", "coordinates": [8000, 8000]}, kind="point"),
    }


@pytest.fixture
def layer(client_for, ml_specialist, slide, drawn):
    def found(cls, geometry, score=0.9):
        return feature(geometry, classification=cls, measurements={"score": score})

    content = collection(
        [
            found("Tumour", square(1010, 1000)),
            found("Tumour", square(3060, 1000)),
            found("Tumour", square(9000, 9000, 50), score=0.1),
            found("Stroma", square(1000, 5000, 200)),
            found("Necrosis", {"type": "Point", "coordinates": [8010, 8000]}),
            found("Mitosis", square(20000, 20000)),  # no such label: kept unmapped
        ]
    )
    response = upload(client_for(ml_specialist), slide, content)
    assert response.status_code == 201, response.content
    return Layer.objects.get(pk=response.json()["layer"]["layer"])


def model(layer, x, y):
    """The id of the layer's feature whose box starts at (x, y)."""
    return LayerFeature.objects.get(layer=layer, x0=x, y0=y).pk


def metrics(client, layer, **query):
    return client.get(reverse("layers:layer_metrics", args=[layer.pk]), query)


def test_the_model_is_measured_against_the_annotator_per_label(client_for, manager, layer, drawn):
    response = metrics(client_for(manager), layer, assignments=drawn["assignment"].pk)

    assert response.status_code == 200, response.content
    body = response.json()
    rows = {row["name"]: row for row in body["labels"]}
    assert list(rows) == ["Tumour", "Stroma", "Necrosis"]
    tumour = rows["Tumour"]
    assert (tumour["model"], tumour["reference"], tumour["matched"]) == (3, 3, 1)
    assert tumour["precision"] == tumour["recall"] == tumour["f1"] == approx(1 / 3)
    assert tumour["meanIou"] == approx(9 / 11)
    # Unions: the model's 10,000 + 10,000 + 2,500, the annotator's 30,000; shared 9,000 + 4,000.
    assert tumour["dice"] == approx(2 * 13000 / (22500 + 30000))
    assert tumour["iou"] == approx(13000 / (22500 + 30000 - 13000))
    assert sorted(tumour["falsePositives"]) == sorted(
        [model(layer, 3060, 1000), model(layer, 9000, 9000)]
    )
    assert sorted(tumour["falseNegatives"]) == sorted([drawn["T2"].pk, drawn["T3"].pk])
    assert (rows["Stroma"]["matched"], rows["Stroma"]["dice"], rows["Stroma"]["iou"]) == (1, 1, 1)
    necrosis = rows["Necrosis"]
    assert (necrosis["matched"], necrosis["dice"], necrosis["falseNegatives"]) == (1, None, [])
    total = body["total"]
    assert (total["model"], total["reference"], total["matched"]) == (5, 5, 3)
    assert total["precision"] == approx(0.6)
    assert body["unmapped"] == 1  # the Mitosis square


def test_points_further_than_the_radius_do_not_match(client_for, manager, layer, drawn):
    body = metrics(
        client_for(manager), layer, assignments=drawn["assignment"].pk, radius_um=1
    ).json()

    necrosis = next(row for row in body["labels"] if row["name"] == "Necrosis")
    assert necrosis["matched"] == 0
    assert necrosis["falseNegatives"] == [drawn["P"].pk]


def test_a_stricter_iou_threshold_matches_fewer(client_for, manager, layer, drawn):
    body = metrics(client_for(manager), layer, assignments=drawn["assignment"].pk, iou=0.9).json()

    tumour = next(row for row in body["labels"] if row["name"] == "Tumour")
    assert tumour["matched"] == 0  # M1's IoU is 9/11 < 0.9


def test_features_below_the_score_threshold_are_left_out(client_for, manager, layer, drawn):
    body = metrics(
        client_for(manager), layer, assignments=drawn["assignment"].pk, min_score=0.5
    ).json()

    tumour = next(row for row in body["labels"] if row["name"] == "Tumour")
    assert (tumour["model"], tumour["matched"], tumour["precision"]) == (2, 1, 0.5)


def test_a_tasks_annotators_are_the_reference_too(client_for, ml_specialist, layer, task):
    body = metrics(client_for(ml_specialist), layer, task=task.pk).json()

    assert body["reference"] == [task.assignments.get().pk]
    assert body["total"]["matched"] == 3


def test_someone_who_does_not_see_the_layer_gets_a_404(client_for, other_annotator, layer, task):
    response = metrics(client_for(other_annotator), layer, task=task.pk)

    assert response.status_code == 404


def test_a_reference_the_person_does_not_see_is_answered_as_none(
    client_for, reviewer, layer, drawn, admin_user, slide, project
):
    # The reviewer sees the reviewed task's work, not another annotator's of another task.
    other = factories.user_create("second")
    _, (hidden,) = factories.annotation_task_create(
        project=project, name="Round 2", slides=[slide], annotators=[other], actor=admin_user
    )

    response = metrics(client_for(reviewer), layer, assignments=hidden.pk)
    missing = metrics(client_for(reviewer), layer, assignments=999999)

    assert response.status_code == missing.status_code == 400
    assert response.json()["field"] == "assignments"
    assert str(hidden.pk) in response.json()["error"]


@pytest.mark.parametrize(
    "query, field",
    [
        ({}, "assignments"),
        ({"assignments": "1", "task": "1"}, "assignments"),
        ({"assignments": "x"}, "assignments"),
        ({"task": "1", "iou": "2"}, "iou"),
        ({"task": "1", "iou": "nan"}, "iou"),
        ({"task": "1", "radius_um": "-1"}, "radius_um"),
        ({"task": "1", "min_score": "high"}, "min_score"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_for, manager, layer, task, query, field):
    query = {k: str(task.pk) if v == "1" else v for k, v in query.items()}

    response = metrics(client_for(manager), layer, **query)

    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
