"""The exports API: who may download, preview and list a project's exports; bad options; the
record each download leaves, however it ends; downloading again from the history.

Data and personas: tests/exports/conftest.py.
"""

import io
import re
import zipfile

import pytest
from django.urls import reverse

from exports import services
from exports.models import Export

pytestmark = pytest.mark.django_db

ROUTES = ["project_zip", "project_preview", "project_history"]


def url_of(route: str, project, query: str = "") -> str:
    url = reverse(f"exports_api:{route}", args=[project.pk])
    return f"{url}?{query}" if query else url


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("mlspecialist", 200),
        ("manager", 200),
        ("superuser", 200),
        ("pathologist", 404),  # an annotator of the project
        ("reviewer", 404),
        ("other-manager", 404),
        ("ml-outsider", 404),  # an ML specialist of another project
        ("outsider", 404),
        ("inactive-ml", 401),  # a deactivated account is logged out
        ("anonymous", 401),
    ],
)
def test_who_may_use_the_exports_api(client_for, people, export_data, route, persona, status):
    client = client_for(people.get(persona))
    response = client.get(url_of(route, export_data.project))
    assert response.status_code == status
    if status != 200:
        assert response["Content-Type"] == "application/json"
        assert "error" in response.json()
        assert not Export.objects.exists()


def test_a_project_that_does_not_exist_is_the_same_404(client_for, people, export_data):
    client = client_for(people["mlspecialist"])
    missing = client.get(reverse("exports_api:project_zip", args=[999_999]))
    foreign = client.get(url_of("project_zip", export_data.other_project))
    assert missing.status_code == foreign.status_code == 404
    assert missing.json() == foreign.json() == {"error": "No such project."}


@pytest.mark.parametrize("route", ["project_zip", "project_preview"])
@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("labels=999999", "labels", "No label 999999 in this project."),
        ("min_agreement=1.5", "min_agreement", "min_agreement must be a number from 0 to 1"),
        ("min_agreement=-0.1", "min_agreement", "min_agreement must be a number from 0 to 1"),
        ("policy=best", "policy", "policy must be one of"),
        ("colour=red", "colour", "Unknown parameter colour"),
        ("include_in_progress=2", "include_in_progress", "must be 0 or 1"),
    ],
)
def test_bad_options_are_a_400_saying_what_is_wrong(
    client_for, people, export_data, route, query, field, says
):
    response = client_for(people["mlspecialist"]).get(url_of(route, export_data.project, query))
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert says in response.json()["error"]
    assert not Export.objects.exists()


def test_a_slide_of_another_project_is_refused_without_telling_of_it(
    client_for, people, export_data
):
    foreign = export_data.slides["D"]
    response = client_for(people["mlspecialist"]).get(
        url_of("project_zip", export_data.project, f"slides={foreign.pk}")
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": f"No slide {foreign.pk} in this project.",
        "field": "slides",
    }


def test_the_zip_is_streamed_as_an_attachment(client_for, people, export_data):
    response = client_for(people["mlspecialist"]).get(url_of("project_zip", export_data.project))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert not response.has_header("Content-Length")
    export = Export.objects.get()
    assert response["X-Export-Id"] == str(export.pk)
    assert re.fullmatch(
        r'attachment; filename="wsi2ml-breast-tumour-segmentation-\d{8}-\d{6}\.zip"',
        response["Content-Disposition"],
    )
    assert export.file_name in response["Content-Disposition"]
    assert export.state == Export.State.STARTED  # nothing was read yet
    assert zipfile.ZipFile(io.BytesIO(body_of(response))).testzip() is None


def test_a_complete_download_is_recorded_with_counts_and_hash(client_for, people, export_data):
    mlspecialist = people["mlspecialist"]
    response = client_for(mlspecialist).get(
        url_of("project_zip", export_data.project, "policy=reviewed")
    )
    data = body_of(response)
    export = Export.objects.get()
    assert export.state == Export.State.COMPLETE
    assert export.user == mlspecialist
    assert export.project == export_data.project
    assert export.parameters == {"policy": "reviewed"}
    assert export.finished_at >= export.created_at
    assert export.bytes == len(data)
    assert re.fullmatch(r"[0-9a-f]{64}", export.content_sha256)
    archive = zipfile.ZipFile(io.BytesIO(data))
    geojson_files = [n for n in archive.namelist() if n.startswith("annotations/")]
    written = sum(len(archive.read(n).split(b'"type":"Feature",')) - 1 for n in geojson_files)
    assert export.counts["features"] == written > 0
    assert sum(export.counts["per_class"].values()) == written
    assert set(export.counts["dropped"]) >= {"unreviewed", "rejected"}
    assert export.counts["dropped"]["unreviewed"] > 0


def test_downloading_again_from_the_history_gives_the_same_content(client_for, people, export_data):
    client = client_for(people["mlspecialist"])
    query = f"policy=not_rejected&labels={export_data.labels['Tumour'].pk}&min_agreement=0.5"
    body_of(client.get(url_of("project_zip", export_data.project, query)))
    (entry,) = client.get(url_of("project_history", export_data.project)).json()["exports"]
    body_of(client.get(entry["downloadUrl"]))
    first, second = Export.objects.order_by("pk")
    assert second.parameters == first.parameters
    assert second.content_sha256 == first.content_sha256 == entry["sha256"]
    assert second.counts == first.counts


