"""The annotation admin shows annotations and their history and changes nothing; a label in use
cannot be deleted through the project admin."""

import math
import re

import pytest
from django.urls import reverse

from annotations import geometry
from annotations.models import Annotation
from tasks.models import Label
from tests.annotations.conftest import counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def annotation(make_annotation):
    return make_annotation(name="Main tumour")


def test_the_list_shows_annotations_with_filters(client_for, admin_user, annotation):
    client = client_for(admin_user)

    page = client.get(reverse("admin:annotations_annotation_changelist"))
    deleted = client.get(
        reverse("admin:annotations_annotation_changelist"), {"is_deleted__exact": "1"}
    )

    assert page.status_code == 200
    text = page.content.decode()
    assert "CASE-01-A.tiff" in text and "annotator" in text and "Tumour" in text
    assert "0 annotations" in deleted.content.decode()
    assert 'name="action"' not in text  # no bulk delete


def test_an_annotation_is_shown_with_its_history_read_only(client_for, admin_user, annotation):
    client = client_for(admin_user)

    page = client.get(reverse("admin:annotations_annotation_change", args=[annotation.pk]))

    assert page.status_code == 200
    text = page.content.decode()
    assert "Main tumour" in text and "Created" in text
    assert 'name="_save"' not in text


def test_nothing_can_be_added_changed_or_deleted(client_for, admin_user, annotation):
    client = client_for(admin_user)
    before = counts()

    add = client.get(reverse("admin:annotations_annotation_add"))
    delete = client.post(
        reverse("admin:annotations_annotation_delete", args=[annotation.pk]), {"post": "yes"}
    )
    change = client.post(
        reverse("admin:annotations_annotation_change", args=[annotation.pk]), {"name": "x"}
    )
    revision = annotation.revisions.get()
    revision_delete = client.post(
        reverse("admin:annotations_annotationrevision_delete", args=[revision.pk]), {"post": "yes"}
    )

    assert (add.status_code, delete.status_code, revision_delete.status_code) == (403, 403, 403)
    assert change.status_code == 403
    assert counts() == before
    annotation.refresh_from_db()
    assert annotation.name == "Main tumour"


def test_revisions_have_a_read_only_list(client_for, admin_user, annotation):
    page = client_for(admin_user).get(reverse("admin:annotations_annotationrevision_changelist"))

    assert page.status_code == 200 and "Created" in page.content.decode()


def delete_label_inline(client, project, name):
    """Post the project's change form with the label ``name`` marked for deletion."""
    labels = list(project.labels.order_by("order"))
    data = {
        "name": project.name,
        "description": project.description,
        "labels-TOTAL_FORMS": len(labels),
        "labels-INITIAL_FORMS": len(labels),
    }
    for i, label in enumerate(labels):
        data |= {
            f"labels-{i}-id": label.pk,
            f"labels-{i}-project": project.pk,
            f"labels-{i}-name": label.name,
            f"labels-{i}-colour": label.colour,
            f"labels-{i}-shortcut": label.shortcut,
            f"labels-{i}-order": label.order,
        }
        if label.name == name:
            data[f"labels-{i}-DELETE"] = "on"
    return client.post(reverse("admin:tasks_project_change", args=[project.pk]), data)


def test_a_label_in_use_cannot_be_deleted_through_the_project_admin(
    client_for, admin_user, annotation, project
):
    response = delete_label_inline(client_for(admin_user), project, "Tumour")

    assert response.status_code == 200  # the form again, with the error
    assert "would require deleting the following protected related objects" in (
        response.content.decode()
    )
    assert Label.objects.filter(pk=annotation.label_id).exists()
    assert Annotation.objects.filter(pk=annotation.pk).exists()


def test_a_label_used_only_by_a_deleted_annotation_is_kept_too(
    client_for, admin_user, annotation, project
):
    annotation.is_deleted = True
    annotation.save()

    delete_label_inline(client_for(admin_user), project, "Tumour")

    assert Label.objects.filter(pk=annotation.label_id).exists()


def test_an_unused_label_can_be_deleted(client_for, admin_user, annotation, project):
    response = delete_label_inline(client_for(admin_user), project, "Necrosis")

    assert response.status_code == 302
    assert not project.labels.filter(name="Necrosis").exists()


# --- Previews ------------------------------------------------------------------------------------


def test_the_list_draws_each_shape_on_its_slides_thumbnail(client_for, admin_user, annotation):
    page = client_for(admin_user).get(reverse("admin:annotations_annotation_changelist"))

    html = page.content.decode()
    thumbnail = reverse("slides:thumbnail", args=[annotation.slide_id]) + "?size=96"
    # The slide is 4096 x 3072 px: 96 x 72 on the page, its own pixels in the viewBox.
    assert '<svg class="wsi2ml-preview" width="96" height="72" viewBox="0 0 4096 3072"' in html
    assert f'<image href="{thumbnail}" width="4096" height="3072"' in html
    assert 'd="M100 100 200 100 200 200 100 200Z" stroke="#d62728"' in html


def test_the_annotation_page_draws_a_larger_preview(client_for, admin_user, annotation):
    page = client_for(admin_user).get(
        reverse("admin:annotations_annotation_change", args=[annotation.pk])
    )

    html = page.content.decode()
    assert 'width="480" height="360" viewBox="0 0 4096 3072"' in html
    assert reverse("slides:thumbnail", args=[annotation.slide_id]) + "?size=480" in html
    assert "x 100–200, y 100–200" in html


def test_a_tiny_shape_is_ringed_and_a_point_drawn_as_a_dot(client_for, admin_user, make_annotation):
    make_annotation({"type": "Point", "coordinates": [2048, 1024]}, kind="point")

    html = client_for(admin_user).get(reverse("admin:annotations_annotation_changelist")).content
    text = html.decode()

    assert 'class="shape point open" d="M2048 1024h0"' in text
    # 7 CSS px on a 96 px preview of a 4096 px slide.
    assert '<circle class="marker" cx="2048" cy="1024" r="299"' in text


def test_a_preview_escapes_what_people_typed(client_for, admin_user, annotation, labels):
    Label.objects.filter(pk=annotation.label_id).update(name='<img src=x onerror="alert(1)">')

    html = client_for(admin_user).get(reverse("admin:annotations_annotation_changelist")).content

    assert b"<img src=x" not in html
    assert (
        b"<title>&lt;img src=x onerror=&quot;alert(1)&quot;&gt; polygon on CASE-01-A.tiff" in html
    )


def test_a_preview_of_a_shape_with_thousands_of_vertices_draws_at_most_200():
    ring = [
        [2000 + 1500 * math.cos(2 * math.pi * i / 5000), 1500 + 1000 * math.sin(4 * i / 5000)]
        for i in range(5000)
    ]
    wavy = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    confetti = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[x, y], [x + 2, y], [x + 2, y + 2], [x, y + 2], [x, y]]]
            for x in range(0, 2000, 20)
            for y in range(0, 200, 20)
        ],
    }

    for shape in (wavy, confetti):
        path = geometry.preview_path(shape, max_points=200)

        points = len(re.findall(r"-?\d+ -?\d+", path))
        assert 3 <= points <= 200, points
    # A thousand separate squares cannot be drawn in 200 points: their bounding box is.
    assert geometry.preview_path(confetti, max_points=200) == "M0 0 1982 0 1982 182 0 182Z"
