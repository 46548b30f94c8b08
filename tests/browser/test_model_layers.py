"""A model's layer on the annotator's work page, in a real browser: uploaded through the API in
the set-up, it is listed in the layer panel beside the annotator's own layer, shown and hidden,
coloured by its score on viridis with a legend, filtered by a score threshold at once, compared
with the annotator's annotations (a false negative stepped to and outlined), and one of its
features taken into the annotator's annotations, which is still there after a reload. Counts
come from the test hooks window.wsi2mlModelLayers and window.wsi2mlEditor."""

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect

from annotations.models import Annotation
from layers.models import Layer
from tasks import roles
from tests import factories
from tests.browser.pixels import pixel_at_script
from tests.layers.conftest import collection, feature, square, upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PIXEL_AT = pixel_at_script("wsi2mlLayers")
VIRIDIS = [
    (68, 1, 84),
    (71, 45, 123),
    (59, 82, 139),
    (44, 114, 142),
    (33, 145, 140),
    (40, 174, 128),
    (94, 201, 98),
    (173, 220, 48),
    (253, 231, 37),
]


def viridis(t: float) -> tuple[int, int, int]:
    """modellayers.js's colour of ``t``, rounded to its 64 steps."""
    t = round(t * 63) / 63
    at = t * (len(VIRIDIS) - 1)
    low = int(at)
    high = min(len(VIRIDIS) - 1, low + 1)
    f = at - low
    return tuple(
        round(VIRIDIS[low][i] + (VIRIDIS[high][i] - VIRIDIS[low][i]) * f) for i in range(3)
    )


def close(actual, expected, tolerance: int = 6) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def detection(x: float, y: float, score: float) -> dict:
    return feature(
        square(x, y),
        objectType="detection",
        classification={"name": "Tumour", "color": [200, 0, 0]},
        measurements={"score": score},
    )


@pytest.fixture
def model_work(slides_root, project, annotator, admin_user, tmp_path, settings):
    """A 1200x800 slide of the project in "Round 1", annotated by annotator (Tumour squares at
    (100, 100) and (500, 500)); a model's layer of three Tumour detections, uploaded through the
    API by the project's ML specialist: at (100, 100) scoring 0.9 (the annotator's first square),
    at (400, 100) scoring 0.3 and at (700, 100) scoring 0.6 (neither annotated)."""
    settings.LAYER_UPLOAD_DIR = tmp_path / "layer-uploads"
    tumour = project.labels.get(name="Tumour")
    slide = factories.slide_create(slides_root, "case-7.tiff", 1200, 800, seed=3)
    _task, (mine,) = factories.annotation_task_create(
        project=project, name="Round 1", slides=[slide], annotators=[annotator], actor=admin_user
    )
    found = factories.annotation_draw(
        assignment=mine, slide=slide, label=tumour, geometry=factories.square(100, 100)
    )
    missed = factories.annotation_draw(
        assignment=mine, slide=slide, label=tumour, geometry=factories.square(500, 500)
    )
    ml = factories.user_create("ml", role=roles.ML_SPECIALIST)
    project.members.add(ml)
    client = Client()
    client.force_login(ml)
    content = collection(
        [detection(100, 100, 0.9), detection(400, 100, 0.3), detection(700, 100, 0.6)]
    )
    response = upload(client, slide, content, name="tumour-model.geojson")
    assert response.status_code == 201, response.content
    layer = Layer.objects.get(pk=response.json()["layer"]["layer"])
    by_x = {f.x0: f for f in layer.features.all()}
    return {
        "slide": slide,
        "mine": mine,
        "tumour": tumour,
        "layer": layer,
        "found": found,
        "missed": missed,
        "features": {x: by_x[x] for x in (100.0, 400.0, 700.0)},
    }


def open_work(log_in, user, data) -> Page:
    path = reverse("annotations:work", args=[data["mine"].pk, data["slide"].pk])
    page = log_in(user, path)
    page.wait_for_function(
        "() => document.body.dataset.annotationsReady === '1'"
        " && document.body.dataset.modelLayersReady === '1'"
    )
    return page


def model(page: Page) -> dict:
    (layer,) = page.evaluate("() => window.wsi2mlModelLayers.summary()")
    return layer


def wait_drawn(page: Page, count: int) -> None:
    page.wait_for_function("(n) => window.wsi2mlModelLayers.summary()[0].drawn === n", arg=count)


def pixel(page: Page, x: float, y: float) -> tuple[int, int, int]:
    return tuple(page.evaluate(PIXEL_AT, [x, y])[:3])


