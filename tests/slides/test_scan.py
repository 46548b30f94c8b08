"""Scanning SLIDES_ROOT: registering, refreshing, moving and losing slide files."""

import os
import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from guardian.shortcuts import assign_perm

from slides import services
from slides.models import Slide
from slides.services import ScanFolderInvalid, slides_rescan, slides_scan
from tests import factories

pytestmark = pytest.mark.django_db

# Facts per SOURCES.md beside the real slides.
REAL_SLIDES = {
    "CMU-1-Small-Region.svs": {
        "vendor": "aperio",
        "size": (2220, 2967),
        "levels": [[2220, 2967]],
        "mpp": 0.499,
        "objective_power": 20,
        "associated": ["label", "macro", "thumbnail"],
        "file_size": 1_938_955,
    },
    "tcga-cr-7395-01a-01-ts1.svs": {
        "vendor": "aperio",
        "size": (4443, 3567),
        "levels": [[4443, 3567], [2221, 1783]],
        "mpp": None,
        "objective_power": None,
        "associated": ["thumbnail"],
        "file_size": 3_901_814,
    },
    "test3-TRITC-2-560.ndpi": {
        "vendor": "hamamatsu",
        "size": (3968, 4864),
        "levels": [[3968 >> i, 4864 >> i] for i in range(7)],
        "mpp": 0.22818,
        "objective_power": 40,
        "associated": ["macro"],
        "file_size": 3_064_887,
    },
    "test3-DAPI-2-387.ndpi": {
        "vendor": "hamamatsu",
        "size": (3968, 4864),
        "levels": [[3968 >> i, 4864 >> i] for i in range(7)],
        "mpp": 0.22818,
        "objective_power": 40,
        "associated": ["macro"],
        "file_size": 3_544_235,
    },
}


@pytest.fixture
def real_slides(slides_root, shared_slides):
    """The real scanner slides, copied into scanners/ under an empty SLIDES_ROOT."""
    folder = slides_root / "scanners"
    folder.mkdir()
    for name in REAL_SLIDES:
        shutil.copyfile(shared_slides / name, folder / name)
    return folder


def tiff(root, relative, seed=0, width=None, height=400):
    """Write a small generated pyramid at ``relative`` under ``root``.

    Different seeds give different widths, hence different fingerprints: the factory's pixels
    depend only on whether the seed is odd.
    """
    width = width or 600 + 8 * seed
    return factories.write_pyramid_tiff(root / relative, width, height, seed)


def slide_at(relative):
    return Slide.objects.get(path=relative)


@pytest.mark.parametrize("name", REAL_SLIDES)
def test_it_registers_real_scanner_slides_with_their_facts(real_slides, name):
    expected = REAL_SLIDES[name]

    report = slides_scan()

    slide = slide_at(f"scanners/{name}")
    assert f"scanners/{name}" in report.created
    assert slide.status == Slide.Status.OK
    assert slide.error == ""
    assert slide.name == name
    assert slide.vendor == expected["vendor"]
    assert (slide.width, slide.height) == expected["size"]
    assert slide.level_count == len(expected["levels"])
    assert slide.level_dimensions == expected["levels"]
    assert slide.file_size == expected["file_size"]
    if expected["mpp"] is None:
        assert slide.mpp_x is None and slide.mpp_y is None and slide.mpp is None
    else:
        assert slide.mpp == pytest.approx(expected["mpp"], abs=5e-5)
    assert slide.objective_power == expected["objective_power"]
    assert slide.associated_images == expected["associated"]
    assert len(slide.quickhash) == 64
    assert slide.properties["openslide.vendor"] == expected["vendor"]
    assert slide.scanned_at is not None


def test_each_real_slide_has_its_own_fingerprint(real_slides):
    slides_scan()

    hashes = set(Slide.objects.values_list("quickhash", flat=True))
    assert len(hashes) == len(REAL_SLIDES)


def test_it_finds_slides_in_nested_folders_and_ignores_other_files(slides_root):
    tiff(slides_root, "a.tiff", seed=1)
    tiff(slides_root, "x/y/z/b.tif", seed=2)
    tiff(slides_root, "x/UPPER.TIFF", seed=3)
    (slides_root / "x" / "notes.txt").write_text("not a slide")
    tiff(slides_root, ".hidden/c.tiff", seed=4)
    tiff(slides_root, "x/.d.tiff", seed=5)

    report = slides_scan()

    assert sorted(report.created) == ["a.tiff", "x/UPPER.TIFF", "x/y/z/b.tif"]
    assert Slide.objects.count() == 3
    assert report.refused == [] and report.unreadable == []


