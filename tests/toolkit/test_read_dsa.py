"""Reading Digital Slide Archive (HistomicsUI, large_image) annotation JSON: each document form,
each element shape, labels, colours and user properties, and refusing malformed elements with
a message naming the element and the fault."""

import json
import math

import numpy as np
import pytest
import shapely
from wsi2ml_toolkit.features import AnnotationFileError
from wsi2ml_toolkit.formats import detect_format, dsa, read_annotations, read_annotations_text

POLYGON = {
    "type": "polyline",
    "points": [[0, 0, 0], [100, 0, 0], [100, 100, 0], [0, 100, 0]],
    "closed": True,
    "label": {"value": "Tumor"},
    "lineColor": "rgb(255, 0, 0)",
}


def doc(*elements, name="Layer 1"):
    return {"name": name, "description": "", "attributes": {}, "elements": list(elements)}


def read(document):
    return read_annotations_text(json.dumps(document))


def test_it_reads_an_annotation_document(tmp_path):
    path = tmp_path / "slide.json"
    path.write_text(json.dumps(doc(POLYGON)))

    [found] = read_annotations(path)

    assert found.geometry.equals(shapely.box(0, 0, 100, 100))
    assert (found.class_name, found.colour) == ("Tumor", (255, 0, 0))
    assert found.properties == {"annotation": "Layer 1"}
    assert detect_format(path) == "dsa"


def test_it_reads_a_list_of_documents():
    found = read([doc(POLYGON, name="first"), doc(POLYGON, POLYGON, name="second")])

    assert [f.properties["annotation"] for f in found] == ["first", "second", "second"]


def test_it_reads_girders_answer_and_a_list_of_them():
    answer = {"_id": "5f0c0c0c0c0c0c0c0c0c0c0c", "itemId": "x", "annotation": doc(POLYGON)}

    assert len(read(answer)) == 1
    assert len(read([answer, answer])) == 2


def test_it_reads_a_bare_element_list():
    [found] = read([POLYGON])

    assert found.class_name == "Tumor" and "annotation" not in found.properties


def test_an_open_polyline_is_a_line():
    [found] = read(doc({"type": "polyline", "points": [[0, 0, 0], [3, 4, 0]], "closed": False}))

    assert found.geometry.geom_type == "LineString" and found.geometry.length == 5


def test_a_polyline_is_open_unless_it_says_closed():
    [found] = read(doc({"type": "polyline", "points": [[0, 0, 0], [3, 4, 0], [3, 0, 0]]}))

    assert found.geometry.geom_type == "LineString"


def test_a_closed_polyline_has_its_holes():
    hole = [[10, 10, 0], [20, 10, 0], [20, 20, 0], [10, 20, 0]]

    [found] = read(doc({**POLYGON, "holes": [hole]}))

    assert len(found.geometry.interiors) == 1
    assert found.geometry.area == pytest.approx(10_000 - 100)


def test_a_closed_polyline_that_repeats_its_first_point_takes_it_once():
    points = [*POLYGON["points"], [0, 0, 0]]

    [found] = read(doc({**POLYGON, "points": points}))

    assert len(found.geometry.exterior.coords) == 5


def test_it_reads_points_without_z():
    [found] = read(doc({"type": "polyline", "points": [[0, 0], [5, 0], [5, 5]], "closed": True}))

    assert found.geometry.area == pytest.approx(12.5)


def test_a_rectangle_is_its_four_corners():
    element = {"type": "rectangle", "center": [50, 30, 0], "width": 40, "height": 20, "rotation": 0}

    [found] = read(doc(element))

    assert found.geometry.equals(shapely.box(30, 20, 70, 40))


def test_a_rotated_rectangle_turns_about_its_centre_as_drawn():
    rotation = 0.3
    element = {"type": "rectangle", "center": [50, 30, 0], "width": 40, "height": 20}

    [found] = read(doc({**element, "rotation": rotation}))

    # The top edge (y down) runs from the top-left corner at the angle of the rotation.
    corners = np.array(found.geometry.exterior.coords)[:4]
    top = corners[1] - corners[0]
    assert math.atan2(top[1], top[0]) == pytest.approx(rotation)
    assert np.hypot(*top) == pytest.approx(40)
    assert found.geometry.centroid.equals_exact(shapely.Point(50, 30), 1e-9)
    assert found.geometry.area == pytest.approx(800)


