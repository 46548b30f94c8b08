"""Tiles from per-tile scores: WSInfer's CSV and arrays, and the errors a bad CSV gives."""

import io

import numpy as np
import pytest
from shapely.geometry import box
from wsi2ml_toolkit.features import AnnotationFileError
from wsi2ml_toolkit.predictions import tiles_from_arrays, tiles_from_csv

# As WSInfer's run_inference writes it (pandas, index=False): level-0 pixels, then prob_<class>.
WSINFER_CSV = """minx,miny,width,height,prob_notumor,prob_tumor
0,0,350,350,0.9,0.1
350,0,350,350,0.25,0.75
0,350,350,350,0.5,0.5
"""


def test_it_makes_a_tile_per_row_with_its_box_and_scores(tmp_path):
    path = tmp_path / "slide.csv"
    path.write_text(WSINFER_CSV)
    tiles = tiles_from_csv(path)
    assert [t.object_type for t in tiles] == ["tile"] * 3
    assert tiles[1].geometry.equals(box(350, 0, 700, 350))
    assert tiles[1].measurements == {"prob_notumor": 0.25, "prob_tumor": 0.75}


def test_it_classes_a_tile_by_its_highest_score_the_first_of_equal_ones():
    tiles = tiles_from_csv(io.StringIO(WSINFER_CSV))
    assert [t.class_name for t in tiles] == ["notumor", "tumor", "notumor"]


def test_it_leaves_tiles_unclassified_when_asked():
    assert {t.class_name for t in tiles_from_csv(io.StringIO(WSINFER_CSV), classify=False)} == {
        None
    }


def test_a_single_score_gives_its_class_from_one_half_up():
    text = "minx,miny,width,height,prob_tils\n0,0,10,10,0.5\n10,0,10,10,0.49\n"
    assert [t.class_name for t in tiles_from_csv(io.StringIO(text))] == ["tils", None]


def test_it_ignores_other_columns_and_their_order():
    text = "note,prob_b,height,prob_a,width,miny,minx\nx,0.2,4,0.8,3,2,1\n"
    (tile,) = tiles_from_csv(io.StringIO(text))
    assert tile.geometry.equals(box(1, 2, 4, 6))
    assert tile.measurements == {"prob_b": 0.2, "prob_a": 0.8}
    assert tile.class_name == "a"


def test_arrays_give_the_same_tiles_as_the_csv():
    from_csv = tiles_from_csv(io.StringIO(WSINFER_CSV))
    boxes = [[0, 0, 350, 350], [350, 0, 350, 350], [0, 350, 350, 350]]
    scores = [[0.9, 0.1], [0.25, 0.75], [0.5, 0.5]]
    from_arrays = tiles_from_arrays(np.array(boxes), np.array(scores), ["notumor", "tumor"])
    for a, b in zip(from_csv, from_arrays, strict=True):
        assert a.geometry.equals(b.geometry)
        assert (a.class_name, a.measurements) == (b.class_name, b.measurements)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("minx,miny,height,prob_a\n0,0,1,0.5\n", "no column width"),
        ("minx,miny,width,height\n0,0,1,1\n", "no prob_<class> column"),
        ("minx,miny,width,height,prob_a\n0,0,1,1,0.5\n0,0,1,1,high\n", "line 3, column prob_a"),
        ("minx,miny,width,height,prob_a\n0,0,1,1,nan\n", "line 2, column prob_a: 'nan'"),
        ("minx,miny,width,height,prob_a\n0,0,1,1,0.5\n5,5,-2,1,0.5\n", "line 3: width -2"),
        ("minx,miny,width,height,prob_a\n0,0,0,1,0.5\n", "line 2: width 0"),
        ("minx,miny,width,height,prob_a\n0,0,1,1\n", "line 2 has 4 fields"),
        ("", "empty"),
    ],
)
def test_a_bad_csv_is_refused_naming_the_line_and_column(text, message):
    with pytest.raises(AnnotationFileError, match=message):
        tiles_from_csv(io.StringIO(text))


@pytest.mark.parametrize(
    ("boxes", "scores", "message"),
    [
        ([[0, 0, 1]], [[0.5]], "n x 4"),
        ([[0, 0, 1, 1]], [[0.5, 0.5]], "1 x 1"),
        ([[0, 0, 1, 1], [0, 0, 1, np.inf]], [[0.5], [0.5]], r"boxes\[1\]"),
        ([[0, 0, 1, 1], [0, 0, -1, 1]], [[0.5], [0.5]], r"boxes\[1\]: width and height"),
        ([[0, 0, 1, 1]], [[np.nan]], r"scores\[0\]"),
    ],
)
def test_bad_arrays_are_refused_naming_the_row(boxes, scores, message):
    with pytest.raises(ValueError, match=message):
        tiles_from_arrays(np.array(boxes, dtype=float), np.array(scores), ["a"])
