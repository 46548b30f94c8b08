"""The layers pages: who gets which page (persona × page), uploads through the forms (one file,
a zip, a refused file storing nothing, a large file's job), deletion after a confirmation, and
mapping a layer's classes to labels on its page and with ``PATCH /api/layers/<id>``."""

import io
import json
import zipfile

import pytest
from django.urls import reverse

from jobs.services import job_run
from layers import services
from layers.models import Layer, LayerFeature
from tasks.models import Label, Project
from tests import factories
from tests.layers.conftest import collection, detections, feature, square, stored, upload
from wsi2ml.tokens import api_token_create

pytestmark = pytest.mark.django_db

PAGES = ("project", "slide upload", "layer", "delete")
# persona: status of GET (project page, slide upload page, layer page, delete confirmation)
EXPECTED = {
    "admin": (200, 200, 200, 200),
    "manager": (200, 200, 200, 200),
    "ml specialist": (200, 200, 200, 200),
    # they see the layer beside their work, but neither upload nor delete
    "annotator": (404, 404, 200, 403),
    "reviewer": (404, 404, 200, 403),
    "other annotator": (404, 404, 404, 404),
    "outsider": (404, 404, 404, 404),
}


@pytest.fixture
def world(slides, task, admin_user, manager, ml_specialist, annotator, reviewer, other_annotator):
    return {
        "anonymous": None,
        "admin": admin_user,
        "manager": manager,
        "ml specialist": ml_specialist,
        "annotator": annotator,
        "reviewer": reviewer,
        "other annotator": other_annotator,
        "outsider": factories.user_create("outsider-2"),
    }


@pytest.fixture
def ml_client(client_for, ml_specialist, task):
    return client_for(ml_specialist)


@pytest.fixture
def layer(ml_client, slide) -> Layer:
    """Five detections of "Tumor" (no label: the project's is "Tumour") and two of "Stroma"."""
    features = [*detections(5), *detections(2, cls="Stroma", y=5000)]
    response = upload(ml_client, slide, collection(features), name="model.geojson")
    assert response.status_code == 201, response.content
    return Layer.objects.get(pk=response.json()["layer"]["layer"])


def _file(content: bytes, name: str) -> io.BytesIO:
    file = io.BytesIO(content)
    file.name = name
    return file


