"""Export through the API, unzip, read every file back: the geometries are the stored ones (or
the reviewer's correction where the policy applies it), the properties and the manifest say
what the database says, every geometry is valid, and each feature has the keys and types of
the checked-in QuPath example (tests/exports/examples/qupath_example.geojson, written by
test_writer.py).

Data and personas: tests/exports/conftest.py.
"""

import io
import math
import zipfile
from importlib.metadata import version

import numpy as np
import orjson
import pytest
import shapely
from django.urls import reverse
from PIL import Image

from annotations import services as annotation_services
from exports.models import Export
from tests import factories
from tests.exports.conftest import MPP

pytestmark = pytest.mark.django_db

EXAMPLE = "tests/exports/examples/qupath_example.geojson"


def download(client, project, query: str = "") -> zipfile.ZipFile:
    url = reverse("exports_api:project_zip", args=[project.pk])
    response = client.get(f"{url}?{query}" if query else url)
    assert response.status_code == 200, response.content
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def read_all(archive: zipfile.ZipFile) -> tuple[dict, dict[str, dict]]:
    """The manifest and every GeoJSON file, each parsed (any file that is not JSON fails)."""
    assert archive.testzip() is None
    manifest = orjson.loads(archive.read("manifest.json"))
    collections = {
        name: orjson.loads(archive.read(name))
        for name in archive.namelist()
        if name.startswith("annotations/")
    }
    assert archive.read("README.txt").decode().startswith("WSI2ML export")
    return manifest, collections


def features_by_annotation(collections: dict[str, dict]) -> dict[int, tuple[str, dict]]:
    found = {}
    for name, collection in collections.items():
        assert collection["type"] == "FeatureCollection"
        for feature in collection["features"]:
            found[feature["properties"]["wsi2ml"]["annotationId"]] = (name, feature)
    return found


def ellipse_ring(cx: float, cy: float, rx: float, ry: float, segments: int = 64) -> list:
    ring = [
        [
            cx + rx * math.cos(2 * math.pi * i / segments),
            cy + ry * math.sin(2 * math.pi * i / segments),
        ]
        for i in range(segments)
    ]
    return [*ring, ring[0]]


@pytest.fixture
def named_ellipse(export_data):
    """Pathologist's ellipse on C (in progress), named."""
    annotation, _ = annotation_services.annotation_create(
        slide=export_data.slides["C"],
        assignment=export_data.assignments["P"],
        author=export_data.assignments["P"].assignee,
        label=export_data.labels["Necrosis"],
        kind="ellipse",
        geometry={"type": "Polygon", "coordinates": [ellipse_ring(5000, 4000, 300, 150)]},
        name="Necrotic core",
    )
    return annotation


def test_every_exported_annotation_comes_back_as_stored(
    client_for, people, export_data, named_ellipse
):
    archive = download(
        client_for(people["mlspecialist"]), export_data.project, "include_in_progress=1"
    )
    manifest, collections = read_all(archive)
    found = features_by_annotation(collections)
    data = export_data
    expected = {
        name: data.annotations[name]
        for name in ["a1", "a2", "a3", "a4", "a5", "m1", "b1", "b2", "b3", "m2", "c1", "c2"]
    }
    expected["ellipse"] = named_ellipse
    assert sorted(found) == sorted(a.pk for a in expected.values())  # a6 (deleted) is not
    stems = {slide.pk: s for s, slide in data.slides.items()}
    for annotation in expected.values():
        annotation.refresh_from_db()
        file_name, feature = found[annotation.pk]
        slide_key = stems[annotation.slide_id]
        assert file_name == next(
            s["geojson"] for s in manifest["slides"] if s["id"] == annotation.slide_id
        ), slide_key
        assert feature["type"] == "Feature"
        assert feature["id"] == str(annotation.uuid)
        geometry = {k: v for k, v in feature["geometry"].items() if k != "isEllipse"}
        assert geometry == annotation.geometry
        properties = feature["properties"]
        assert properties["objectType"] == "annotation"
        label = annotation.label
        colour = int(label.colour[1:], 16)
        assert properties["classification"] == {
            "name": label.name,
            "color": [colour >> 16, (colour >> 8) & 255, colour & 255],
        }
        provenance = properties["wsi2ml"]
        assert provenance["labelId"] == provenance.get("originalLabelId", label.pk) == label.pk
        assert provenance["label"] == label.name
        assert provenance["kind"] == annotation.kind
        assert provenance["author"] == annotation.author.username
        assert provenance["assignmentId"] == annotation.assignment_id
        assert provenance["taskId"] == annotation.assignment.task_id
        assert (
            provenance["created"]
            == annotation.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        )
        assert provenance["corrected"] is False
        assert provenance["missedRegion"] == (
            annotation.pk in (data.annotations["m1"].pk, data.annotations["m2"].pk)
        )
        if annotation.area_um2 is not None and annotation.kind != "line":
            assert properties["measurements"]["Area µm^2"] == annotation.area_um2
    a1 = found[data.annotations["a1"].pk][1]["properties"]
    assert a1["wsi2ml"]["verdicts"] == {
        "agree": 2,
        "wrong_label": 0,
        "wrong_region": 0,
        "reject": 0,
    }
    assert a1["wsi2ml"]["agreement"] == 1
    assert a1["measurements"]["Verdicts agree"] == 2
    assert a1["measurements"]["Agreement"] == 1
    assert "name" not in a1
    ellipse = found[named_ellipse.pk][1]
    assert ellipse["properties"]["name"] == "Necrotic core"
    assert ellipse["geometry"]["isEllipse"] is True
    line = found[data.annotations["b3"].pk][1]["properties"]
    assert line["measurements"] == {"Length µm": pytest.approx(400 * MPP)}


