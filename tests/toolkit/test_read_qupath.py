"""Reading QuPath GeoJSON in every form QuPath 0.2-0.6 writes or reads, and refusing what is not
a geometry with a message that names the feature and the part at fault."""

import io
import json

import pytest
import shapely
from wsi2ml_toolkit.features import AnnotationFileError
from wsi2ml_toolkit.formats import detect_format, qupath, read_annotations, read_annotations_text

SQUARE = [[[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]]]
UUID = "0f4a8a6c-5d1e-4c8a-9a5b-1d2e3f405162"


def feature(geometry=None, **properties):
    return {
        "type": "Feature",
        "geometry": geometry or {"type": "Polygon", "coordinates": SQUARE},
        "properties": properties,
    }


def collection(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def read(document):
    return read_annotations_text(json.dumps(document))


def test_it_reads_a_feature_collection_as_qupath_0_5_writes_it(tmp_path):
    path = tmp_path / "slide.geojson"
    path.write_text(
        json.dumps(
            collection(
                {
                    "type": "Feature",
                    "id": UUID,
                    "geometry": {"type": "Polygon", "coordinates": SQUARE},
                    "properties": {
                        "objectType": "annotation",
                        "name": "Region 1",
                        "classification": {"name": "Tumor", "color": [200, 0, 0]},
                        "isLocked": True,
                        "measurements": {"Area µm^2": 2500.0},
                    },
                }
            )
        )
    )

    [found] = read_annotations(path)

    assert found.geometry.equals(shapely.Polygon(SQUARE[0]))
    assert (found.class_name, found.colour) == ("Tumor", (200, 0, 0))
    assert (found.id, found.name, found.object_type) == (UUID, "Region 1", "annotation")
    assert found.measurements == {"Area µm^2": 2500.0}
    assert found.properties == {"isLocked": True}


def test_it_reads_a_json_array_of_features():
    found = read([feature(classification="A"), feature(classification="B")])

    assert [f.class_name for f in found] == ["A", "B"]


def test_it_reads_a_single_feature():
    [found] = read(feature(classification={"name": "Stroma", "color": [0, 150, 0]}))

    assert (found.class_name, found.colour) == ("Stroma", (0, 150, 0))


def test_it_reads_a_bare_geometry_as_a_feature_without_class():
    [found] = read({"type": "Point", "coordinates": [12.5, 40]})

    assert found.geometry.equals(shapely.Point(12.5, 40))
    assert found.class_name is None and found.properties == {}


def test_it_reads_a_classification_given_as_a_string():
    [found] = read(feature(classification="Tumor: Positive"))

    assert (found.class_name, found.colour) == ("Tumor: Positive", None)


def test_it_joins_a_derived_class_as_qupath_names_it():
    [found] = read(feature(classification={"names": ["Tumor", "Positive"], "color": [1, 2, 3]}))

    assert found.class_name == "Tumor: Positive"


@pytest.mark.parametrize(
    ("colour", "rgb"),
    [
        ([10, 20, 30], (10, 20, 30)),
        ([10, 20, 30, 128], (10, 20, 30)),
        (-16711936, (0, 255, 0)),  # Java's Color.getRGB(): opaque, so negative
        ([0x102030], (16, 32, 48)),
    ],
)
def test_it_reads_a_class_colour_in_each_form_qupath_wrote(colour, rgb):
    [found] = read(feature(classification={"name": "A", "color": colour}))

    assert found.colour == rgb


def test_it_reads_qupath_0_2_features():
    old = {
        "type": "Feature",
        "id": "PathDetectionObject",
        "geometry": {"type": "Polygon", "coordinates": SQUARE},
        "properties": {
            "classification": {"name": "Tumor", "colorRGB": -3670016},
            "isLocked": False,
            "measurements": [{"name": "Nucleus: Area", "value": 31.5}],
        },
    }

    [found] = read([old])

    assert (found.object_type, found.id) == ("detection", None)
    assert (found.class_name, found.colour) == ("Tumor", (200, 0, 0))
    assert found.measurements == {"Nucleus: Area": 31.5}


def test_it_names_a_qupath_0_2_derived_class_from_its_parents():
    classification = {"parentClass": {"name": "Tumor", "colorRGB": -3670016}, "name": "Positive"}

    [found] = read(feature(classification=classification))

    assert found.class_name == "Tumor: Positive"


@pytest.mark.parametrize(
    ("properties", "object_type"),
    [
        ({"objectType": "tile"}, "tile"),
        ({"object_type": "detection"}, "detection"),
        ({"type": "cell"}, "cell"),
        ({"objectType": "tmaCore"}, "annotation"),
        ({}, "annotation"),
    ],
)
def test_it_reads_the_object_type_under_each_key_qupath_reads(properties, object_type):
    [found] = read(feature(**properties))

    assert found.object_type == object_type
    assert not {"objectType", "object_type", "type"} & set(found.properties)


def test_it_keeps_a_type_property_that_is_not_an_object_type():
    [found] = read(feature(type="biopsy"))

    assert (found.object_type, found.properties) == ("annotation", {"type": "biopsy"})


def test_it_reads_a_cell_with_its_nucleus():
    cell = feature(objectType="cell", classification={"name": "Lymphocyte", "color": [0, 0, 255]})
    cell["nucleusGeometry"] = {
        "type": "Polygon",
        "coordinates": [[[40, 40], [60, 40], [60, 60], [40, 60], [40, 40]]],
    }

    [found] = read(collection(cell))

    assert found.object_type == "cell"
    assert found.nucleus.equals(shapely.box(40, 40, 60, 60))


def test_it_reads_a_multipolygon_with_holes():
    coordinates = [
        [SQUARE[0], [[10, 10], [10, 20], [20, 20], [20, 10], [10, 10]]],
        [[[200, 0], [250, 0], [250, 50], [200, 0]]],
    ]

    [found] = read(feature({"type": "MultiPolygon", "coordinates": coordinates}))

    assert found.geometry.geom_type == "MultiPolygon"
    assert len(found.geometry.geoms[0].interiors) == 1
    assert found.geometry.area == pytest.approx(10_000 - 100 + 1250)


def test_it_keeps_a_closed_linestring_a_line():
    ring = [[0, 0], [50, 0], [50, 50], [0, 0]]

    [found] = read(feature({"type": "LineString", "coordinates": ring}))

    assert found.geometry.geom_type == "LineString" and found.geometry.is_closed


def test_it_ignores_is_ellipse_and_third_coordinates():
    geometry = {
        "type": "Polygon",
        "coordinates": [[[0, 0, 5], [100, 0, 5], [100, 100, 5], [0, 0, 5]]],
        "isEllipse": True,
    }

    [found] = read(feature(geometry))

    assert not found.geometry.has_z
    assert found.geometry.equals(shapely.Polygon([(0, 0), (100, 0), (100, 100)]))


def test_it_keeps_a_self_intersecting_polygon_as_the_file_gives_it():
    bowtie = [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]

    [found] = read(feature({"type": "Polygon", "coordinates": bowtie}))

    assert not found.geometry.is_valid
    assert len(found.geometry.exterior.coords) == 5


def test_it_leaves_out_measurements_without_a_value():
    text = json.dumps(feature(measurements={"a": 1, "b": None})).replace("}}", ', "c": NaN}}')

    [found] = read_annotations_text(text)

    assert found.measurements == {"a": 1.0}


def test_it_keeps_an_exports_provenance_and_reads_it_as_qupath():
    exported = feature(
        objectType="annotation",
        classification={"name": "Tumour", "color": [255, 0, 0]},
        measurements={"Area µm^2": 2500.0, "Perimeter µm": 200.0},
        wsi2ml={"annotation": 17, "author": "ann", "verdicts": ["accepted"]},
    )
    text = json.dumps(collection(exported))

    [found] = read_annotations_text(text)

    assert found.properties["wsi2ml"]["annotation"] == 17
    assert detect_format(io.BytesIO(text.encode())) == "qupath"


def test_what_it_reads_writes_back_as_the_same_features():
    original = collection(
        feature(classification={"name": "Tumor", "color": [200, 0, 0]}, measurements={"m": 2.5}),
        feature({"type": "LineString", "coordinates": [[0, 0], [3, 4]]}, objectType="detection"),
    )
    first = read(original)
    out = io.BytesIO()

    qupath.write_geojson(first, out)
    again = read_annotations_text(out.getvalue())

    for before, after in zip(first, again, strict=True):
        assert after.geometry.equals(before.geometry)
        assert (after.class_name, after.colour, after.object_type, after.measurements) == (
            before.class_name,
            before.colour,
            before.object_type,
            before.measurements,
        )


def test_it_reads_a_binary_file_object():
    [found] = read_annotations(io.BytesIO(json.dumps(feature(classification="A")).encode()))

    assert found.class_name == "A"


def test_it_reads_positions_with_and_without_a_third_coordinate_in_one_line():
    [found] = read(feature({"type": "LineString", "coordinates": [[0, 0, 1], [3, 4], [6, 8, 2]]}))

    assert list(found.geometry.coords) == [(0, 0), (3, 4), (6, 8)]


UNCLOSED = [[[0, 0], [10, 0], [10, 10], [0, 10]]]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            feature({"type": "Polygon", "coordinates": UNCLOSED}),
            "features[1].geometry.coordinates[0]: not closed",
        ),
        (
            feature({"type": "Polygon", "coordinates": [[[0, 0], [1, "a"], [1, 1], [0, 0]]]}),
            'features[1].geometry.coordinates[0][1]: "a" is not a number',
        ),
        (
            feature({"type": "LineString", "coordinates": [[0, 0], [True, 1]]}),
            "features[1].geometry.coordinates[1]: true is not a number",
        ),
        (
            feature({"type": "LineString", "coordinates": [[0, 0, "z"], [1, 1]]}),
            'features[1].geometry.coordinates[0]: "z" is not a number',
        ),
        (
            feature({"type": "LineString", "coordinates": [[0, 0]]}),
            "features[1].geometry.coordinates: 1 position; at least 2 needed",
        ),
        (
            feature({"type": "Point", "coordinates": [1]}),
            "features[1].geometry.coordinates: [1] is not a position",
        ),
        (
            feature({"type": "Polygon", "coordinates": []}),
            "features[1].geometry.coordinates: not a non-empty array of rings",
        ),
        (
            feature({"type": "Circle", "coordinates": [0, 0]}),
            'features[1].geometry.type: "Circle" is not a GeoJSON geometry type',
        ),
        (
            feature({"type": "GeometryCollection", "geometries": []}),
            "features[1].geometry.type: a GeometryCollection is not read",
        ),
        (
            {"type": "Feature", "geometry": None, "properties": {}},
            "features[1].geometry: null; a feature needs a geometry",
        ),
        ({"type": "Feature", "properties": {}}, 'features[1].type: "Feature"; expected'),
        (
            {"type": "Feature", "geometry": SQUARE, "properties": {}},
            "features[1].geometry: not a GeoJSON geometry",
        ),
        (
            {**feature(), "properties": ["not", "an", "object"]},
            "features[1].properties: not an object",
        ),
        (
            feature(measurements={"Area": "big"}),
            'features[1].properties.measurements["Area"]: "big" is not a number',
        ),
        (
            feature(measurements=[{"value": 1}]),
            "features[1].properties.measurements[0]: not a",
        ),
        (
            feature(classification={"name": "A", "color": [300, 0, 0]}),
            "features[1].properties.classification.color: [300, 0, 0] is not a colour",
        ),
        (feature(classification=7), "features[1].properties.classification: 7 is not"),
        ("a string", "features[1]: not a GeoJSON object"),
    ],
)
def test_it_refuses_a_malformed_feature_naming_it_and_the_fault(bad, message):
    with pytest.raises(AnnotationFileError) as caught:
        read(collection(feature(), bad))

    assert message in str(caught.value)


