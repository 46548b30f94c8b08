"""``wsi2ml-toolkit convert``: QuPath, ASAP and DSA files written as one QuPath FeatureCollection
with valid geometry and coloured classes, and clear errors for what cannot be written."""

import json

import pytest
import shapely
from wsi2ml_toolkit import cli
from wsi2ml_toolkit.convert import convert_file
from wsi2ml_toolkit.formats import qupath, read_annotations

SQUARE = [[[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]]]
BOWTIE = [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]

ASAP_XML = """<?xml version="1.0"?>
<ASAP_Annotations><Annotations>
  <Annotation Name="A" Type="Spline" PartOfGroup="Tumor" Color="#F4FA58"><Coordinates>
    <Coordinate Order="0" X="0" Y="0"/><Coordinate Order="1" X="100" Y="0"/>
    <Coordinate Order="2" X="100" Y="100"/><Coordinate Order="3" X="0" Y="100"/>
  </Coordinates></Annotation>
  <Annotation Name="Cells" Type="PointSet" PartOfGroup="Lymphocyte" Color="#000000"><Coordinates>
    <Coordinate Order="0" X="5" Y="5"/><Coordinate Order="1" X="6" Y="7"/>
    <Coordinate Order="2" X="8" Y="9"/>
  </Coordinates></Annotation>
</Annotations><AnnotationGroups>
  <Group Name="Tumor" PartOfGroup="None" Color="#ff0000"><Attributes/></Group>
  <Group Name="Lymphocyte" PartOfGroup="None" Color="#0000ff"><Attributes/></Group>
</AnnotationGroups></ASAP_Annotations>"""


def feature(geometry, **properties):
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def write_json(path, document):
    path.write_text(json.dumps(document))
    return path


def converted(path):
    document = json.loads(path.read_text())
    assert document["type"] == "FeatureCollection"
    return document["features"]


def assert_qupath_form(features):
    for written in features:
        assert written["type"] == "Feature" and written["id"]
        assert shapely.geometry.shape(written["geometry"]).is_valid
        properties = written["properties"]
        assert properties["objectType"] in ("annotation", "detection", "cell", "tile")
        if "classification" in properties:
            colour = properties["classification"]["color"]
            assert len(colour) == 3 and all(0 <= c <= 255 for c in colour)


def test_it_converts_asap_xml_to_qupath_geojson(tmp_path, capsys):
    source, out = tmp_path / "slide.xml", tmp_path / "slide.geojson"
    source.write_text(ASAP_XML)

    status = cli.main(["convert", str(source), "--out", str(out)])

    features = converted(out)
    assert status == 0
    assert_qupath_form(features)
    spline = features[0]
    assert spline["properties"]["classification"] == {"name": "Tumor", "color": [255, 0, 0]}
    assert spline["geometry"]["type"] == "Polygon"
    assert capsys.readouterr().err.strip() == (f"wrote 4 features to {out}: Lymphocyte 3, Tumor 1")


def test_a_point_set_becomes_one_point_feature_per_point(tmp_path):
    source, out = tmp_path / "slide.xml", tmp_path / "out.geojson"
    source.write_text(ASAP_XML)

    convert_file(source, out)

    points = [f for f in converted(out) if f["geometry"]["type"] == "Point"]
    assert [p["geometry"]["coordinates"] for p in points] == [[5, 5], [6, 7], [8, 9]]
    assert {p["properties"]["classification"]["name"] for p in points} == {"Lymphocyte"}
    assert len({p["id"] for p in points}) == 3


def test_the_parts_of_a_split_feature_get_the_same_ids_each_time(tmp_path):
    multipoint = {"type": "MultiPoint", "coordinates": [[1, 1], [2, 2]]}
    source = write_json(tmp_path / "in.geojson", [{**feature(multipoint), "id": "abc"}])

    convert_file(source, tmp_path / "a.geojson")
    convert_file(source, tmp_path / "b.geojson")

    ids = [f["id"] for f in converted(tmp_path / "a.geojson")]
    assert ids == [f["id"] for f in converted(tmp_path / "b.geojson")]
    assert len(set(ids)) == 2 and "abc" not in ids


def test_it_converts_dsa_json_keeping_classes_and_colours(tmp_path):
    document = {
        "name": "HistomicsUI",
        "elements": [
            {
                "type": "rectangle",
                "center": [50, 50, 0],
                "width": 20,
                "height": 10,
                "rotation": 0,
                "label": {"value": "Stroma"},
                "lineColor": "rgb(0, 128, 0)",
            },
            {"type": "circle", "center": [200, 200, 0], "radius": 30, "group": "Vessel"},
        ],
    }
    source, out = write_json(tmp_path / "dsa.json", document), tmp_path / "out.geojson"

    assert convert_file(source, out) == 2

    rectangle, circle = converted(out)
    assert_qupath_form([rectangle, circle])
    assert rectangle["properties"]["classification"] == {"name": "Stroma", "color": [0, 128, 0]}
    assert circle["properties"]["classification"]["color"] == qupath.class_colour("Vessel")
    assert rectangle["properties"]["annotation"] == "HistomicsUI"


