"""LabelRasterizer: pixel counts that match shapely's areas, holes, overlaps, whole-slide masks."""

import math

import numpy as np
import pytest
import shapely
from shapely.affinity import scale as scaled
from shapely.affinity import translate
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon, box
from wsi2ml_toolkit import raster
from wsi2ml_toolkit.features import Feature
from wsi2ml_toolkit.masks import LabelRasterizer

CLASSES = ["Stroma", "Tumour", "Necrosis"]


def ellipse(cx, cy, rx, ry, segments=48) -> Polygon:
    angles = np.linspace(0, 2 * math.pi, segments, endpoint=False)
    return Polygon(np.c_[cx + rx * np.cos(angles), cy + ry * np.sin(angles)])


def expected_pixels(features, classes, x, y, extent, downsample) -> dict[str, float]:
    """Each class's area within the patch box, in patch pixels, with higher classes on top."""
    window = box(x, y, x + extent, y + extent)
    unions = {
        name: shapely.union_all([f.geometry for f in features if f.class_name == name])
        for name in classes
    }
    areas = {}
    for i, name in enumerate(classes):
        above = shapely.union_all([unions[n] for n in classes[i + 1 :]] or [Polygon()])
        visible = unions[name].difference(above).intersection(window)
        areas[name] = (visible.area / downsample**2, visible.length / downsample)
    return areas


def assert_counts_match_areas(mask, features, classes, x, y, size, downsample):
    counts = np.bincount(mask.ravel(), minlength=len(classes) + 1)
    for i, (name, (area, perimeter)) in enumerate(
        expected_pixels(features, classes, x, y, size * downsample, downsample).items(), 1
    ):
        # Centre sampling errs by at most half a pixel across the boundary, on average far less.
        assert abs(counts[i] - area) <= 0.5 * perimeter + 1, (name, counts[i], area)


def test_pixel_counts_match_polygon_areas_with_overlaps_and_holes():
    rng = np.random.default_rng(5)
    features = []
    for i in range(60):
        shape = ellipse(*rng.uniform(0, 2000, 2), *rng.uniform(30, 250, 2))
        if i % 7 == 0:
            shape = shape.difference(scaled(shape, 0.4, 0.4))  # a hole in the middle
        features.append(Feature(shape, class_name=CLASSES[i % 3]))
    labels = LabelRasterizer(features, CLASSES, mpp_x=0.25, mpp_y=0.25)
    for x, y in [(0, 0), (700, 300), (1100, 1200), (333.5, 901.25)]:
        mask = labels.patch_mask(x, y, 256, mpp=0.5)
        assert mask.dtype == np.uint8 and mask.shape == (256, 256)
        assert_counts_match_areas(mask, features, CLASSES, x, y, 256, 2.0)
        assert mask.any()


def test_a_hole_is_background_and_an_island_in_it_is_painted():
    outer = Polygon(
        [(0, 0), (200, 0), (200, 200), (0, 200)], [[(50, 50), (150, 50), (150, 150), (50, 150)]]
    )
    island = box(80, 80, 120, 120)
    labels = LabelRasterizer(
        [Feature(MultiPolygon([outer, island]), class_name="Tumour")], ["Tumour"]
    )
    mask = labels.patch_mask(0, 0, 200, downsample=1.0)
    assert mask[10, 10] == 1 and mask[60, 60] == 0 and mask[100, 100] == 1
    assert np.count_nonzero(mask) == 200 * 200 - 100 * 100 + 40 * 40


def test_the_higher_class_wins_whatever_order_the_features_come_in():
    low, high = box(0, 0, 60, 60), box(40, 40, 100, 100)
    for features in (
        [Feature(low, class_name="Stroma"), Feature(high, class_name="Tumour")],
        [Feature(high, class_name="Tumour"), Feature(low, class_name="Stroma")],
    ):
        mask = LabelRasterizer(features, ["Stroma", "Tumour"]).patch_mask(0, 0, 100, downsample=1.0)
        assert mask[50, 50] == 2
        assert np.bincount(mask.ravel()).tolist() == [100 * 100 - 2 * 3600 + 400, 3200, 3600]
    reordered = LabelRasterizer(features, ["Tumour", "Stroma"]).patch_mask(
        0, 0, 100, downsample=1.0
    )
    assert reordered[50, 50] == 2  # Stroma is now index 2, over Tumour


def test_overlapping_polygons_of_one_class_paint_their_union_not_their_even_odd():
    first, second = box(0, 0, 60, 60), box(30, 30, 90, 90)
    features = [Feature(first, class_name="Tumour"), Feature(second, class_name="Tumour")]
    labels = LabelRasterizer(features, ["Tumour"])
    mask = labels.patch_mask(0, 0, 100, downsample=1.0)
    assert mask[45, 45] == 1
    assert np.count_nonzero(mask) == first.union(second).area
    assert len(labels) == 2  # painted as drawn, not merged first


