"""``load_demo``: a demo slide when there is none, a scan, two accounts, and the demo pyramid."""

import re
from functools import partial
from io import StringIO

import numpy as np
import openslide
import pytest
import tifffile
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from slides import demo
from slides.models import Slide
from slides.permissions import user_can_view_slide
from tests import factories

pytestmark = pytest.mark.django_db

DEMO_PATH = "demo/synthetic-tissue.tiff"


@pytest.fixture
def small_demo(monkeypatch):
    """Draw a smaller demo slide, so that these tests stay quick."""
    monkeypatch.setattr(
        demo, "write_demo_slide", partial(demo.write_demo_slide, width=1024, height=768)
    )


def load_demo() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def passwords_in(output: str) -> dict[str, str]:
    """The passwords printed for each username, leaving out those said to be unchanged."""
    found = dict(re.findall(r"username: (\S+)\s+password: (\S+)", output))
    return {username: password for username, password in found.items() if password != "unchanged"}


def test_it_draws_and_registers_a_demo_slide_in_an_empty_root(slides_root, small_demo):
    output = load_demo()

    slide = Slide.objects.get()
    assert slide.path == DEMO_PATH
    assert slide.status == Slide.Status.OK
    assert (slide.width, slide.height) == (1024, 768)
    assert slide.mpp == pytest.approx(demo.DEMO_MPP)
    assert "1 created" in output


def test_it_creates_the_root_when_it_does_not_exist(tmp_path, settings, small_demo):
    settings.SLIDES_ROOT = tmp_path / "not" / "yet" / "there"

    load_demo()

    assert (tmp_path / "not" / "yet" / "there" / DEMO_PATH).is_file()


def test_it_registers_existing_slides_instead_of_drawing_one(slides_root, monkeypatch):
    factories.write_pyramid_tiff(slides_root / "mine" / "case.tiff", 600, 400)

    def must_not_draw(path):
        raise AssertionError("a demo slide was drawn although slides exist")

    monkeypatch.setattr(demo, "write_demo_slide", must_not_draw)
    load_demo()

    assert list(Slide.objects.values_list("path", flat=True)) == ["mine/case.tiff"]


def test_it_creates_an_administrator_and_a_pathologist(slides_root, small_demo, settings):
    settings.DEMO_PASSWORD = ""

    output = load_demo()

    users = get_user_model().objects
    admin, pathologist = users.get(username="admin"), users.get(username="pathologist")
    assert admin.is_superuser and admin.is_staff
    assert not pathologist.is_superuser and not pathologist.is_staff
    passwords = passwords_in(output)
    assert passwords["admin"] == passwords["pathologist"]
    assert len(passwords["admin"]) >= 12
    assert authenticate(username="pathologist", password=passwords["pathologist"]) == pathologist
    assert "http://127.0.0.1:8000/" in output


def test_the_pathologist_may_see_every_slide(slides_root, small_demo):
    load_demo()

    pathologist = get_user_model().objects.get(username="pathologist")
    outsider = factories.user_create("outsider")
    slide = Slide.objects.get()
    assert user_can_view_slide(pathologist, slide)
    assert not user_can_view_slide(outsider, slide)


def test_running_it_again_changes_nothing(slides_root, small_demo, settings):
    settings.DEMO_PASSWORD = ""
    first = passwords_in(load_demo())

    again = load_demo()

    assert Slide.objects.count() == 1
    assert get_user_model().objects.count() == 2
    assert "0 created" in again and "1 unchanged" in again
    assert "unchanged (set DEMO_PASSWORD" in again
    assert authenticate(username="admin", password=first["admin"]) is not None


def test_new_slides_are_granted_on_the_next_run(slides_root, small_demo):
    load_demo()
    factories.write_pyramid_tiff(slides_root / "later.tiff", 600, 400)

    load_demo()

    pathologist = get_user_model().objects.get(username="pathologist")
    later = Slide.objects.get(path="later.tiff")
    assert user_can_view_slide(pathologist, later)


def test_demo_password_setting_sets_every_demo_password(slides_root, small_demo, settings):
    settings.DEMO_PASSWORD = ""
    load_demo()
    settings.DEMO_PASSWORD = "demo-passphrase-1"

    output = load_demo()

    assert passwords_in(output) == {
        "admin": "demo-passphrase-1",
        "pathologist": "demo-passphrase-1",
    }
    for username in ("admin", "pathologist"):
        assert authenticate(username=username, password="demo-passphrase-1") is not None


def test_an_existing_account_keeps_its_password_and_flags(slides_root, small_demo, settings):
    settings.DEMO_PASSWORD = ""
    existing = factories.user_create("admin")

    output = load_demo()

    existing.refresh_from_db()
    assert not existing.is_superuser
    assert authenticate(username="admin", password=factories.PASSWORD) == existing
    assert "admin" not in passwords_in(output)
    assert "pathologist" in passwords_in(output)


def test_the_full_size_demo_slide_is_a_tiled_pyramid(tmp_path):
    path = demo.write_demo_slide(tmp_path / "demo.tiff")

    with openslide.OpenSlide(path) as osr:
        assert osr.properties[openslide.PROPERTY_NAME_VENDOR] == "generic-tiff"
        assert osr.dimensions == (demo.DEMO_WIDTH, demo.DEMO_HEIGHT)
        assert osr.level_count == 5
        assert float(osr.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.5)
        overview = osr.get_thumbnail((256, 256)).convert("RGB")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert (page.tilewidth, page.tilelength) == (256, 256)
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert [p.subfiletype for p in tif.pages] == [0, 1, 1, 1, 1]
    assert not list(tmp_path.glob(".*.partial"))
    red, green, blue = np.asarray(overview, dtype=float).mean(axis=(0, 1))
    assert red > green and blue > green  # pink and purple tissue on white glass


def test_the_demo_slide_is_deterministic(tmp_path):
    first = demo.write_demo_slide(tmp_path / "a.tiff", width=512, height=512)
    second = demo.write_demo_slide(tmp_path / "b.tiff", width=512, height=512)
    other = demo.write_demo_slide(tmp_path / "c.tiff", width=512, height=512, seed=8)

    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
