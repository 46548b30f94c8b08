"""The zip writer on hand-made rows, without a database: layout, QuPath's keys, streaming in
constant memory, zip64, the content hash, masks, and the checked-in QuPath example.

The example (tests/exports/examples/qupath_example.geojson) is written by ``zip_stream`` from
EXAMPLE_ROWS below; test_qupath_example_is_what_the_writer_writes fails when the writer's
output changes. To accept a change, rewrite it with
    WSI2ML_REWRITE_EXAMPLES=1 .venv/bin/pytest tests/exports/test_writer.py -k qupath_example
and review the diff.
"""

import gc
import hashlib
import io
import math
import os
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import orjson
import pytest
import shapely
from PIL import Image
from wsi2ml_toolkit import collector

from exports import writer
from exports.rows import ExportClass, ExportRow, ExportSlide

EXAMPLE = Path(__file__).parent / "examples" / "qupath_example.geojson"
NO_VERDICTS = {"agree": 0, "wrong_label": 0, "wrong_region": 0, "reject": 0}
CLASSES = [
    ExportClass(index=1, name="Tumour", colour="#d62728", label_ids=(11,)),
    ExportClass(index=2, name="Stroma", colour="#2ca02c", label_ids=(12, 13)),
]
LABELS = [
    {"id": 11, "name": "Tumour", "colour": "#d62728"},
    {"id": 12, "name": "Stroma", "colour": "#2ca02c"},
    {"id": 13, "name": "Fat", "colour": "#ffdd00"},
]


def slide_make(slide_id=1, path="a/case.tif", **extra) -> ExportSlide:
    values = {
        "id": slide_id,
        "path": path,
        "name": path.rsplit("/", 1)[-1],
        "quickhash": "ab" * 32,
        "width": 1000,
        "height": 800,
        "mpp_x": 0.5,
        "mpp_y": 0.5,
        "objective_power": 20.0,
        "bounds": None,
        "stem": f"{slide_id}_{path.rsplit('.', 1)[0].replace('/', '_')}",
        **extra,
    }
    return ExportSlide(**values)


def polygon(*rings) -> str:
    return orjson.dumps({"type": "Polygon", "coordinates": [list(map(list, r)) for r in rings]})


def square(x, y, size=100) -> list:
    return [(x, y), (x + size, y), (x + size, y + size), (x, y + size), (x, y)]


def ellipse(cx, cy, rx, ry, segments=64) -> list:
    ring = [
        (
            round(cx + rx * math.cos(2 * math.pi * i / segments), 2),
            round(cy + ry * math.sin(2 * math.pi * i / segments), 2),
        )
        for i in range(segments)
    ]
    return [*ring, ring[0]]


def row_make(annotation_id=1, **extra) -> ExportRow:
    values = {
        "annotation_id": annotation_id,
        "uuid": f"00000000-0000-4000-8000-{annotation_id:012d}",
        "kind": "polygon",
        "geometry": polygon(square(100, 100)).decode(),
        "class_index": 1,
        "label_id": 11,
        "original_label_id": 11,
        "name": "",
        "author": "pathologist",
        "assignment_id": 5,
        "task_id": 3,
        "created_at": "2026-11-02T09:30:00.000Z",
        "updated_at": "2026-11-03T10:00:00.000Z",
        "area_um2": 2500.0,
        "perimeter_um": None,
        "verdicts": NO_VERDICTS,
        "agreement": None,
        "consensus_label_id": None,
        "corrected": False,
        "missed_region": False,
        **extra,
    }
    return ExportRow(**values)


def base_make(created="2026-12-01T12:00:00+00:00", dropped=None) -> dict:
    return writer.manifest_base_make(
        created=created,
        wsi2ml_version="0.1.0",
        project={"id": 7, "name": "Breast tumour segmentation"},
        parameters={"policy": "reviewed"},
        policy="only reviewed annotations",
        labels=LABELS,
        dropped=dropped or {"unreviewed": 3},
    )


