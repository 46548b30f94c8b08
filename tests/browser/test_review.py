"""The review in a real browser: the reviewer steps through the annotations under review and
gives one-key verdicts (agree, relabel, a corrected region dragged from a copy, reject, a
comment), adds a missed region, marks the slide reviewed or sends it back; the pathologist then
reads the feedback on their own slide. What was stored is read back through the ORM."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from annotations.models import Annotation
from review.models import SendBack, Verdict
from tasks.models import AssignmentSlide

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SETTLED = """() => {
    const { viewer } = window.wsi2mlViewer;
    const viewport = viewer.viewport;
    const springs = [viewport.zoomSpring, viewport.centerSpringX, viewport.centerSpringY];
    return springs.every((spring) => spring.isAtTargetValue());
}"""


def review_url(data) -> str:
    return reverse("review:work", args=[data["review"].pk, data["slide"].pk])


def work_url(assignment, slide) -> str:
    return reverse("annotations:work", args=[assignment.pk, slide.pk])


def wait_ready(page: Page) -> None:
    page.wait_for_function(
        "() => document.body.dataset.reviewReady === '1'"
        " && document.body.dataset.annotationsReady === '1'"
        " && document.body.dataset.layersReady === '1'"
    )


def open_review(log_in, reviewer, data) -> Page:
    """Open the review as a reviewer does: the status page's Continue."""
    page = log_in(reviewer, reverse("home"))
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"**{review_url(data)}")
    wait_ready(page)
    return page


def review(page: Page) -> dict:
    return page.evaluate("() => window.wsi2mlReview.summary()")


def at(page: Page, x: float, y: float) -> tuple[float, float]:
    return tuple(page.evaluate("([x, y]) => window.wsi2mlEditor.toScreen(x, y)", [x, y]))


def settle(page: Page) -> None:
    page.wait_for_function(SETTLED)
    page.wait_for_timeout(100)


def verdicts_saved(page: Page, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "() => document.body.dataset.verdictState === 'saved'"
        " && window.wsi2mlReview.summary().queued === 0",
        timeout=timeout,
    )


def annotations_saved(page: Page) -> None:
    page.wait_for_function(
        "() => document.body.dataset.saveState === 'saved'"
        " && window.wsi2mlEditor.summary().queued === 0"
    )


def current(page: Page) -> int:
    return review(page)["annotation"]


def near(vertex, expected, tolerance: float = 4) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(vertex, expected, strict=True))


def verdict_of(annotation: Annotation) -> Verdict:
    return Verdict.objects.current().get(annotation=annotation)