def test_slides_of_the_same_file_name_give_two_files(client_for, people, export_data):
    manifest, collections = read_all(
        download(client_for(people["mlspecialist"]), export_data.project)
    )
    a, b = export_data.slides["A"], export_data.slides["B"]
    by_id = {s["id"]: s for s in manifest["slides"]}
    assert by_id[a.pk]["name"] == by_id[b.pk]["name"] == "case.tif"
    assert by_id[a.pk]["path"] == "a/case.tif"
    assert by_id[b.pk]["path"] == "b/case.tif"
    assert by_id[a.pk]["geojson"] != by_id[b.pk]["geojson"]
    assert {by_id[a.pk]["geojson"], by_id[b.pk]["geojson"]} <= set(collections)
    ids_a = {
        f["properties"]["wsi2ml"]["annotationId"]
        for f in collections[by_id[a.pk]["geojson"]]["features"]
    }
    assert ids_a == set(export_data.ids("a1", "a2", "a3", "a4", "a5", "m1"))


def test_the_manifest_describes_the_export(client_for, people, export_data):
    client = client_for(people["mlspecialist"])
    tumour = export_data.labels["Tumour"]
    query = f"policy=not_rejected&class_{export_data.labels['Necrosis'].pk}=Tumour"
    manifest, collections = read_all(download(client, export_data.project, query))
    export = Export.objects.get()
    assert manifest["format"] == {"name": "wsi2ml-export", "version": 1}
    assert manifest["wsi2ml_version"] == version("wsi2ml")
    assert manifest["created"] == export.created_at.isoformat(timespec="seconds")
    assert manifest["project"] == {
        "id": export_data.project.pk,
        "name": "Breast tumour segmentation",
    }
    assert manifest["parameters"] == export.parameters
    assert manifest["parameters"]["policy"] == "not_rejected"
    assert "rejected" in manifest["policy"]
    # Necrosis merged into Tumour: the class keeps Tumour's place and colour.
    assert manifest["classes"] == [
        {
            "index": 1,
            "name": "Tumour",
            "colour": "#d62728",
            "labelIds": [tumour.pk, export_data.labels["Necrosis"].pk],
        },
        {
            "index": 2,
            "name": "Stroma",
            "colour": "#2ca02c",
            "labelIds": [export_data.labels["Stroma"].pk],
        },
    ]
    assert {la["name"]: la["class"] for la in manifest["labels"]} == {
        "Tumour": "Tumour",
        "Stroma": "Stroma",
        "Necrosis": "Tumour",
    }
    slides = manifest["slides"]
    assert [s["path"] for s in slides] == ["a/case.tif", "b/case.tif", "c/other.tif"]
    for entry in slides:
        slide = next(s for s in export_data.slides.values() if s.pk == entry["id"])
        assert entry["width"] == slide.width and entry["height"] == slide.height
        assert entry["mpp_x"] == entry["mpp_y"] == MPP
        assert entry["quickhash"] == slide.quickhash
        assert entry["mask"] is None
        assert entry["features"] == len(collections[entry["geojson"]]["features"])
    assert manifest["counts"]["features"] == sum(s["features"] for s in slides)
    assert manifest["counts"]["features"] == export.counts["features"]
    assert manifest["counts"]["dropped"]["rejected"] == 2  # a3, b2
    classes = {
        f["properties"]["classification"]["name"]
        for c in collections.values()
        for f in c["features"]
    }
    assert classes == {"Tumour", "Stroma"}


