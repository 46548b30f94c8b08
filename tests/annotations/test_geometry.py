"""annotations.geometry: what is accepted, repaired, clipped, measured and rejected."""

import math

import pytest

from annotations import geometry
from annotations.geometry import GeometryError
from tests.annotations.conftest import square

SLIDE = {"width": 1000, "height": 800, "mpp_x": 0.25, "mpp_y": 0.5}


def clean(raw, kind="polygon", **extra):
    return geometry.clean(raw, kind=kind, **{**SLIDE, **extra})


def rejected(raw, kind="polygon", **extra) -> str:
    with pytest.raises(GeometryError) as caught:
        clean(raw, kind=kind, **extra)
    return caught.value.message


def polygon(*rings):
    return {"type": "Polygon", "coordinates": [list(map(list, ring)) for ring in rings]}


@pytest.mark.parametrize("kind", ["polygon", "freehand", "rectangle", "ellipse", "brush"])
def test_polygonal_kinds_take_a_polygon(kind):
    shape = clean(square(10, 20, 100), kind)

    assert shape.geojson == square(10.0, 20.0, 100)
    assert shape.bbox == (10, 20, 110, 120)
    assert shape.vertex_count == 5
    assert shape.area_px == 10000
    assert shape.area_um2 == 10000 * 0.25 * 0.5
    # The perimeter: 4 x 100 px; in µm each axis at its own resolution.
    assert shape.length_px == 400
    assert shape.length_um == 2 * 100 * 0.25 + 2 * 100 * 0.5
    assert shape.repaired == ""


def test_an_ellipse_of_64_vertices_keeps_them():
    ring = [
        [500 + 200 * math.cos(2 * math.pi * i / 64), 400 + 100 * math.sin(2 * math.pi * i / 64)]
        for i in range(64)
    ]
    shape = clean(polygon([*ring, ring[0]]), "ellipse")

    assert shape.vertex_count == 65
    assert shape.area_px == pytest.approx(math.pi * 200 * 100, rel=0.01)


def test_a_point():
    shape = clean({"type": "Point", "coordinates": [12.3456, 7]}, "point")

    assert shape.geojson == {"type": "Point", "coordinates": [12.35, 7.0]}
    assert shape.area_px == 0 and shape.area_um2 is None


def test_a_line_is_measured_in_px_and_micrometres():
    shape = clean({"type": "LineString", "coordinates": [[0, 0], [30, 0], [30, 40]]}, "line")

    assert shape.length_px == 70
    assert shape.length_um == pytest.approx(30 * 0.25 + 40 * 0.5)
    assert shape.area_px == 0


def test_a_brush_stroke_with_a_hole_and_a_second_part():
    brush = {
        "type": "MultiPolygon",
        "coordinates": [
            [
                [[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]],
                [[40, 40], [60, 40], [60, 60], [40, 60], [40, 40]],
            ],
            [[[200, 200], [250, 200], [250, 250], [200, 250], [200, 200]]],
        ],
    }
    shape = clean(brush, "brush")

    assert shape.geojson["type"] == "MultiPolygon"
    assert shape.area_px == 10000 - 400 + 2500
    assert shape.repaired == ""


def test_coordinates_are_rounded_to_a_hundredth_of_a_pixel():
    shape = clean(polygon([(0.004, 0), (10.126, 0), (10, 10.001), (0.004, 0)]))

    assert shape.geojson["coordinates"][0] == [[0, 0], [10.13, 0], [10, 10], [0, 0]]


def test_the_mpp_may_be_unknown():
    shape = clean(square(0, 0), mpp_x=None, mpp_y=None)

    assert shape.area_px == 10000 and shape.area_um2 is None


def test_a_bow_tie_is_repaired_into_two_triangles_and_says_where():
    shape = clean(polygon([(0, 0), (100, 100), (100, 0), (0, 100), (0, 0)]))

    assert shape.geojson["type"] == "MultiPolygon"
    assert shape.area_px == 5000
    assert shape.repaired == "Self-intersection at (50.0, 50.0) repaired"


def test_a_freehand_loop_is_repaired_keeping_its_area():
    loop = [(0, 0), (100, 0), (100, 100), (50, 100), (50, -20), (40, -20), (40, 0), (0, 0)]
    shape = clean(polygon(loop), "freehand")

    assert "Self-intersection" in shape.repaired
    assert shape.area_px > 0


def test_a_hole_crossing_its_shell_is_repaired():
    shape = clean(
        polygon(
            [(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)],
            [(80, 40), (120, 40), (120, 60), (80, 60), (80, 40)],
        )
    )

    assert shape.repaired
    assert shape.area_px == 10000 - 20 * 20


def test_a_shape_crossing_the_slide_edge_is_clipped():
    shape = clean(square(950, 750, 100))

    assert shape.bbox == (950, 750, 1000, 800)
    assert shape.area_px == 2500
    assert shape.repaired == "Clipped to the slide's edge"


def test_a_line_leaving_the_slide_is_clipped():
    shape = clean({"type": "LineString", "coordinates": [[-100, 10], [500, 10]]}, "line")

    assert shape.geojson["coordinates"] == [[0, 10], [500, 10]]
    assert "Clipped" in shape.repaired


