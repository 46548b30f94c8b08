"""Polygons from label and probability masks: exact pixel edges, holes, classes that touch,
thresholds, the simplification's tolerance, mask files."""

import numpy as np
import pytest
import shapely
from PIL import Image
from shapely.geometry import box
from wsi2ml_toolkit import raster
from wsi2ml_toolkit.features import AnnotationFileError
from wsi2ml_toolkit.predictions import polygons_from_mask, polygons_from_mask_file


def square_with_hole() -> np.ndarray:
    """A 10 x 10 mask: label 1 on rows and columns 2-7, but for a hole at 4-5."""
    mask = np.zeros((10, 10), dtype=np.uint8)
    mask[2:8, 2:8] = 1
    mask[4:6, 4:6] = 0
    return mask


def disc(size: int, radius: float) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] + 0.5
    return ((x - size / 2) ** 2 + (y - size / 2) ** 2 <= radius**2).astype(np.uint8)


def test_a_square_with_a_hole_is_one_polygon_with_one_ring_at_its_level0_place():
    # 1 µm mask pixels on a 0.5 µm slide: each mask pixel is 2 x 2 level-0 pixels.
    (feature,) = polygons_from_mask(
        square_with_hole(), mpp=1, slide_mpp=0.5, classes=["tumour"], origin=(100, 200)
    )
    assert feature.class_name == "tumour"
    assert feature.object_type == "annotation"
    assert feature.geometry.geom_type == "Polygon"
    assert len(feature.geometry.interiors) == 1
    assert feature.geometry.area == (36 - 4) * 4
    assert feature.geometry.equals(box(104, 204, 116, 216).difference(box(108, 208, 112, 212)))


def test_unsimplified_polygons_paint_back_into_the_same_mask():
    rng = np.random.default_rng(3)
    mask = rng.integers(0, 3, size=(40, 50)).astype(np.uint8)
    mask[rng.random((40, 50)) < 0.5] = 0
    features = polygons_from_mask(mask, mpp=1, slide_mpp=1, classes=["a", "b"], simplify_um=0)
    painted = np.zeros_like(mask)
    for feature in features:
        rings = [
            [shapely.get_coordinates(ring) for ring in shapely.get_rings(part)]
            for part in shapely.get_parts(feature.geometry)
        ]
        raster.paint(painted, rings, "ab".index(feature.class_name) + 1)
    assert all(f.geometry.is_valid for f in features)
    assert np.array_equal(painted, mask)


def test_pixels_touching_at_a_corner_are_two_regions():
    features = polygons_from_mask(np.eye(2, dtype=np.uint8), mpp=1, slide_mpp=1, classes=["a"])
    assert sorted(f.geometry.area for f in features) == [1, 1]


def test_touching_classes_share_their_simplified_edge():
    mask = np.zeros((6, 8), dtype=np.uint8)
    mask[1:5, 1:4] = 1
    mask[1:5, 4:7] = 2
    a, b = sorted(
        polygons_from_mask(mask, mpp=1, slide_mpp=1, classes=["a", "b"], simplify_um=3),
        key=lambda f: f.class_name,
    )
    assert a.geometry.equals(box(1, 1, 4, 5)) and b.geometry.equals(box(4, 1, 7, 5))
    assert a.geometry.intersection(b.geometry).length == 4


def test_simplified_blobs_of_two_classes_neither_overlap_nor_gap():
    mask = disc(60, 25)
    mask[:, 30:] *= 2  # the right half is class 2
    features = polygons_from_mask(mask, mpp=1, slide_mpp=1, classes=["a", "b"], simplify_um=2)
    a, b = (f.geometry for f in sorted(features, key=lambda f: f.class_name))
    assert a.intersection(b).area == 0
    # The column x = 30 across the disc, 50 px, is their edge: its ends are where the two
    # classes and the background meet, which simplification keeps.
    assert a.intersection(b).length == 50
    whole = a.union(b)
    assert whole.geom_type == "Polygon" and not whole.interiors  # no gap between them


@pytest.mark.parametrize("tolerance_um", [0.5, 1.5, 4.0])
def test_simplification_stays_within_its_tolerance_and_drops_vertices(tolerance_um):
    mask = disc(80, 30)
    mask[30:50, 30:50] = 0  # a hole
    # 0.5 µm mask pixels on a 0.25 µm slide: tolerance_um is 2 * tolerance_um / 0.5 px.
    options = {"mpp": 0.5, "slide_mpp": 0.25, "classes": ["a"]}
    (exact,) = polygons_from_mask(mask, simplify_um=0, **options)
    (simple,) = polygons_from_mask(mask, simplify_um=tolerance_um, **options)
    distance = shapely.hausdorff_distance(
        simple.geometry.boundary, exact.geometry.boundary, densify=0.05
    )
    assert distance <= tolerance_um / 0.25 + 1e-9
    assert len(simple.geometry.interiors) == 1
    assert shapely.get_num_coordinates(simple.geometry) < shapely.get_num_coordinates(
        exact.geometry
    )


