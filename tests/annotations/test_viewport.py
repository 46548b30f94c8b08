"""Viewport queries: bounding boxes, filters, who sees what, the reduced form and stats."""

import json

import pytest
from django.db import connection
from django.urls import reverse

from annotations import selectors
from tests.annotations.conftest import square

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(slide):
    return reverse("annotations:slide_annotations", args=[slide.pk])


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    assert response.json()["reduced"] is False
    return {feature["id"] for feature in response.json()["features"]}


def test_only_annotations_meeting_the_box(client_for, url, make_annotation, assignment):
    inside = make_annotation(square(100, 100))
    crossing = make_annotation(square(450, 450, 100))
    make_annotation(square(1000, 1000))
    line = make_annotation(
        {"type": "LineString", "coordinates": [[0, 300], [2000, 300]]}, kind="line"
    )
    point = make_annotation({"type": "Point", "coordinates": [250, 250]}, kind="point")
    client = client_for(assignment.assignee)

    found = client.get(url, {"bbox": "0,0,500,500"})

    assert ids(found) == {inside.pk, crossing.pk, line.pk, point.pk}
    assert found.json()["total"] == 4


def test_deleted_annotations_are_left_out(client_for, url, make_annotation, assignment):
    kept = make_annotation()
    gone = make_annotation()
    client = client_for(assignment.assignee)
    client.delete(reverse("annotations:annotation", args=[gone.pk]))

    assert ids(client.get(url, {"bbox": "0,0,4096,3072"})) == {kept.pk}


def test_without_a_box_the_whole_slide(client_for, url, make_annotation, assignment):
    far = make_annotation(square(3900, 2900))

    assert ids(client_for(assignment.assignee).get(url)) == {far.pk}


def test_label_and_assignment_filters(
    client_for, url, make_annotation, assignment, second_assignment, labels, manager
):
    tumour = make_annotation(label="Tumour")
    stroma = make_annotation(label="Stroma")
    make_annotation(label="Necrosis")
    theirs = make_annotation(label="Tumour", on=second_assignment)
    client = client_for(manager)

    wanted = f"{labels['Tumour'].pk},{labels['Stroma'].pk}"
    assert ids(client.get(url, {"label": wanted})) == {tumour.pk, stroma.pk, theirs.pk}
    assert ids(client.get(url, {"assignment": second_assignment.pk})) == {theirs.pk}
    only = {"label": labels["Tumour"].pk, "assignment": assignment.pk}
    assert ids(client.get(url, only)) == {tumour.pk}


def test_annotators_see_only_their_own_managers_see_all(
    client_for, url, make_annotation, assignment, second_assignment, manager, admin_user
):
    mine = make_annotation()
    theirs = make_annotation(on=second_assignment)

    assert ids(client_for(assignment.assignee).get(url)) == {mine.pk}
    assert ids(client_for(second_assignment.assignee).get(url)) == {theirs.pk}
    assert ids(client_for(manager).get(url)) == {mine.pk, theirs.pk}
    assert ids(client_for(admin_user).get(url)) == {mine.pk, theirs.pk}
    # Asking for another person's assignment shows nothing rather than their work.
    other = client_for(assignment.assignee).get(url, {"assignment": second_assignment.pk})
    assert ids(other) == set()


def test_an_outsider_gets_404(client_for, url, outsider):
    response = client_for(outsider).get(url)

    assert response.status_code == 404 and response.json() == {"error": "No such slide."}