def _zip(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    buffer.seek(0)
    buffer.name = "predictions.zip"
    return buffer


def _urls(layer: Layer) -> dict[str, str]:
    return {
        "project": reverse("layers:project_page", args=[layer.project_id]),
        "slide upload": reverse("layers:slide_upload", args=[layer.slide_id]),
        "layer": reverse("layers:layer_page", args=[layer.pk]),
        "delete": reverse("layers:layer_delete", args=[layer.pk]),
    }


def _labels(layer: Layer) -> dict[str, int | None]:
    """Each class's label id, in the layer's classes and in its features (which must agree)."""
    layer.refresh_from_db()
    listed = {c["name"]: c["label"] for c in layer.classes}
    for name, label_id in listed.items():
        stored_ids = set(
            LayerFeature.objects.filter(layer=layer, class_name=name).values_list(
                "label_id", flat=True
            )
        )
        assert stored_ids == {label_id}, name
    return listed


# --- Who gets which page -------------------------------------------------------------------


@pytest.mark.parametrize("persona", list(EXPECTED))
def test_each_persona_gets_the_pages_the_table_says(client_for, world, layer, persona):
    client = client_for(world[persona])

    statuses = tuple(client.get(url).status_code for url in _urls(layer).values())

    assert statuses == EXPECTED[persona]


def test_an_anonymous_visitor_is_sent_to_log_in(client_for, world, layer):
    client = client_for(None)

    for url in _urls(layer).values():
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url


def test_a_project_that_does_not_exist_is_a_404_like_someone_elses(ml_client, layer):
    assert ml_client.get(reverse("layers:project_page", args=[999999])).status_code == 404


def test_only_uploaders_get_the_mapping_form(client_for, world, layer):
    page = client_for(world["ml specialist"]).get(_urls(layer)["layer"]).content.decode()
    assert 'id="classes-form"' in page and "<select" in page

    page = client_for(world["annotator"]).get(_urls(layer)["layer"]).content.decode()
    assert "<select" not in page and "Delete the layer" not in page
    assert "Tumor" in page


def test_the_ml_specialists_home_links_each_projects_layers(ml_client, project):
    page = ml_client.get(reverse("home")).content.decode()

    assert reverse("layers:project_page", args=[project.pk]) in page
    assert f'aria-label="Model layers of {project.name}"' in page


# --- Uploading through the pages ------------------------------------------------------------


def test_a_file_uploaded_on_the_project_page_is_listed_ready(ml_client, project, slides):
    url = reverse("layers:project_upload", args=[project.pk])
    file = _file(collection(detections(3)), "run-7.geojson")

    response = ml_client.post(url, {"slide": slides[1].pk, "file": file, "kind": "predictions"})

    layer = Layer.objects.get()
    assert (layer.slide, layer.name, layer.state, layer.feature_count) == (
        slides[1],
        "run-7",
        "ready",
        3,
    )
    assert response.status_code == 302
    assert response.url.endswith(f"?page=1#layer-{layer.pk}")
    page = ml_client.get(response.url).content.decode()
    assert f'id="layer-{layer.pk}"' in page and 'data-state="ready"' in page
    assert "“run-7” uploaded: 3 features, ready. 1 of its classes have no label yet" in page


def test_a_malformed_file_is_a_form_error_naming_the_feature_and_stores_nothing(
    ml_client, project, slide, upload_dir
):
    bad = collection([*detections(2), feature({"type": "Polygon", "coordinates": [[[0, 0]]]})])
    url = reverse("layers:project_upload", args=[project.pk])

    response = ml_client.post(url, {"slide": slide.pk, "file": _file(bad, "bad.geojson")})

    assert response.status_code == 400
    errors = response.context["upload_form"].errors["file"]
    assert errors[0].startswith("bad.geojson: features[2].geometry")
    assert "bad.geojson: features[2].geometry" in response.content.decode()
    assert stored() == (0, 0, 0)
    assert not any(upload_dir.iterdir())


def test_a_slide_of_another_project_cannot_be_chosen(ml_client, project, slides_root):
    elsewhere = factories.slide_create(slides_root, "elsewhere.tiff", 50, 50)
    url = reverse("layers:project_upload", args=[project.pk])

    response = ml_client.post(url, {"slide": elsewhere.pk, "file": _file(b"{}", "x.geojson")})

    assert response.status_code == 400 and "slide" in response.context["upload_form"].errors
    assert stored() == (0, 0, 0)


def test_a_file_too_large_is_refused_before_it_is_read(ml_client, project, slide, settings):
    settings.LAYER_UPLOAD_MAX_MB = 0
    url = reverse("layers:project_upload", args=[project.pk])

    response = ml_client.post(url, {"slide": slide.pk, "file": _file(b"[]", "x.geojson")})

    assert response.status_code == 400
    assert "at most 0 MB are taken" in response.context["upload_form"].errors["file"][0]
    assert stored() == (0, 0, 0)


def test_the_slide_upload_page_goes_to_the_new_layers_page(ml_client, slide):
    url = reverse("layers:slide_upload", args=[slide.pk])
    file = _file(collection(detections(2)), "nuclei.geojson")

    response = ml_client.post(url, {"file": file, "name": "HoVer-Net", "kind": "imported"})

    layer = Layer.objects.get()
    assert (layer.name, layer.kind, layer.slide) == ("HoVer-Net", "imported", slide)
    assert response.status_code == 302
    assert response.url == reverse("layers:layer_page", args=[layer.pk])


def test_the_slide_upload_page_asks_which_project_when_several_hold_the_slide(
    ml_client, ml_specialist, slide, annotator, admin_user
):
    other = Project.objects.create(name="Second cohort")
    other.members.add(ml_specialist)
    factories.annotation_task_create(
        project=other, name="R2", slides=[slide], annotators=[annotator], actor=admin_user
    )
    url = reverse("layers:slide_upload", args=[slide.pk])
    assert 'name="project"' in ml_client.get(url).content.decode()

    missing = ml_client.post(url, {"file": _file(collection(detections(1)), "a.geojson")})
    response = ml_client.post(
        url, {"file": _file(collection(detections(1)), "a.geojson"), "project": other.pk}
    )

    assert missing.status_code == 400 and "project" in missing.context["form"].errors
    assert response.status_code == 302 and Layer.objects.get().project == other


def test_the_slide_upload_page_shows_a_refusal_beside_the_file(ml_client, slide):
    url = reverse("layers:slide_upload", args=[slide.pk])

    response = ml_client.post(url, {"file": _file(b"not json", "x.geojson"), "kind": "x"})

    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"kind"}
    response = ml_client.post(url, {"file": _file(b"not json", "x.geojson")})
    assert response.status_code == 400 and response.context["form"].errors["file"]
    assert stored() == (0, 0, 0)


