"""PatchDataset: samples from an export zip's slides, filters, slide lookup, pickling, workers."""

import multiprocessing
import pickle
import shutil

import numpy as np
import pytest
from shapely.geometry import Point, box
from wsi2ml_toolkit.dataset import PatchDataset
from wsi2ml_toolkit.features import Feature
from wsi2ml_toolkit.masks import LabelRasterizer

CLASSES = ["Stroma", "Tumour"]


@pytest.fixture
def annotated(tissue_slide, make_export, tmp_path):
    """An export of the tissue slide as "cases/tissue.tif" (a Tumour square over the big
    tissue block, Stroma overlapping it, a point) and a slides folder holding it there."""
    slides = tmp_path / "slides"
    (slides / "cases").mkdir(parents=True)
    shutil.copy(tissue_slide.path, slides / "cases" / "tissue.tif")
    features = [
        (box(300, 300, 1000, 900), "Tumour"),
        (box(900, 800, 1400, 1100), "Stroma"),
        (Point(50, 50), "Tumour"),
    ]
    export = make_export(
        [{"path": "cases/tissue.tif", "file": tissue_slide.path, "features": features}], CLASSES
    )
    return export, slides


def test_samples_hold_the_image_mask_and_where_they_come_from(annotated, tissue_slide):
    export, slides = annotated
    dataset = PatchDataset(export, slides, mpp=0.5, size=128)
    # 2048 x 1536 at 0.25 µm/px, 256 level-0 pixels a patch: 8 x 6.
    assert len(dataset) == 48
    sample = dataset[9]
    assert sample["image"].shape == (128, 128, 3) and sample["image"].dtype == np.uint8
    assert sample["mask"].shape == (128, 128) and sample["mask"].dtype == np.uint8
    assert (sample["x"], sample["y"], sample["slide"]) == (256, 256, "cases/tissue.tif")
    assert sample["mask"][100, 100] == 2 and sample["mask"][0, 0] == 0
    assert sample["coverage"]["Tumour"] == pytest.approx((212 / 256) ** 2, abs=0.01)
    assert sample["tissue"] == 1.0
    # The image is what the slide holds there: the tissue colour over the tissue block.
    assert np.abs(sample["image"][64, 64].astype(int) - (190, 90, 160)).max() <= 2


def test_masks_follow_the_export_class_order(annotated):
    export, slides = annotated
    dataset = PatchDataset(export, slides, mpp=0.5, size=128)
    _, patch = dataset.patch(3 * 8 + 3)  # level-0 (768, 768): Tumour, with Stroma over it
    mask = dataset[3 * 8 + 3]["mask"]
    assert patch.x == 768 and patch.y == 768
    assert mask[127, 127] == 1  # level-0 (1022, 1022): Stroma alone
    assert mask[41, 91] == 2  # (950, 850): both, and Tumour has the higher index
    assert mask[6, 16] == 2  # (800, 780): Tumour alone


def test_min_tissue_and_min_coverage_filter_the_patches(annotated):
    export, slides = annotated
    tissue = PatchDataset(export, slides, mpp=0.5, size=128, min_tissue=0.9)
    covered = PatchDataset(export, slides, mpp=0.5, size=128, min_coverage=0.5)
    # The big block holds 4 x 3 whole patches; the small one no patch more than half.
    assert len(tissue) == 4 * 3
    assert all(tissue[i]["tissue"] >= 0.9 for i in range(len(tissue)))
    assert 0 < len(covered) < 48
    assert all(sum(covered[i]["coverage"].values()) >= 0.5 for i in range(len(covered)))


def test_chosen_classes_are_painted_in_the_order_given(annotated):
    export, slides = annotated
    dataset = PatchDataset(export, slides, mpp=0.5, size=128, classes=["Tumour"])
    sample = dataset[9]
    assert set(np.unique(sample["mask"])) == {0, 1}
    assert list(sample["coverage"]) == ["Tumour"]
    with pytest.raises(ValueError, match="No class 'Fat'"):
        PatchDataset(export, slides, mpp=0.5, size=128, classes=["Fat"])


def test_slides_are_found_by_file_name_or_by_quickhash(annotated, tmp_path):
    export, slides = annotated
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(slides / "cases" / "tissue.tif", flat / "tissue.tif")
    assert PatchDataset(export, flat, mpp=1.0, size=128).slides[0].slide.path == (
        flat / "tissue.tif"
    )
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    shutil.copy(slides / "cases" / "tissue.tif", renamed / "scan 12.tif")
    (renamed / "notes.tif").write_bytes(b"not a slide")
    found = PatchDataset(export, renamed, mpp=1.0, size=128).slides[0].slide.path
    assert found == renamed / "scan 12.tif"