def test_a_circle_has_its_vertices_on_it_and_its_edges_within_a_quarter_pixel():
    [found] = read(doc({"type": "circle", "center": [500, 400, 0], "radius": 300}))

    vertices = np.array(found.geometry.exterior.coords)
    assert np.hypot(*(vertices - [500, 400]).T) == pytest.approx(300)
    # The chord's midpoint is the farthest from the circle: r (1 - cos(pi / n)).
    sagitta = 300 * (1 - math.cos(math.pi / (len(vertices) - 1)))
    assert sagitta <= dsa.CURVE_TOLERANCE


def test_an_ellipse_has_its_vertices_on_the_rotated_ellipse():
    element = {"type": "ellipse", "center": [0, 0, 0], "width": 200, "height": 80, "rotation": 0.5}

    [found] = read(doc(element))

    x, y = np.array(found.geometry.exterior.coords).T
    # Back into the ellipse's own frame: rotate by -0.5.
    u = x * math.cos(0.5) + y * math.sin(0.5)
    v = -x * math.sin(0.5) + y * math.cos(0.5)
    assert (u / 100) ** 2 + (v / 40) ** 2 == pytest.approx(1)
    # Its edges' midpoints, the farthest from the curve, lie within the tolerance of it.
    t = np.linspace(0, 2 * math.pi, 20_000)
    dense = shapely.LinearRing(
        np.column_stack(
            [
                100 * np.cos(t) * math.cos(0.5) - 40 * np.sin(t) * math.sin(0.5),
                100 * np.cos(t) * math.sin(0.5) + 40 * np.sin(t) * math.cos(0.5),
            ]
        )
    )
    vertices = np.column_stack([x, y])
    midpoints = shapely.points((vertices[1:] + vertices[:-1]) / 2)
    assert shapely.distance(midpoints, dense).max() <= dsa.CURVE_TOLERANCE


def test_a_point_is_its_centre():
    [found] = read(doc({"type": "point", "center": [12, 34, 5]}))

    assert found.geometry.equals(shapely.Point(12, 34))


def test_an_arrow_is_a_line_from_its_head():
    [found] = read(doc({"type": "arrow", "points": [[5, 6, 0], [-17, 6, 0]]}))

    assert list(found.geometry.coords) == [(5, 6), (-17, 6)]


def test_it_leaves_out_elements_that_are_not_shapes():
    heatmap = {"type": "heatmap", "points": [[1, 2, 0, 0.5]]}
    griddata = {"type": "griddata", "values": [1], "gridWidth": 1}
    image = {"type": "image", "girderId": "0" * 24}

    found = read(doc(heatmap, POLYGON, griddata, image))

    assert [f.class_name for f in found] == ["Tumor"]


def test_the_class_is_the_label_else_the_group():
    labelled = {**POLYGON, "group": "style-a"}
    grouped = {"type": "point", "center": [1, 1, 0], "group": "Stroma"}

    first, second = read(doc(labelled, grouped))

    assert (first.class_name, first.properties["group"]) == ("Tumor", "style-a")
    assert (second.class_name, "group" in second.properties) == ("Stroma", False)


def test_user_properties_and_the_element_id_are_kept():
    element = {**POLYGON, "id": "0123456789abcdef01234567", "user": {"score": 0.9, "model": "v2"}}

    [found] = read(doc(element))

    assert found.id == "0123456789abcdef01234567"
    assert found.properties == {"score": 0.9, "model": "v2", "annotation": "Layer 1"}


@pytest.mark.parametrize(
    ("colour", "rgb"),
    [
        ("rgb(1, 2, 3)", (1, 2, 3)),
        ("rgba(10,20,30,0.5)", (10, 20, 30)),
        ("#abc", (170, 187, 204)),
        ("#AABBCC", (170, 187, 204)),
        ("#aabbcc80", (170, 187, 204)),
    ],
)
def test_it_reads_each_colour_form_of_the_schema(colour, rgb):
    [found] = read(doc({**POLYGON, "lineColor": colour}))

    assert found.colour == rgb


