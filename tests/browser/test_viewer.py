"""The slide viewer in a real browser: tiles load and draw, zoom, scale bar, presets, shortcuts."""

import io
import math
import re
import time

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm
from PIL import Image, ImageStat
from playwright.sync_api import Page, expect

from slides.models import Slide

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMES = "\N{MULTIPLICATION SIGN}"  # the viewer writes magnifications as 20 followed by this

# True once OpenSeadragon has drawn every tile the current view needs and stopped moving.
VIEW_SETTLED = """() => {
    const state = window.wsi2mlViewer;
    const item = state && state.viewer.world.getItemAt(0);
    if (!item || document.body.dataset.viewerReady !== "1") return false;
    const viewport = state.viewer.viewport;
    const springs = [viewport.zoomSpring, viewport.centerSpringX, viewport.centerSpringY];
    return item.getFullyLoaded() && springs.every((spring) => spring.isAtTargetValue());
}"""

IMAGE_ZOOM = """() => {
    const viewer = window.wsi2mlViewer.viewer;
    return viewer.world.getItemAt(0).viewportToImageZoom(viewer.viewport.getZoom(true));
}"""


class TileLog:
    """Every tile response and failed tile request the page sees."""

    def __init__(self, page: Page):
        self.statuses: dict[str, int] = {}
        self.failed: list[str] = []
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_failed)

    def _on_response(self, response) -> None:
        if "_files/" in response.url:
            self.statuses[response.url] = response.status

    def _on_failed(self, request) -> None:
        if "_files/" in request.url:
            self.failed.append(f"{request.url}: {request.failure}")

    def assert_all_served(self) -> None:
        bad = {url: status for url, status in self.statuses.items() if status not in (200, 304)}
        assert self.statuses, "no tile was requested"
        assert not bad, f"tiles not served: {bad}"
        assert not self.failed, f"tile requests failed: {self.failed}"


def wait_until_settled(page: Page, timeout: float = 30) -> None:
    """Wait until the view has stopped moving and shows all its tiles, for three polls in a row."""
    deadline = time.monotonic() + timeout
    settled = 0
    while settled < 3:
        settled = settled + 1 if page.evaluate(VIEW_SETTLED) else 0
        if time.monotonic() > deadline:
            raise AssertionError(f"the viewer did not settle within {timeout} s")
        page.wait_for_timeout(150)


def image_zoom(page: Page) -> float:
    """Screen pixels per level-0 slide pixel in the current view."""
    return page.evaluate(IMAGE_ZOOM)


def tile_failures(page: Page) -> int:
    return page.evaluate("window.wsi2mlViewer.tileFailures")


def assert_image_drawn(page: Page, name: str, artifacts) -> None:
    """Save the viewer's screenshot and check that its centre shows an image, not a flat colour."""
    page.locator("#osd").screenshot(path=artifacts / f"{name}.png")
    box = page.locator("#osd").bounding_box()
    # The centre, away from OpenSeadragon's buttons (top left) and minimap (top right).
    centre = {
        "x": box["x"] + box["width"] / 4,
        "y": box["y"] + box["height"] / 4,
        "width": box["width"] / 2,
        "height": box["height"] / 2,
    }
    image = Image.open(io.BytesIO(page.screenshot(clip=centre))).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    spread = max(ImageStat.Stat(image).stddev)
    assert len(colours) > 500, f"{name}: only {len(colours)} colours, the canvas looks blank"
    assert spread > 10, f"{name}: the canvas is nearly one colour (stddev {spread:.1f})"


def test_it_loads_tiles_and_zooms_in_with_the_wheel(
    page, problems, log_in, live_server, annotator, deep_slide, artifacts
):
    assign_perm("slides.view_slide", annotator, deep_slide)
    log_in(annotator, reverse("slides:list"))
    expect(page.get_by_alt_text(f"Thumbnail of {deep_slide.name}")).to_be_visible()
    page.screenshot(path=artifacts / "slide-list.png")
    tiles = TileLog(page)

    page.get_by_role("link", name=deep_slide.name).click()
    wait_until_settled(page)
    assert_image_drawn(page, "viewer-deep-home", artifacts)
    home_zoom = image_zoom(page)

    box = page.locator("#osd").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(10):
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(120)  # OpenSeadragon ignores wheel events closer than 50 ms
    wait_until_settled(page)

    assert image_zoom(page) > 4 * home_zoom
    assert_image_drawn(page, "viewer-deep-zoomed", artifacts)
    tiles.assert_all_served()
    # Deep Zoom's levels run from 1 px (level 0) to the full resolution at log2 of the longer side.
    top_level = math.ceil(math.log2(max(deep_slide.width, deep_slide.height)))
    full_resolution = [url for url in tiles.statuses if f"_files/{top_level}/" in url]
    assert full_resolution, "no tile of the full-resolution level was fetched"
    assert tile_failures(page) == 0
    assert problems == []


def test_it_shows_a_notice_instead_of_a_scale_bar_without_mpp(
    page, problems, log_in, live_server, annotator, deep_slide
):
    assign_perm("slides.view_slide", annotator, deep_slide)
    log_in(annotator, reverse("slides:viewer", args=[deep_slide.pk]))
    wait_until_settled(page)

    notice = "Scale unknown: this slide does not record microns per pixel"
    expect(page.get_by_text(notice)).to_be_visible()
    expect(page.locator("#scale-bar")).to_be_hidden()
    expect(page.locator("#magnification-presets")).to_be_hidden()
    expect(page.locator("#zoom-readout")).to_have_text(re.compile(r"^\d+%$"))
    assert problems == []


