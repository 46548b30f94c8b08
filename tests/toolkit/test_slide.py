"""Slide: level choice for a target mpp, reading patches at it, white outside, pickling."""

import pickle

import numpy as np
import pytest
from wsi2ml_toolkit.slide import Slide

NDPI = "test3-DAPI-2-387.ndpi"  # 0.228 µm/px, 7 levels at downsamples 1, 2, 4, ... 64
CMU = "CMU-1-Small-Region.svs"  # 0.499 µm/px, 1 level
TCGA = "tcga-cr-7395-01a-01-ts1.svs"  # no mpp, 2 levels (1, 2.0005)


@pytest.mark.parametrize(
    ("mpp", "level"),
    [(0.1, 0), (0.228, 0), (0.3, 0), (0.456, 1), (0.5, 1), (0.9, 1), (1.0, 2), (2.0, 3), (50, 6)],
)
def test_it_reads_an_ndpi_target_from_the_coarsest_level_not_coarser(real_slides, mpp, level):
    with Slide(real_slides / NDPI) as slide:
        assert slide.best_level(slide.downsample_for(mpp=mpp)) == level


def test_it_reports_the_ndpi_pyramid(real_slides):
    with Slide(real_slides / NDPI) as slide:
        assert slide.level_count == 7
        assert slide.level_downsamples == (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
        assert slide.mpp_x == pytest.approx(0.22817, abs=1e-4)
        assert (slide.width, slide.height) == (3968, 4864)


@pytest.mark.parametrize("mpp", [0.25, 0.5, 1.0, 3.0])
def test_it_reads_size_square_rgb_patches_at_any_mpp(real_slides, mpp):
    with Slide(real_slides / NDPI) as slide:
        patch = slide.read(512, 256, 200, mpp=mpp)
    assert patch.shape == (200, 200, 3)
    assert patch.dtype == np.uint8
    assert patch.flags.writeable  # a DataLoader makes tensors of it without a warning


def test_a_single_level_slide_is_read_at_level_0_and_shrunk(real_slides):
    with Slide(real_slides / CMU) as slide:
        assert slide.best_level(slide.downsample_for(mpp=1.0)) == 0
        patch = slide.read(0, 0, 128, mpp=1.0)
        whole = slide.read(0, 0, 256, level=0)
    shrunk = whole.reshape(128, 2, 128, 2, 3).mean(axis=(1, 3))
    # 1.0 / 0.499 is a downsample of 2.004: a 2 x 2 average to within a grey level or two.
    assert np.abs(patch.astype(float) - shrunk).mean() < 3


def test_a_whole_factor_from_a_level_is_an_exact_area_average(real_slides):
    with Slide(real_slides / CMU) as slide:
        patch = slide.read(100, 200, 128, mpp=2 * 0.499)
        whole = slide.read(100, 200, 256, level=0)
    averaged = whole.reshape(128, 2, 128, 2, 3).mean(axis=(1, 3))
    assert np.abs(patch - averaged).max() <= 0.5


def test_a_level_within_one_percent_counts_as_the_target(real_slides):
    with Slide(real_slides / TCGA) as slide:
        assert slide.level_downsamples[1] == pytest.approx(2.0005, abs=1e-4)
        assert slide.best_level(2.0) == 1
        assert slide.best_level(1.97) == 0


def test_a_slide_without_mpp_reads_by_level_and_refuses_mpp(real_slides):
    with Slide(real_slides / TCGA) as slide:
        assert slide.mpp_x is None and slide.mpp is None
        assert slide.read(0, 0, 64, level=1).shape == (64, 64, 3)
        with pytest.raises(ValueError, match="does not record its µm per pixel"):
            slide.read(0, 0, 64, mpp=0.5)


def test_it_takes_the_target_as_mpp_or_level_not_both(real_slides):
    with Slide(real_slides / NDPI) as slide:
        with pytest.raises(ValueError, match="not both"):
            slide.read(0, 0, 8, mpp=0.5, level=1)
        with pytest.raises(ValueError, match="not both"):
            slide.read(0, 0, 8)
        with pytest.raises(ValueError, match="levels 0 to 6"):
            slide.read(0, 0, 8, level=7)


def test_a_generated_pyramid_gives_openslide_its_mpp(gradient_slide):
    with gradient_slide.open() as slide:
        assert slide.mpp_x == pytest.approx(0.5) and slide.mpp_y == pytest.approx(0.5)
        assert slide.level_downsamples == (1.0, 2.0, 4.0)


def test_level_0_patches_are_the_pixels_at_their_level_0_corner(gradient_slide):
    with gradient_slide.open() as slide:
        patch = slide.read(300, 700, 64, mpp=0.5)
    y, x = np.mgrid[700:764, 300:364]
    assert (patch[..., 0] == x % 256).all()
    assert (patch[..., 1] == y % 256).all()


def test_a_patch_at_a_level_s_own_resolution_is_that_level_unresized(gradient_slide):
    with gradient_slide.open() as slide:
        patch = slide.read(512, 256, 64, mpp=1.0)
        level_1 = slide.read(512, 256, 64, level=1)
    # Level 1 averages 2 x 2: its pixel i covers level-0 columns 512 + 2i and 513 + 2i.
    assert (patch == level_1).all()
    assert patch[0, :8, 0].tolist() == [0, 2, 4, 6, 8, 10, 12, 14]


def test_between_levels_it_shrinks_the_finer_one_by_area(gradient_slide):
    with gradient_slide.open() as slide:
        assert slide.best_level(slide.downsample_for(mpp=0.75)) == 0
        patch = slide.read(0, 0, 100, mpp=0.75)
    # Pixel i covers level-0 columns 1.5 i to 1.5 (i + 1): its mean red is about 1.5 i + 0.25.
    expected = 1.5 * np.arange(100) + 0.25
    assert np.abs(patch[50, :, 0] - expected).max() <= 1.0


def test_outside_the_slide_is_white(gradient_slide):
    with gradient_slide.open() as slide:
        patch = slide.read(gradient_slide.width - 32, 0, 64, level=0)
    assert (patch[:, 32:] == 255).all()
    inside = np.arange(gradient_slide.width - 32, gradient_slide.width) % 256
    assert (patch[:, :32, 0] == inside).all()


def test_it_pickles_as_its_path_and_reopens_after(real_slides):
    slide = Slide(real_slides / NDPI)
    before = slide.read(0, 0, 32, level=2)
    copy = pickle.loads(pickle.dumps(slide))
    assert copy._handle is None
    assert len(pickle.dumps(slide)) < 300
    assert (copy.read(0, 0, 32, level=2) == before).all()
    slide.close()
    copy.close()


def test_a_missing_or_unreadable_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        _ = Slide(tmp_path / "absent.svs").width
    junk = tmp_path / "junk.svs"
    junk.write_bytes(b"not a slide")
    with pytest.raises(OSError, match="OpenSlide cannot read"):
        _ = Slide(junk).width
