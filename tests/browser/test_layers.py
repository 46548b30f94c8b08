"""Layers of annotations in a real browser: a project manager sees each annotator's layer on the
plain viewer and shows or hides each one, colours them by person, and opens the two layers an
agreement page names; an annotator sees only their own layer; a reviewer sees the work under
review beside their own layer. Drawn counts come from the test hook window.wsi2mlLayers."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from annotations.selectors import person_colour
from tests.browser.pixels import pixel_at_script

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PIXEL_AT = pixel_at_script("wsi2mlLayers")


def viewer_url(data, query: str = "") -> str:
    return reverse("slides:viewer", args=[data["slide"].pk]) + query


def open_layers(log_in, user, path: str) -> Page:
    page = log_in(user, path)
    page.wait_for_function("() => document.body.dataset.layersReady === '1'")
    return page


def layers(page: Page) -> dict:
    return {layer["name"]: layer for layer in page.evaluate("() => window.wsi2mlLayers.summary()")}


def drawn(page: Page) -> dict:
    return {name: layer["drawn"] for name, layer in layers(page).items() if layer["visible"]}


def pixel(page: Page, x: float, y: float) -> tuple[int, int, int]:
    return tuple(page.evaluate(PIXEL_AT, [x, y])[:3])


def colour(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def close(actual, expected, tolerance: int = 4) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def wait_drawn(page: Page, count: int) -> None:
    page.wait_for_function("(n) => window.wsi2mlLayers.drawnCount === n", arg=count)


def test_a_manager_shows_and_hides_each_annotators_layer(
    log_in, manager, reviewed_work, problems, artifacts
):
    data = reviewed_work
    page = open_layers(log_in, manager, viewer_url(data))
    panel = page.locator("#layer-panel")
    rows = panel.locator(".layer-row")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("pathologist · Round 1")
    expect(rows.nth(0)).to_contain_text("4")
    expect(rows.nth(0)).to_contain_text("Read-only")
    expect(rows.nth(1)).to_contain_text("second · Round 1")
    # The reviewer's own layer (missed regions) is one of the project's too: empty so far.
    expect(rows.nth(2)).to_contain_text("reviewer · Round 1 review")
    expect(rows.nth(2)).to_contain_text("0")
    assert drawn(page) == {
        "pathologist · Round 1": 4,
        "second · Round 1": 1,
        "reviewer · Round 1 review": 0,
    }
    page.screenshot(path=artifacts / "layers-manager.png")

    mine = panel.get_by_role("checkbox", name="Show pathologist · Round 1")
    theirs = panel.get_by_role("checkbox", name="Show second · Round 1")
    mine.uncheck()
    wait_drawn(page, 1)
    assert drawn(page) == {"second · Round 1": 1, "reviewer · Round 1 review": 0}
    assert pixel(page, 150, 250) == (0, 0, 0)
    theirs.uncheck()
    wait_drawn(page, 0)
    mine.check()
    wait_drawn(page, 4)
    assert drawn(page) == {"pathologist · Round 1": 4, "reviewer · Round 1 review": 0}
    assert problems == []


def test_colours_by_person_and_opacity_apply_to_every_layer(
    log_in, manager, reviewed_work, problems
):
    data = reviewed_work
    page = open_layers(log_in, manager, viewer_url(data))
    assert close(pixel(page, 150, 250), colour(data["labels"]["Tumour"].colour))
    assert close(pixel(page, 150, 550), colour(data["labels"]["Stroma"].colour))

    page.locator("#layer-panel").get_by_role("radio", name="Colour by Person").check()
    page.wait_for_function("() => window.wsi2mlLayers.colourBy === 'person'")
    page.wait_for_timeout(100)
    assert close(pixel(page, 150, 250), colour(person_colour(data["pathologist"].pk)))
    assert close(pixel(page, 150, 550), colour(person_colour(data["second"].pk)))

    before = page.evaluate(PIXEL_AT, [150, 250])[3]
    page.get_by_label("Opacity of pathologist · Round 1").fill("20")
    page.wait_for_timeout(100)
    after = page.evaluate(PIXEL_AT, [150, 250])[3]
    assert 0 < after < before / 2
    assert problems == []


def test_the_layers_named_in_the_address_are_shown_at_first(
    log_in, manager, reviewed_work, problems
):
    data = reviewed_work
    page = open_layers(log_in, manager, viewer_url(data, f"?layers=assignment-{data['theirs'].pk}"))
    assert drawn(page) == {"second · Round 1": 1}
    expect(page.get_by_role("checkbox", name="Show pathologist · Round 1")).not_to_be_checked()
    assert problems == []


def test_an_annotator_sees_only_their_own_layer(log_in, reviewed_work, problems):
    data = reviewed_work
    page = open_layers(log_in, data["pathologist"], viewer_url(data))
    rows = page.locator("#layer-panel .layer-row")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Yours, read-only: open it with Annotate to edit it")
    assert drawn(page) == {"pathologist · Round 1": 4}

    page.get_by_role("link", name="Annotate").click()
    page.wait_for_function("() => document.body.dataset.layersReady === '1'")
    rows = page.locator("#layer-panel .layer-row")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Yours (editable)")
    assert drawn(page) == {"pathologist · Round 1": 4}
    assert problems == []


def test_a_reviewer_sees_the_work_under_review_beside_their_own_layer(
    log_in, reviewer, reviewed_work, problems
):
    data = reviewed_work
    path = reverse("review:work", args=[data["review"].pk, data["slide"].pk])
    page = open_layers(log_in, reviewer, path)
    names = [layer["name"] for layer in page.evaluate("() => window.wsi2mlLayers.summary()")]
    assert names == [
        "Yours: missed regions (added in review)",
        "Your corrected regions",
        "pathologist · Round 1",
        "second · Round 1",
    ]
    assert drawn(page) == {
        "Yours: missed regions (added in review)": 0,
        "Your corrected regions": 0,
        "pathologist · Round 1": 4,
        "second · Round 1": 1,
    }
    own = page.locator("#layer-panel .layer-own")
    expect(own).to_contain_text("Yours (editable)")
    assert problems == []