def test_the_default_tolerance_is_half_a_mask_pixel():
    mask = disc(40, 15)
    (default,) = polygons_from_mask(mask, mpp=2, slide_mpp=0.5, classes=["a"])
    (half,) = polygons_from_mask(mask, mpp=2, slide_mpp=0.5, classes=["a"], simplify_um=1)
    assert default.geometry.equals(half.geometry)


def test_a_probability_mask_is_thresholded():
    probability = np.zeros((4, 4))
    probability[1:3, 0:2] = [[0.5, 0.9], [0.49, 0.7]]
    (feature,) = polygons_from_mask(
        probability, mpp=1, slide_mpp=1, classes={1: "tumour"}, threshold=0.5, simplify_um=0
    )
    assert feature.geometry.area == 3


def test_per_class_probabilities_take_the_highest_channel_above_the_threshold():
    # Channels first: background, a, b.
    channels = np.zeros((3, 2, 3))
    channels[0] = [[0.8, 0.2, 0.3], [0.1, 0.3, 0.3]]
    channels[1] = [[0.1, 0.7, 0.3], [0.1, 0.3, 0.3]]
    channels[2] = [[0.1, 0.1, 0.4], [0.8, 0.4, 0.4]]
    options = {"mpp": 1, "slide_mpp": 1, "classes": ["a", "b"], "simplify_um": 0}
    areas = {f.class_name: f.geometry.area for f in polygons_from_mask(channels, **options)}
    assert areas == {"a": 1, "b": 4}
    thresholded = polygons_from_mask(channels, threshold=0.5, **options)
    assert sorted((f.class_name, f.geometry.area) for f in thresholded) == [("a", 1), ("b", 1)]


def test_small_regions_are_dropped_by_their_area_in_um2():
    mask = np.zeros((20, 20), dtype=np.uint8)
    mask[1:3, 1:3] = 1  # 4 pixels: 4 µm² at 1 µm/px
    mask[10:15, 10:15] = 1  # 25 µm²
    features = polygons_from_mask(mask, mpp=1, slide_mpp=0.5, classes=["a"], min_area_um2=5)
    assert [f.geometry.area * 0.25 for f in features] == [25]


@pytest.mark.parametrize(
    ("mask", "options", "message"),
    [
        (np.full((2, 2), 3, dtype=np.uint8), {}, "label.s. 3 that classes does not name"),
        (np.zeros((2, 2)), {}, "needs a threshold"),
        (np.zeros((2, 2), dtype=np.uint8), {"threshold": 0.5}, "not labels"),
        (np.full((2, 2), -1), {}, "negative label -1"),
        (np.zeros(4, dtype=np.uint8), {}, "1-D array"),
        (np.zeros((2, 2), dtype=np.uint8), {"mpp": 0}, "must be positive"),
    ],
)
def test_a_mask_it_cannot_read_is_refused_saying_why(mask, options, message):
    arguments = {"mpp": 1, "slide_mpp": 1, "classes": ["a"], **options}
    with pytest.raises(ValueError, match=message):
        polygons_from_mask(mask, **arguments)


def test_a_label_png_gives_the_same_polygons_as_its_array(tmp_path):
    path = tmp_path / "mask.png"
    Image.fromarray(square_with_hole() * 2).save(path)
    options = {"mpp": 1, "slide_mpp": 1, "classes": ["a", "b"]}
    (from_file,) = polygons_from_mask_file(path, **options)
    (from_array,) = polygons_from_mask(square_with_hole() * 2, **options)
    assert from_file.class_name == "b"
    assert from_file.geometry.equals(from_array.geometry)


def test_an_8_bit_png_with_a_threshold_is_read_as_probabilities(tmp_path):
    path = tmp_path / "probability.png"
    Image.fromarray(np.array([[0, 127, 128, 255]], dtype=np.uint8)).save(path)
    (feature,) = polygons_from_mask_file(
        path, mpp=1, slide_mpp=1, classes=["a"], threshold=0.5, simplify_um=0
    )
    assert feature.geometry.equals(box(2, 0, 4, 1))


def test_an_npy_array_is_read_as_it_is(tmp_path):
    path = tmp_path / "mask.npy"
    np.save(path, square_with_hole())
    (feature,) = polygons_from_mask_file(path, mpp=1, slide_mpp=1, classes=["a"])
    assert feature.geometry.area == 32


def test_a_colour_png_is_refused(tmp_path):
    path = tmp_path / "rgb.png"
    Image.new("RGB", (4, 4)).save(path)
    with pytest.raises(AnnotationFileError, match="RGB image"):
        polygons_from_mask_file(path, mpp=1, slide_mpp=1, classes=["a"])
