"""annotations.geometry: the work of checking and repairing a geometry is bounded.

Shapes whose repair would cost more than the documented bounds are refused before GEOS sees
them (how fast is shown by bench/geometry_worst.py, never asserted here), and the vertex limit
holds for what is stored, not only for what was sent.
"""

import json
import math

import pytest
import shapely
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from annotations import geometry
from annotations.geometry import GeometryError
from annotations.models import Annotation

SLIDE = {"width": 100_000, "height": 100_000, "mpp_x": 0.25, "mpp_y": 0.25}


def clean(raw, kind="polygon", **extra):
    return geometry.clean(raw, kind=kind, **{**SLIDE, **extra})


def rejected(raw, kind="polygon", **extra) -> str:
    with pytest.raises(GeometryError) as caught:
        clean(raw, kind=kind, **extra)
    return caught.value.message


def polygon(*rings):
    return {"type": "Polygon", "coordinates": [[list(p) for p in [*r, r[0]]] for r in rings]}


def star(n: int, m: int | None = None, r: float = 400):
    """The star polygon {n/m}: its n edges cross n (m - 1) times."""
    m = m or n // 2
    return polygon(
        [
            (500 + r * math.cos(2 * math.pi * (i * m % n) / n),
             500 + r * math.sin(2 * math.pi * (i * m % n) / n))
            for i in range(n)
        ]
    )  # fmt: skip


def saw_tooth(teeth: int):
    """A zigzag whose closing edge runs back through each of its ``teeth``."""
    points = []
    for i in range(teeth):
        points += [(10 + 2 * i, 100), (11 + 2 * i, 300)]
    points += [(10 + 2 * teeth, 100), (10 + 2 * teeth, 200), (10, 200)]
    return polygon(points)


def diagonal_teeth(teeth: int, length: float = 5000):
    """A valid comb of long, thin, parallel diagonal teeth: every edge's box overlaps the rest."""
    points = []
    for i in range(teeth):
        x = 2 * i
        points += [(x, 10), (x + length, 10 + length), (x + length + 1, 10 + length), (x + 1, 10)]
    return polygon([*points, (2 * teeth, 5), (0, 5)])


def square(x, y, size):
    return [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]


def test_the_star_101_50_is_refused_before_any_repair():
    message = rejected(star(101))

    assert message == (
        "The geometry crosses or touches itself 4949 times; at most 2000 crossings are "
        "repaired. Draw it again with fewer crossings."
    )


def test_a_saw_tooth_crossing_its_closing_edge_is_refused():
    message = rejected(saw_tooth(6000))

    assert "crosses or touches itself 12000 times; at most 2000 crossings" in message


def test_the_crossing_bound_is_the_documented_one_and_inclusive():
    assert geometry.MAX_CROSSINGS == 2000
    # {11/5}: 11 * 4 = 44 crossings.
    assert "crosses or touches itself 44 times; at most 43" in rejected(star(11), max_crossings=43)

    shape = clean(star(11), max_crossings=44)

    assert shape.repaired.startswith("Self-intersection")
    assert shape.geojson["type"] == "Polygon"  # the star's outline, every point it encloses


def test_a_valid_comb_of_long_diagonal_teeth_is_refused_past_the_overlap_bound():
    comb = diagonal_teeth(300)

    message = rejected(comb)

    assert geometry.MAX_EDGE_OVERLAPS == 200_000
    assert message.startswith(
        "The geometry is too intricate to check: more than 200000 pairs of its edges lie across "
        "each other's extent"
    )
    assert clean(comb, max_edge_overlaps=10**6).repaired == ""


def test_a_line_of_long_diagonal_strokes_is_refused_past_the_overlap_bound():
    strokes = [[10 + i + (i % 2) * 5000, 10 + (i % 2) * 5000] for i in range(1000)]

    message = rejected({"type": "LineString", "coordinates": strokes}, "line")

    assert "too intricate to check" in message


def test_neighbouring_edges_and_repeated_positions_are_not_crossings():
    ring = [
        (500 + 300 * math.cos(2 * math.pi * i / 500), 500 + 300 * math.sin(2 * math.pi * i / 500))
        for i in range(500)
    ]
    ring[10:10] = [ring[10]] * 3  # a position sent four times over

    shape = clean(polygon(ring), max_crossings=0)

    assert shape.repaired == ""
    assert shape.vertex_count == 504  # kept as sent


def test_a_hole_touching_its_shell_counts_as_a_crossing():
    touching = polygon(square(0, 0, 100), [(0, 50), (20, 40), (20, 60)])

    assert "touches itself 2 times; at most 1" in rejected(touching, max_crossings=1)
    assert clean(touching, max_crossings=2).area_px == 10000 - 200


def test_holes_nested_like_russian_dolls_are_refused_past_the_ring_overlap_bound():
    shell = square(0, 0, 20_000)
    dolls = [square(50 + 10 * i, 50 + 10 * i, 20 * (500 - i)) for i in range(500)]

    message = rejected(polygon(shell, *dolls))

    assert geometry.MAX_RING_OVERLAPS == 100_000
    assert message.startswith(
        "The geometry is too intricate to check: more than 100000 pairs of its rings (holes, "
        "parts) lie across each other's extent"
    )
    # Fewer dolls: the holes inside the outermost one take nothing more away.
    shape = clean(polygon(shell, *dolls[:100]))
    assert shape.repaired.startswith("Holes are nested at (")
    assert shape.area_px == 20_000**2 - 10_000**2


