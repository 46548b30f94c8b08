"""Reading ASAP's annotation XML: every annotation type, groups as classes, ASAP's spline, and
refusing malformed or dangerous XML with a message naming the annotation and the fault."""

import math
import time

import numpy as np
import pytest
import shapely
from wsi2ml_toolkit.features import AnnotationFileError
from wsi2ml_toolkit.formats import asap, detect_format, read_annotations, read_annotations_text

GROUPS = """<AnnotationGroups>
  <Group Name="Tumor" PartOfGroup="None" Color="#ff0000"><Attributes/></Group>
  <Group Name="Necrosis" PartOfGroup="Tumor" Color="#00ff00"><Attributes/></Group>
</AnnotationGroups>"""


def annotation(kind, points, *, name="Annotation 0", group="Tumor", colour="#F4FA58", order=True):
    coordinates = "".join(
        f'<Coordinate Order="{i}" X="{x}" Y="{y}"/>' if order else f'<Coordinate X="{x}" Y="{y}"/>'
        for i, (x, y) in enumerate(points)
    )
    return (
        f'<Annotation Name="{name}" Type="{kind}" PartOfGroup="{group}" Color="{colour}">'
        f"<Coordinates>{coordinates}</Coordinates></Annotation>"
    )


def document(*annotations, groups=GROUPS):
    return (
        '<?xml version="1.0"?>\n<ASAP_Annotations><Annotations>'
        + "".join(annotations)
        + f"</Annotations>{groups}</ASAP_Annotations>"
    )


def read(*annotations, **kwargs):
    return read_annotations_text(document(*annotations, **kwargs))


SQUARE = [(0, 0), (100, 0), (100, 100), (0, 100)]


def test_it_reads_a_polygon_with_its_groups_class_and_colour(tmp_path):
    path = tmp_path / "slide.xml"
    path.write_text(document(annotation("Polygon", SQUARE, name="Region A")))

    [found] = read_annotations(path)

    assert found.geometry.equals(shapely.Polygon(SQUARE))
    assert (found.class_name, found.colour, found.name) == ("Tumor", (255, 0, 0), "Region A")
    assert found.properties == {"color": [244, 250, 88]}
    assert detect_format(path) == "asap"


def test_it_reads_a_rectangle_from_its_four_corners():
    [found] = read(annotation("Rectangle", [(10, 20), (60, 20), (60, 45), (10, 45)]))

    assert found.geometry.equals(shapely.box(10, 20, 60, 45))


def test_it_reads_a_dot_as_a_point():
    [found] = read(annotation("Dot", [(12.5, 7)]))

    assert found.geometry.equals(shapely.Point(12.5, 7))


def test_it_reads_a_point_set_as_one_multipoint():
    [found] = read(annotation("PointSet", [(1, 2), (3, 4), (5, 6)]))

    assert found.geometry.equals(shapely.MultiPoint([(1, 2), (3, 4), (5, 6)]))


def test_it_reads_a_measurement_as_a_line():
    [found] = read(annotation("Measurement", [(0, 0), (30, 40)]))

    assert found.geometry.geom_type == "LineString" and found.geometry.length == 50


def test_it_takes_coordinates_in_their_order():
    points = [(100, 0), (0, 0), (100, 100), (0, 100)]
    xml = annotation("Polygon", points).replace('Order="0"', 'Order="9"')

    [found] = read(xml)

    # (100, 0) now comes last: the ring runs (0, 0) (100, 100) (0, 100) (100, 0).
    assert list(found.geometry.exterior.coords)[:4] == [(0, 0), (100, 100), (0, 100), (100, 0)]


def test_it_takes_coordinates_in_the_files_order_when_none_has_an_order():
    [found] = read(annotation("Polygon", SQUARE, order=False))

    assert list(found.geometry.exterior.coords)[:4] == [(0, 0), (100, 0), (100, 100), (0, 100)]


def test_it_reads_a_decimal_comma():
    xml = annotation("Dot", [(0, 0)]).replace('X="0"', 'X="1234,5"').replace('Y="0"', 'Y="7,25"')

    [found] = read(xml)

    assert found.geometry.equals(shapely.Point(1234.5, 7.25))


def test_a_nested_groups_annotation_has_its_own_group_as_class():
    [found] = read(annotation("Polygon", SQUARE, group="Necrosis"))

    assert (found.class_name, found.colour) == ("Necrosis", (0, 255, 0))