def test_a_reviewer_reviews_a_slide_and_the_pathologist_reads_the_feedback(
    log_in, reviewer, reviewed_work, problems, artifacts
):
    data = reviewed_work
    first, second, third, fourth = data["annotations"]
    stroma = data["labels"]["Stroma"]
    page = open_review(log_in, reviewer, data)
    panel = page.locator("#review-panel")
    expect(panel.locator("#review-progress")).to_have_text("0 of 5 reviewed")
    expect(panel.locator("#review-item-title")).to_have_text("Polygon 1 by pathologist")
    assert current(page) == first.pk

    # A: agree, and the page goes on to the next.
    page.keyboard.press("a")
    expect(panel.locator("#review-item-title")).to_have_text("Polygon 2 by pathologist")
    expect(panel.locator("#review-progress")).to_have_text("1 of 5 reviewed")

    # L: the label picker; the label's key relabels.
    page.keyboard.press("l")
    expect(page.locator("#review-label-picker")).to_be_visible()
    expect(page.locator("#review-label-picker [data-relabel]").first).to_be_disabled()
    page.keyboard.press("2")
    expect(panel.locator("#review-item-title")).to_have_text("Polygon 3 by pathologist")
    assert current(page) == third.pk
    settle(page)

    # R: a copy of the region to correct with the editor's tools; drag one corner out.
    page.keyboard.press("r")
    page.wait_for_function("() => window.wsi2mlReview.summary().correcting")
    page.mouse.move(*at(page, 600, 300))
    page.mouse.down()
    page.mouse.move(*at(page, 640, 340), steps=5)
    page.mouse.move(*at(page, 650, 350), steps=5)
    page.mouse.up()
    page.locator("#osd").screenshot(path=artifacts / "review-correcting.png")
    page.keyboard.press("Enter")
    expect(panel.locator("#review-item-title")).to_have_text("Polygon 4 by pathologist")

    # X: reject; K goes back to it; C and typing a comment (its letters are no verdicts).
    page.keyboard.press("x")
    expect(panel.locator("#review-item-title")).to_have_text("Polygon 1 by second")
    page.keyboard.press("k")
    expect(panel.locator("#review-item-title")).to_have_text("Polygon 4 by pathologist")
    page.keyboard.press("c")
    expect(page.locator("#review-comment")).to_be_focused()
    page.keyboard.type("A fold, not a lesion")
    page.keyboard.press("Control+Enter")
    verdicts_saved(page)
    assert review(page)["reviewed"] == 4

    # A missed region, on the reviewer's own layer, from the whole slide's view (H).
    page.keyboard.press("Escape")
    page.keyboard.press("h")
    settle(page)
    page.keyboard.press("g")
    page.mouse.move(*at(page, 900, 600))
    page.mouse.down()
    page.mouse.move(*at(page, 1000, 700), steps=5)
    page.mouse.up()
    annotations_saved(page)
    settle(page)
    page.screenshot(path=artifacts / "review-page.png")

    page.get_by_role("button", name="Mark slide reviewed…").click()
    dialog = page.get_by_role("dialog", name="Mark “case-1.tiff” reviewed?")
    expect(dialog).to_contain_text("4 of 5 reviewed: 1 annotation has no verdict yet.")
    dialog.get_by_role("button", name="Mark reviewed").click()
    expect(page.locator("#reviewed-badge")).to_have_text("Reviewed")
    wait_ready(page)
    expect(page.locator("#review-panel [data-verdict=agree]")).to_be_disabled()

    assert verdict_of(first).kind == Verdict.Kind.AGREE
    assert (verdict_of(second).kind, verdict_of(second).label) == ("wrong_label", stroma)
    corrected = verdict_of(third)
    assert corrected.kind == Verdict.Kind.WRONG_REGION
    assert any(near(vertex, (650, 350)) for vertex in corrected.geometry["coordinates"][0])
    assert not any(near(vertex, (600, 300)) for vertex in corrected.geometry["coordinates"][0])
    third.refresh_from_db()
    assert [600, 300] in third.geometry["coordinates"][0], "the original is never changed"
    rejected = verdict_of(fourth)
    assert (rejected.kind, rejected.comment) == ("reject", "A fold, not a lesion")
    missed = Annotation.objects.get(assignment=data["review"])
    assert (missed.x0, missed.y0, missed.x1, missed.y1) == pytest.approx(
        (900, 600, 1000, 700), abs=3
    )
    item = AssignmentSlide.objects.get(assignment=data["review"])
    assert item.state == AssignmentSlide.State.DONE

    # The pathologist opens their slide and reads what the reviewer said.
    page = log_in(data["pathologist"], work_url(data["mine"], data["slide"]))
    page.wait_for_function("() => document.body.dataset.annotationsReady === '1'")
    feedback = page.locator("#feedback-list")
    expect(feedback.locator("li")).to_have_count(4)
    for text in [
        "Agreed",
        "Wrong label → Stroma",
        "Wrong region (corrected region dashed)",
        "Rejected: not a finding",
        "A fold, not a lesion",
        "by reviewer",
    ]:
        expect(feedback).to_contain_text(text)
    expect(page.locator("#feedback-summary")).to_contain_text("1 agreed")
    expect(page.locator("#annotation-list .verdict-badge")).to_have_count(4)
    layers = page.evaluate("() => window.wsi2mlLayers.summary()")
    corrections = next(layer for layer in layers if layer["kind"] == "corrections")
    assert corrections["features"] == 1 and corrections["drawn"] == 1
    feedback.get_by_role("button", name="Rejected").click()
    page.wait_for_function(
        "(id) => window.wsi2mlEditor.editor.store.get(window.wsi2mlEditor.summary().selected)"
        "?.id === id",
        arg=fourth.pk,
    )
    page.screenshot(path=artifacts / "review-feedback.png")
    assert problems == []