def test_simplify_keeps_the_shape_and_drops_needless_vertices():
    wobbly = polygon([(0, 0), (50, 0.1), (100, 0), (100, 100), (0, 100), (0, 0)])

    simpler = geometry.simplify(wobbly, tolerance=1)

    assert len(simpler["coordinates"][0]) == 5


def test_measure_reads_back_a_stored_geometry():
    stored = clean(square(0, 0, 10)).geojson

    assert geometry.measure(stored, mpp_x=1, mpp_y=1).area_um2 == 100


REJECTED = {
    "not an object": ([1, 2], "polygon", "geometry must be a GeoJSON object"),
    "unknown type": ({"type": "Circle", "coordinates": []}, "polygon", "'Circle' is not supp"),
    "type not a string": ({"type": ["Polygon"], "coordinates": []}, "polygon", "not supported"),
    "coordinates missing": ({"type": "Polygon"}, "polygon", "coordinates must be an array"),
    "a string coordinate": (
        polygon([(0, 0), (10, "0"), (10, 10), (0, 0)]),
        "polygon",
        "coordinates[0][1][1] is not a number",
    ),
    "a boolean coordinate": (
        polygon([(0, 0), (10, True), (10, 10), (0, 0)]),
        "polygon",
        "coordinates[0][1][1] is not a number",
    ),
    "NaN": (
        polygon([(0, 0), (10, math.nan), (10, 10), (0, 0)]),
        "polygon",
        "coordinates[0][1][1] is not a finite number",
    ),
    "infinity": (
        polygon([(0, 0), (math.inf, 0), (10, 10), (0, 0)]),
        "polygon",
        "coordinates[0][1][0] is not a finite number",
    ),
    "a huge integer": (
        polygon([(0, 0), (10**400, 0), (10, 10), (0, 0)]),
        "polygon",
        "coordinates[0][1][0] is not a finite number",
    ),
    "a position of three numbers": (
        polygon([(0, 0, 0), (10, 0), (10, 10), (0, 0)]),
        "polygon",
        "coordinates[0][0] must be a position [x, y]",
    ),
    "three positions": (
        polygon([(0, 0), (10, 0), (0, 0)]),
        "polygon",
        "coordinates[0] has 3 positions; a ring needs at least 4",
    ),
    "an empty ring": ({"type": "Polygon", "coordinates": [[]]}, "polygon", "has 0 positions"),
    "no rings": ({"type": "Polygon", "coordinates": []}, "polygon", "must be an array of rings"),
    "a ring not closed": (
        polygon([(0, 0), (10, 0), (10, 10), (0, 10)]),
        "polygon",
        "coordinates[0] is not closed",
    ),
    "no area": (
        polygon([(0, 0), (10, 0), (20, 0), (0, 0)]),
        "polygon",
        "coordinates[0] encloses no area",
    ),
    "a hole outside its shell": (
        polygon(
            [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)],
            [(20, 20), (30, 20), (30, 30), (20, 20)],
        ),
        "polygon",
        "coordinates[1] is a hole outside its shell",
    ),
    "a hole outside its shell, second polygon": (
        {
            "type": "MultiPolygon",
            "coordinates": [
                [[[0, 0], [10, 0], [10, 10], [0, 0]]],
                [[[50, 50], [60, 50], [60, 60], [50, 50]], [[0, 0], [1, 0], [1, 1], [0, 0]]],
            ],
        },
        "brush",
        "coordinates[1][1] is a hole outside its shell",
    ),
    "an empty MultiPolygon": (
        {"type": "MultiPolygon", "coordinates": []},
        "brush",
        "needs at least one polygon",
    ),
    "wholly outside the slide": (square(2000, 2000), "polygon", "wholly outside the slide"),
    "negative, outside the slide": (square(-500, 10), "polygon", "wholly outside the slide"),
    "a point outside the slide": (
        {"type": "Point", "coordinates": [1001, 5]},
        "point",
        "The point lies outside the slide (1000 × 800 px)",
    ),
    "a line outside the slide": (
        {"type": "LineString", "coordinates": [[-10, -10], [-5, -20]]},
        "line",
        "wholly outside",
    ),
    "a line of one position": (
        {"type": "LineString", "coordinates": [[1, 1]]},
        "line",
        "at least 2 positions",
    ),
    "a line of no length": (
        {"type": "LineString", "coordinates": [[1, 1], [1, 1]]},
        "line",
        "has no length",
    ),
    "a point for a polygon": (
        {"type": "Point", "coordinates": [1, 1]},
        "polygon",
        "A polygon needs a Polygon or MultiPolygon geometry, not a Point",
    ),
    "a polygon for a point": (square(0, 0), "point", "A point needs a Point geometry"),
    "a polygon for a line": (square(0, 0), "line", "A line needs a LineString geometry"),
    "an unknown kind": (square(0, 0), "blob", "Unknown kind 'blob'"),
}


@pytest.mark.parametrize("case", REJECTED)
def test_it_rejects_and_says_where(case):
    raw, kind, message = REJECTED[case]

    assert message in rejected(raw, kind)


def test_it_rejects_too_many_vertices():
    ring = [[i, i % 2] for i in range(30)] + [[0, 50], [0, 0]]

    message = rejected(polygon(ring), max_vertices=20)

    assert message == "The geometry has 32 vertices; at most 20 are allowed."