def test_it_refuses_an_infinite_coordinate():
    text = json.dumps(feature({"type": "Point", "coordinates": [0, 0]})).replace(
        "[0, 0]", "[0, Infinity]"
    )

    with pytest.raises(
        AnnotationFileError, match=r"geometry.coordinates: Infinity is not a finite"
    ):
        read_annotations_text(text)


def test_it_refuses_a_collection_without_features():
    with pytest.raises(AnnotationFileError, match="features: missing or not an array"):
        read({"type": "FeatureCollection"})


def test_its_errors_begin_with_the_files_name(tmp_path):
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps([feature({"type": "Polygon", "coordinates": UNCLOSED})]))

    with pytest.raises(AnnotationFileError) as caught:
        read_annotations(path)

    assert str(caught.value).startswith(f"{path}: [0].geometry.coordinates[0]: not closed")


def test_features_of_prefixes_errors_with_where():
    with pytest.raises(AnnotationFileError, match=r"^annotations/1_a\.geojson: \[0\]\.geometry"):
        list(qupath.features_of([feature({"type": "Point"})], where="annotations/1_a.geojson"))


# Large files: polygons are made in bulk, a batch of features at a time (qupath._BATCH).


def many_shapes(count):
    """``count`` features of every geometry kind, in a repeating order, each moved right by its
    index: polygons with and without holes and with integer or float positions, multipolygons,
    lines and points."""

    def square(x, y, size):
        return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]

    out = []
    for i in range(count):
        kinds = [
            {"type": "Polygon", "coordinates": [square(i, 0, 40)]},
            {"type": "Polygon", "coordinates": [square(i, 0, 40), square(i + 10, 10, 10)[::-1]]},
            {"type": "Polygon", "coordinates": [square(i + 0.25, 0.5, 40)]},
            {"type": "MultiPolygon", "coordinates": [[square(i, 0, 40)], [square(i + 50, 0, 9)]]},
            {"type": "LineString", "coordinates": [[i, 0], [i + 5, 5]]},
            {"type": "Point", "coordinates": [i, 4]},
        ]
        shape = kinds[i % len(kinds)]
        out.append(feature(shape, classification=f"class {i % 3}", measurements={"i": i}))
    return out