def test_an_annotation_of_no_group_has_no_class():
    [found] = read(annotation("Polygon", SQUARE, group="None"))

    assert (found.class_name, found.colour) == (None, None)


def test_an_undeclared_group_still_names_the_class():
    [found] = read(annotation("Polygon", SQUARE, group="Stroma"), groups="")

    assert (found.class_name, found.colour) == ("Stroma", None)


def test_it_reads_a_file_with_a_byte_order_mark_and_encoding():
    text = document(annotation("Dot", [(1, 1)], name="Zellkern ä"))
    data = (
        b"\xef\xbb\xbf" + text.replace('version="1.0"', 'version="1.0" encoding="UTF-8"').encode()
    )

    [found] = read_annotations_text(data)

    assert found.name == "Zellkern ä"


# --- Spline -----------------------------------------------------------------------------------

# Six control points around a rough circle.
CONTROL = [(100, 0), (60, 80), (-40, 95), (-100, 10), (-50, -85), (45, -90)]


def centripetal_catmull_rom(p0, p1, p2, p3, samples):
    """Points of the centripetal Catmull-Rom span p1 -> p2 (Barry and Goldman's pyramid), an
    evaluation independent of the Bézier form ASAP draws."""
    p0, p1, p2, p3 = (np.asarray(p, dtype=float) for p in (p0, p1, p2, p3))
    t0 = 0.0
    t1 = t0 + np.hypot(*(p1 - p0)) ** 0.5
    t2 = t1 + np.hypot(*(p2 - p1)) ** 0.5
    t3 = t2 + np.hypot(*(p3 - p2)) ** 0.5
    t = np.linspace(t1, t2, samples)[:, None]
    a1 = (t1 - t) / (t1 - t0) * p0 + (t - t0) / (t1 - t0) * p1
    a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
    a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
    b1 = (t2 - t) / (t2 - t0) * a1 + (t - t0) / (t2 - t0) * a2
    b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
    return (t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2


def test_a_spline_passes_through_its_points_in_order():
    [found] = read(annotation("Spline", CONTROL))

    ring = [tuple(p) for p in found.geometry.exterior.coords]
    positions = [ring.index(p) for p in CONTROL]
    assert positions == sorted(positions)
    assert found.geometry.is_valid


def test_a_spline_is_the_centripetal_catmull_rom_curve_within_a_quarter_pixel():
    [found] = read(annotation("Spline", CONTROL))
    boundary = found.geometry.exterior

    # Spans 1 -> 2 and 2 -> 3 have their true neighbours on both sides (no end conditions).
    for i in (1, 2):
        curve = centripetal_catmull_rom(*CONTROL[i - 1 : i + 3], samples=400)
        distances = shapely.distance(shapely.points(curve), boundary)
        assert distances.max() <= asap.SPLINE_TOLERANCE


def test_a_spline_bulges_beyond_its_control_polygon():
    [found] = read(annotation("Spline", SQUARE))

    assert found.geometry.area > shapely.Polygon(SQUARE).area
    assert found.geometry.contains(shapely.Polygon(SQUARE).buffer(-1))


def test_a_spline_ignores_a_repeated_point():
    repeated = [*CONTROL[:3], CONTROL[2], *CONTROL[3:], CONTROL[0]]

    [once] = read(annotation("Spline", CONTROL))
    [twice] = read(annotation("Spline", repeated))

    assert twice.geometry.equals(once.geometry)


# --- Malformed and dangerous files ------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            annotation("Ellipse", SQUARE, name="E"),
            'Annotation[1] "E": Type "Ellipse" is not one of',
        ),
        (
            annotation("Polygon", SQUARE, name="P").replace('X="100"', 'X="abc"', 1),
            'Annotation[1] "P": Coordinate[1] X: "abc" is not a number',
        ),
        (
            annotation("Polygon", SQUARE, name="P").replace('X="100"', 'X="1,2,3"', 1),
            'Coordinate[1] X: "1,2,3" is not a number',
        ),
        (
            annotation("Polygon", SQUARE, name="P").replace(' Y="0"', "", 1),
            'Annotation[1] "P": Coordinate[0] Y: missing',
        ),
        (
            annotation("Polygon", SQUARE, name="P").replace('Y="0"', 'Y="nan"', 1),
            'Coordinate[0] Y: "nan" is not a finite number',
        ),
        (
            annotation("Dot", [(1, 1), (2, 2)], name="D"),
            'Annotation[1] "D": a Dot has one coordinate',
        ),
        (
            annotation("Polygon", [(0, 0), (5, 5), (5, 5), (0, 0)], name="Flat"),
            'Annotation[1] "Flat": 2 distinct coordinates; a region needs at least 3',
        ),
        (annotation("Spline", [(0, 0), (5, 5)], name="S"), 'Annotation[1] "S": 2 distinct'),
        (annotation("Measurement", [(0, 0)], name="M"), "a Measurement needs 2 coordinates"),
        (
            '<Annotation Name="Empty" Type="Polygon" PartOfGroup="None" Color="#000000"/>',
            'Annotation[1] "Empty": no <Coordinates>',
        ),
        (
            annotation("Polygon", SQUARE, name="P").replace('Order="1"', 'Order="0"'),
            'Annotation[1] "P": two coordinates have the same Order',
        ),
        (
            annotation("Polygon", SQUARE, name="P").replace('Order="1"', 'Order="first"'),
            'Annotation[1] "P": Coordinate[1] Order: "first" is not a whole number',
        ),
        (annotation("Polygon", SQUARE, colour="yellow"), 'Color: "yellow" is not a colour'),
    ],
)
def test_it_refuses_a_malformed_annotation_naming_it_and_the_fault(bad, message):
    with pytest.raises(AnnotationFileError) as caught:
        read(annotation("Dot", [(1, 1)]), bad)

    assert message in str(caught.value)