def test_a_zip_says_which_file_went_to_which_slide_and_which_to_none(ml_client, project, slides):
    archive = _zip(
        {
            "CASE-01-A.geojson": collection(detections(2)),
            "preds/CASE-01-B.geojson": collection(detections(3)),
            "CASE-99.geojson": collection(detections(1)),
        }
    )
    url = reverse("layers:project_upload_zip", args=[project.pk])

    response = ml_client.post(url, {"zip-file": archive, "zip-kind": "predictions"})

    assert response.status_code == 200
    counts = dict(Layer.objects.values_list("slide__name", "feature_count"))
    assert counts == {"CASE-01-A.tiff": 2, "CASE-01-B.tiff": 3}
    page = response.content.decode()
    assert '<tr data-file="CASE-01-B.geojson">' in page
    assert (
        '<li data-file="CASE-99.geojson">CASE-99.geojson: matches no slide of the project' in page
    )
    matched = response.context["zip_result"]["layers"]
    assert {(layer.source_name, layer.slide.name) for layer in matched} == {
        ("CASE-01-A.geojson", "CASE-01-A.tiff"),
        ("CASE-01-B.geojson", "CASE-01-B.tiff"),
    }


def test_a_zip_with_one_bad_file_stores_none_of_it(ml_client, project, upload_dir):
    bad = collection([feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]})])
    archive = _zip({"CASE-01-A.geojson": collection(detections(2)), "CASE-01-B.geojson": bad})
    url = reverse("layers:project_upload_zip", args=[project.pk])

    response = ml_client.post(url, {"zip-file": archive})

    assert response.status_code == 400
    assert response.context["zip_form"].errors["file"][0].startswith("CASE-01-B.geojson: ")
    assert stored() == (0, 0, 0)
    assert not any(upload_dir.iterdir())


def test_a_zip_matching_no_slide_is_refused(ml_client, project):
    url = reverse("layers:project_upload_zip", args=[project.pk])

    response = ml_client.post(url, {"zip-file": _zip({"nothing.geojson": b"[]"})})

    assert response.status_code == 400
    assert "no file in it names a slide" in response.context["zip_form"].errors["file"][0]


def test_a_large_files_import_shows_its_job_until_it_has_run(
    ml_client, project, slide, monkeypatch
):
    monkeypatch.setattr(services, "INLINE_IMPORT_BYTES", 0)
    url = reverse("layers:project_upload", args=[project.pk])
    file = _file(collection(detections(4)), "big.geojson")

    response = ml_client.post(url, {"slide": slide.pk, "file": file}, follow=True)

    layer = Layer.objects.get()
    page = response.content.decode()
    job_url = reverse("jobs:job", args=[layer.job_id])
    assert 'data-state="uploaded"' in page and f'href="{job_url}"' in page
    assert "being imported in the background" in page
    job_run(job_id=layer.job_id)
    page = ml_client.get(reverse("layers:project_page", args=[project.pk])).content.decode()
    assert 'data-state="ready"' in page and f'href="{job_url}"' not in page


def test_an_annotator_cannot_post_an_upload(client_for, world, project, slide):
    url = reverse("layers:project_upload", args=[project.pk])
    file = _file(collection(detections(1)), "x.geojson")

    response = client_for(world["annotator"]).post(url, {"slide": slide.pk, "file": file})

    assert response.status_code == 404 and stored() == (0, 0, 0)


# --- Deleting --------------------------------------------------------------------------------


