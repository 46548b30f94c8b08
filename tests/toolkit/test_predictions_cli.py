"""``wsi2ml-toolkit predictions {tiles,mask,points}`` on the real slides: files that parse back
as valid QuPath GeoJSON with the same geometry and scores, clipping, and the errors."""

import json

import numpy as np
import pytest
import shapely
from PIL import Image
from shapely.geometry import Point, box, shape
from wsi2ml_toolkit.cli import main
from wsi2ml_toolkit.slide import Slide

CMU = "CMU-1-Small-Region.svs"  # 2220 x 2967, 0.499 µm/px
TCGA = "tcga-cr-7395-01a-01-ts1.svs"  # no mpp


def read_back(path) -> list[dict]:
    """The features of a written file, each checked for QuPath's keys and a valid geometry."""
    document = json.loads(path.read_text())
    assert document["type"] == "FeatureCollection"
    for feature in document["features"]:
        assert feature["type"] == "Feature" and feature["id"]
        assert feature["properties"]["objectType"] in ("annotation", "detection", "tile")
        classification = feature["properties"].get("classification")
        if classification:
            assert set(classification) == {"name", "color"}
        assert shape(feature["geometry"]).is_valid
    return document["features"]


@pytest.fixture
def tile_grid(tmp_path):
    """A WSInfer CSV of a 4 x 3 grid of 512-px tiles from the top left of CMU-1-Small-Region,
    with known scores, and those scores by tile origin."""
    rng = np.random.default_rng(5)
    rows, scores = ["minx,miny,width,height,prob_benign,prob_tumor"], {}
    for minx in range(0, 2048, 512):
        for miny in range(0, 1536, 512):
            tumour = round(float(rng.random()), 6)
            scores[(minx, miny)] = {"prob_benign": round(1 - tumour, 6), "prob_tumor": tumour}
            rows.append(f"{minx},{miny},512,512,{1 - tumour:.6f},{tumour}")
    path = tmp_path / "CMU-1-Small-Region.csv"
    path.write_text("\n".join(rows) + "\n")
    return path, scores


def test_tiles_parse_back_with_their_squares_scores_classes_and_layer(
    real_slides, tile_grid, tmp_path
):
    csv_path, scores = tile_grid
    out = tmp_path / "tiles.geojson"
    argv = ["predictions", "tiles", str(csv_path), "--slide", str(real_slides / CMU)]
    assert main([*argv, "--out", str(out), "--name", "tumour v2"]) == 0
    features = read_back(out)
    assert len(features) == len(scores)
    for feature in features:
        minx, miny, _, _ = shape(feature["geometry"]).bounds
        expected = scores[(minx, miny)]
        assert shape(feature["geometry"]).equals(box(minx, miny, minx + 512, miny + 512))
        assert feature["properties"]["objectType"] == "tile"
        assert feature["properties"]["measurements"] == expected
        best = max(expected, key=expected.get).removeprefix("prob_")
        assert feature["properties"]["classification"]["name"] == best
        assert feature["properties"]["wsi2ml"] == {"layer": "tumour v2"}


def test_the_layer_is_named_after_the_input_by_default(real_slides, tile_grid, tmp_path):
    out = tmp_path / "tiles.geojson"
    main(["predictions", "tiles", str(tile_grid[0]), "--slide", str(real_slides / CMU),
          "--out", str(out)])  # fmt: skip
    assert read_back(out)[0]["properties"]["wsi2ml"]["layer"] == "CMU-1-Small-Region"


def test_a_tile_over_the_edge_is_clipped_and_one_beyond_it_refused(real_slides, tmp_path):
    csv_path, out = tmp_path / "edge.csv", tmp_path / "edge.geojson"
    slide = ["--slide", str(real_slides / CMU), "--out", str(out)]
    csv_path.write_text("minx,miny,width,height,prob_a\n2048,2816,256,256,0.5\n")
    assert main(["predictions", "tiles", str(csv_path), *slide]) == 0
    (feature,) = read_back(out)
    assert shape(feature["geometry"]).equals(box(2048, 2816, 2220, 2967))
    out.unlink()
    csv_path.write_text("minx,miny,width,height,prob_a\n0,0,256,256,0.5\n2300,0,256,256,0.5\n")
    assert main(["predictions", "tiles", str(csv_path), *slide]) == 2
    assert not out.exists()


