"""wsi2ml-toolkit patches: images, masks and index.csv from an export, workers, refusals."""

import csv
import shutil

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import box
from wsi2ml_toolkit.cli import main
from wsi2ml_toolkit.dataset import PatchDataset

CLASSES = ["Stroma", "Tumour"]


@pytest.fixture
def export_and_slides(tissue_slide, make_export, tmp_path):
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(tissue_slide.path, slides / "tissue.tif")
    features = [(box(300, 300, 1000, 900), "Tumour"), (box(900, 800, 1400, 1100), "Stroma")]
    export = make_export(
        [{"path": "lab/tissue.tif", "file": tissue_slide.path, "features": features}], CLASSES
    )
    return export, slides


def run(export, slides, out, *extra) -> int:
    argv = [str(export), "--slides", str(slides), "--out", str(out), "--mpp", "0.5"]
    return main(["patches", *argv, "--size", "128", "--quiet", *extra])


def read_index(out) -> list[dict]:
    with (out / "index.csv").open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_it_writes_images_masks_and_an_index_row_per_patch(export_and_slides, tmp_path):
    export, slides = export_and_slides
    out = tmp_path / "out"
    assert run(export, slides, out, "--min-tissue", "0.5") == 0
    rows = read_index(out)
    dataset = PatchDataset(export, slides, mpp=0.5, size=128, min_tissue=0.5)
    assert len(rows) == len(dataset) == 12 + 2
    assert list(rows[0]) == [
        "slide", "slide_file", "x", "y", "mpp", "size", "image", "mask", "tissue",
        "coverage_Stroma", "coverage_Tumour",
    ]  # fmt: skip
    row = rows[0]
    assert (row["slide"], row["x"], row["y"], row["mpp"], row["size"]) == (
        "lab/tissue.tif", "256", "256", "0.5", "128",
    )  # fmt: skip
    assert row["slide_file"] == str(slides / "tissue.tif")
    assert row["image"] == "images/1_lab_tissue/256_256.png"
    assert row["mask"] == "masks/1_lab_tissue/256_256.png"
    sample = dataset[0]
    assert (np.asarray(Image.open(out / row["image"])) == sample["image"]).all()
    assert (np.asarray(Image.open(out / row["mask"])) == sample["mask"]).all()
    assert float(row["coverage_Tumour"]) == pytest.approx(sample["coverage"]["Tumour"])
    assert float(row["tissue"]) == 1.0


def test_jpeg_images_and_chosen_classes(export_and_slides, tmp_path):
    export, slides = export_and_slides
    out = tmp_path / "out"
    assert run(export, slides, out, "--format", "jpeg", "--classes", "Tumour") == 0
    rows = read_index(out)
    assert len(rows) == 48 and rows[9]["image"].endswith("/256_256.jpg")
    assert "coverage_Stroma" not in rows[0]
    assert set(np.unique(np.asarray(Image.open(out / rows[9]["mask"])))) == {0, 1}
    assert Image.open(out / rows[9]["image"]).format == "JPEG"


def test_two_workers_write_what_one_does(export_and_slides, tmp_path):
    export, slides = export_and_slides
    assert run(export, slides, tmp_path / "one", "--min-coverage", "0.1") == 0
    assert run(export, slides, tmp_path / "two", "--min-coverage", "0.1", "--workers", "2") == 0
    one, two = read_index(tmp_path / "one"), read_index(tmp_path / "two")
    assert len(one) > 2
    assert [{k: v for k, v in r.items() if k != "slide_file"} for r in one] == [
        {k: v for k, v in r.items() if k != "slide_file"} for r in two
    ]
    for row in one:
        first = np.asarray(Image.open(tmp_path / "one" / row["mask"]))
        second = np.asarray(Image.open(tmp_path / "two" / row["mask"]))
        assert (first == second).all()


def test_a_non_empty_out_needs_overwrite(export_and_slides, tmp_path, capsys):
    export, slides = export_and_slides
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run(export, slides, out) == 2
    assert "is not empty; give --overwrite" in capsys.readouterr().err
    assert run(export, slides, out, "--overwrite") == 0
    assert (out / "notes.txt").read_text() == "mine" and len(read_index(out)) == 48


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--min-tissue", "2"], "--min-tissue is a fraction"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--classes", "Fat"], "No class 'Fat'"),
    ],
)
def test_bad_options_are_one_line_and_status_2(export_and_slides, tmp_path, capsys, extra, message):
    export, slides = export_and_slides
    assert run(export, slides, tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_missing_slide_or_export_is_status_2(export_and_slides, tmp_path, capsys):
    export, _ = export_and_slides
    (tmp_path / "none").mkdir()
    assert run(export, tmp_path / "none", tmp_path / "out") == 2
    assert "'lab/tissue.tif' of the export is not in" in capsys.readouterr().err
    assert run(tmp_path / "absent.zip", tmp_path / "none", tmp_path / "out") == 2
    assert "absent.zip" in capsys.readouterr().err


def test_it_reports_what_it_wrote(export_and_slides, tmp_path, capsys):
    export, slides = export_and_slides
    assert run(export, slides, tmp_path / "out", "--min-tissue", "0.9") == 0
    assert capsys.readouterr().out == f"12 patches of 1 slide(s) written to {tmp_path / 'out'}\n"
