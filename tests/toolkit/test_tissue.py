"""Tissue detection: Otsu on a low-resolution read finds the known tissue of generated slides."""

import numpy as np
import pytest
from wsi2ml_toolkit.slide import Slide
from wsi2ml_toolkit.tissue import TissueMask, closing, opening, otsu_threshold, tissue_mask


def expected_mask(generated, downsample: float, shape) -> np.ndarray:
    """Which mask pixels' centres fall in the slide's tissue boxes."""
    rows, columns = np.mgrid[0 : shape[0], 0 : shape[1]]
    x, y = (columns + 0.5) * downsample, (rows + 0.5) * downsample
    inside = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in generated.tissue:
        inside |= (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
    return inside


def test_it_finds_the_tissue_of_a_generated_slide(tissue_slide):
    with tissue_slide.open() as slide:
        found = tissue_mask(slide)
    # About 8 µm per pixel by default: 32 level-0 pixels of 0.25 µm.
    assert found.downsample == pytest.approx(32)
    assert found.mask.shape == (48, 64)
    expected = expected_mask(tissue_slide, found.downsample, found.mask.shape)
    assert (found.mask == expected).mean() > 0.995
    assert found.tissue_fraction == pytest.approx(expected.mean(), abs=0.005)


def test_fractions_of_boxes_follow_the_tissue(tissue_slide):
    with tissue_slide.open() as slide:
        found = tissue_mask(slide, mpp=4.0)
    assert found.fraction(512, 512, 256, 256) == 1.0
    assert found.fraction(32, 1280, 128, 128) == 0.0
    # Half of this box lies left of the big block's edge at x = 256.
    assert found.fraction(128, 512, 256, 256) == pytest.approx(0.5, abs=0.05)
    # 128 x 128 of this box is the small block; the rest glass, part of it past the edge.
    assert found.fraction(1792, 1280, 512, 512) == 128 * 128 / 512**2


def test_many_fractions_at_once_equal_one_at_a_time(tissue_slide):
    with tissue_slide.open() as slide:
        found = tissue_mask(slide)
    xs, ys = np.arange(0, 2048, 192), np.arange(0, 1536, 144)
    assert found.fractions(xs, ys, 256, 256).tolist() == [
        found.fraction(x, y, 256, 256) for x, y in zip(xs, ys, strict=True)
    ]


def test_bare_glass_has_no_tissue(make_pyramid):
    rng = np.random.default_rng(3)
    glass = np.full((512, 512, 3), 240, dtype=np.uint8) + rng.integers(0, 6, (512, 512, 3), "u1")
    with Slide(make_pyramid("glass.tif", glass, mpp=0.5, levels=2)) as slide:
        found = tissue_mask(slide)
    assert not found.mask.any()
    assert found.threshold >= 15


def test_grey_tissue_needs_the_grey_method(make_pyramid):
    image = np.full((1024, 1024, 3), 235, dtype=np.uint8)
    image[256:768, 256:768] = 120  # unstained, grey: no saturation at all
    with Slide(make_pyramid("grey.tif", image, mpp=1.0, levels=2)) as slide:
        by_saturation = tissue_mask(slide)
        by_grey = tissue_mask(slide, method="otsu-grey")
    assert not by_saturation.mask.any()
    assert by_grey.tissue_fraction == pytest.approx(0.25, abs=0.02)


def test_an_unknown_method_is_refused(tissue_slide):
    with tissue_slide.open() as slide, pytest.raises(ValueError, match="otsu-grey"):
        tissue_mask(slide, method="magic")


def test_otsu_splits_two_populations_between_them():
    values = np.concatenate([np.full(1000, 20), np.full(300, 180)]).astype(np.uint8)
    assert 20 <= otsu_threshold(values) < 180
    assert otsu_threshold(np.full(10, 7, dtype=np.uint8)) == 0


def test_clean_up_drops_specks_and_fills_pinholes():
    mask = np.zeros((20, 20), dtype=bool)
    mask[2, 2] = True  # a speck
    mask[8:18, 8:18] = True
    mask[12, 12] = False  # a pinhole
    cleaned = closing(opening(mask))
    assert not cleaned[2, 2]
    assert cleaned[12, 12]
    assert cleaned[8:18, 8:18].all() and cleaned.sum() == 100


def test_a_tissue_mask_answers_fractions_in_mask_pixels():
    mask = TissueMask(mask=np.eye(4, dtype=bool), downsample=10.0)
    assert mask.fraction(0, 0, 40, 40) == 0.25
    assert mask.fraction(0, 0, 10, 10) == 1.0
    assert mask.fraction(10, 0, 10, 10) == 0.0