def test_it_zooms_to_a_magnification_preset_with_a_true_scale_bar(
    page, problems, log_in, live_server, annotator, cmu_slide, artifacts
):
    assign_perm("slides.view_slide", annotator, cmu_slide)
    tiles = TileLog(page)
    log_in(annotator, reverse("slides:viewer", args=[cmu_slide.pk]))
    wait_until_settled(page)
    for magnification in (1, 2, 5, 10, 20):
        expect(page.locator(f'[data-magnification="{magnification}"]')).to_be_visible()
    expect(page.locator('[data-magnification="40"]')).to_be_hidden()
    expect(page.get_by_text("Scale unknown")).to_be_hidden()

    preset = page.get_by_role("button", name=f"Magnification 20{TIMES}")
    preset.click()
    wait_until_settled(page)

    assert image_zoom(page) == pytest.approx(1.0, rel=0.01)  # objective power 20: 1 px per px
    expect(page.locator("#zoom-readout")).to_have_text(f"20.0{TIMES}")
    expect(preset).to_have_class(re.compile("active"))
    # 0.499 µm/px at one screen pixel per slide pixel: 50 µm is the largest nice length ≤ 200 px.
    expect(page.locator(".scale-bar-label")).to_have_text("50 µm")
    bar_width = page.locator(".scale-bar-line").bounding_box()["width"]
    assert bar_width == pytest.approx(50 / 0.499, abs=1.5)
    assert_image_drawn(page, "viewer-cmu-20x", artifacts)
    tiles.assert_all_served()
    assert tile_failures(page) == 0
    assert problems == []


def test_its_scale_bar_follows_the_zoom(page, problems, log_in, live_server, annotator, cmu_slide):
    assign_perm("slides.view_slide", annotator, cmu_slide)
    log_in(annotator, reverse("slides:viewer", args=[cmu_slide.pk]))
    wait_until_settled(page)

    for magnification in (5, 10, 20):
        preset = f"Magnification {magnification}{TIMES}"
        page.get_by_role("button", name=preset).click()
        wait_until_settled(page)
        label = page.locator(".scale-bar-label").inner_text()
        value, unit = re.fullmatch(r"([\d.]+) (µm|mm)", label).groups()
        microns = float(value) * (1000 if unit == "mm" else 1)
        width = page.locator(".scale-bar-line").bounding_box()["width"]
        assert 80 <= width <= 200, f"{preset}: the bar is {width} px long"
        assert width * 0.499 / image_zoom(page) == pytest.approx(microns, rel=0.02)
    assert problems == []


def test_its_keys_rotate_once_even_when_the_image_has_focus(
    page, problems, log_in, live_server, annotator, cmu_slide
):
    assign_perm("slides.view_slide", annotator, cmu_slide)
    log_in(annotator, reverse("slides:viewer", args=[cmu_slide.pk]))
    wait_until_settled(page)
    # With the focus on the image, OpenSeadragon's own key handler is live too.
    page.locator("#osd .openseadragon-canvas").first.click()

    page.keyboard.press("r")
    assert page.evaluate("window.wsi2mlViewer.viewer.viewport.getRotation()") == 90
    page.keyboard.press("Shift+R")
    page.keyboard.press("Shift+R")
    assert page.evaluate("window.wsi2mlViewer.viewer.viewport.getRotation()") == -90
    assert page.evaluate("window.wsi2mlViewer.viewer.viewport.getFlip()") is False
    assert problems == []


def test_its_help_overlay_opens_with_question_mark_and_closes_with_escape(
    page, problems, log_in, live_server, annotator, cmu_slide, artifacts
):
    assign_perm("slides.view_slide", annotator, cmu_slide)
    log_in(annotator, reverse("slides:viewer", args=[cmu_slide.pk]))
    wait_until_settled(page)
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")

    page.keyboard.press("?")
    expect(help_dialog).to_be_focused()  # the dialog takes the focus once it has opened
    for action in ("Zoom in", "Rotate 90° clockwise", "Full screen on or off"):
        expect(help_dialog.get_by_text(action, exact=True)).to_be_visible()
    page.screenshot(path=artifacts / "viewer-help.png", animations="disabled")

    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    assert problems == []


def test_it_explains_why_an_unreadable_slide_is_not_shown(
    page, problems, log_in, live_server, annotator, cmu_slide
):
    Slide.objects.filter(pk=cmu_slide.pk).update(status=Slide.Status.MISSING)
    assign_perm("slides.view_slide", annotator, cmu_slide)
    log_in(annotator, reverse("slides:viewer", args=[cmu_slide.pk]))

    expect(page.get_by_role("alert")).to_contain_text("This slide cannot be displayed")
    expect(page.locator("#osd")).to_have_count(0)
    assert problems == []


def test_the_login_form_reports_a_wrong_password(page, live_server, annotator):
    page.goto(live_server.url + reverse("login"))
    page.get_by_label("Username").fill(annotator.get_username())
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")
    expect(page.get_by_label("Username")).to_have_value(annotator.get_username())
