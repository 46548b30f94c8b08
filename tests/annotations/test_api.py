"""The editing API: what each write answers, and that a refused request changes nothing."""

import json
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from annotations.models import Annotation
from tasks import services as task_services
from tests.annotations.conftest import counts, square

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client, assignment):
    client.force_login(assignment.assignee)
    return client


@pytest.fixture
def create_url(slide):
    return reverse("annotations:slide_annotations", args=[slide.pk])


def url_of(annotation, name="annotation"):
    return reverse(f"annotations:{name}", args=[annotation.pk])


def feature(assignment, label, geometry=None, kind="polygon", **properties):
    return {
        "type": "Feature",
        "geometry": geometry or square(100, 100),
        "properties": {"assignment": assignment.pk, "label": label.pk, "kind": kind, **properties},
    }


def post(client, url, body):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data, content_type="application/json")


def patch(client, url, body):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.patch(url, data, content_type="application/json")


def test_create_answers_201_with_the_stored_feature(client, create_url, assignment, labels):
    response = post(
        client, create_url, feature(assignment, labels["Stroma"], name="A", comment="B")
    )

    assert response.status_code == 201
    body = response.json()
    annotation = Annotation.objects.get()
    assert body["id"] == annotation.pk
    assert body["geometry"] == square(100.0, 100.0)
    props = body["properties"]
    assert props["label"] == {"id": labels["Stroma"].pk, "name": "Stroma", "colour": "#2ca02c"}
    assert (props["kind"], props["name"], props["comment"]) == ("polygon", "A", "B")
    assert (props["version"], props["author"], props["assignment"]) == (
        1,
        "annotator",
        assignment.pk,
    )
    assert props["area_px"] == 10000 and props["area_um2"] == 625
    assert props["deleted"] is False and "repaired" not in props
    assert annotation.revisions.get().action == "create"


def test_create_says_what_it_repaired(client, create_url, assignment, labels):
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [100, 100], [100, 0], [0, 100], [0, 0]]]}

    response = post(client, create_url, feature(assignment, labels["Tumour"], bow_tie))

    assert response.status_code == 201
    assert response.json()["properties"]["repaired"] == "Self-intersection at (50.0, 50.0) repaired"
    assert response.json()["geometry"]["type"] == "MultiPolygon"


def test_create_clips_to_the_slide(client, create_url, assignment, labels, slide):
    response = post(client, create_url, feature(assignment, labels["Tumour"], square(4000, 3000)))

    assert response.status_code == 201
    assert response.json()["properties"]["area_px"] == 96 * 72
    assert "Clipped" in response.json()["properties"]["repaired"]


def test_a_repeated_uuid_stores_nothing_new(client, create_url, assignment, labels):
    body = feature(assignment, labels["Tumour"], uuid=str(uuid.uuid4()))
    first = post(client, create_url, body)
    before = counts()

    again = post(client, create_url, body)

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert counts() == before


def test_another_authors_uuid_is_refused(
    client, create_url, assignment, labels, make_annotation, second_assignment
):
    theirs = make_annotation(on=second_assignment)
    before = counts()

    response = post(
        client, create_url, feature(assignment, labels["Tumour"], uuid=str(theirs.uuid))
    )

    assert response.status_code == 400
    assert response.json() == {"error": "This uuid belongs to another annotation.", "field": "uuid"}
    assert counts() == before


def test_patch_changes_geometry_label_and_text(client, make_annotation, labels):
    annotation = make_annotation()

    response = patch(
        client,
        url_of(annotation),
        {
            "version": 1,
            "geometry": square(200, 200, 50),
            "properties": {"label": labels["Necrosis"].pk, "name": "n", "comment": "c"},
        },
    )

    assert response.status_code == 200
    props = response.json()["properties"]
    assert props["version"] == 2 and props["label"]["name"] == "Necrosis"
    assert (props["name"], props["comment"], props["area_px"]) == ("n", "c", 2500)
    annotation.refresh_from_db()
    assert (annotation.x0, annotation.y0, annotation.x1, annotation.y1) == (200, 200, 250, 250)


def test_patch_may_change_the_kind_with_a_fitting_geometry(client, make_annotation):
    annotation = make_annotation(kind="polygon")

    response = patch(client, url_of(annotation), {"version": 1, "properties": {"kind": "brush"}})

    assert response.status_code == 200
    assert response.json()["properties"]["kind"] == "brush"


