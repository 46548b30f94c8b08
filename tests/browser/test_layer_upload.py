"""Uploading a model layer in a real browser: the ML specialist opens the project's layers page
from their home page, uploads a GeoJSON of detections for one slide, finds it listed ready,
and on the layer's page maps its unknown class to one of the project's labels."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from layers.models import Layer, LayerFeature
from tests.layers import conftest as layers_conftest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The layer tests' fixtures, which pytest offers only under tests/layers otherwise.
slides = layers_conftest.slides
task = layers_conftest.task
ml_specialist = layers_conftest.ml_specialist
upload_dir = layers_conftest.upload_dir


def test_ml_specialist_uploads_a_layer_and_maps_its_class(
    log_in, ml_specialist, task, slides, project, problems, tmp_path, artifacts
):
    path = tmp_path / "hovernet-run-3.geojson"
    path.write_bytes(layers_conftest.collection(layers_conftest.detections(6, cls="tumor cell")))
    page = log_in(ml_specialist, reverse("home"))
    page.get_by_role("link", name=f"Model layers of {project.name}").click()
    page.wait_for_url(f"**{reverse('layers:project_page', args=[project.pk])}")

    form = page.locator("#upload-form")
    form.get_by_label("Slide").select_option(label=slides[1].name)
    form.get_by_label("File").set_input_files(path)
    form.get_by_role("button", name="Upload").click()

    page.wait_for_url("**#layer-*")
    layer = Layer.objects.get()
    row = page.locator(f"#layer-{layer.pk}")
    expect(row).to_contain_text("hovernet-run-3")
    expect(row.locator(".layer-state")).to_have_text("Ready")
    expect(row.locator("[data-count]")).to_have_text("6")
    expect(row).to_contain_text("1 class without a label")
    expect(page.locator(f'tbody[data-slide="{slides[1].pk}"]')).to_contain_text("hovernet-run-3")
    page.screenshot(path=artifacts / "layers-project-page.png", full_page=True)

    row.get_by_role("link", name="hovernet-run-3", exact=True).click()
    page.wait_for_url(f"**{reverse('layers:layer_page', args=[layer.pk])}")
    tumour = project.labels.get(name="Tumour")
    page.get_by_label("Map “tumor cell” to").select_option(label="Tumour")
    page.get_by_role("button", name="Save the mapping").click()

    expect(page.get_by_role("status")).to_contain_text("are mapped")
    expect(page.locator('tr[data-class="tumor cell"] [data-label]')).to_have_text("Tumour")
    page.screenshot(path=artifacts / "layers-layer-page.png", full_page=True)
    labels = set(LayerFeature.objects.filter(layer=layer).values_list("label_id", flat=True))
    assert labels == {tumour.pk}
    assert problems == []