def test_corrections_replace_the_geometry_where_the_policy_applies_them(
    client_for, people, export_data
):
    archive = download(
        client_for(people["mlspecialist"]), export_data.project, "apply_corrections=1"
    )
    found = features_by_annotation(read_all(archive)[1])
    a4 = found[export_data.annotations["a4"].pk][1]
    assert a4["geometry"] == factories.rectangle(1000, 1000, 1200, 1100)
    assert a4["properties"]["wsi2ml"]["corrected"] is True
    assert a4["properties"]["measurements"]["Area µm^2"] == pytest.approx(200 * 100 * MPP * MPP)
    a1 = found[export_data.annotations["a1"].pk][1]
    assert a1["geometry"] == export_data.annotations["a1"].geometry
    assert a1["properties"]["wsi2ml"]["corrected"] is False


def test_every_geometry_is_valid(client_for, people, export_data, named_ellipse):
    archive = download(
        client_for(people["mlspecialist"]),
        export_data.project,
        "include_in_progress=1&apply_corrections=1",
    )
    for collection in read_all(archive)[1].values():
        for feature in collection["features"]:
            geometry = {k: v for k, v in feature["geometry"].items() if k != "isEllipse"}
            assert shapely.from_geojson(orjson.dumps(geometry)).is_valid, feature["id"]


def schema_of(value, path=()) -> set[tuple[tuple, str]]:
    """(key path, JSON type) of everything in ``value``; list items share the path ``[]``."""
    kind = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
    found = {(path, kind)}
    if isinstance(value, dict):
        for key, item in value.items():
            found |= schema_of(item, (*path, key))
    elif isinstance(value, list):
        for item in value:
            found |= schema_of(item, (*path, "[]"))
    return found


def test_features_have_the_keys_and_types_of_the_qupath_example(
    client_for, people, export_data, named_ellipse
):
    with open(EXAMPLE, "rb") as example:
        example_features = orjson.loads(example.read())["features"]
    allowed = set().union(*(schema_of(f) for f in example_features))
    always = set.intersection(*(schema_of(f) for f in example_features))
    assert ((), "object") in always and (
        ("properties", "classification", "color"),
        "array",
    ) in always
    for query in [
        "include_in_progress=1",
        "include_in_progress=1&apply_corrections=1&policy=consensus",
    ]:
        archive = download(client_for(people["mlspecialist"]), export_data.project, query)
        for collection in read_all(archive)[1].values():
            for feature in collection["features"]:
                schema = schema_of(feature)
                assert schema <= allowed, sorted(schema - allowed)
                assert always <= schema, sorted(always - schema)


def test_label_masks_come_with_the_zip_when_asked(client_for, people, export_data):
    # 20000 × 16000 px at 0.25 µm/px: 2500 × 2000 mask pixels at 2 µm/px, 8 px to a pixel.
    archive = download(client_for(people["mlspecialist"]), export_data.project, "mask_mpp=2")
    manifest, _ = read_all(archive)
    assert manifest["mask"] == {
        "mpp": 2,
        "background": 0,
        "classes": {"1": "Tumour", "2": "Stroma", "3": "Necrosis"},
    }
    entry = next(s for s in manifest["slides"] if s["path"] == "a/case.tif")
    assert entry["mask"] == entry["geojson"].replace("annotations/", "masks/").replace(
        ".geojson", ".png"
    )
    image = Image.open(io.BytesIO(archive.read(entry["mask"])))
    assert (image.mode, image.size) == ("L", (2500, 2000))
    pixels = np.asarray(image)
    assert pixels[18, 18] == 1  # a1, Tumour: level-0 100-200 is mask 12.5-25
    assert pixels[56, 56] == 2  # a2, Stroma at 400-500
    assert pixels[262, 262] == 3  # m1, Necrosis, the missed region 2000-2300 × 2000-2200
    assert pixels[5, 5] == 0