def test_a_large_file_reads_every_geometry_kind_in_order_as_shapely_reads_it():
    features = many_shapes(2 * qupath._BATCH + 7)

    found = read(collection(*features))

    assert len(found) == len(features)
    for i, (read_back, written) in enumerate(zip(found, features, strict=True)):
        assert read_back.geometry.equals_exact(shapely.geometry.shape(written["geometry"]), 0)
        assert (read_back.class_name, read_back.measurements) == (f"class {i % 3}", {"i": i})


def test_a_bad_polygon_deep_in_a_large_file_is_named():
    features = many_shapes(3 * qupath._BATCH)
    features[2 * qupath._BATCH + 5]["geometry"] = {"type": "Polygon", "coordinates": UNCLOSED}

    with pytest.raises(AnnotationFileError) as caught:
        read(collection(*features))

    assert str(caught.value).startswith(
        f"features[{2 * qupath._BATCH + 5}].geometry.coordinates[0]: not closed"
    )


def test_the_first_fault_of_a_batch_is_named_when_a_later_feature_has_another():
    features = many_shapes(qupath._BATCH)
    features[100]["geometry"]["coordinates"] = [[[0, 0], [1, 1]]]
    features[50]["properties"]["measurements"] = {"Area": "big"}

    with pytest.raises(AnnotationFileError, match=r"^features\[50\]\.properties\.measurements"):
        read(collection(*features))


def test_measurements_a_float_cannot_hold_are_left_out_as_nan_is():
    text = json.dumps(feature(measurements={"a": 1.5, "b": 10**400})).replace("}}", ', "c": NaN}}')

    [found] = read_annotations_text(text)

    assert found.measurements == {"a": 1.5}


def test_a_part_of_a_documents_features_is_named_by_its_place_in_the_whole():
    part = [feature(), feature({"type": "Polygon", "coordinates": UNCLOSED})]

    with pytest.raises(AnnotationFileError) as caught:
        list(qupath.features_of_part(part, base="features", start=4096, where="big.geojson"))

    assert str(caught.value).startswith(
        "big.geojson: features[4097].geometry.coordinates[0]: not closed"
    )