def test_a_refused_tile_is_named_in_one_line(real_slides, tmp_path, capsys):
    csv_path = tmp_path / "outside.csv"
    csv_path.write_text("minx,miny,width,height,prob_a\n0,0,256,256,0.5\n2300,0,256,256,0.5\n")
    argv = ["predictions", "tiles", str(csv_path), "--slide", str(real_slides / CMU)]
    assert main([*argv, "--out", str(tmp_path / "x.geojson")]) == 2
    error = capsys.readouterr().err
    assert "tile 2 (x 2300-2556" in error and "outside the slide (2220 x 2967 px)" in error


def test_a_mask_becomes_polygons_at_its_level0_place_and_size(real_slides, tmp_path):
    mask = np.zeros((100, 80), dtype=np.uint8)
    mask[10:30, 10:40] = 1  # 600 mask pixels
    mask[15:20, 15:20] = 0  # a hole of 25
    mask[50:90, 20:60] = 2  # 1,600
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "mask.geojson"
    argv = ["predictions", "mask", str(tmp_path / "mask.png"), "--slide", str(real_slides / CMU)]
    options = ["--mask-mpp", "4", "--origin", "100,50", "--classes", "tumor,stroma"]
    assert main([*argv, "--out", str(out), *options, "--simplify-um", "0"]) == 0
    with Slide(real_slides / CMU) as slide:
        scale = 4 / slide.mpp
    features = {f["properties"]["classification"]["name"]: f for f in read_back(out)}
    tumour = shape(features["tumor"]["geometry"])
    assert len(tumour.interiors) == 1
    assert tumour.area == pytest.approx((600 - 25) * scale**2, rel=1e-4)
    corners = (100 + 10 * scale, 50 + 10 * scale, 100 + 40 * scale, 50 + 30 * scale)
    assert tumour.bounds == pytest.approx(corners, abs=0.01)
    assert shape(features["stroma"]["geometry"]).area == pytest.approx(1600 * scale**2, rel=1e-4)


def test_a_mask_on_a_slide_without_mpp_is_refused(real_slides, tmp_path, capsys):
    Image.fromarray(np.ones((4, 4), dtype=np.uint8)).save(tmp_path / "mask.png")
    argv = ["predictions", "mask", str(tmp_path / "mask.png"), "--slide", str(real_slides / TCGA)]
    options = ["--mask-mpp", "4", "--classes", "a", "--out", str(tmp_path / "m.geojson")]
    assert main([*argv, *options]) == 2
    assert "does not give its resolution (mpp)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--classes", "a"], "needs --mask-mpp and --classes"),
        (["--mask-mpp", "4", "--classes", "a", "--origin", "x"], "--origin 'x'"),
        (["--mask-mpp", "4"], "needs --mask-mpp and --classes"),
        (["--mask-mpp", "4", "--classes", "a"], "label(s) 2 that classes does not name"),
    ],
)
def test_mask_options_it_cannot_use_are_refused(real_slides, tmp_path, capsys, options, message):
    Image.fromarray(np.full((4, 4), 2, dtype=np.uint8)).save(tmp_path / "mask.png")
    argv = ["predictions", "mask", str(tmp_path / "mask.png"), "--slide", str(real_slides / CMU)]
    assert main([*argv, "--out", str(tmp_path / "m.geojson"), *options]) == 2
    assert message in capsys.readouterr().err


def test_points_parse_back_with_class_and_score(real_slides, tmp_path):
    csv_path, out = tmp_path / "cells.csv", tmp_path / "cells.geojson"
    csv_path.write_text("x,y,class,score\n100.25,200.5,lymphocyte,0.875\n2220,2967,tumor,0.5\n")
    argv = ["predictions", "points", str(csv_path), "--slide", str(real_slides / TCGA)]
    assert main([*argv, "--out", str(out)]) == 0
    first, second = read_back(out)
    assert shape(first["geometry"]) == Point(100.25, 200.5)
    assert first["properties"]["objectType"] == "detection"
    assert first["properties"]["classification"]["name"] == "lymphocyte"
    assert first["properties"]["measurements"] == {"score": 0.875}
    assert shapely.get_coordinates(shape(second["geometry"])).tolist() == [[2220, 2967]]


def test_a_bad_csv_is_one_line_naming_it(real_slides, tmp_path, capsys):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("x,y\n1,one\n")
    argv = ["predictions", "points", str(csv_path), "--slide", str(real_slides / CMU)]
    assert main([*argv, "--out", str(tmp_path / "p.geojson")]) == 2
    assert "line 2, column y" in capsys.readouterr().err
