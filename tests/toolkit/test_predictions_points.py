"""Detections as points or boxes, from arrays and from CSV."""

import io

import numpy as np
import pytest
from shapely.geometry import Point, box
from wsi2ml_toolkit.features import AnnotationFileError
from wsi2ml_toolkit.predictions import points_from_csv, points_from_detections


def test_points_become_point_detections_with_class_and_score():
    found = points_from_detections(
        np.array([[10.5, 20.0], [30.0, 40.25]]), classes=["lymphocyte", None], scores=[0.9, 0.4]
    )
    assert [f.geometry for f in found] == [Point(10.5, 20.0), Point(30.0, 40.25)]
    assert [f.object_type for f in found] == ["detection", "detection"]
    assert [f.class_name for f in found] == ["lymphocyte", None]
    assert [f.measurements for f in found] == [{"score": 0.9}, {"score": 0.4}]


def test_boxes_become_rectangles_and_scores_are_optional():
    (found,) = points_from_detections(np.array([[1, 2, 11, 7]]))
    assert found.geometry.equals(box(1, 2, 11, 7))
    assert (found.class_name, found.measurements) == (None, {})


@pytest.mark.parametrize(
    ("coordinates", "options", "message"),
    [
        ([[1, 2, 3]], {}, "n x 2"),
        ([[1, 2]], {"scores": [0.1, 0.2]}, "one entry per detection"),
        ([[1, 2], [np.nan, 2]], {}, "detection 1"),
        ([[1, 2]], {"scores": [np.inf]}, "detection 0"),
        ([[0, 0, 5, 5], [5, 5, 5, 9]], {}, "detection 1: the box"),
    ],
)
def test_bad_detections_are_refused_naming_the_first(coordinates, options, message):
    with pytest.raises(ValueError, match=message):
        points_from_detections(np.array(coordinates, dtype=float), **options)


def test_a_points_csv_gives_points_with_class_and_score(tmp_path):
    path = tmp_path / "cells.csv"
    path.write_text("x,y,class,score\n5,6,tumour,0.8\n7.5,8,,0.1\n")
    found = points_from_csv(path)
    assert [f.geometry for f in found] == [Point(5, 6), Point(7.5, 8)]
    assert [f.class_name for f in found] == ["tumour", None]
    assert [f.measurements["score"] for f in found] == [0.8, 0.1]


def test_a_boxes_csv_gives_rectangles_without_score_when_there_is_no_column():
    found = points_from_csv(io.StringIO("x0,y0,x1,y1,class\n0,0,4,2,mitosis\n"))
    assert found[0].geometry.equals(box(0, 0, 4, 2))
    assert (found[0].class_name, found[0].measurements) == ("mitosis", {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n", "needs columns x,y"),
        ("x,y,score\n1,2,0.5\n1,two,0.5\n", "line 3, column y"),
        ("x0,y0,x1,y1\n0,0,1,1\n4,4,2,8\n", "line 3: a box needs"),
    ],
)
def test_a_bad_detections_csv_is_refused_naming_the_line(text, message):
    with pytest.raises(AnnotationFileError, match=message):
        points_from_csv(io.StringIO(text))
