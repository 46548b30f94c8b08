"""The export page in a real browser: the ML specialist opens it from the status page, picks
labels and an agreement threshold, watches the preview's counts follow, downloads the zip and
the test opens it; a refused option shows beside its field and holds back the download.

The data are the hand-built export data of tests/exports/conftest.py (its docstring says what
is where)."""

import json
import zipfile

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from exports.models import Export
from tests.exports import conftest as exports_conftest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The export tests' fixtures, which pytest offers only under tests/exports otherwise.
people = exports_conftest.people
other_project = exports_conftest.other_project
export_slides = exports_conftest.export_slides
export_data = exports_conftest.export_data


def preview_ready(page: Page, *, containing: str = "") -> None:
    """Wait until the preview is drawn for the form's current options."""
    page.wait_for_function(
        "(part) => document.body.dataset.previewState === 'ready'"
        " && document.body.dataset.previewQuery.includes(part)",
        arg=containing,
    )


def per_class(page: Page) -> dict[str, str]:
    rows = page.locator("#preview-classes tbody tr[data-class]")
    return {
        row.get_attribute("data-class"): row.locator("[data-features]").inner_text()
        for row in rows.all()
    }


def test_ml_specialist_chooses_sees_the_counts_and_downloads_the_zip(
    log_in, people, export_data, problems, tmp_path, artifacts
):
    page = log_in(people["mlspecialist"], reverse("home"))
    page.screenshot(path=artifacts / "exports-status-page.png", full_page=True)
    project = export_data.project
    page.get_by_role("link", name=f"Export {project.name}").click()
    page.wait_for_url(f"**{reverse('exports:project', args=[project.pk])}")
    preview_ready(page)
    # Completed work under policy "all" (see test_pages): 10 on slides A, B and C.
    expect(page.locator("#preview-features")).to_have_text("10")
    expect(page.locator("#preview-slides")).to_have_text("3")

    tumour, stroma = export_data.labels["Tumour"], export_data.labels["Stroma"]
    page.locator(f"#labels-{tumour.pk}").check()
    page.locator(f"#labels-{stroma.pk}").check()
    preview_ready(page, containing=f"labels={tumour.pk}%2C{stroma.pk}")
    expect(page.locator("#preview-features")).to_have_text("7")
    assert per_class(page) == {"Tumour": "4", "Stroma": "3"}
    expect(page.locator('#preview-dropped [data-reason="label_filtered"]')).to_have_text(
        "3 label not chosen"
    )

    page.get_by_label("Only annotations reviewers agree with, at least").check()
    expect(page.get_by_label("Minimum agreement (0 to 1)")).to_have_value("0.5")
    preview_ready(page, containing="min_agreement=0.5")
    # a1, a4 (Tumour), a2, b2 (Stroma): a3 and b1 at agreement 0, a5, b3, c2 unreviewed.
    expect(page.locator("#preview-features")).to_have_text("4")
    assert per_class(page) == {"Tumour": "2", "Stroma": "2"}
    expect(page.locator('#preview-dropped [data-reason="below_agreement"]')).to_have_text(
        "5 agreement below the threshold"
    )
    # At 1280x800 the preview and its Download button stay beside the options.
    expect(page.locator("#download")).to_be_in_viewport()
    form, preview = page.locator("#export-form").bounding_box(), page.locator("#preview")
    assert preview.bounding_box()["x"] >= form["x"] + form["width"]
    page.screenshot(path=artifacts / "exports-page.png")
    query = f"labels={tumour.pk}%2C{stroma.pk}&min_agreement=0.5"
    assert page.url.endswith(f"?{query}")  # a reload keeps the options
    expect(page.locator("#curl-command")).to_contain_text(
        f'Authorization: Bearer <token>" "{page.url.split("/exports/")[0]}'
        f'{reverse("exports_api:project_zip", args=[project.pk])}?{query}"'
    )

    with page.expect_download() as info:
        page.get_by_role("link", name="Download the zip").click()
    path = tmp_path / "export.zip"
    info.value.save_as(path)

    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        collections = {
            name: json.loads(archive.read(name))
            for name in archive.namelist()
            if name.startswith("annotations/")
        }
    assert manifest["parameters"] == {
        "labels": f"{tumour.pk},{stroma.pk}",
        "min_agreement": "0.5",
    }
    assert manifest["counts"]["features"] == 4
    assert manifest["counts"]["per_class"] == {"Tumour": 2, "Stroma": 2}
    assert manifest["counts"]["dropped"]["below_agreement"] == 5
    features = {
        feature["id"]: feature["properties"]["classification"]["name"]
        for collection in collections.values()
        for feature in collection["features"]
    }
    expected = {name: export_data.annotations[name] for name in ("a1", "a2", "a4", "b2")}
    assert features == {
        str(annotation.uuid): annotation.label.name for annotation in expected.values()
    }
    assert len(collections) == 3  # A and B (same file name) and C, each its own file
    (record,) = Export.objects.all()
    assert record.user == people["mlspecialist"]
    assert record.parameters == manifest["parameters"]

    page.reload()
    preview_ready(page)
    expect(page.locator(f'#export-history tr[data-export="{record.pk}"]')).to_contain_text(
        "agreement ≥ 0.5"
    )
    assert problems == []


def test_refused_threshold_shows_beside_its_field_and_holds_back_the_download(
    log_in, people, export_data, problems
):
    project = export_data.project
    page = log_in(people["mlspecialist"], reverse("exports:project", args=[project.pk]))
    preview_ready(page)

    # Ticking the box fills in 0.5: wait for that preview, so that the one kept is known.
    page.get_by_label("Only annotations reviewers agree with, at least").check()
    preview_ready(page, containing="min_agreement=0.5")
    expect(page.locator("#preview-features")).to_have_text("5")
    page.get_by_label("Minimum agreement (0 to 1)").fill("1.5")

    expect(page.locator("#error-min_agreement")).to_contain_text(
        "min_agreement must be a number from 0 to 1"
    )
    expect(page.locator("#preview-error")).to_be_visible()
    expect(page.locator("#download")).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#preview-features")).to_have_text("5")  # the earlier preview stays

    page.get_by_label("Minimum agreement (0 to 1)").fill("1")
    preview_ready(page, containing="min_agreement=1")
    expect(page.locator("#error-min_agreement")).to_have_text("")
    expect(page.locator("#download")).not_to_have_attribute("aria-disabled", "true")
    # Agreement 1: a1 and the reviewer's missed region m1.
    expect(page.locator("#preview-features")).to_have_text("2")
    assert problems == []