def test_the_line_colour_wins_over_the_fill_colour():
    line_and_fill = {**POLYGON, "fillColor": "rgba(0, 0, 255, 0.3)"}
    fill_only = {k: v for k, v in line_and_fill.items() if k != "lineColor"}

    first, second = read(doc(line_and_fill, fill_only))

    assert (first.colour, second.colour) == ((255, 0, 0), (0, 0, 255))


def test_a_document_without_elements_has_no_features():
    assert read({"name": "empty", "elements": []}) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            {"type": "polygon", "points": [[0, 0, 0]]},
            'elements[1].type: "polygon" is not an element type',
        ),
        (
            {"type": "polyline", "points": [[0, 0, 0], ["a", 0, 0]]},
            'elements[1].points[1]: "a" is not a number',
        ),
        (
            {"type": "polyline", "points": [[0, 0, 0]]},
            "elements[1].points: 1 position; at least 2 needed",
        ),
        (
            {"type": "polyline", "points": [[0, 0, 0], [1, 1, 0]], "closed": True},
            "elements[1].points: 2 positions; at least 3 needed",
        ),
        (
            {"type": "polyline", "points": [[0, 0, 0], [1, 1, 0]], "closed": "yes"},
            'elements[1].closed: "yes" is not true/false',
        ),
        (
            {**POLYGON, "holes": [[[1, 1, 0], [2, 2, 0]]]},
            "elements[1].holes[0]: 2 positions; at least 3 needed",
        ),
        (
            {"type": "polyline", "points": [[0, 0, 0], [1, 1, 0]], "holes": [[[0, 0, 0]]]},
            "elements[1].holes: holes in an open polyline",
        ),
        (
            {"type": "rectangle", "width": 1, "height": 1},
            "elements[1]: a rectangle without a center",
        ),
        (
            {"type": "rectangle", "center": [0, 0, 0], "height": 1},
            "elements[1]: a rectangle without a width",
        ),
        (
            {"type": "circle", "center": [0, 0, 0], "radius": -2},
            "elements[1].radius: -2.0 is negative",
        ),
        (
            {"type": "ellipse", "center": [0, 0, 0], "width": 1, "height": 1, "rotation": "90deg"},
            'elements[1].rotation: "90deg" is not a finite number',
        ),
        ({"type": "point", "center": [1]}, "elements[1].center: [1] is not a position"),
        ({**POLYGON, "lineColor": "red"}, 'elements[1].lineColor: "red" is not a colour'),
        ({**POLYGON, "lineColor": "rgb(300, 0, 0)"}, "elements[1].lineColor: "),
        ({**POLYGON, "user": ["a"]}, "elements[1].user: not an object"),
        ({**POLYGON, "label": {"value": 5}}, "elements[1].label.value: 5 is not text"),
        ("polyline", "elements[1]: not an element object"),
    ],
)
def test_it_refuses_a_malformed_element_naming_it_and_the_fault(bad, message):
    with pytest.raises(AnnotationFileError) as caught:
        read(doc(POLYGON, bad))

    assert message in str(caught.value)


def test_an_error_in_a_list_of_documents_names_the_document():
    bad = {"type": "polyline", "points": [[0, 0, 0], [1, 1, 0], [2, None, 0]]}

    with pytest.raises(
        AnnotationFileError, match=r"\[1\]\.elements\[0\]\.points\[2\]: null is not"
    ):
        read([doc(POLYGON), doc(bad)])


def test_an_error_in_girders_answer_names_the_annotation():
    with pytest.raises(AnnotationFileError, match=r"^annotation\.elements\[0\]\.type"):
        read({"annotation": doc({"type": "square"})})


def test_its_errors_begin_with_the_files_name(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"type": "circle", "center": [0, 0, 0]}]))

    with pytest.raises(AnnotationFileError, match=rf"^{path}: \[0\]: a circle without a radius"):
        read_annotations(path)