def test_a_slide_sent_back_tells_the_annotator_why(
    log_in, reviewer, reviewed_work, problems, artifacts
):
    data = reviewed_work
    theirs = data["theirs"].assignment_slides.get()
    theirs.state = AssignmentSlide.State.DONE
    theirs.save()
    page = open_review(log_in, reviewer, data)

    page.get_by_role("button", name="Send back…").click()
    dialog = page.get_by_role("dialog", name="Send “case-1.tiff” back")
    dialog.get_by_label("Whose work").select_option(label="second · Round 1")
    dialog.get_by_role("button", name="Send back").click()
    expect(dialog.locator("#send-back-error")).to_have_text(
        "Say why: the annotator reads this note."
    )
    assert not SendBack.objects.exists(), "nothing is sent without a note"
    dialog.get_by_label("Why (the annotator reads this)").fill("The lower margin is missing.")
    dialog.get_by_role("button", name="Send back").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#review-sent-back")).to_contain_text(
        "Sent back to second: The lower margin is missing."
    )
    sent = SendBack.objects.get()
    assert (sent.assignment, sent.note) == (data["theirs"], "The lower margin is missing.")
    theirs.refresh_from_db()
    assert theirs.state == AssignmentSlide.State.IN_PROGRESS

    page = log_in(data["second"], work_url(data["theirs"], data["slide"]))
    page.wait_for_function("() => document.body.dataset.annotationsReady === '1'")
    alert = page.locator("#sent-back")
    expect(alert).to_contain_text("Sent back to you by reviewer")
    expect(alert).to_contain_text("The lower margin is missing.")
    page.get_by_role("link", name="Sent back: see why").click()
    expect(alert).to_be_in_viewport()
    page.screenshot(path=artifacts / "review-sent-back.png")
    assert problems == []


def test_a_failed_verdict_is_retried_and_a_refused_one_is_said(
    log_in, reviewer, reviewed_work, problems
):
    data = reviewed_work
    first, second = data["annotations"][:2]
    page = open_review(log_in, reviewer, data)
    # The server fails until the page has said so: a single failure would leave the "failed"
    # state to a one-second window before the retry, which a loaded machine can miss.
    down = {"now": True}

    def fail_while_down(route):
        if down["now"]:
            route.fulfill(status=503, content_type="application/json", body='{"error": "Down"}')
        else:
            route.continue_()

    page.route("**/verdict", fail_while_down)
    page.keyboard.press("a")
    page.wait_for_function("() => document.body.dataset.verdictState === 'failed'")
    expect(page.locator("#review-save-state")).to_have_text("Verdicts failed – retrying (1)")
    assert not Verdict.objects.filter(annotation=first).exists()
    down["now"] = False
    # The outbox backs off 1, 2, 4, 8, 15 s between tries: on a loaded machine the try after
    # the server is back can come 15 s later, and its answer later still.
    verdicts_saved(page, timeout=60_000)
    assert verdict_of(first).kind == Verdict.Kind.AGREE

    refusal = '{"error": "No such annotation under this review."}'
    page.route(
        "**/verdict",
        lambda route: route.fulfill(status=404, content_type="application/json", body=refusal),
    )
    page.keyboard.press("x")
    expect(page.locator("#review-message")).to_have_text(
        "A verdict was not saved: No such annotation under this review."
    )
    page.wait_for_function("() => window.wsi2mlReview.summary().reviewed === 1")
    assert not Verdict.objects.filter(annotation=second).exists()
    assert problems == []


def test_only_the_reviewer_opens_their_review_page(log_in, reviewed_work, live_server, page):
    data = reviewed_work
    log_in(data["pathologist"], "/")
    response = page.goto(f"{live_server.url}{review_url(data)}")
    assert response.status == 404