def test_polygons_of_a_class_that_only_touch_stay_apart_and_paint_both():
    left, right = box(0, 0, 50, 100), box(50, 0, 100, 100)
    labels = LabelRasterizer(
        [Feature(left, class_name="Tumour"), Feature(right, class_name="Tumour")], ["Tumour"]
    )
    assert len(labels) == 2
    assert np.count_nonzero(labels.patch_mask(0, 0, 100, downsample=1.0)) == 100 * 100


def test_points_lines_and_other_classes_are_not_painted():
    features = [
        Feature(Point(10, 10), class_name="Tumour"),
        Feature(LineString([(0, 0), (99, 99)]), class_name="Tumour"),
        Feature(box(0, 0, 50, 50), class_name="Unlisted"),
        Feature(box(0, 0, 50, 50), class_name=None),
        Feature(GeometryCollection([Point(1, 1), box(60, 60, 80, 80)]), class_name="Tumour"),
    ]
    labels = LabelRasterizer(features, ["Tumour"])
    mask = labels.patch_mask(0, 0, 100, downsample=1.0)
    assert np.count_nonzero(mask) == 400 and mask[70, 70] == 1


def test_a_patch_mask_is_the_matching_window_of_the_slide_mask():
    rng = np.random.default_rng(8)
    features = [
        Feature(ellipse(*rng.uniform(0, 1500, 2), *rng.uniform(20, 200, 2)), class_name=c)
        for c in CLASSES * 15
    ]
    labels = LabelRasterizer(features, CLASSES, mpp_x=0.25, mpp_y=0.25)
    whole = labels.slide_mask(0.5, 2048, 2048)
    assert whole.shape == (1024, 1024)
    for x, y in [(0, 0), (512, 768), (1024, 256)]:
        patch = labels.patch_mask(x, y, 256, mpp=0.5)
        assert (patch == whole[y // 2 : y // 2 + 256, x // 2 : x // 2 + 256]).all()


def test_the_slide_mask_is_painted_by_the_export_s_rule():
    features = [
        Feature(ellipse(300, 300, 200, 120), class_name="Tumour"),
        Feature(ellipse(400, 350, 150, 150), class_name="Stroma"),
        Feature(translate(ellipse(300, 300, 200, 120), 50, 0), class_name="Tumour"),
    ]
    labels = LabelRasterizer(features, ["Stroma", "Tumour"], mpp_x=0.25, mpp_y=0.26)
    mask = labels.slide_mask(1.0, 1000, 900)
    # The export's size: ceil(1000 * 0.25 / 1) across, ceil(900 * 0.26 / 1) down.
    assert mask.shape == (234, 250)
    expected = np.zeros_like(mask)
    for feature in features:
        rings = [np.asarray(feature.geometry.exterior.coords) * (0.25, 0.26)]
        raster.paint(expected, [rings], ["Stroma", "Tumour"].index(feature.class_name) + 1)
    assert (mask == expected).all()


def test_coverage_is_the_fraction_of_pixels_per_class():
    labels = LabelRasterizer([Feature(box(0, 0, 50, 100), class_name="Tumour")], CLASSES)
    coverage = labels.coverage(labels.patch_mask(0, 0, 100, downsample=1.0))
    assert coverage == {"Stroma": 0.0, "Tumour": 0.5, "Necrosis": 0.0}


def test_a_patch_is_one_rasterisation_of_every_class_and_one_fill_per_class(monkeypatch):
    spans_calls, fills = [], []
    edge_spans, fill = raster.edge_spans, raster.fill
    monkeypatch.setattr(
        raster, "edge_spans", lambda *a, **k: spans_calls.append(1) or edge_spans(*a, **k)
    )
    monkeypatch.setattr(raster, "fill", lambda p, runs, v: fills.append(v) or fill(p, runs, v))
    features = [Feature(box(i * 10, 0, i * 10 + 8, 8), class_name=CLASSES[i % 2]) for i in range(9)]
    mask = LabelRasterizer(features, CLASSES).patch_mask(0, 0, 100, downsample=1.0)
    assert len(spans_calls) == 1
    assert fills == [1, 2]
    assert np.count_nonzero(mask == 1) == 5 * 64 and np.count_nonzero(mask == 2) == 4 * 64


def test_more_than_255_classes_make_16_bit_masks():
    names = [f"c{i}" for i in range(300)]
    labels = LabelRasterizer([Feature(box(0, 0, 10, 10), class_name="c299")], names)
    mask = labels.patch_mask(0, 0, 10, downsample=1.0)
    assert mask.dtype == np.uint16 and (mask == 300).all()


def test_masks_by_mpp_need_the_slide_mpp():
    labels = LabelRasterizer([], ["Tumour"])
    with pytest.raises(ValueError, match="needs the slide's mpp"):
        labels.patch_mask(0, 0, 10, mpp=0.5)
    with pytest.raises(ValueError, match="mpp_x and mpp_y"):
        labels.slide_mask(0.5, 100, 100)
    with pytest.raises(ValueError, match="not both"):
        labels.patch_mask(0, 0, 10)


def test_a_class_named_twice_is_refused():
    with pytest.raises(ValueError, match="more than once"):
        LabelRasterizer([], ["Tumour", "Tumour"])