# Outside a test transaction, as a server runs: request_finished, sent when the response is
# closed, would close the connection of a test transaction (the test client shields only the
# end of a complete read from it).
@pytest.mark.django_db(transaction=True)
def test_a_stopped_download_is_recorded_as_interrupted(client_for, people, export_data):
    response = client_for(people["mlspecialist"]).get(url_of("project_zip", export_data.project))
    chunks = iter(response.streaming_content)
    first = next(chunks)
    response.close()  # what a WSGI server does when the client goes away
    export = Export.objects.get()
    assert export.state == Export.State.INTERRUPTED
    assert export.bytes == len(first)
    assert export.content_sha256 == ""
    assert export.finished_at is not None


def test_a_failed_download_is_recorded_and_ends_broken(
    client_for, people, export_data, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("the cursor went away")
        yield

    monkeypatch.setattr(services, "export_rows", broken)
    response = client_for(people["mlspecialist"]).get(url_of("project_zip", export_data.project))
    with pytest.raises(RuntimeError):
        body_of(response)
    export = Export.objects.get()
    assert export.state == Export.State.FAILED
    assert export.error == "RuntimeError: the cursor went away"


def test_the_preview_tells_what_the_zip_holds(client_for, people, export_data):
    client = client_for(people["mlspecialist"])
    preview = client.get(url_of("project_preview", export_data.project, "policy=reviewed")).json()
    body_of(client.get(url_of("project_zip", export_data.project, "policy=reviewed")))
    export = Export.objects.get()
    assert preview["features"] == export.counts["features"]
    assert {c["name"]: c["features"] for c in preview["classes"]} == export.counts["per_class"]
    assert preview["dropped"] == export.counts["dropped"]
    assert not Export.objects.exclude(pk=export.pk).exists()  # a preview leaves no record


def test_the_history_lists_the_projects_exports_newest_first(client_for, people, export_data):
    mlspecialist, manager = people["mlspecialist"], people["manager"]
    plan_options = {"policy": "consensus"}
    older = Export.objects.create(
        project=export_data.project,
        user=manager,
        parameters={},
        file_name="wsi2ml-old.zip",
        state=Export.State.INTERRUPTED,
    )
    newer = Export.objects.create(
        project=export_data.project,
        user=mlspecialist,
        parameters=plan_options,
        file_name="wsi2ml-new.zip",
        state=Export.State.COMPLETE,
        counts={"features": 4},
        content_sha256="ab" * 32,
        bytes=1234,
    )
    Export.objects.create(
        project=export_data.other_project, user=manager, parameters={}, file_name="lung.zip"
    )
    response = client_for(mlspecialist).get(url_of("project_history", export_data.project))
    exports = response.json()["exports"]
    assert [e["id"] for e in exports] == [newer.pk, older.pk]
    assert exports[0] == {
        "id": newer.pk,
        "user": "mlspecialist",
        "created": newer.created_at.isoformat(),
        "finished": None,
        "state": "complete",
        "parameters": plan_options,
        "counts": {"features": 4},
        "sha256": "ab" * 32,
        "bytes": 1234,
        "fileName": "wsi2ml-new.zip",
        "downloadUrl": url_of("project_zip", export_data.project, "policy=consensus"),
    }
    assert exports[1]["downloadUrl"] == url_of("project_zip", export_data.project)


def test_the_history_holds_at_most_100_exports(client_for, people, export_data):
    Export.objects.bulk_create(
        Export(project=export_data.project, user=people["manager"], file_name=f"{i}.zip")
        for i in range(101)
    )
    response = client_for(people["mlspecialist"]).get(
        url_of("project_history", export_data.project)
    )
    assert len(response.json()["exports"]) == 100


def test_the_zip_is_for_get_only(client_for, people, export_data):
    response = client_for(people["mlspecialist"]).post(url_of("project_zip", export_data.project))
    assert response.status_code in (403, 405)  # CSRF first, else the method
    assert not Export.objects.exists()


def test_a_bearer_token_downloads_the_zip(client, people, export_data):
    tokens = pytest.importorskip("wsi2ml.tokens")
    _, secret = tokens.api_token_create(user=people["mlspecialist"], name="training script")
    response = client.get(
        url_of("project_zip", export_data.project), headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200
    data = body_of(response)
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    export = Export.objects.get()
    assert export.user == people["mlspecialist"]
    assert export.state == Export.State.COMPLETE


def test_the_admin_shows_exports_read_only(client_for, people, export_data):
    export = Export.objects.create(
        project=export_data.project,
        user=people["mlspecialist"],
        file_name="wsi2ml-x.zip",
        counts={"features": 12},
        content_sha256="cd" * 32,
    )
    client = client_for(people["superuser"])
    listing = client.get(reverse("admin:exports_export_changelist"))
    assert listing.status_code == 200
    assert b"cdcdcdcdcdcd" in listing.content
    page = client.get(reverse("admin:exports_export_change", args=[export.pk]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get(reverse("admin:exports_export_add")).status_code == 403
