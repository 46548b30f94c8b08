"""Exports say which annotations started from an uploaded layer (a model's predictions or
another tool's file) and whether a person has changed them since; drawn ones say nothing more.

Data and personas: tests/exports/conftest.py.
"""

import pytest
from django.db import connection

from annotations import services as annotation_services
from exports import portable, rows, selectors
from tests import factories
from tests.exports.test_portable import _comparable, _plan
from tests.exports.test_round_trip import download, features_by_annotation, read_all

pytestmark = pytest.mark.django_db

DETAIL = {"layer": 7, "layerName": "HoVer-Net run 3", "feature": 1234, "class": "Neoplastic"}


@pytest.fixture
def from_model(export_data):
    """Two annotations of the pathologist's on slide C taken from a model layer: one left as
    the model drew it, one whose outline the pathologist corrected."""
    assignment = export_data.assignments["P"]
    made = []
    for x in (2000, 2400):
        annotation, _ = annotation_services.annotation_create(
            slide=export_data.slides["C"],
            assignment=assignment,
            author=assignment.assignee,
            label=export_data.labels["Tumour"],
            kind="polygon",
            geometry=factories.square(x, 2000),
            origin="model",
            origin_detail={**DETAIL, "feature": x},
        )
        made.append(annotation)
    annotation_services.annotation_update(
        annotation=made[1],
        actor=assignment.assignee,
        version=1,
        geometry=factories.square(2400, 2000, 150),
    )
    return made


def test_an_export_says_which_annotations_came_from_a_model_and_which_a_person_changed(
    client_for, people, export_data, from_model
):
    archive = download(
        client_for(people["mlspecialist"]), export_data.project, "include_in_progress=1"
    )
    found = features_by_annotation(read_all(archive)[1])

    untouched, corrected = (found[a.pk][1]["properties"]["wsi2ml"] for a in from_model)
    assert untouched["origin"] == corrected["origin"] == "model"
    assert untouched["originDetail"] == {**DETAIL, "feature": 2000}
    assert untouched["changedSinceOrigin"] is False
    assert corrected["changedSinceOrigin"] is True
    drawn = found[export_data.annotations["c1"].pk][1]["properties"]["wsi2ml"]
    assert not {"origin", "originDetail", "changedSinceOrigin"} & drawn.keys()


def test_the_quick_starts_records_say_the_same_of_origins(export_data, from_model):
    slide = next(s for s in _plan(export_data).slides if s.id == export_data.slides["C"].pk)
    with connection.cursor() as cursor:
        cursor.execute(rows.rows_sql(tables=selectors._tables()), rows.rows_params(slide=slide))
        expected = [_comparable(r) for r in cursor.fetchall()]

    assert [_comparable(r) for r in portable.records(slide=slide)] == expected
    assert {r[0]: r[21:] for r in expected}[from_model[1].pk][2] is True