def test_a_corrupt_file_is_recorded_unreadable_and_the_scan_goes_on(slides_root):
    (slides_root / "a-broken.svs").write_bytes(bytes(range(256)) * 64)
    tiff(slides_root, "b-good.tiff")

    report = slides_scan()

    broken = slide_at("a-broken.svs")
    assert broken.status == Slide.Status.UNREADABLE
    assert "Unsupported" in broken.error
    assert report.unreadable == [("a-broken.svs", broken.error)]
    assert report.created == ["b-good.tiff"]
    assert slide_at("b-good.tiff").status == Slide.Status.OK


def test_an_unchanged_unreadable_file_is_still_reported(slides_root):
    (slides_root / "broken.svs").write_bytes(b"junk" * 100)
    slides_scan()

    report = slides_scan()

    assert [path for path, _ in report.unreadable] == ["broken.svs"]
    assert report.unchanged == []


def test_a_symlinked_file_leading_outside_the_root_is_refused(slides_root, tmp_path):
    outside = tiff(tmp_path, "elsewhere/secret.tiff")
    (slides_root / "link.svs").symlink_to(outside)

    report = slides_scan()

    assert Slide.objects.count() == 0
    [(path, reason)] = report.refused
    assert path == "link.svs"
    assert "outside SLIDES_ROOT" in reason


def test_a_symlinked_folder_leading_outside_the_root_is_refused(slides_root, tmp_path):
    tiff(tmp_path, "elsewhere/secret.tiff")
    (slides_root / "mounted").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    tiff(slides_root, "inside.tiff")

    report = slides_scan()

    assert list(Slide.objects.values_list("path", flat=True)) == ["inside.tiff"]
    assert [path for path, _ in report.refused] == ["mounted"]
    assert "outside SLIDES_ROOT" in report.refused[0][1]


def test_symlink_loops_are_refused_and_the_scan_ends(slides_root):
    tiff(slides_root, "a/deeper/one.tiff")
    (slides_root / "a" / "deeper" / "up").symlink_to("..", target_is_directory=True)
    (slides_root / "a" / "self.svs").symlink_to("self.svs")

    report = slides_scan()

    assert report.created == ["a/deeper/one.tiff"]
    reasons = dict(report.refused)
    assert "loop" in reasons["a/deeper/up"]
    assert "loop" in reasons["a/self.svs"]


def test_a_symlink_inside_the_root_registers_the_file_once(slides_root):
    tiff(slides_root, "real/one.tiff")
    (slides_root / "alias").symlink_to(slides_root / "real", target_is_directory=True)
    (slides_root / "shortcut.tiff").symlink_to(slides_root / "real" / "one.tiff")

    report = slides_scan()

    assert report.created == ["real/one.tiff"]
    assert Slide.objects.count() == 1


def test_a_moved_file_keeps_its_identity_and_permissions(slides_root, annotator):
    tiff(slides_root, "inbox/case-1.tiff", seed=1)
    tiff(slides_root, "inbox/case-2.tiff", seed=2)
    slides_scan()
    slide = slide_at("inbox/case-1.tiff")
    assign_perm("slides.view_slide", annotator, slide)

    (slides_root / "archive" / "2024").mkdir(parents=True)
    os.rename(slides_root / "inbox/case-1.tiff", slides_root / "archive/2024/renamed.tiff")
    report = slides_scan()

    moved = Slide.objects.get(pk=slide.pk)
    assert moved.path == "archive/2024/renamed.tiff"
    assert moved.name == "renamed.tiff"  # the name was never edited, so it follows the file
    assert moved.status == Slide.Status.OK
    assert report.moved == [("inbox/case-1.tiff", "archive/2024/renamed.tiff")]
    assert report.created == [] and report.missing == []
    assert Slide.objects.count() == 2
    assert annotator.has_perm("slides.view_slide", moved)


def test_a_moved_slide_keeps_an_edited_name(slides_root):
    tiff(slides_root, "a.tiff")
    slides_scan()
    Slide.objects.filter(path="a.tiff").update(name="Liver biopsy 12")

    os.rename(slides_root / "a.tiff", slides_root / "b.tiff")
    slides_scan()

    assert slide_at("b.tiff").name == "Liver biopsy 12"


def test_a_slide_marked_missing_is_found_again_when_moved(slides_root):
    tiff(slides_root, "a.tiff")
    slides_scan()
    pk = slide_at("a.tiff").pk
    (slides_root / "a.tiff").rename(slides_root / ".parked")
    slides_scan()
    assert Slide.objects.get(pk=pk).status == Slide.Status.MISSING

    (slides_root / ".parked").rename(slides_root / "back.tiff")
    report = slides_scan()

    assert slide_at("back.tiff").pk == pk
    assert slide_at("back.tiff").status == Slide.Status.OK
    assert report.moved == [("a.tiff", "back.tiff")]