def write(rows_by_slide: dict, *, slides=None, mask_mpp=None, base=None, **extra):
    """The zip's bytes and the summaries on_finish was given."""
    slides = slides or [slide_make()]
    finished = []
    data = b"".join(
        writer.zip_stream(
            manifest_base=base or base_make(),
            slides=slides,
            classes=extra.pop("classes", CLASSES),
            rows_for=lambda slide: iter(rows_by_slide.get(slide.id, [])),
            mask_mpp=mask_mpp,
            on_finish=finished.append,
            **extra,
        )
    )
    return data, finished


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def features_of(data: bytes, stem="1_a_case") -> list[dict]:
    return orjson.loads(open_zip(data).read(f"annotations/{stem}.geojson"))["features"]


# --- Layout and features -----------------------------------------------------------------------


def test_zip_holds_readme_one_geojson_per_slide_and_the_manifest_last():
    slides = [slide_make(1, "a/case.tif"), slide_make(2, "b/case.tif")]
    data, _ = write({1: [row_make(1)], 2: [row_make(2)]}, slides=slides)
    assert open_zip(data).namelist() == [
        "README.txt",
        "annotations/1_a_case.geojson",
        "annotations/2_b_case.geojson",
        "manifest.json",
    ]
    assert open_zip(data).testzip() is None


def test_a_feature_has_qupaths_keys_and_wsi2ml_provenance():
    data, _ = write({1: [row_make(1, name="Margin", perimeter_um=200.0)]})
    (feature,) = features_of(data)
    assert list(feature) == ["type", "id", "geometry", "properties"]
    assert feature["type"] == "Feature"
    assert feature["id"] == "00000000-0000-4000-8000-000000000001"
    assert feature["geometry"] == orjson.loads(polygon(square(100, 100)))
    assert feature["properties"] == {
        "objectType": "annotation",
        "name": "Margin",
        "classification": {"name": "Tumour", "color": [214, 39, 40]},
        "measurements": {"Area µm^2": 2500.0, "Perimeter µm": 200.0},
        "wsi2ml": {
            "annotationId": 1,
            "kind": "polygon",
            "labelId": 11,
            "label": "Tumour",
            "author": "pathologist",
            "taskId": 3,
            "assignmentId": 5,
            "created": "2026-11-02T09:30:00.000Z",
            "updated": "2026-11-03T10:00:00.000Z",
            "verdicts": NO_VERDICTS,
            "agreement": None,
            "consensusLabelId": None,
            "corrected": False,
            "missedRegion": False,
        },
    }
    assert "isLocked" not in feature["properties"]


def test_geometry_text_is_written_as_stored():
    stored = '{"type": "Polygon", "coordinates": [[[1.5, 2.25], [10, 2], [10, 9], [1.5, 2.25]]]}'
    data, _ = write({1: [row_make(1, geometry=stored)]})
    text = open_zip(data).read("annotations/1_a_case.geojson").decode()
    assert stored in text


def test_a_relabelled_reviewed_feature_says_so():
    verdicts = {"agree": 1, "wrong_label": 2, "wrong_region": 0, "reject": 0}
    reviewed = row_make(
        1,
        class_index=2,
        label_id=12,
        original_label_id=11,
        verdicts=verdicts,
        agreement=1 / 3,
        consensus_label_id=12,
    )
    (feature,) = features_of(write({1: [reviewed]})[0])
    properties = feature["properties"]
    assert properties["classification"] == {"name": "Stroma", "color": [44, 160, 44]}
    assert properties["measurements"] == {
        "Area µm^2": 2500.0,
        "Agreement": 1 / 3,
        "Verdicts agree": 1,
        "Verdicts wrong label": 2,
        "Verdicts wrong region": 0,
        "Verdicts reject": 0,
    }
    assert properties["wsi2ml"]["originalLabelId"] == 11
    assert properties["wsi2ml"]["label"] == "Stroma"
    assert properties["wsi2ml"]["consensusLabelId"] == 12


def test_lines_have_a_length_and_points_no_measurement():
    line = row_make(
        1,
        kind="line",
        geometry='{"type":"LineString","coordinates":[[0,0],[30,40]]}',
        area_um2=None,
        perimeter_um=25.0,
    )
    point = row_make(
        2, kind="point", geometry='{"type":"Point","coordinates":[5,5]}', area_um2=None
    )
    line_feature, point_feature = features_of(write({1: [line, point]})[0])
    assert line_feature["properties"]["measurements"] == {"Length µm": 25.0}
    assert "measurements" not in point_feature["properties"]