def test_a_layer_is_deleted_after_its_confirmation(ml_client, layer):
    url = reverse("layers:layer_delete", args=[layer.pk])
    assert "Its 7 features" in ml_client.get(url).content.decode()
    assert Layer.objects.filter(pk=layer.pk).exists()

    response = ml_client.post(url)

    assert response.status_code == 302
    assert response.url == reverse("layers:project_page", args=[layer.project_id])
    assert stored() == (0, 0, 0)


def test_an_annotator_who_sees_the_layer_cannot_delete_it(client_for, world, layer):
    response = client_for(world["annotator"]).post(reverse("layers:layer_delete", args=[layer.pk]))

    assert response.status_code == 403
    assert Layer.objects.filter(pk=layer.pk).exists()


# --- Mapping classes on the layer's page -----------------------------------------------------


def _fields(client, layer: Layer) -> dict[str, str]:
    """The mapping form's field of each class."""
    form = client.get(reverse("layers:layer_page", args=[layer.pk])).context["form"]
    return {name: field for field, name in form.names.items()}


def test_classes_are_mapped_to_a_label_created_or_kept_on_the_page(ml_client, layer, labels):
    fields = _fields(ml_client, layer)
    # "Stroma" took the project's label of that name at the import: only "Tumor" is offered.
    assert set(fields) == {"Tumor"}
    url = reverse("layers:layer_page", args=[layer.pk])

    response = ml_client.post(url, {fields["Tumor"]: str(labels["Tumour"].pk)})

    assert response.status_code == 302
    assert _labels(layer) == {"Tumor": labels["Tumour"].pk, "Stroma": labels["Stroma"].pk}
    page = ml_client.get(url).content.decode()
    assert "The classes of “model” are mapped." in page
    assert "<select" not in page  # every class has its label now


def test_a_class_mapped_to_create_makes_a_label_in_the_class_colour(ml_client, layer, project):
    fields = _fields(ml_client, layer)

    ml_client.post(reverse("layers:layer_page", args=[layer.pk]), {fields["Tumor"]: "create"})

    created = Label.objects.get(project=project, name="Tumor")
    assert created.colour == "#c80000"  # the detections' [200, 0, 0]
    assert _labels(layer)["Tumor"] == created.pk
    assert {c["name"]: c.get("created") for c in layer.classes}["Tumor"] is True


def test_keeping_a_class_unmapped_changes_nothing(ml_client, layer):
    fields = _fields(ml_client, layer)
    before = _labels(layer)

    response = ml_client.post(
        reverse("layers:layer_page", args=[layer.pk]), {fields["Tumor"]: "none"}
    )

    assert response.status_code == 302 and _labels(layer) == before


def test_an_unknown_label_is_a_form_error_and_changes_nothing(ml_client, layer, other_annotator):
    fields = _fields(ml_client, layer)
    elsewhere = Label.objects.get(name="Nodule")  # another project's
    before = _labels(layer)

    for value in (str(elsewhere.pk), "999999", "nonsense"):
        response = ml_client.post(
            reverse("layers:layer_page", args=[layer.pk]), {fields["Tumor"]: value}
        )
        assert response.status_code == 400
        assert "Select a valid choice" in response.context["form"].errors[fields["Tumor"]][0]
    assert _labels(layer) == before


def test_someone_who_only_sees_the_layer_cannot_map_its_classes(client_for, world, layer, labels):
    fields = _fields(client_for(world["ml specialist"]), layer)
    before = _labels(layer)

    response = client_for(world["reviewer"]).post(
        reverse("layers:layer_page", args=[layer.pk]), {fields["Tumor"]: labels["Tumour"].pk}
    )

    assert response.status_code == 403 and _labels(layer) == before


# --- Mapping classes with the API ------------------------------------------------------------