def test_a_copy_of_a_file_that_is_still_there_is_a_new_slide(slides_root):
    tiff(slides_root, "a.tiff")
    slides_scan()

    shutil.copyfile(slides_root / "a.tiff", slides_root / "copy.tiff")
    report = slides_scan()

    assert report.created == ["copy.tiff"]
    assert report.moved == []
    assert slide_at("copy.tiff").quickhash == slide_at("a.tiff").quickhash


def test_a_deleted_file_is_marked_missing_and_kept(slides_root):
    tiff(slides_root, "a.tiff", seed=1)
    tiff(slides_root, "b.tiff", seed=2)
    slides_scan()

    (slides_root / "a.tiff").unlink()
    report = slides_scan()

    slide = slide_at("a.tiff")
    assert slide.status == Slide.Status.MISSING
    assert slide.error
    assert report.missing == ["a.tiff"]
    assert report.unchanged == ["b.tiff"]
    assert slides_scan().missing == []  # reported once, when it went


def test_a_file_that_reappears_is_ok_again(slides_root):
    tiff(slides_root, "a.tiff")
    slides_scan()
    pk = slide_at("a.tiff").pk
    (slides_root / "a.tiff").rename(slides_root / "a.tiff.away")
    slides_scan()

    (slides_root / "a.tiff.away").rename(slides_root / "a.tiff")
    report = slides_scan()

    slide = slide_at("a.tiff")
    assert (slide.pk, slide.status, slide.error) == (pk, Slide.Status.OK, "")
    assert report.updated == ["a.tiff"]


def test_a_second_scan_opens_nothing_and_changes_nothing(slides_root, monkeypatch):
    tiff(slides_root, "a.tiff", seed=1)
    tiff(slides_root, "sub/b.tiff", seed=2)
    slides_scan()
    before = list(Slide.objects.values_list("pk", "updated_at"))

    def must_not_open(path):
        raise AssertionError(f"{path} was opened again")

    monkeypatch.setattr(services, "read_slide_facts", must_not_open)
    report = slides_scan()

    assert report.unchanged == ["a.tiff", "sub/b.tiff"]
    assert report.counts() == {
        "created": 0,
        "updated": 0,
        "moved": 0,
        "unchanged": 2,
        "unreadable": 0,
        "missing": 0,
        "refused": 0,
    }
    assert list(Slide.objects.values_list("pk", "updated_at")) == before


def test_a_changed_file_is_read_again(slides_root):
    tiff(slides_root, "a.tiff", width=600, height=400)
    slides_scan()
    slide = slide_at("a.tiff")

    tiff(slides_root, "a.tiff", width=900, height=700)
    report = slides_scan()

    changed = slide_at("a.tiff")
    assert report.updated == ["a.tiff"]
    assert changed.pk == slide.pk
    assert (changed.width, changed.height) == (900, 700)
    assert changed.file_size != slide.file_size


def test_a_file_that_became_unreadable_is_marked_so(slides_root):
    tiff(slides_root, "a.tiff")
    slides_scan()

    (slides_root / "a.tiff").write_bytes(b"overwritten")
    report = slides_scan()

    assert slide_at("a.tiff").status == Slide.Status.UNREADABLE
    assert [path for path, _ in report.unreadable] == ["a.tiff"]


def test_scanning_a_subfolder_touches_only_that_folder(slides_root):
    tiff(slides_root, "a/one.tiff", seed=1)
    tiff(slides_root, "ab/two.tiff", seed=2)
    slides_scan()
    (slides_root / "ab" / "two.tiff").unlink()
    tiff(slides_root, "ab/three.tiff", seed=3)
    tiff(slides_root, "a/four.tiff", seed=4)

    report = slides_scan(folder="a")

    assert report.folder == "a"
    assert report.created == ["a/four.tiff"]
    assert report.unchanged == ["a/one.tiff"]
    assert report.missing == []
    assert slide_at("ab/two.tiff").status == Slide.Status.OK
    assert not Slide.objects.filter(path="ab/three.tiff").exists()


def test_a_subfolder_may_be_given_as_an_absolute_path(slides_root):
    tiff(slides_root, "a/one.tiff")

    report = slides_scan(folder=str(slides_root / "a"))

    assert report.created == ["a/one.tiff"]


@pytest.mark.parametrize("folder", ["..", "/etc", "a/../../elsewhere"])
def test_a_folder_outside_the_root_is_rejected(slides_root, folder):
    (slides_root / "a").mkdir()

    with pytest.raises(ScanFolderInvalid, match="outside SLIDES_ROOT"):
        slides_scan(folder=folder)