def test_it_refuses_a_group_without_a_name():
    groups = '<AnnotationGroups><Group PartOfGroup="None" Color="#ff0000"/></AnnotationGroups>'

    with pytest.raises(
        AnnotationFileError, match=r"AnnotationGroups\[0\] \(none\): a group without"
    ):
        read(annotation("Dot", [(1, 1)]), groups=groups)


def test_it_refuses_entity_declarations_before_expanding_any():
    laughs = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{laughs}]>'
        '<ASAP_Annotations><Annotations><Annotation Name="&lol9;" Type="Dot" PartOfGroup="None">'
        '<Coordinates><Coordinate Order="0" X="1" Y="1"/></Coordinates></Annotation>'
        "</Annotations></ASAP_Annotations>"
    )
    started = time.perf_counter()

    with pytest.raises(AnnotationFileError, match="a <!DOCTYPE> declaration"):
        read_annotations_text(bomb)
    assert time.perf_counter() - started < 1


def test_it_refuses_an_external_entity():
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<ASAP_Annotations><Annotations/></ASAP_Annotations>"
    )

    with pytest.raises(AnnotationFileError, match="DOCTYPE"):
        read_annotations_text(xxe)


def test_it_says_when_the_xml_ends_early(tmp_path):
    path = tmp_path / "cut.xml"
    path.write_text(document(annotation("Polygon", SQUARE))[:150])

    with pytest.raises(AnnotationFileError, match=r"cut\.xml: the XML ends early \(truncated\?\)"):
        read_annotations(path)


def test_it_refuses_xml_that_is_not_well_formed():
    with pytest.raises(AnnotationFileError, match=r"not well-formed XML .*mismatched tag"):
        read_annotations_text("<ASAP_Annotations><Annotations></Annotation></ASAP_Annotations>")


def test_it_refuses_other_xml_annotations():
    aperio = '<Annotations MicronsPerPixel="0.5"><Annotation Id="1"/></Annotations>'

    with pytest.raises(
        AnnotationFileError, match="root is <Annotations>; the only XML read is ASAP"
    ):
        read_annotations_text(aperio)


def test_an_empty_annotation_list_reads_as_no_features():
    assert read() == []


def test_asap_reads_its_own_root_only():
    root = asap.parse(b"<Other/>")

    with pytest.raises(AnnotationFileError, match=r"^a\.xml: the root element is <Other>"):
        list(asap.features_of(root, where="a.xml"))


def test_a_dot_reads_at_its_coordinate_not_rounded():
    [found] = read(annotation("Dot", [(math.pi, math.e)]))

    assert found.geometry.x == pytest.approx(math.pi) and found.geometry.y == pytest.approx(math.e)