def test_an_ellipse_carries_qupaths_flag_in_its_geometry():
    drawn = row_make(1, kind="ellipse", geometry=polygon(ellipse(500, 400, 120, 60)).decode())
    (feature,) = features_of(write({1: [drawn]})[0])
    assert feature["geometry"]["isEllipse"] is True
    assert feature["geometry"]["coordinates"] == orjson.loads(drawn.geometry)["coordinates"]
    assert "isEllipse" not in feature["properties"]


def test_a_clipped_or_corrected_ellipse_is_a_plain_polygon():
    half = [p for p in ellipse(500, 0, 120, 60)[:-1] if p[1] >= 0]
    clipped = row_make(1, kind="ellipse", geometry=polygon([*half, half[0]]).decode())
    corrected = row_make(2, kind="ellipse", geometry=polygon(square(0, 0)).decode(), corrected=True)
    for feature in features_of(write({1: [clipped, corrected]})[0]):
        assert "isEllipse" not in feature["geometry"]


def test_the_manifest_tells_slides_classes_labels_and_counts_written():
    slides = [slide_make(1, "a/case.tif", bounds=(10, 20, 900, 700)), slide_make(2, "b/case.tif")]
    rows = {1: [row_make(1), row_make(2, class_index=2, label_id=13)], 2: [row_make(3)]}
    data, _ = write(rows, slides=slides)
    manifest = orjson.loads(open_zip(data).read("manifest.json"))
    assert manifest["format"] == {"name": "wsi2ml-export", "version": 1}
    assert manifest["created"] == "2026-12-01T12:00:00+00:00"
    assert manifest["wsi2ml_version"] == "0.1.0"
    assert manifest["project"] == {"id": 7, "name": "Breast tumour segmentation"}
    assert manifest["parameters"] == {"policy": "reviewed"}
    assert manifest["policy"] == "only reviewed annotations"
    assert manifest["slides"][0] == {
        "id": 1,
        "path": "a/case.tif",
        "name": "case.tif",
        "quickhash": "ab" * 32,
        "width": 1000,
        "height": 800,
        "mpp_x": 0.5,
        "mpp_y": 0.5,
        "objective_power": 20.0,
        "bounds": [10, 20, 900, 700],
        "geojson": "annotations/1_a_case.geojson",
        "mask": None,
        "features": 2,
    }
    assert manifest["slides"][1]["features"] == 1
    assert manifest["classes"] == [
        {"index": 1, "name": "Tumour", "colour": "#d62728", "labelIds": [11]},
        {"index": 2, "name": "Stroma", "colour": "#2ca02c", "labelIds": [12, 13]},
    ]
    assert [(la["name"], la["class"], la["classIndex"]) for la in manifest["labels"]] == [
        ("Tumour", "Tumour", 1),
        ("Stroma", "Stroma", 2),
        ("Fat", "Stroma", 2),
    ]
    assert manifest["mask"] is None
    assert manifest["counts"] == {
        "features": 3,
        "per_class": {"Tumour": 2, "Stroma": 1},
        "dropped": {"unreviewed": 3},
    }
    readme = open_zip(data).read("README.txt").decode()
    assert "Breast tumour segmentation" in readme
    assert "y down" in readme


def test_on_finish_gets_the_counts_bytes_and_hash():
    data, (summary,) = write({1: [row_make(1), row_make(2, class_index=2)]})
    assert summary.features == 2
    assert summary.per_slide == {1: 2}
    assert summary.per_class == {"Tumour": 1, "Stroma": 1}
    assert summary.bytes == len(data)
    assert len(summary.sha256) == 64


def test_an_empty_slide_is_an_empty_feature_collection():
    data, (summary,) = write({})
    collection = orjson.loads(open_zip(data).read("annotations/1_a_case.geojson"))
    assert collection == {"type": "FeatureCollection", "features": []}
    assert summary.features == 0