def test_it_repairs_a_self_intersecting_polygon(tmp_path):
    bowtie = feature({"type": "Polygon", "coordinates": BOWTIE}, classification="Tumor")
    source, out = write_json(tmp_path / "in.geojson", [bowtie]), tmp_path / "out.geojson"

    convert_file(source, out)

    [written] = converted(out)
    shape = shapely.geometry.shape(written["geometry"])
    assert shape.is_valid and shape.area == pytest.approx(50)


def test_it_keeps_qupath_features_as_they_were(tmp_path):
    cell = {
        **feature(
            {"type": "Polygon", "coordinates": SQUARE},
            objectType="cell",
            classification={"name": "Tumor", "color": [200, 0, 0]},
            measurements={"Nucleus: Area": 12.5},
            isLocked=True,
        ),
        "id": "0f4a8a6c-5d1e-4c8a-9a5b-1d2e3f405162",
        "nucleusGeometry": {"type": "Polygon", "coordinates": [[[1, 1], [9, 1], [9, 9], [1, 1]]]},
    }
    source, out = write_json(tmp_path / "in.geojson", {"type": "Feature", **cell}), tmp_path / "o"

    convert_file(source, out)

    [written] = converted(out)
    assert written["id"] == cell["id"]
    assert written["properties"] == {
        "isLocked": True,
        "objectType": "cell",
        "classification": {"name": "Tumor", "color": [200, 0, 0]},
        "measurements": {"Nucleus: Area": 12.5},
    }
    assert written["nucleusGeometry"]["type"] == "Polygon"


def test_its_output_reads_back_as_the_same_features(tmp_path):
    source, out = tmp_path / "slide.xml", tmp_path / "out.geojson"
    source.write_text(ASAP_XML)
    convert_file(source, out)

    again = read_annotations(out)
    first = read_annotations(source)

    assert again[0].geometry.equals_exact(first[0].geometry, 0.01)
    assert [(f.class_name, f.colour) for f in again] == [("Tumor", (255, 0, 0))] + [
        ("Lymphocyte", (0, 0, 255))
    ] * 3


def test_from_reads_the_input_as_the_format_named(tmp_path, capsys):
    source = write_json(tmp_path / "in.json", [feature({"type": "Point", "coordinates": [1, 2]})])

    status = cli.main(["convert", str(source), "--out", str(tmp_path / "o"), "--from", "dsa"])

    assert status == 2
    assert '[0].type: "Feature" is not an element type' in capsys.readouterr().err


def test_a_feature_that_cannot_be_repaired_is_named_and_nothing_is_written(tmp_path, capsys):
    flat = feature(
        {"type": "Polygon", "coordinates": [[[0, 0], [5, 5], [10, 10], [0, 0]]]},
        name="flat",
        classification="Tumor",
    )
    good = feature({"type": "Polygon", "coordinates": SQUARE})
    source = write_json(tmp_path / "in.geojson", [good, flat])
    out = tmp_path / "out.geojson"
    out.write_text("before")

    status = cli.main(["convert", str(source), "--out", str(out)])

    assert status == 2
    assert capsys.readouterr().err.strip() == (
        f"wsi2ml-toolkit convert: {source}: feature 1 (name 'flat', class 'Tumor'): "
        "The shape encloses no area."
    )
    assert out.read_text() == "before"
    assert set(tmp_path.iterdir()) == {source, out}  # no partial output left behind


def test_a_missing_input_is_one_line_and_status_2(tmp_path, capsys):
    status = cli.main(["convert", str(tmp_path / "none.xml"), "--out", str(tmp_path / "o")])

    assert status == 2
    assert "No such file or directory" in capsys.readouterr().err


def test_a_malformed_input_is_one_line_naming_the_fault(tmp_path, capsys):
    source = tmp_path / "cut.geojson"
    source.write_text('{"type": "FeatureCollection", "features": [{"type": "Feat')

    status = cli.main(["convert", str(source), "--out", str(tmp_path / "o")])

    assert status == 2
    assert capsys.readouterr().err == (
        f"wsi2ml-toolkit convert: {source}: the JSON ends early (truncated?) at line 1, "
        "column 53.\n"  # where the cut string begins
    )


def test_an_empty_collection_converts_to_an_empty_collection(tmp_path, capsys):
    source = write_json(tmp_path / "in.geojson", {"type": "FeatureCollection", "features": []})

    assert convert_file(source, tmp_path / "out.geojson") == 0
    assert converted(tmp_path / "out.geojson") == []


def test_convert_requires_an_output(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["convert", str(tmp_path / "in.geojson")])

    assert "--out" in capsys.readouterr().err
