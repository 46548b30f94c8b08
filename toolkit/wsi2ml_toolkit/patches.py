"""``wsi2ml-toolkit patches``: an export's slides cut into patch images, label masks and an index.

Output, under ``--out``:
    images/<stem>/<x>_<y>.png (or .jpg)   the patch, RGB
    masks/<stem>/<x>_<y>.png              its label mask: 0 background, class index elsewhere
                                          (8-bit, 16-bit past 255 classes)
    index.csv                             one row per patch, in slide then grid order
``<stem>`` is the slide's file stem in the export, ``x``, ``y`` the patch's level-0 top-left.
A non-empty ``--out`` is refused unless ``--overwrite`` is given (then files of the same name
are replaced and others left alone), so that a second run never mixes into a first's index.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from wsi2ml_toolkit.dataset import PatchDataset
from wsi2ml_toolkit.progress import Progress

FORMATS = {"png": ".png", "jpeg": ".jpg"}
JPEG_QUALITY = 90
# Patches handed to a worker at a time: enough to spread the pool's cost per task, few enough
# that the bar moves every quarter second or so (a 256-px PNG patch takes about 7 ms to write).
CHUNK = 32


def add_parser(commands: Any) -> None:
    """Add ``patches`` to the subcommands ``commands``."""
    parser = commands.add_parser(
        "patches",
        help="cut an export's slides into patch images, label masks and index.csv",
        description="Cut the slides of a WSI2ML export into square patches at a target "
        "resolution, with their label masks (class index per pixel, 0 background) and an "
        "index.csv listing every patch.",
    )
    parser.add_argument("export", metavar="EXPORT.zip", type=Path, help="a WSI2ML export zip")
    parser.add_argument(
        "--slides", required=True, type=Path, metavar="DIR", help="folder holding the slides"
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--mpp", required=True, type=float, help="µm per pixel of the patches")
    parser.add_argument("--size", required=True, type=int, help="patch side in pixels")
    parser.add_argument("--stride", type=int, help="pixels between patches (default: --size)")
    parser.add_argument(
        "--classes", help="classes to paint, comma-separated, in mask index order (default: all)"
    )
    parser.add_argument(
        "--min-coverage", type=float, default=0.0, metavar="F",
        help="keep patches at least this fraction annotated (0-1, default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--min-tissue", type=float, default=0.0, metavar="F",
        help="keep patches at least this fraction tissue (0-1, default 0)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="png", help="image format")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    """Write the patches, masks and index.csv; 0 when done."""
    _check(arguments)
    dataset = _dataset(arguments)
    out: Path = arguments.out
    for entry in dataset.slides:
        (out / "images" / entry.stem).mkdir(parents=True, exist_ok=True)
        (out / "masks" / entry.stem).mkdir(parents=True, exist_ok=True)
    chunks = [range(i, min(i + CHUNK, len(dataset))) for i in range(0, len(dataset), CHUNK)]
    with (
        (out / "index.csv").open("w", newline="", encoding="utf-8") as index_file,
        Progress(len(dataset), "patches", quiet=arguments.quiet) as progress,
    ):
        index = csv.writer(index_file)
        index.writerow(columns(dataset.classes))
        for rows in _written(dataset, out, arguments.format, chunks, arguments.workers):
            index.writerows(rows)
            progress.advance(len(rows))
    print(f"{len(dataset):,} patches of {len(dataset.slides)} slide(s) written to {out}")
    return 0


def columns(classes: Sequence[str]) -> list[str]:
    """index.csv's header: the slide (as the export names it, and the file read), the patch's
    level-0 top-left, mpp and size, its files (relative to --out), its tissue fraction, then
    the fraction of it each class covers."""
    fixed = ["slide", "slide_file", "x", "y", "mpp", "size", "image", "mask", "tissue"]
    return fixed + [f"coverage_{name}" for name in classes]


def _check(arguments: argparse.Namespace) -> None:
    from wsi2ml_toolkit.cli import UsageError

    if not arguments.export.is_file():
        raise FileNotFoundError(2, "No such export", str(arguments.export))
    if arguments.mpp <= 0 or arguments.size < 1 or (arguments.stride or 1) < 1:
        raise UsageError("--mpp must be above 0, --size and --stride at least 1.")
    for name in ("min_coverage", "min_tissue"):
        if not 0 <= getattr(arguments, name) <= 1:
            raise UsageError(f"--{name.replace('_', '-')} is a fraction, from 0 to 1.")
    if arguments.workers < 1:
        raise UsageError("--workers must be at least 1.")
    out: Path = arguments.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder.")
    if out.is_dir() and any(out.iterdir()) and not arguments.overwrite:
        raise UsageError(f"--out {out} is not empty; give --overwrite to write into it anyway.")


def _dataset(arguments: argparse.Namespace) -> PatchDataset:
    from wsi2ml_toolkit.cli import UsageError

    classes = None
    if arguments.classes:
        classes = [name.strip() for name in arguments.classes.split(",") if name.strip()]
    try:
        return PatchDataset(
            arguments.export,
            arguments.slides,
            mpp=arguments.mpp,
            size=arguments.size,
            stride=arguments.stride,
            classes=classes,
            min_coverage=arguments.min_coverage,
            min_tissue=arguments.min_tissue,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _written(dataset: PatchDataset, out: Path, image_format: str, chunks, workers: int):
    """Index rows of each chunk once written, in order; in ``workers`` processes when > 1
    (spawned, not forked: the same on every platform, and no inherited OpenSlide handle)."""
    if workers == 1 or len(chunks) < 2:
        _start(dataset, out, image_format)
        yield from map(_write_chunk, chunks)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, _start, (dataset, out, image_format)) as pool:
        yield from pool.imap(_write_chunk, chunks)


# What a worker process writes with, set once by _start (a Pool initializer) rather than sent
# with every chunk.
_job: dict[str, Any] = {}


def _start(dataset: PatchDataset, out: Path, image_format: str) -> None:
    _job.update(dataset=dataset, out=out, format=image_format)


def _write_chunk(indices: range) -> list[list[Any]]:
    return [_write(index) for index in indices]


def _write(index: int) -> list[Any]:
    dataset: PatchDataset = _job["dataset"]
    out: Path = _job["out"]
    entry, patch = dataset.patch(index)
    sample = dataset[index]
    name = f"{patch.x}_{patch.y}"
    image_path = Path("images", entry.stem, name + FORMATS[_job["format"]])
    mask_path = Path("masks", entry.stem, name + ".png")
    _save_image(sample["image"], out / image_path, _job["format"])
    Image.fromarray(sample["mask"]).save(out / mask_path)
    coverage = [f"{sample['coverage'][name]:.6g}" for name in dataset.classes]
    return [
        entry.key,
        str(entry.slide.path),
        patch.x,
        patch.y,
        f"{patch.mpp:g}",
        patch.size,
        image_path.as_posix(),
        mask_path.as_posix(),
        f"{patch.tissue:.6g}",
        *coverage,
    ]


def _save_image(pixels: np.ndarray, path: Path, image_format: str) -> None:
    image = Image.fromarray(pixels)
    if image_format == "jpeg":
        image.save(path, quality=JPEG_QUALITY)
    else:
        image.save(path)