def test_a_missing_slide_is_named(annotated, tmp_path):
    export, _ = annotated
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"'cases/tissue\.tif' of the export is not in"):
        PatchDataset(export, tmp_path / "empty", mpp=0.5, size=128)


def test_another_file_under_the_slide_s_name_is_refused(
    tissue_slide, gradient_slide, make_export, tmp_path
):
    export = make_export(
        [{"path": "tissue.tif", "file": tissue_slide.path, "features": []}], CLASSES
    )
    (tmp_path / "wrong").mkdir()
    shutil.copy(gradient_slide.path, tmp_path / "wrong" / "tissue.tif")
    with pytest.raises(ValueError, match="quickhash differs"):
        PatchDataset(export, tmp_path / "wrong", mpp=0.5, size=128)


def test_slides_can_be_given_by_key(annotated, tissue_slide):
    export, _ = annotated
    dataset = PatchDataset(export, {"tissue.tif": tissue_slide.path}, mpp=1.0, size=128)
    assert len(dataset) == 4 * 3 and dataset[0]["slide"] == "cases/tissue.tif"


def test_features_can_be_given_without_an_export(tissue_slide):
    features = {"a": [Feature(box(0, 0, 512, 512), class_name="Tumour")]}
    dataset = PatchDataset(
        features, {"a": tissue_slide.path}, mpp=0.5, size=256, classes=["Tumour"]
    )
    assert len(dataset) == 12 and (dataset[0]["mask"] == 1).all()
    with pytest.raises(ValueError, match="classes="):
        PatchDataset(features, {"a": tissue_slide.path}, mpp=0.5, size=256)


def test_a_transform_gets_the_sample(annotated):
    export, slides = annotated
    dataset = PatchDataset(export, slides, mpp=1.0, size=64, transform=lambda s: s["image"].mean())
    assert isinstance(dataset[0], float)


def test_an_index_past_the_end_is_an_index_error(annotated):
    export, slides = annotated
    dataset = PatchDataset(export, slides, mpp=1.0, size=128)
    assert dataset[-1]["x"] == dataset[len(dataset) - 1]["x"]
    with pytest.raises(IndexError):
        dataset[len(dataset)]


def test_it_pickles_without_an_open_slide(annotated):
    export, slides = annotated
    dataset = PatchDataset(export, slides, mpp=0.5, size=128)
    before = dataset[9]
    copy = pickle.loads(pickle.dumps(dataset))
    assert all(entry.slide._handle is None for entry in copy.slides)
    after = copy[9]
    assert (after["image"] == before["image"]).all() and (after["mask"] == before["mask"]).all()


def _sample_sums(item):
    dataset, index = item
    sample = dataset[index]
    return int(sample["image"].sum()), int(sample["mask"].sum()), sample["x"], sample["y"]


def test_it_works_in_a_pool_of_two_spawned_workers(annotated):
    export, slides = annotated
    dataset = PatchDataset(export, slides, mpp=0.5, size=128)
    dataset[0]  # a handle open in the parent is not sent along
    indices = range(0, len(dataset), 5)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        there = pool.map(_sample_sums, [(dataset, i) for i in indices])
    assert there == [_sample_sums((dataset, i)) for i in indices]


def test_it_works_across_a_fork(annotated):
    export, slides = annotated
    dataset = PatchDataset(export, slides, mpp=0.5, size=128)
    dataset[0]
    indices = range(0, len(dataset), 7)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        there = pool.map(_sample_sums, [(dataset, i) for i in indices])
    assert there == [_sample_sums((dataset, i)) for i in indices]


def test_masks_are_those_of_the_rasterizer(annotated):
    export, slides = annotated
    dataset = PatchDataset(export, slides, mpp=0.5, size=128)
    _, patch = dataset.patch(20)
    labels = LabelRasterizer(
        [Feature(box(300, 300, 1000, 900), class_name="Tumour"),
         Feature(box(900, 800, 1400, 1100), class_name="Stroma")],
        CLASSES,
    )  # fmt: skip
    expected = labels.patch_mask(patch.x, patch.y, 128, downsample=2.0)
    assert (dataset[20]["mask"] == expected).all()