def test_deflating_the_geojson_gives_the_same_files():
    rows = {1: [row_make(i) for i in range(1, 50)]}
    stored, (stored_summary,) = write(rows)
    deflated, (deflated_summary,) = write(rows, compress_level=1)
    assert len(deflated) < len(stored)
    name = "annotations/1_a_case.geojson"
    assert open_zip(deflated).read(name) == open_zip(stored).read(name)
    assert deflated_summary.sha256 == stored_summary.sha256


# --- Streaming ---------------------------------------------------------------------------------


def many_rows(count: int):
    """``count`` small rows, made cheaply: tracemalloc traces every allocation."""
    geometry = polygon(square(10, 10, 5)).decode()
    tails = [row_make(0, geometry=geometry, class_index=index)[2:] for index in (1, 2)]
    uuid = row_make(0).uuid
    for i in range(1, count + 1):
        yield ExportRow(i, uuid, *tails[i % 2])


def test_memory_stays_constant_over_100000_rows():
    slides = [slide_make()]
    size = 0
    finished = []
    tracemalloc.start()
    try:
        for chunk in writer.zip_stream(
            manifest_base=base_make(),
            slides=slides,
            classes=CLASSES,
            rows_for=lambda slide: many_rows(100_000),
            mask_mpp=None,
            on_finish=finished.append,
        ):
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert finished[0].features == 100_000
    # The GeoJSON alone is over 50 MB: a writer that held the features, or the text, would
    # peak far above this; streaming holds a chunk of rows and a few output pieces.
    assert size > 50_000_000
    assert peak < 12_000_000


def test_bytes_come_before_the_rows_are_all_read():
    read = 0

    def counted(slide):
        nonlocal read
        for row in many_rows(20_000):
            read += 1
            yield row

    stream = writer.zip_stream(
        manifest_base=base_make(),
        slides=[slide_make()],
        classes=CLASSES,
        rows_for=counted,
        mask_mpp=None,
        on_finish=lambda summary: None,
    )
    first = next(stream)
    assert first.startswith(b"PK\x03\x04")
    assert read < 5_000
    stream.close()


def test_a_stopped_download_is_not_finished_and_closes_the_rows():
    closed = []

    def rows(slide):
        try:
            yield from many_rows(20_000)
        finally:
            closed.append(slide.id)

    finished = []
    stream = writer.zip_stream(
        manifest_base=base_make(),
        slides=[slide_make()],
        classes=CLASSES,
        rows_for=rows,
        mask_mpp=None,
        on_finish=finished.append,
    )
    next(stream)
    stream.close()
    assert closed == [1]
    assert finished == []


def test_a_failure_reading_rows_reaches_the_consumer_unfinished():
    def rows(slide):
        yield row_make(1)
        raise RuntimeError("cursor lost")

    finished = []
    stream = writer.zip_stream(
        manifest_base=base_make(),
        slides=[slide_make()],
        classes=CLASSES,
        rows_for=rows,
        mask_mpp=None,
        on_finish=finished.append,
    )
    with pytest.raises(RuntimeError, match="cursor lost"):
        b"".join(stream)
    assert finished == []


def test_geojson_entries_use_zip64():
    data, _ = write({1: [row_make(1)]})
    info = open_zip(data).getinfo("annotations/1_a_case.geojson")
    header = data[info.header_offset : info.header_offset + 30]
    signature, needed = struct.unpack("<4sH", header[:6])
    assert signature == b"PK\x03\x04"
    assert needed >= 45  # zip64: an entry of unknown size may pass 4 GB
    extra_start = info.header_offset + 30 + struct.unpack("<H", header[26:28])[0]
    extra = data[extra_start : extra_start + struct.unpack("<H", header[28:30])[0]]
    assert struct.unpack("<H", extra[:2])[0] == 0x0001  # the zip64 extended information field
    assert open_zip(data).testzip() is None


# --- The content hash --------------------------------------------------------------------------


def test_the_hash_does_not_depend_on_when_the_zip_was_made():
    rows = {1: [row_make(1), row_make(2)]}
    first, (one,) = write(rows, base=base_make(created="2026-12-01T12:00:00+00:00"))
    second, (two,) = write(rows, base=base_make(created="2026-12-24T18:30:00+00:00"))
    assert first != second
    assert one.sha256 == two.sha256


