"""Every change leaves a revision; restore and undo bring back exactly what was."""

import json

import pytest
from django.urls import reverse

from annotations import services
from annotations.models import Annotation, AnnotationRevision
from tests.annotations.conftest import square

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client, assignment):
    client.force_login(assignment.assignee)
    return client


def history(client, annotation) -> list[dict]:
    response = client.get(reverse("annotations:annotation_history", args=[annotation.pk]))
    assert response.status_code == 200
    return response.json()["revisions"]


def test_every_kind_of_change_leaves_a_revision(client, make_annotation, labels, annotator):
    annotation = make_annotation(comment="first look")
    annotation = services.annotation_update(
        annotation=annotation,
        actor=annotator,
        version=1,
        geometry=square(300, 300),
        label=labels["Stroma"],
        comment="on second thoughts",
    )
    services.annotation_delete(annotation=annotation, actor=annotator, version=2)
    services.annotation_restore(annotation=annotation, actor=annotator, version=3)

    revisions = history(client, annotation)

    assert [(r["action"], r["version"], r["actor"]) for r in revisions] == [
        ("create", 1, "annotator"),
        ("update", 2, "annotator"),
        ("delete", 3, "annotator"),
        ("restore", 4, "annotator"),
    ]
    create, update, delete, restore = revisions
    assert create["geometry_before"] is None and create["geometry_after"] == square(100.0, 100.0)
    assert create["label_after"]["name"] == "Tumour" and create["comment_after"] == "first look"
    assert update["geometry_before"] == square(100.0, 100.0)
    assert update["geometry_after"] == square(300.0, 300.0)
    assert (update["label_before"]["name"], update["label_after"]["name"]) == ("Tumour", "Stroma")
    assert (update["comment_before"], update["comment_after"]) == (
        "first look",
        "on second thoughts",
    )
    assert delete["geometry_before"] == square(300.0, 300.0) and delete["geometry_after"] is None
    assert restore["geometry_before"] is None and restore["geometry_after"] == square(300.0, 300.0)
    assert restore["at"].endswith("Z")


def test_restore_brings_back_exactly_the_old_geometry_and_label(client, make_annotation, labels):
    drawn = {
        "type": "Polygon",
        "coordinates": [[[10.25, 10.5], [200.75, 12], [150, 90.01], [10.25, 10.5]]],
    }
    annotation = make_annotation(drawn, label="Necrosis")
    url = reverse("annotations:annotation", args=[annotation.pk])
    before = client.get(url).json()

    client.delete(url)
    restored = client.post(
        reverse("annotations:annotation_restore", args=[annotation.pk]),
        "",
        content_type="application/json",
    ).json()

    assert restored["geometry"] == before["geometry"] == drawn
    assert restored["properties"]["label"] == before["properties"]["label"]
    assert restored["properties"]["area_px"] == before["properties"]["area_px"]
    assert restored["properties"]["version"] == 3


def test_undo_is_an_update_back_to_an_older_geometry(client, make_annotation):
    annotation = make_annotation(square(100, 100))
    url = reverse("annotations:annotation", args=[annotation.pk])
    moved = client.patch(
        url, json.dumps({"version": 1, "geometry": square(700, 700)}), "application/json"
    ).json()
    older = history(client, annotation)[-1]["geometry_before"]

    undone = client.patch(
        url,
        json.dumps({"version": moved["properties"]["version"], "geometry": older}),
        "application/json",
    )

    assert undone.status_code == 200
    assert undone.json()["geometry"] == square(100.0, 100.0)
    assert undone.json()["properties"]["version"] == 3
    annotation.refresh_from_db()
    assert (annotation.x0, annotation.y0) == (100, 100)
    assert annotation.revisions.count() == 3


def test_a_refused_change_leaves_no_revision(make_annotation, annotator):
    annotation = make_annotation()

    with pytest.raises(services.AnnotationConflict):
        services.annotation_update(annotation=annotation, actor=annotator, version=9, name="x")

    assert AnnotationRevision.objects.count() == 1


def test_a_manager_reads_the_history_of_anyones_annotation(client, make_annotation, manager):
    annotation = make_annotation()
    client.force_login(manager)

    assert [r["action"] for r in history(client, annotation)] == ["create"]


def test_nothing_a_user_does_hard_deletes(client, make_annotation):
    annotation = make_annotation()

    client.delete(reverse("annotations:annotation", args=[annotation.pk]))

    assert Annotation.objects.filter(pk=annotation.pk, is_deleted=True).exists()