def test_disjoint_parts_are_kept_as_they_are_and_touching_parts_are_joined():
    far_apart = [[square(20 * (i % 30), 20 * (i // 30), 10)] for i in range(900)]
    touching = [[square(5000, 5000, 10)], [square(5010, 5000, 10)]]
    brush = {
        "type": "MultiPolygon",
        "coordinates": [[[*map(list, r), list(r[0])] for r in p] for p in far_apart + touching],
    }

    shape = clean(brush, "brush")

    assert shape.repaired == ""
    assert len(shape.geojson["coordinates"]) == 901
    assert shape.area_px == 900 * 100 + 200


def test_a_repair_that_would_store_more_than_max_vertices_is_refused():
    sent = saw_tooth(100)  # 204 positions; repaired, each crossing adds two vertices

    message = rejected(sent, max_vertices=300)

    stored = clean(sent).vertex_count
    assert stored > 300
    assert message == (
        f"Repaired and clipped, the geometry would have {stored} vertices; at most 300 are stored."
    )


def test_clipping_that_would_store_more_than_max_vertices_is_refused():
    # Pointed teeth over the slide's top edge: clipping turns each point into two corners.
    teeth = []
    for i in range(50):
        teeth += [(10 + 4 * i, 50), (12 + 4 * i, -50)]
    comb = polygon([*teeth, (210, 50), (210, 60), (10, 60)])

    stored = clean(comb).vertex_count
    message = rejected(comb, max_vertices=120)

    assert stored == 154
    assert message == (
        f"Repaired and clipped, the geometry would have {stored} vertices; at most 120 are stored."
    )


def test_a_loop_drawn_twice_round_keeps_the_area_it_encloses():
    # A freehand outline that goes round twice: all of it is inside what was drawn (make_valid's
    # "linework" method kept only the thin band between the two turns).
    turns = [
        (500 + r * math.cos(2 * math.pi * i / 100), 500 + r * math.sin(2 * math.pi * i / 100))
        for r, i in ((300 - i / 5, i % 100) for i in range(200))
    ]

    shape = clean(polygon(turns), "freehand")

    assert "Self-intersection" in shape.repaired
    # The outer turn runs from radius 300 to 280; "linework" left about a tenth of this.
    assert shape.area_px == pytest.approx(math.pi * 290**2, rel=0.01)


def test_many_holes_are_checked_and_the_one_outside_is_named():
    holes = [square(20 + 30 * (i % 30), 20 + 30 * (i // 30), 10) for i in range(900)]
    holes[456] = square(5000, 5000, 10)

    message = rejected(polygon(square(0, 0, 1000), *holes))

    assert message == "coordinates[457] is a hole outside its shell."


def test_many_holes_inside_their_shell_are_kept():
    holes = [square(20 + 30 * (i % 30), 20 + 30 * (i // 30), 10) for i in range(900)]

    shape = clean(polygon(square(0, 0, 1000), *holes))

    assert shape.repaired == ""
    assert shape.area_px == 1000**2 - 900 * 100


def test_a_hole_crossing_its_shell_still_only_removes_area_among_many():
    holes = [square(20 + 30 * i, 20, 10) for i in range(30)] + [square(990, 500, 20)]

    shape = clean(polygon(square(0, 0, 1000), *holes))

    assert shape.repaired.startswith("Self-intersection")
    assert shape.area_px == 1000**2 - 30 * 100 - 10 * 20


positions = st.tuples(st.integers(0, 40), st.integers(0, 40))


@settings(max_examples=300, deadline=None)
@given(ring=st.lists(positions, min_size=3, max_size=25), holes=st.integers(0, 2))
def test_any_ring_is_refused_or_stored_valid_within_the_bounds(ring, holes):
    rings = [ring] + [[(x + 1, y + 1) for x, y in ring[:3]]] * holes
    try:
        shape = geometry.clean(
            polygon(*rings), kind="freehand", width=35, height=35, max_vertices=40, max_crossings=8
        )
    except GeometryError as refused:
        assert refused.message
        return
    stored = shapely.geometry.shape(shape.geojson)
    assert stored.is_valid
    assert stored.area > 0
    assert shape.vertex_count == shapely.get_num_coordinates(stored) <= 40
    assert shapely.box(0, 0, 35, 35).covers(stored)


@pytest.mark.django_db
def test_the_api_answers_400_for_a_star_and_stores_nothing(client, assignment, labels, slide):
    client.force_login(assignment.assignee)
    body = {
        "type": "Feature",
        "geometry": star(101, r=1000) | {},
        "properties": {
            "assignment": assignment.pk,
            "label": labels["Tumour"].pk,
            "kind": "polygon",
        },
    }
    body["geometry"]["coordinates"] = [
        [[x + 1000, y + 1000] for x, y in body["geometry"]["coordinates"][0]]
    ]

    response = client.post(
        reverse("annotations:slide_annotations", args=[slide.pk]),
        json.dumps(body),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "geometry"
    assert "crosses or touches itself 4949 times" in response.json()["error"]
    assert not Annotation.objects.exists()


def test_parts_inside_another_part_are_absorbed_and_parts_in_its_hole_are_kept():
    def ring(x, y, size):
        return [*map(list, square(x, y, size)), [x, y]]

    brush = {
        "type": "MultiPolygon",
        "coordinates": [
            [ring(0, 0, 100)],
            [ring(200, 0, 100), ring(210, 10, 50)],
            [ring(220, 20, 10)],  # in the second part's hole
            [ring(5, 5, 30)],  # inside the first part
        ],
    }

    shape = clean(brush, "brush")

    assert len(shape.geojson["coordinates"]) == 3
    assert shape.area_px == 100**2 + (100**2 - 50**2) + 10**2