def test_more_than_the_limit_gives_the_reduced_form(
    client_for, url, make_annotation, assignment, labels
):
    for x in (10, 20, 30):
        make_annotation(square(x, x, 10), label="Tumour")
    make_annotation(square(40, 40, 10), label="Stroma")
    make_annotation(square(2100, 1100, 10), label="Necrosis")  # cell (2, 1)
    client = client_for(assignment.assignee)

    response = client.get(url, {"bbox": "0,0,4096,3072", "limit": 4})

    body = response.json()
    assert body["reduced"] is True and body["total"] == 5
    assert body["cell_size"] == 1024
    by_cell = {tuple(f["geometry"]["coordinates"][0][0]): f["properties"] for f in body["features"]}
    first = by_cell[(0, 0)]
    assert first["cluster"] is True and first["count"] == 4
    assert first["counts"] == {str(labels["Tumour"].pk): 3, str(labels["Stroma"].pk): 1}
    assert first["label"]["name"] == "Tumour"
    assert by_cell[(2048, 1024)]["label"]["name"] == "Necrosis"
    assert ids(client.get(url, {"bbox": "0,0,4096,3072", "limit": 5}))


def test_the_reduced_form_merges_cells_to_about_64_across(slide, assignment, make_annotation):
    slide.width = slide.height = 200_000
    slide.save()
    for x in (0, 1500, 5000):  # cells 0, 1 and 4
        make_annotation(square(x, 10, 10))

    viewport = selectors.annotation_cells_in_box(
        user=assignment.assignee, slide=slide, bbox=(0, 0, 200_000, 200_000)
    )

    k = -(-196 // 64)  # 196 cells across, merged 4 by 4
    assert viewport.cell_size == k * 1024
    features = [json.loads(f) for f in viewport.features]
    assert [f["properties"]["count"] for f in features] == [2, 1]


def test_the_reduced_form_respects_visibility(
    slide, assignment, second_assignment, make_annotation, manager
):
    make_annotation(square(10, 10))
    make_annotation(square(10, 10), on=second_assignment)

    def total(user):
        return selectors.annotation_cells_in_box(user=user, slide=slide, bbox=(0, 0, 10, 10)).total

    assert (total(assignment.assignee), total(manager)) == (1, 2)


def test_absurd_boxes_are_clamped_to_the_slide(client_for, url, make_annotation, assignment):
    annotation = make_annotation()
    client = client_for(assignment.assignee)

    huge = client.get(url, {"bbox": "-1e308,-1e308,1e308,1e308"})
    reduced = client.get(url, {"bbox": "-1e308,-1e308,1e308,1e308", "limit": 1})
    make_annotation()
    reduced = client.get(url, {"bbox": "-1e308,-1e308,1e308,1e308", "limit": 1})
    outside = client.get(url, {"bbox": "1e300,1e300,1e308,1e308"})

    assert ids(huge) == {annotation.pk}
    assert reduced.status_code == 200 and reduced.json()["reduced"] is True
    assert ids(outside) == set()


BAD_QUERIES = {
    "bbox of three numbers": ({"bbox": "0,0,10"}, "bbox must be four numbers", "bbox"),
    "bbox not numbers": ({"bbox": "a,b,c,d"}, "bbox must be four numbers", "bbox"),
    "bbox with NaN": ({"bbox": "0,0,nan,10"}, "four finite numbers", "bbox"),
    "bbox reversed": ({"bbox": "10,0,0,10"}, "x0 ≤ x1", "bbox"),
    "limit not a number": ({"limit": "many"}, "limit must be a whole number", "limit"),
    "limit zero": ({"limit": "0"}, "limit must be a whole number between 1 and 50000", "limit"),
    "limit too large": ({"limit": "50001"}, "whole number between 1 and 50000", "limit"),
    "label not a number": ({"label": "1,x"}, "label must be a whole number", "label"),
    "assignment huge": (
        {"assignment": "9" * 30},
        "assignment must be a whole number",
        "assignment",
    ),
    # int() takes these; only ASCII digits are ids.
    "limit in Arabic-Indic digits": ({"limit": "١٢"}, "limit must be a whole number", "limit"),
    "limit with a sign": ({"limit": "+5"}, "limit must be a whole number", "limit"),
    "label with an underscore": ({"label": "1_0"}, "label must be a whole number", "label"),
}


@pytest.mark.parametrize("case", BAD_QUERIES)
def test_bad_query_parameters_are_400(client_for, url, assignment, case):
    query, message, field = BAD_QUERIES[case]

    response = client_for(assignment.assignee).get(url, query)

    assert response.status_code == 400
    assert message in response.json()["error"] and response.json()["field"] == field


def test_stats_per_label_over_the_slide(
    client_for, slide, make_annotation, assignment, second_assignment, labels, manager
):
    make_annotation(square(10, 10, 100), label="Tumour")
    make_annotation(square(3000, 2000, 200), label="Tumour")
    make_annotation(square(10, 10, 10), label="Stroma")
    make_annotation(square(10, 10, 10), label="Stroma", on=second_assignment)
    url = reverse("annotations:slide_stats", args=[slide.pk])

    mine = client_for(assignment.assignee).get(url).json()
    everyone = client_for(manager).get(url).json()
    theirs = client_for(manager).get(url, {"assignment": second_assignment.pk}).json()

    assert mine["total"] == 3
    assert mine["labels"] == [
        {
            "id": labels["Tumour"].pk,
            "name": "Tumour",
            "colour": "#d62728",
            "count": 2,
            "area_px": 50000,
            "area_um2": 50000 * 0.0625,
        },
        {
            "id": labels["Stroma"].pk,
            "name": "Stroma",
            "colour": "#2ca02c",
            "count": 1,
            "area_px": 100,
            "area_um2": 6.25,
        },
    ]
    assert everyone["total"] == 4 and theirs["total"] == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL path is PostgreSQL's")
def test_postgresql_writes_the_same_features_as_python(slide, assignment, make_annotation):
    make_annotation(square(10, 10), name='ä "quoted"', comment="line\nbreak")
    make_annotation({"type": "Point", "coordinates": [5.5, 6.25]}, kind="point")
    make_annotation({"type": "LineString", "coordinates": [[0, 0], [3, 4]]}, kind="line")
    args = (slide, (0, 0, 4096, 3072), (), None, frozenset({assignment.pk}), 100)

    from_sql = [json.loads(text) for text in selectors._features_postgresql(*args)]
    from_orm = [json.loads(text) for text in selectors._features_orm(*args)]

    assert sorted(from_sql, key=lambda f: f["id"]) == from_orm


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GiST index is PostgreSQL's")
def test_the_viewport_query_finds_the_slide_and_box_in_the_gist_index(
    slide, assignment, make_annotation
):
    make_annotation()
    visible = frozenset({assignment.pk})
    sql, params = selectors.features_sql(slide, (0, 0, 10, 10), (), None, visible, 2000)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index Scan using annotation_live_bbox" in plan
    # Both index columns are searched: the slide id too, not only the box.
    assert "Index Cond: ((slide_id = " in plan, plan


def test_a_box_known_to_hold_too_many_is_answered_from_the_cells(
    slide, assignment, make_annotation, monkeypatch
):
    for x in (1100, 1200, 1300):
        make_annotation(square(x, 1100, 10))  # all in cell (1, 1)

    def must_not_run(*args):
        raise AssertionError("features were read although the cells say there are too many")

    monkeypatch.setattr(selectors, "_features_postgresql", must_not_run)
    monkeypatch.setattr(selectors, "_features_orm", must_not_run)
    viewport = selectors.annotations_in_box(
        user=assignment.assignee, slide=slide, bbox=(1024, 1024, 2048, 2048), limit=2
    )

    assert viewport.reduced and viewport.total == 3


def test_cells_only_partly_in_the_box_do_not_decide(slide, assignment, make_annotation):
    for x in (1100, 1200, 1300):
        make_annotation(square(x, 1100, 10))

    # Neither box holds cell (1, 1) wholly: the features decide.
    viewport = selectors.annotations_in_box(
        user=assignment.assignee, slide=slide, bbox=(1000, 1000, 2047, 2047), limit=2
    )
    narrow = selectors.annotations_in_box(
        user=assignment.assignee, slide=slide, bbox=(1000, 1000, 1150, 1150), limit=2
    )

    assert viewport.reduced
    assert not narrow.reduced and narrow.total == 1