def test_a_symlink_to_a_folder_outside_the_root_is_rejected_as_folder(slides_root, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (slides_root / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    with pytest.raises(ScanFolderInvalid, match="outside SLIDES_ROOT"):
        slides_scan(folder="link")


@pytest.mark.parametrize("folder", ["nowhere", "file.tiff"])
def test_a_folder_that_is_not_one_is_rejected(slides_root, folder):
    tiff(slides_root, "file.tiff")

    with pytest.raises(ScanFolderInvalid):
        slides_scan(folder=folder)


def test_folders_nested_too_deep_are_refused(slides_root, monkeypatch):
    monkeypatch.setattr(services, "MAX_SCAN_DEPTH", 2)
    tiff(slides_root, "1/2/ok.tiff", seed=1)
    tiff(slides_root, "1/2/3/too-deep.tiff", seed=2)

    report = slides_scan()

    assert report.created == ["1/2/ok.tiff"]
    assert [path for path, _ in report.refused] == ["1/2/3"]


def test_progress_wraps_the_list_of_files(slides_root):
    tiff(slides_root, "a.tiff", seed=1)
    tiff(slides_root, "b.tiff", seed=2)
    seen = []

    def progress(files):
        seen.append([p.name for p in files])
        return files

    slides_scan(progress=progress)

    assert seen == [["a.tiff", "b.tiff"]]


def test_rescan_reads_unchanged_files_again_and_marks_vanished_ones(slides_root):
    tiff(slides_root, "a.tiff", seed=1)
    tiff(slides_root, "b.tiff", seed=2)
    slides_scan()
    (slides_root / "b.tiff").unlink()
    first_scan = slide_at("a.tiff").scanned_at

    report = slides_rescan(slides=Slide.objects.all())

    assert report.updated == ["a.tiff"]
    assert report.missing == ["b.tiff"]
    assert slide_at("a.tiff").scanned_at > first_scan
    assert slide_at("b.tiff").status == Slide.Status.MISSING


def test_command_prints_the_counts_and_each_problem(slides_root, tmp_path):
    tiff(slides_root, "good.tiff")
    (slides_root / "bad.svs").write_bytes(b"junk" * 100)
    (slides_root / "away.svs").symlink_to(tiff(tmp_path, "outside/x.tiff"))
    out = StringIO()

    call_command("scan_slides", stdout=out)

    text = out.getvalue()
    assert "1 created" in text and "1 unreadable" in text and "1 refused" in text
    assert "Unreadable bad.svs: OpenSlideUnsupportedFormatError" in text
    assert "Refused away.svs: symlink to" in text


def test_command_scans_the_folder_given(slides_root):
    tiff(slides_root, "a/one.tiff", seed=1)
    tiff(slides_root, "b/two.tiff", seed=2)
    out = StringIO()

    call_command("scan_slides", "a", stdout=out)

    assert "Scanned a: 1 created" in out.getvalue()
    assert list(Slide.objects.values_list("path", flat=True)) == ["a/one.tiff"]


def test_command_reports_moves_and_missing_files(slides_root):
    tiff(slides_root, "a.tiff", seed=1)
    tiff(slides_root, "b.tiff", seed=2)
    call_command("scan_slides", stdout=StringIO())
    os.rename(slides_root / "a.tiff", slides_root / "c.tiff")
    (slides_root / "b.tiff").unlink()
    out = StringIO()

    call_command("scan_slides", stdout=out)

    assert "Moved a.tiff -> c.tiff" in out.getvalue()
    assert "Missing b.tiff" in out.getvalue()


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("/etc", "outside SLIDES_ROOT"),
        ("..", "outside SLIDES_ROOT"),
        ("does-not-exist", "does-not-exist does not exist"),
        ("nul\x00byte", "Cannot resolve"),
    ],
)
def test_command_rejects_a_bad_folder_with_a_clear_error(slides_root, folder, message):
    with pytest.raises(CommandError, match=message):
        call_command("scan_slides", folder, stdout=StringIO())


def test_command_shows_a_progress_bar_on_a_terminal(slides_root, monkeypatch):
    class Terminal(StringIO):
        def isatty(self):
            return True

    factories.write_pyramid_tiff(slides_root / "one.tiff", 300, 200)
    factories.write_pyramid_tiff(slides_root / "two.tiff", 300, 200, seed=3)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)

    call_command("scan_slides", stdout=StringIO())

    assert "Scanning" in terminal.getvalue()
    assert "2/2" in terminal.getvalue()