def test_delete_and_restore(client, make_annotation):
    annotation = make_annotation()

    deleted = client.delete(url_of(annotation) + "?version=1")
    restored = post(client, url_of(annotation, "annotation_restore"), {"version": 2})

    assert deleted.status_code == 200 and deleted.json()["properties"]["deleted"] is True
    assert restored.status_code == 200 and restored.json()["properties"]["deleted"] is False
    assert restored.json()["properties"]["version"] == 3
    assert client.get(url_of(annotation)).json()["properties"]["version"] == 3


def test_restore_takes_an_empty_body(client, make_annotation):
    annotation = make_annotation()
    client.delete(url_of(annotation))

    restored = client.post(url_of(annotation, "annotation_restore"), "", content_type="text/plain")

    assert restored.status_code == 200


def test_get_shows_a_deleted_annotation(client, make_annotation):
    annotation = make_annotation()
    client.delete(url_of(annotation))

    response = client.get(url_of(annotation))

    assert response.status_code == 200 and response.json()["properties"]["deleted"] is True


# --- Refusals: status, message, and nothing changed ---------------------------------------------


def assert_refused(response, status, message, before, field=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert message in body["error"], body
    if field is not None:
        assert body.get("field") == field
    assert counts() == before


CREATE_REFUSALS = {
    "invalid JSON": (b"{not json", 400, "not valid JSON", None),
    "deeply nested JSON": (b"[" * 100000 + b"]" * 100000, 400, "not valid JSON", None),
    "not UTF-8": (b"\xff\xfe{", 400, "not valid JSON", None),
    "a list": ([1, 2], 400, "The body must be a JSON object", None),
    "properties not an object": ({"properties": 3}, 400, "properties must be", "properties"),
    "no assignment": ("no-assignment", 400, "assignment must be a positive", "assignment"),
    "assignment a string": ("assignment-string", 400, "assignment must be", "assignment"),
    "assignment too large": ("assignment-huge", 400, "assignment must be", "assignment"),
    "unknown assignment": ("assignment-unknown", 400, "No assignment 999999", "assignment"),
    "unknown label": ("label-unknown", 400, "No label 999999", "label"),
    "label a boolean": ("label-bool", 400, "label must be a positive", "label"),
    "unknown kind": ("kind-unknown", 400, "kind must be one of", "kind"),
    "bad uuid": ("uuid-bad", 400, "uuid must be a UUID", "uuid"),
    "uuid a number": ("uuid-number", 400, "uuid must be a UUID", "uuid"),
    "name not text": ("name-number", 400, "name must be text", "name"),
    "name too long": ("name-long", 400, "name must be text of at most 200", "name"),
    "no geometry": ("geometry-none", 400, "geometry must be a GeoJSON object", "geometry"),
    "an empty ring": ("ring-empty", 400, "has 0 positions", "geometry"),
    "a ring of three": ("ring-three", 400, "a ring needs at least 4", "geometry"),
    "a ring not closed": ("ring-open", 400, "coordinates[0] is not closed", "geometry"),
    "a hole outside its shell": ("hole-out", 400, "hole outside its shell", "geometry"),
    "NaN": ("nan", 400, "is not a finite number", "geometry"),
    "Infinity": ("inf", 400, "is not a finite number", "geometry"),
    "a coordinate as a string": ("coord-string", 400, "is not a number", "geometry"),
    "outside the slide": ("outside", 400, "wholly outside the slide", "geometry"),
    "no area": ("flat", 400, "encloses no area", "geometry"),
    "kind and type differ": ("kind-mismatch", 400, "A point needs a Point", "geometry"),
    "too many vertices": ("vertices", 400, "at most 20000 are allowed", "geometry"),
}


def create_body(case, assignment, labels):
    """The request body of a refusal case (bytes, or a JSON-able value)."""
    base = feature(assignment, labels["Tumour"])
    props, geometry = base["properties"], base["geometry"]
    ring = geometry["coordinates"][0]
    changes = {
        "no-assignment": lambda: props.pop("assignment"),
        "assignment-string": lambda: props.update(assignment=str(assignment.pk)),
        "assignment-huge": lambda: props.update(assignment=10**30),
        "assignment-unknown": lambda: props.update(assignment=999999),
        "label-unknown": lambda: props.update(label=999999),
        "label-bool": lambda: props.update(label=True),
        "kind-unknown": lambda: props.update(kind="circle"),
        "uuid-bad": lambda: props.update(uuid="not-a-uuid"),
        "uuid-number": lambda: props.update(uuid=12),
        "name-number": lambda: props.update(name=12),
        "name-long": lambda: props.update(name="x" * 201),
        "geometry-none": lambda: base.pop("geometry"),
        "ring-empty": lambda: geometry.update(coordinates=[[]]),
        "ring-three": lambda: geometry.update(coordinates=[ring[:2] + ring[:1]]),
        "ring-open": lambda: geometry.update(coordinates=[ring[:-1]]),
        "hole-out": lambda: geometry["coordinates"].append(square(900, 900)["coordinates"][0]),
        "nan": lambda: ring.__setitem__(1, [float("nan"), 5]),
        "inf": lambda: ring.__setitem__(1, [float("inf"), 5]),
        "coord-string": lambda: ring.__setitem__(1, ["200", 100]),
        "outside": lambda: base.update(geometry=square(10000, 10000)),
        "flat": lambda: geometry.update(coordinates=[[[0, 0], [5, 0], [10, 0], [0, 0]]]),
        "kind-mismatch": lambda: props.update(kind="point"),
        "vertices": lambda: geometry.update(
            coordinates=[[[i % 1000, i // 1000] for i in range(20001)] + [[0, 0]]]
        ),
    }
    changes[case]()
    return base


@pytest.mark.parametrize("case", CREATE_REFUSALS)
def test_create_refusals_change_nothing(client, create_url, assignment, labels, case):
    body, status, message, field = CREATE_REFUSALS[case]
    if isinstance(body, str):
        body = create_body(body, assignment, labels)
    before = counts()

    response = post(client, create_url, body)

    assert_refused(response, status, message, before, field)


def test_a_body_over_the_limit_is_413(client, create_url, assignment, labels, settings):
    settings.ANNOTATION_MAX_BODY_BYTES = 1000
    body = feature(assignment, labels["Tumour"], comment="x" * 2000)
    before = counts()

    response = post(client, create_url, body)

    assert_refused(response, 413, "larger than 1000 bytes", before)


def test_a_label_of_another_project_is_refused(client, create_url, assignment, other_label):
    before = counts()

    response = post(client, create_url, feature(assignment, other_label))

    assert_refused(response, 400, f"No label {other_label.pk}.", before, "label")


def test_an_archived_label_is_refused(client, create_url, assignment, labels):
    labels["Stroma"].is_archived = True
    labels["Stroma"].save()
    before = counts()

    response = post(client, create_url, feature(assignment, labels["Stroma"]))

    assert_refused(response, 400, "Label “Stroma” is archived", before, "label")


def test_another_persons_assignment_is_unknown(client, create_url, second_assignment, labels):
    before = counts()

    response = post(client, create_url, feature(second_assignment, labels["Tumour"]))

    assert_refused(response, 400, f"No assignment {second_assignment.pk}.", before, "assignment")


def test_a_completed_assignment_is_403(client, create_url, assignment, labels, admin_user):
    task_services.assignment_close(assignment=assignment, actor=admin_user)
    before = counts()

    response = post(client, create_url, feature(assignment, labels["Tumour"]))

    assert_refused(response, 403, "This assignment is completed", before)


def _mark_done(assignment, slide):
    item = assignment.assignment_slides.get(slide=slide)
    task_services.work_done(item=item)
    return item


def test_a_slide_marked_done_takes_no_new_annotation(client, create_url, assignment, slide, labels):
    _mark_done(assignment, slide)
    before = counts()

    response = post(client, create_url, feature(assignment, labels["Tumour"]))

    assert_refused(response, 403, "This slide is marked done; reopen it", before)


@pytest.mark.parametrize("change", ["patch", "delete", "restore"])
def test_a_slide_marked_done_keeps_its_annotations_as_they_are(
    client, assignment, slide, make_annotation, change
):
    annotation = make_annotation()
    if change == "restore":
        client.delete(url_of(annotation))
    _mark_done(assignment, slide)
    before = counts()
    row_before = Annotation.objects.values().get(pk=annotation.pk)

    if change == "patch":
        response = patch(client, url_of(annotation), {"version": 1, "geometry": square(300, 300)})
    elif change == "delete":
        response = client.delete(url_of(annotation))
    else:
        response = post(client, url_of(annotation, "annotation_restore"), {})

    assert_refused(response, 403, "This slide is marked done", before)
    assert Annotation.objects.values().get(pk=annotation.pk) == row_before


def test_reopening_a_done_slide_allows_changes_again(client, create_url, assignment, slide, labels):
    item = _mark_done(assignment, slide)
    task_services.work_reopen(item=item, actor=assignment.assignee)

    response = post(client, create_url, feature(assignment, labels["Tumour"]))

    assert response.status_code == 201


def test_a_stored_create_sent_again_after_done_answers_what_was_stored(
    client, create_url, assignment, slide, labels
):
    body = feature(assignment, labels["Tumour"], uuid=str(uuid.uuid4()))
    first = post(client, create_url, body)
    _mark_done(assignment, slide)

    again = post(client, create_url, body)

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


def test_a_slide_outside_the_assignment_is_refused(client, assignment, labels, slides, admin_user):
    task_services.assignment_set_slides(assignment=assignment, slides=slides[:1], actor=admin_user)
    # Still visible to the annotator through a second assignment of another task.
    other = task_services.assignment_create(
        task=assignment.task.project.tasks.create(name="Round 2"),
        assignee=assignment.assignee,
        slides=slides[1:],
        actor=admin_user,
    )
    assert other
    url = reverse("annotations:slide_annotations", args=[slides[1].pk])
    before = counts()

    response = post(client, url, feature(assignment, labels["Tumour"]))

    assert_refused(response, 400, f"Slide {slides[1].pk} is not part of assignment", before)


def test_a_stale_version_is_409_with_the_current_feature(client, make_annotation):
    annotation = make_annotation()
    patch(client, url_of(annotation), {"version": 1, "properties": {"name": "first"}})
    before = counts()

    response = patch(client, url_of(annotation), {"version": 1, "geometry": square(500, 500)})

    assert_refused(response, 409, "you sent version 1, the current version is 2", before)
    assert response.json()["current"]["properties"]["version"] == 2
    assert response.json()["current"]["properties"]["name"] == "first"
    annotation.refresh_from_db()
    assert annotation.version == 2 and annotation.geometry == square(100.0, 100.0)


def test_a_stale_delete_is_409(client, make_annotation):
    annotation = make_annotation()
    before = counts()

    response = client.delete(url_of(annotation) + "?version=7")

    assert_refused(response, 409, "the current version is 1", before)
    annotation.refresh_from_db()
    assert not annotation.is_deleted


def test_patching_a_deleted_annotation_is_409(client, make_annotation):
    annotation = make_annotation()
    client.delete(url_of(annotation))
    before = counts()

    response = patch(client, url_of(annotation), {"version": 2, "geometry": square(0, 0)})

    assert_refused(response, 409, "The annotation is deleted; restore it first", before)
    assert response.json()["current"]["properties"]["deleted"] is True


def test_deleting_twice_is_409(client, make_annotation):
    annotation = make_annotation()
    client.delete(url_of(annotation))
    before = counts()

    response = client.delete(url_of(annotation))

    assert_refused(response, 409, "already deleted", before)


def test_restoring_a_live_annotation_is_409(client, make_annotation):
    annotation = make_annotation()
    before = counts()

    response = post(client, url_of(annotation, "annotation_restore"), {})

    assert_refused(response, 409, "already not deleted", before)


PATCH_REFUSALS = {
    "no version": ({"geometry": square(0, 0)}, 400, "version must be", "version"),
    "version a string": ({"version": "1"}, 400, "version must be", "version"),
    "geometry invalid": (
        {"version": 1, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
        400,
        "has 2 positions",
        "geometry",
    ),
    "kind unfit for the geometry": (
        {"version": 1, "properties": {"kind": "line"}},
        400,
        "A line needs a LineString",
        "geometry",
    ),
    "unknown label": ({"version": 1, "properties": {"label": 999999}}, 400, "No label", "label"),
    "comment not text": ({"version": 1, "properties": {"comment": []}}, 400, "comment", "comment"),
    "invalid JSON": ("{", 400, "not valid JSON", None),
}


@pytest.mark.parametrize("case", PATCH_REFUSALS)
def test_patch_refusals_change_nothing(client, make_annotation, case):
    annotation = make_annotation()
    body, status, message, field = PATCH_REFUSALS[case]
    before = counts()

    response = patch(client, url_of(annotation), body)

    assert_refused(response, status, message, before, field)
    annotation.refresh_from_db()
    assert annotation.version == 1 and annotation.geometry == square(100.0, 100.0)


def test_patch_to_an_archived_label_is_refused(client, make_annotation, labels):
    annotation = make_annotation()
    Annotation.objects.none()
    labels["Necrosis"].is_archived = True
    labels["Necrosis"].save()
    before = counts()

    response = patch(
        client, url_of(annotation), {"version": 1, "properties": {"label": labels["Necrosis"].pk}}
    )

    assert_refused(response, 400, "is archived", before, "label")


def test_a_bad_delete_version_is_400(client, make_annotation):
    annotation = make_annotation()
    before = counts()

    response = client.delete(url_of(annotation) + "?version=two")

    assert_refused(response, 400, "version must be a whole number", before, "version")


def test_someone_elses_annotation_is_404_to_an_annotator(
    client, make_annotation, second_assignment
):
    theirs = make_annotation(on=second_assignment)
    before = counts()

    for response in (
        client.get(url_of(theirs)),
        patch(client, url_of(theirs), {"version": 1, "properties": {"name": "x"}}),
        client.delete(url_of(theirs)),
    ):
        assert_refused(response, 404, "No such annotation", before)


def test_a_manager_sees_but_may_not_change(client, make_annotation, manager):
    annotation = make_annotation()
    client.force_login(manager)
    before = counts()

    assert client.get(url_of(annotation)).status_code == 200
    response = patch(client, url_of(annotation), {"version": 1, "properties": {"name": "x"}})
    assert_refused(response, 403, "Only the assignee", before)
    assert_refused(client.delete(url_of(annotation)), 403, "Only the assignee", before)


def test_an_unknown_annotation_is_404(client):
    response = client.get(reverse("annotations:annotation", args=[123456789]))

    assert response.status_code == 404 and response.json() == {"error": "No such annotation."}


def test_an_unknown_slide_is_404(client):
    response = client.get(reverse("annotations:slide_annotations", args=[123456789]))

    assert response.status_code == 404 and response.json() == {"error": "No such slide."}


def test_anonymous_gets_401_json_not_a_redirect(client, create_url, make_annotation):
    annotation = make_annotation()
    anonymous = Client()
    before = counts()

    for response in (
        anonymous.get(create_url),
        anonymous.get(url_of(annotation)),
        anonymous.get(url_of(annotation, "annotation_history")),
    ):
        assert_refused(response, 401, "Log in", before)


def test_a_wrong_method_is_405_json(client, create_url, make_annotation):
    annotation = make_annotation()
    before = counts()

    response = client.put(create_url, "{}", content_type="application/json")
    history = client.post(url_of(annotation, "annotation_history"))

    assert_refused(response, 405, "Use GET or POST", before)
    assert response["Allow"] == "GET, POST"
    assert_refused(history, 405, "Use GET here", before)


def test_csrf_is_enforced_with_a_json_answer(assignment, create_url, labels, make_annotation):
    annotation = make_annotation()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(assignment.assignee)
    before = counts()

    responses = [
        post(strict, create_url, feature(assignment, labels["Tumour"])),
        patch(strict, url_of(annotation), {"version": 1, "properties": {"name": "x"}}),
        strict.delete(url_of(annotation)),
    ]

    for response in responses:
        assert_refused(response, 403, "CSRF check failed", before)


def test_csrf_passes_with_the_header(assignment, create_url, labels):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(assignment.assignee)
    strict.get(reverse("home"))
    token = strict.cookies["csrftoken"].value

    response = strict.post(
        create_url,
        json.dumps(feature(assignment, labels["Tumour"])),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 201


def test_csrf_failure_elsewhere_is_an_html_page_not_json(annotator):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(annotator)

    response = strict.post(reverse("logout"))

    assert response.status_code == 403 and b"This form could not be sent" in response.content
    assert response["Content-Type"].startswith("text/html")
