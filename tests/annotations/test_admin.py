"""The annotation admin shows annotations and their history and changes nothing; a label in use
cannot be deleted through the project admin."""

import pytest
from django.urls import reverse

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