def test_the_hash_changes_with_the_content():
    _, (one,) = write({1: [row_make(1)]})
    _, (two,) = write({1: [row_make(1, geometry=polygon(square(101, 100)).decode())]})
    assert one.sha256 != two.sha256


def test_the_hash_is_over_each_slide_files_name_and_bytes():
    slides = [slide_make(1, "a/case.tif"), slide_make(2, "b/case.tif")]
    data, (summary,) = write({1: [row_make(1)], 2: [row_make(2)]}, slides=slides, mask_mpp=5)
    archive = open_zip(data)
    expected = hashlib.sha256()
    for name in [
        "annotations/1_a_case.geojson",
        "masks/1_a_case.png",
        "annotations/2_b_case.geojson",
        "masks/2_b_case.png",
    ]:
        expected.update(name.encode() + b"\0" + archive.read(name))
    assert summary.sha256 == expected.hexdigest()


# --- Masks -------------------------------------------------------------------------------------


def mask_of(data: bytes, stem="1_a_case") -> tuple[Image.Image, np.ndarray]:
    image = Image.open(io.BytesIO(open_zip(data).read(f"masks/{stem}.png")))
    return image, np.asarray(image)


def test_a_mask_is_painted_with_class_indexes_at_the_chosen_mpp():
    # 1000 × 800 px at 0.5 µm/px: a mask at 5 µm/px is 100 × 80, one pixel per 10 px.
    data, _ = write(
        {1: [row_make(1, geometry=polygon(square(100, 200, 200)).decode())]}, mask_mpp=5
    )
    image, pixels = mask_of(data)
    assert image.mode == "L"
    assert image.size == (100, 80)
    expected = np.zeros((80, 100), dtype=np.uint8)
    expected[20:40, 10:30] = 1
    assert np.array_equal(pixels, expected)
    manifest = orjson.loads(open_zip(data).read("manifest.json"))
    assert manifest["mask"] == {
        "mpp": 5,
        "background": 0,
        "classes": {"1": "Tumour", "2": "Stroma"},
    }
    assert manifest["slides"][0]["mask"] == "masks/1_a_case.png"


def test_a_mask_size_is_rounded_up():
    data, _ = write({}, slides=[slide_make(width=1005, height=801)], mask_mpp=5)
    assert mask_of(data)[0].size == (101, 81)


def test_holes_stay_background_and_polygons_in_holes_are_painted():
    outer, hole, island = square(100, 100, 600), square(300, 300, 200), square(350, 350, 100)
    multipolygon = orjson.dumps(
        {"type": "MultiPolygon", "coordinates": [[outer, hole], [island]]}
    ).decode()
    data, _ = write({1: [row_make(1, geometry=multipolygon)]}, mask_mpp=5)
    pixels = mask_of(data)[1]
    assert pixels[15, 15] == 1  # in the polygon
    assert pixels[32, 32] == 0  # in its hole
    assert pixels[40, 40] == 1  # on the island inside the hole
    assert pixels[5, 5] == 0
    assert int(pixels.sum()) == 60 * 60 - 20 * 20 + 10 * 10


def test_the_higher_class_wins_where_features_overlap_whatever_the_order():
    low = row_make(2, geometry=polygon(square(100, 100, 300)).decode(), class_index=1)
    high = row_make(1, geometry=polygon(square(200, 200, 300)).decode(), class_index=2)
    for rows in ([low, high], [high, low]):
        pixels = mask_of(write({1: rows}, mask_mpp=5)[0])[1]
        assert pixels[15, 15] == 1
        assert pixels[25, 25] == 2  # in both
        assert pixels[45, 45] == 2


def test_points_and_lines_are_not_painted():
    point = row_make(1, kind="point", geometry='{"type":"Point","coordinates":[150,150]}')
    line = row_make(
        2, kind="line", geometry='{"type":"LineString","coordinates":[[0,300],[900,300]]}'
    )
    pixels = mask_of(write({1: [point, line]}, mask_mpp=5)[0])[1]
    assert not pixels.any()


