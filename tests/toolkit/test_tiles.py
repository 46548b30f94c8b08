"""patch_grid: coordinates and levels at several mpp, tissue filtering, regions and margins."""

import numpy as np
import pytest
from shapely.geometry import Point, box
from wsi2ml_toolkit.slide import Slide
from wsi2ml_toolkit.tiles import Patch, patch_grid
from wsi2ml_toolkit.tissue import tissue_mask


def test_patches_at_twice_the_slide_mpp_are_read_from_level_1(tissue_slide):
    with tissue_slide.open() as slide:
        patches = patch_grid(slide, mpp=0.5, size=256)
    # 2048 x 1536 level-0 pixels at 0.25 µm/px hold 4 x 3 patches of 512 level-0 pixels.
    assert len(patches) == 12
    assert {(p.level, p.downsample, p.mpp, p.size) for p in patches} == {(1, 2.0, 0.5, 256)}
    assert [(p.x, p.y) for p in patches[:5]] == [(0, 0), (512, 0), (1024, 0), (1536, 0), (0, 512)]
    assert patches[0].box == (0, 0, 512, 512)


def test_a_stride_overlaps_patches_and_only_whole_patches_are_kept(tissue_slide):
    with tissue_slide.open() as slide:
        patches = patch_grid(slide, mpp=0.5, size=256, stride=128)
    assert len(patches) == 7 * 5
    assert max(p.x + p.extent for p in patches) <= 2048
    assert max(p.y + p.extent for p in patches) <= 1536
    assert sorted({p.x for p in patches})[:3] == [0, 256, 512]


@pytest.mark.parametrize(
    ("mpp", "level", "downsample"),
    [(0.25, 0, 1.0), (0.4, 0, 1.6), (0.5, 1, 2.0), (1.0, 2, 4.0), (1.5, 2, 6.0), (2.0, 3, 8.0)],
)
def test_the_read_level_is_the_coarsest_not_coarser_than_the_target(
    tissue_slide, mpp, level, downsample
):
    with tissue_slide.open() as slide:
        patches = patch_grid(slide, mpp=mpp, size=64)
    assert {p.level for p in patches} == {level}
    assert [p.downsample for p in patches] == pytest.approx([downsample] * len(patches))


@pytest.mark.parametrize(("mpp", "level"), [(0.3, 0), (0.5, 1), (1.0, 2), (4.0, 4)])
def test_ndpi_patches_land_on_the_grid_of_the_target_mpp(real_slides, mpp, level):
    with Slide(real_slides / "test3-DAPI-2-387.ndpi") as slide:
        patches = patch_grid(slide, mpp=mpp, size=64)
        extent = 64 * mpp / slide.mpp
        columns = int((slide.width - extent) // extent) + 1
    assert {p.level for p in patches} == {level}
    assert [p.x for p in patches[:3]] == [0, round(extent), round(2 * extent)]
    assert patches[columns].y == round(extent)
    assert patches[-1].x + extent <= 3968 and patches[-1].y + extent <= 4864


def test_a_level_target_works_without_an_mpp(real_slides):
    with Slide(real_slides / "tcga-cr-7395-01a-01-ts1.svs") as slide:
        patches = patch_grid(slide, level=1, size=256)
    assert {(p.level, p.mpp) for p in patches} == {(1, None)}
    assert patches[1].x == round(256 * 2.0005055500659967)
    assert len(patches) == 8 * 6


def test_min_tissue_keeps_the_patches_over_tissue(tissue_slide):
    with tissue_slide.open() as slide:
        mask = tissue_mask(slide, mpp=2.0)
        kept = patch_grid(slide, mpp=0.5, size=128, tissue=mask, min_tissue=0.5)
        every = patch_grid(slide, mpp=0.5, size=128, tissue=mask)
    block = box(*tissue_slide.tissue[0]).union(box(*tissue_slide.tissue[1]))
    truth = {(p.x, p.y) for p in every if box(*p.box).intersection(block).area / 256**2 >= 0.5}
    assert {(p.x, p.y) for p in kept} == truth
    assert all(p.tissue >= 0.5 for p in kept)
    assert len(every) == 8 * 6 and any(p.tissue == 0 for p in every)


def test_tissue_is_measured_only_when_asked(tissue_slide):
    with tissue_slide.open() as slide:
        unmeasured = patch_grid(slide, mpp=1.0, size=128)
        measured = patch_grid(slide, mpp=1.0, size=128, tissue=True)
        implied = patch_grid(slide, mpp=1.0, size=128, min_tissue=0.01)
    assert {p.tissue for p in unmeasured} == {None}
    assert all(isinstance(p.tissue, float) for p in measured)
    assert len(implied) < len(measured)


def test_regions_keep_the_patches_they_touch(tissue_slide):
    region = box(600, 100, 700, 200)  # within the second patch of the first row
    with tissue_slide.open() as slide:
        patches = patch_grid(slide, mpp=0.5, size=256, regions=[region])
        with_point = patch_grid(slide, mpp=0.5, size=256, regions=[region, Point(100, 1100)])
    assert [(p.x, p.y) for p in patches] == [(512, 0)]
    assert [(p.x, p.y) for p in with_point] == [(512, 0), (0, 1024)]


def test_a_margin_in_micrometres_grows_the_regions(tissue_slide):
    region = box(600, 100, 700, 200)
    with tissue_slide.open() as slide:
        # 40 µm is 160 level-0 pixels: reaches x = 440 and y = 360, not yet x = 1024.
        near = patch_grid(slide, mpp=0.5, size=256, regions=[region], around=40)
        far = patch_grid(slide, mpp=0.5, size=256, regions=[region], around=130)
    assert [(p.x, p.y) for p in near] == [(0, 0), (512, 0)]
    assert len(far) == 6


def test_a_margin_needs_the_slides_mpp(real_slides):
    slide = Slide(real_slides / "tcga-cr-7395-01a-01-ts1.svs")
    with slide, pytest.raises(ValueError, match="margin"):
        patch_grid(slide, level=0, size=256, regions=[box(0, 0, 10, 10)], around=5)


def test_bad_sizes_are_refused(tissue_slide):
    with tissue_slide.open() as slide:
        with pytest.raises(ValueError, match="at least 1"):
            patch_grid(slide, mpp=0.5, size=0)
        with pytest.raises(ValueError, match="at least 1"):
            patch_grid(slide, mpp=0.5, size=64, stride=0)


def test_patches_are_plain_tuples_with_their_extent():
    patch = Patch(10, 20, 256, 0.5, 1, 0.75, 2.0)
    assert patch.extent == 512 and patch.box == (10, 20, 522, 532)
    assert tuple(patch) == (10, 20, 256, 0.5, 1, 0.75, 2.0)
    assert np.isclose(patch.downsample * patch.size, patch.extent)