def test_an_annotator_sees_styles_compares_and_promotes_a_model_layer(
    log_in, annotator, model_work, problems, artifacts
):
    data = model_work
    layer = data["layer"]
    page = open_work(log_in, annotator, data)
    panel = page.locator("#layer-panel")
    row = panel.locator(f'.layer-row[data-layer="layer-{layer.pk}"]')
    expect(row).to_contain_text("tumour-model")
    expect(row).to_contain_text("Model predictions · read-only")
    expect(row.locator(".layer-count")).to_have_text("3")
    assert model(page)["drawn"] == 3
    tumour = tuple(int(data["tumour"].colour[i : i + 2], 16) for i in (1, 3, 5))
    assert close(pixel(page, 750, 150), tumour)
    page.screenshot(path=artifacts / "model-layer-panel.png")

    # Shown and hidden like any layer.
    toggle = panel.get_by_role("checkbox", name="Show tumour-model")
    toggle.uncheck()
    wait_drawn(page, 0)
    assert pixel(page, 750, 150) == (0, 0, 0)
    toggle.check()
    wait_drawn(page, 3)

    # Coloured by score: 0.6 is halfway between the layer's 0.3 and 0.9.
    panel.get_by_label("Colour by of tumour-model").select_option("score")
    legend = row.locator(".model-legend")
    expect(legend).to_be_visible()
    expect(legend).to_contain_text("0.300")
    expect(legend).to_contain_text("0.900")
    page.wait_for_function("() => window.wsi2mlModelLayers.summary()[0].colourBy === 'score'")
    page.wait_for_timeout(100)
    assert close(pixel(page, 750, 150), viridis(0.5))
    assert close(pixel(page, 450, 150), viridis(0))

    # The threshold hides what scores below it at once, with no new request.
    threshold = panel.get_by_label("Score at least of tumour-model")
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    threshold.fill("0.5")
    wait_drawn(page, 2)
    assert pixel(page, 450, 150) == (0, 0, 0)
    assert close(pixel(page, 750, 150), viridis(0.5))
    assert not [url for url in requests if "/features" in url]

    # Compared with the annotator's own layer, at the threshold: the detection at 0.6 is a
    # false positive, the square at (500, 500) a false negative.
    row.locator("summary", has_text="Compare with").click()
    expect(panel.get_by_label("Reference of tumour-model")).to_contain_text("Yours (Round 1)")
    row.get_by_role("button", name="Compare").click()
    expect(row.locator(".model-metrics")).to_contain_text("Tumour")
    metrics = page.evaluate(f"() => window.wsi2mlModelLayers.metrics('layer-{layer.pk}')")
    assert metrics["total"]["falsePositives"] == [data["features"][700.0].pk]
    assert metrics["total"]["falseNegatives"] == [data["missed"].pk]
    assert metrics["total"]["precision"] == 0.5 and metrics["total"]["recall"] == 0.5
    panel.get_by_label("Step through of tumour-model").select_option("fn")
    row.get_by_role("button", name="Next").click()
    page.wait_for_function(
        "(id) => window.wsi2mlModelLayers.highlight()?.id === id", arg=data["missed"].pk
    )
    assert page.evaluate("() => window.wsi2mlModelLayers.highlight().kind") == "fn"
    expect(row.locator(".model-step-where")).to_contain_text("False negative 1 of 1")
    page.wait_for_timeout(600)  # the flight to it
    assert close(pixel(page, 500, 550), (255, 140, 0), tolerance=40)  # its outline, orange
    page.screenshot(path=artifacts / "model-layer-false-negative.png")

    # A click on the false positive shows its card; it becomes the annotator's annotation.
    page.keyboard.press("h")
    page.wait_for_timeout(600)
    x, y = page.evaluate("() => window.wsi2mlLayers.toScreen(750, 150)")
    page.mouse.click(x, y)
    card = page.locator("#feature-card")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Tumour")
    expect(card).to_contain_text("0.600")
    card.get_by_role("button", name="Add to my annotations").click()
    expect(card.get_by_role("status")).to_have_text("Added to your annotations.")
    promoted = Annotation.objects.get(origin=Annotation.Origin.MODEL)
    assert promoted.assignment == data["mine"] and promoted.author == annotator
    assert promoted.label == data["tumour"]
    assert promoted.origin_detail["feature"] == data["features"][700.0].pk
    assert promoted.origin_detail["layerName"] == "tumour-model"
    ids = [f["id"] for f in page.evaluate("() => window.wsi2mlEditor.features()")]
    assert promoted.pk in ids

    page.reload()
    page.wait_for_function(
        "() => document.body.dataset.annotationsReady === '1'"
        " && document.body.dataset.modelLayersReady === '1'"
    )
    ids = [f["id"] for f in page.evaluate("() => window.wsi2mlEditor.features()")]
    assert sorted(ids) == sorted([data["found"].pk, data["missed"].pk, promoted.pk])
    assert promoted.geometry == square(700, 100)
    assert problems == []


def test_the_slide_viewer_lists_each_layers_import_state(log_in, annotator, model_work, problems):
    data = model_work
    ready = data["layer"]
    failed = Layer.objects.create(
        slide=data["slide"],
        project=ready.project,
        name="broken-model",
        uploaded_by=ready.uploaded_by,
        state=Layer.State.FAILED,
        message="features[3].geometry: not closed",
    )
    importing = Layer.objects.create(
        slide=data["slide"],
        project=ready.project,
        name="big-model",
        uploaded_by=ready.uploaded_by,
        state=Layer.State.IMPORTING,
    )
    page = log_in(annotator, reverse("slides:viewer", args=[data["slide"].pk]))
    page.wait_for_function("() => document.body.dataset.modelLayersReady === '1'")
    panel = page.locator("#layer-panel")

    def row(layer):
        return panel.locator(f'.layer-row[data-layer="layer-{layer.pk}"]')

    expect(row(ready)).to_contain_text("Model predictions · read-only")
    expect(row(ready).get_by_label("Colour by of tumour-model")).to_be_visible()
    expect(row(failed)).to_contain_text("import failed: features[3].geometry: not closed")
    expect(row(importing)).to_contain_text("importing…")
    expect(row(importing).locator(".model-controls")).to_be_hidden()
    states = {layer["name"]: layer["state"] for layer in model_summary(page)}
    assert states == {"tumour-model": "ready", "broken-model": "failed", "big-model": "importing"}
    assert next(s for s in model_summary(page) if s["name"] == "tumour-model")["drawn"] == 3

    # The import ends while the page is open: the page asks again and draws the layer.
    importing.state, importing.feature_count = Layer.State.FAILED, 0
    importing.message = "The worker stopped."
    importing.save()
    expect(row(importing)).to_contain_text("import failed: The worker stopped.", timeout=8000)
    assert problems == []


def model_summary(page: Page) -> list[dict]:
    return page.evaluate("() => window.wsi2mlModelLayers.summary()")