def test_more_than_255_classes_give_a_16_bit_mask():
    classes = [
        ExportClass(index=i, name=f"class {i}", colour="#000000", label_ids=(i,))
        for i in range(1, 301)
    ]
    drawn = row_make(1, class_index=300, label_id=300, original_label_id=300)
    data, _ = write({1: [drawn]}, mask_mpp=5, classes=classes)
    image, pixels = mask_of(data)
    assert image.mode == "I;16"
    assert pixels.max() == 300


# --- The QuPath example ------------------------------------------------------------------------

VERDICTS_MIXED = {"agree": 2, "wrong_label": 0, "wrong_region": 1, "reject": 0}
EXAMPLE_ROWS = [
    # A polygon with a hole and a name, unreviewed.
    row_make(
        101,
        geometry=polygon(square(1000, 1000, 400), square(1100, 1100, 100)).decode(),
        name="Invasive front",
        area_um2=37500.0,
        perimeter_um=1000.0,
    ),
    # An ellipse, agreed by two reviewers.
    row_make(
        102,
        kind="ellipse",
        geometry=polygon(ellipse(3000, 2000, 150, 90, segments=16)).decode(),
        area_um2=10564.6,
        perimeter_um=382.6,
        verdicts={"agree": 2, "wrong_label": 0, "wrong_region": 0, "reject": 0},
        agreement=1.0,
        consensus_label_id=11,
    ),
    # A region a reviewer corrected (and relabelled by consensus), policy apply_corrections.
    row_make(
        103,
        geometry=polygon(square(5000, 5000, 300)).decode(),
        class_index=2,
        label_id=12,
        original_label_id=11,
        area_um2=22500.0,
        perimeter_um=600.0,
        verdicts=VERDICTS_MIXED,
        agreement=2 / 3,
        consensus_label_id=12,
        corrected=True,
    ),
    # A region a reviewer found missing.
    row_make(
        104,
        geometry=polygon(square(7000, 1000, 200)).decode(),
        class_index=2,
        label_id=13,
        original_label_id=13,
        author="reviewer",
        assignment_id=9,
        task_id=4,
        area_um2=10000.0,
        perimeter_um=400.0,
        agreement=1.0,
        missed_region=True,
    ),
    row_make(
        105,
        kind="line",
        geometry='{"type": "LineString", "coordinates": [[100.5, 200.25], [900.0, 650.75]]}',
        area_um2=None,
        perimeter_um=458.53,
    ),
    row_make(106, kind="point", geometry='{"type": "Point", "coordinates": [4200.0, 3100.5]}'),
]


def example_text() -> bytes:
    """The example's FeatureCollection as the writer writes it, indented for reading."""
    data, _ = write({1: EXAMPLE_ROWS}, slides=[slide_make(width=20000, height=16000)])
    collection = orjson.loads(open_zip(data).read("annotations/1_a_case.geojson"))
    return orjson.dumps(collection, option=orjson.OPT_INDENT_2) + b"\n"


def test_qupath_example_is_what_the_writer_writes():
    written = example_text()
    if os.environ.get("WSI2ML_REWRITE_EXAMPLES") == "1":
        EXAMPLE.parent.mkdir(exist_ok=True)
        EXAMPLE.write_bytes(written)
    assert EXAMPLE.read_bytes() == written, (
        "The writer's GeoJSON changed; check it against QuPath and rewrite the example with "
        "WSI2ML_REWRITE_EXAMPLES=1 (see this module's docstring)."
    )


def test_qupath_example_geometries_are_valid():
    for feature in orjson.loads(EXAMPLE.read_bytes())["features"]:
        geometry = {k: v for k, v in feature["geometry"].items() if k != "isEllipse"}
        assert shapely.from_geojson(orjson.dumps(geometry)).is_valid


def test_a_zip_stream_closed_early_restores_the_collector():
    before = gc.get_threshold()
    stream = writer.zip_stream(
        manifest_base=base_make(),
        slides=[slide_make()],
        classes=CLASSES,
        rows_for=lambda slide: many_rows(10),
        mask_mpp=None,
        on_finish=lambda summary: None,
    )
    next(stream)
    assert gc.get_threshold()[0] == collector.SPACED_THRESHOLD
    stream.close()
    assert gc.get_threshold() == before