def _patch(client, layer: Layer, body, headers=None):
    return client.patch(
        reverse("layers:layer", args=[layer.pk]),
        json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def test_the_api_maps_creates_and_unmaps_classes(ml_client, layer, labels, project):
    response = _patch(ml_client, layer, {"classes": {"Tumor": labels["Tumour"].pk}})

    assert response.status_code == 200
    answer = response.json()["layer"]
    assert answer["unknownClasses"] == []
    assert {c["name"]: c["colour"] for c in answer["classes"]}["Tumor"] == "#d62728"
    assert _labels(layer) == {"Tumor": labels["Tumour"].pk, "Stroma": labels["Stroma"].pk}

    response = _patch(ml_client, layer, {"classes": {"Tumor": "none", "Stroma": "none"}})

    assert response.status_code == 200
    assert response.json()["layer"]["unknownClasses"] == ["Stroma", "Tumor"]
    assert _labels(layer) == {"Tumor": None, "Stroma": None}
    # unmapped, a class takes its own colour back: the file's for "Tumor"
    assert {c["name"]: c["colour"] for c in layer.classes}["Tumor"] == "#c80000"

    response = _patch(ml_client, layer, {"classes": {"Tumor": "create"}})

    created = Label.objects.get(project=project, name="Tumor")
    assert response.status_code == 200 and _labels(layer)["Tumor"] == created.pk


def test_the_api_takes_the_mapping_with_a_token(client_for, ml_specialist, layer, labels):
    _token, secret = api_token_create(user=ml_specialist, name="script")
    client = client_for(None)

    response = _patch(
        client,
        layer,
        {"classes": {"Tumor": labels["Necrosis"].pk}},
        headers={"Authorization": f"Bearer {secret}"},
    )

    assert response.status_code == 200 and _labels(layer)["Tumor"] == labels["Necrosis"].pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"classes": {"Tumor": 999999}}, "classes.Tumor"),
        ({"classes": {"Tumor": "Tumour"}}, "classes.Tumor"),
        ({"classes": {"Tumor": True}}, "classes.Tumor"),
        ({"classes": {"Lymphocyte": "create"}}, "classes.Lymphocyte"),
        ({"classes": ["Tumor"]}, "classes"),
        ({"labels": {}}, ""),
    ],
)
def test_the_api_refuses_what_it_cannot_map_and_changes_nothing(
    ml_client, layer, labels, body, field
):
    before = _labels(layer)

    response = _patch(ml_client, layer, body)

    assert response.status_code == 400, response.content
    assert response.json().get("field", "") == field
    assert _labels(layer) == before


def test_the_api_refuses_another_projects_label(ml_client, layer, other_annotator):
    elsewhere = Label.objects.get(name="Nodule")

    response = _patch(ml_client, layer, {"classes": {"Tumor": elsewhere.pk}})

    assert response.status_code == 400
    assert "one of the project's labels" in response.json()["error"]


def test_a_bad_class_leaves_the_good_ones_unmapped_too(ml_client, layer, labels):
    body = {"classes": {"Tumor": labels["Tumour"].pk, "Nope": labels["Stroma"].pk}}

    response = _patch(ml_client, layer, body)

    assert response.status_code == 400 and _labels(layer)["Tumor"] is None


def test_a_layer_still_importing_is_not_mapped(ml_client, layer, labels):
    Layer.objects.filter(pk=layer.pk).update(state=Layer.State.IMPORTING)

    response = _patch(ml_client, layer, {"classes": {"Tumor": labels["Tumour"].pk}})

    assert response.status_code == 409 and "once it is ready" in response.json()["error"]


@pytest.mark.parametrize(("persona", "status"), [("annotator", 403), ("other annotator", 404)])
def test_only_uploaders_map_with_the_api(client_for, world, layer, labels, persona, status):
    before = _labels(layer)

    response = _patch(
        client_for(world[persona]), layer, {"classes": {"Tumor": labels["Tumour"].pk}}
    )

    assert response.status_code == status and _labels(layer) == before


def test_unclassified_features_map_to_a_label_but_name_none(ml_client, slide, labels):
    plain = collection([feature(square(10, 10), objectType="annotation")])
    found = Layer.objects.get(pk=upload(ml_client, slide, plain).json()["layer"]["layer"])

    refused = _patch(ml_client, found, {"classes": {"": "create"}})
    mapped = _patch(ml_client, found, {"classes": {"": labels["Stroma"].pk}})

    assert refused.status_code == 400 and "unclassified" in refused.json()["error"]
    assert mapped.status_code == 200 and _labels(found) == {"": labels["Stroma"].pk}
