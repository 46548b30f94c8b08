"""Property tests of the annotation API: whatever is sent, the answer is JSON, never a 500, and a
refused request changes nothing."""

import json

import pytest
from django.urls import reverse
from hypothesis import example, given, settings
from hypothesis import strategies as st

from annotations.models import Annotation
from tests import strategies as hostile
from tests.annotations.conftest import BODY_PLACES, counts, replaced, square

pytestmark = pytest.mark.django_db

ANSWERS = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415}


def state() -> tuple:
    """Everything a write could change: row counts, and each annotation's mutable fields."""
    rows = Annotation.objects.order_by("pk").values_list(
        "pk", "version", "is_deleted", "label_id", "kind", "name", "comment", "x0", "y0"
    )
    return counts(), list(rows)


def assert_json_answer(response, before) -> None:
    assert response.status_code in ANSWERS, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/json", response.content[:500]
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body["error"], str) and body["error"], body
        assert state() == before


@pytest.fixture
def world(client, slide, assignment, second_assignment, labels, make_annotation):
    """The assignee logged in, with a live, a deleted and someone else's annotation."""
    live = make_annotation(name="live", comment="as drawn")
    deleted = make_annotation(square(300, 300))
    deleted.is_deleted = True
    deleted.save()
    theirs = make_annotation(square(600, 600), on=second_assignment)
    client.force_login(assignment.assignee)
    return {
        "client": client,
        "slide": slide,
        "assignment": assignment,
        "labels": labels,
        "annotations": [live, deleted, theirs],
    }


def feature(world) -> dict:
    return {
        "type": "Feature",
        "geometry": square(10, 10),
        "properties": {
            "assignment": world["assignment"].pk,
            "label": world["labels"]["Tumour"].pk,
            "kind": "polygon",
        },
    }


PLACES = [
    (),
    *BODY_PLACES,
    ("geometry", "coordinates", 0),
    ("geometry", "coordinates", 0, 1),
    ("geometry", "coordinates", 0, 1, 0),
    ("properties", "version"),
    ("version",),
]


def raw_at(document: dict, place: tuple, raw: str) -> str:
    """JSON text of ``document`` with the JSON text ``raw`` at ``place``."""
    return json.dumps(replaced(document, place, "__RAW__")).replace('"__RAW__"', raw)


def send(client, method: str, url: str, body: str | bytes, content_type="application/json"):
    return client.generic(method, url, body, content_type=content_type)


@hostile.PROPERTIES
@given(query=hostile.query_strings(["bbox", "label", "assignment", "limit"]))
@example(query="bbox=0,0,1e999,1&limit=%C2%B2&label=1,%D9%A1")
def test_viewport_and_stats_answer_any_query_string(world, query):
    slide = world["slide"].pk
    for name in ("slide_annotations", "slide_stats"):
        before = state()
        url = reverse(f"annotations:{name}", args=[slide])

        response = world["client"].get(f"{url}?{query}")

        assert_json_answer(response, before)


@hostile.PROPERTIES
@given(place=st.sampled_from(PLACES), value=hostile.json_values)
def test_create_answers_any_value_anywhere(world, place, value):
    url = reverse("annotations:slide_annotations", args=[world["slide"].pk])
    body = json.dumps(replaced(feature(world), place, value))
    before = state()

    response = send(world["client"], "POST", url, body)

    assert_json_answer(response, before)


TEXT_PLACES = [
    ("properties", "name"),
    ("properties", "comment"),
    ("properties", "kind"),
    ("properties", "uuid"),
    ("geometry", "type"),
    ("type",),
]


@hostile.PROPERTIES
@given(place=st.sampled_from(TEXT_PLACES), value=hostile.text)
@example(place=("properties", "name"), value="\x00")  # was a 500
@example(place=("properties", "comment"), value="\ud800")  # was a 500
def test_create_answers_any_text_in_any_text_field(world, place, value):
    url = reverse("annotations:slide_annotations", args=[world["slide"].pk])
    body = json.dumps(replaced(feature(world), place, value))
    before = state()

    response = send(world["client"], "POST", url, body)

    assert_json_answer(response, before)


@hostile.PROPERTIES
@given(place=st.sampled_from(TEXT_PLACES), value=hostile.text)
@example(place=("properties", "comment"), value="\x00")  # was a 500
@example(place=("properties", "name"), value="\udfff")  # was a 500
def test_patch_answers_any_text_in_any_text_field(world, place, value):
    annotation = Annotation.objects.get(pk=world["annotations"][0].pk)
    url = reverse("annotations:annotation", args=[annotation.pk])
    body = json.dumps(replaced({"version": annotation.version, **feature(world)}, place, value))
    before = state()

    response = send(world["client"], "PATCH", url, body)

    assert_json_answer(response, before)


@hostile.PROPERTIES
@given(place=st.sampled_from(PLACES), raw=hostile.deep_json())
@example(place=("geometry", "coordinates"), raw="[" * 100_000 + "]" * 100_000)
@example(place=("geometry", "coordinates"), raw="[" * 900 + "1, 2" + "]" * 900)
def test_create_answers_any_nesting_anywhere(world, place, raw):
    url = reverse("annotations:slide_annotations", args=[world["slide"].pk])
    before = state()

    response = send(world["client"], "POST", url, raw_at(feature(world), place, raw))

    assert_json_answer(response, before)


CONTENT_TYPES = [
    "application/json",
    "application/json; charset=latin-1",
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "application/x-www-form-urlencoded",
    "text/plain",
    "",
]
MULTIPART = b'--x\r\nContent-Disposition: form-data; name="geometry"\r\n\r\n{}\r\n--x--\r\n'
# Bodies a client could well send, each with its content type, or with a wrong one.
BODIES = [
    ("multipart/form-data; boundary=x", MULTIPART),
    ("application/x-www-form-urlencoded", b"version=1&name=x"),
    ("text/plain", b'{"version": 1}'),
    ("", b'{"version": 1}'),
    ("application/json", b'{"version": 1}'),
]
content_types = st.one_of(
    st.sampled_from(CONTENT_TYPES), st.text(st.characters(codec="latin-1"), max_size=40)
)


@settings(hostile.PROPERTIES, max_examples=80)
@given(
    sent=st.one_of(
        st.sampled_from(BODIES),
        st.tuples(content_types, st.sampled_from([body for _, body in BODIES])),
        st.tuples(content_types, st.binary(max_size=300) | hostile.text.map(hostile.encode)),
    ),
    method=st.sampled_from(["POST", "PATCH", "PUT", "DELETE", "GET"]),
)
@example(sent=BODIES[0], method="POST")  # was a 500
def test_any_bytes_under_any_content_type_get_a_json_answer(world, sent, method):
    content_type, body = sent
    live = world["annotations"][0]
    urls = [
        reverse("annotations:slide_annotations", args=[world["slide"].pk]),
        reverse("annotations:annotation", args=[live.pk]),
        reverse("annotations:annotation_restore", args=[live.pk]),
    ]
    for url in urls:
        before = state()

        response = send(world["client"], method, url, body, content_type)

        assert_json_answer(response, before)


@hostile.PROPERTIES
@given(
    which=st.sampled_from([0, 1, 2]),
    place=st.sampled_from(PLACES),
    value=hostile.json_values,
    raw=st.none() | hostile.deep_json(max_depth=2000),
)
def test_patch_answers_any_value_anywhere(world, which, place, value, raw):
    annotation = Annotation.objects.get(pk=world["annotations"][which].pk)
    url = reverse("annotations:annotation", args=[annotation.pk])
    document = {"version": annotation.version, **feature(world)}
    if raw is None:
        body = json.dumps(replaced(document, place, value))
    else:
        body = raw_at(document, place, raw)
    before = state()

    response = send(world["client"], "PATCH", url, body)

    assert_json_answer(response, before)


@hostile.PROPERTIES
@given(
    which=st.sampled_from([0, 1, 2]),
    version=hostile.query_values,
    body=st.one_of(
        st.just(""),
        hostile.json_values.map(json.dumps),
        hostile.json_values.map(lambda version: json.dumps({"version": version})),
    ),
)
def test_delete_and_restore_answer_any_version(world, which, version, body):
    annotation = world["annotations"][which]
    url = reverse("annotations:annotation", args=[annotation.pk])
    restore = reverse("annotations:annotation_restore", args=[annotation.pk])

    before = state()
    assert_json_answer(world["client"].delete(f"{url}?version={version}"), before)
    before = state()
    assert_json_answer(send(world["client"], "POST", restore, body), before)


@hostile.PROPERTIES
@given(
    segment=st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        hostile.plain_text.map(hostile.encode),
        st.sampled_from(["0", "00000000000001", "1.0", "١", "²", "%00", "..", "%2e%2e", ""]),
    ),
    suffix=st.sampled_from(["", "/history", "/restore", "/", "/history/"]),
    method=st.sampled_from(["GET", "PATCH", "DELETE", "POST"]),
)
def test_any_annotation_id_gets_a_json_answer(world, segment, suffix, method):
    before = state()

    response = send(world["client"], method, f"/api/annotations/{segment}{suffix}", "{}")

    assert_json_answer(response, before)


@hostile.PROPERTIES
@given(
    segment=st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        hostile.plain_text.map(hostile.encode),
    ),
    suffix=st.sampled_from(["/annotations", "/annotations/stats", "/annotations/"]),
    query=hostile.query_strings(["bbox", "limit"]),
)
def test_any_slide_id_gets_a_json_answer(world, segment, suffix, query):
    before = state()

    response = world["client"].get(f"/api/slides/{segment}{suffix}?{query}")

    assert_json_answer(response, before)


@hostile.PROPERTIES
@given(persona=st.sampled_from(["other", "manager", "outsider", "anonymous"]), data=st.data())
def test_other_personas_get_json_answers_too(
    world, second_assignment, manager, outsider, persona, data
):
    users = {
        "other": second_assignment.assignee,
        "manager": manager,
        "outsider": outsider,
        "anonymous": None,
    }
    client = world["client"]
    client.logout()
    if users[persona] is not None:
        client.force_login(users[persona])
    live = world["annotations"][0]
    place = data.draw(st.sampled_from(PLACES))
    value = data.draw(hostile.json_values)
    requests = [
        ("POST", reverse("annotations:slide_annotations", args=[world["slide"].pk])),
        ("PATCH", reverse("annotations:annotation", args=[live.pk])),
        ("POST", reverse("annotations:annotation_restore", args=[live.pk])),
    ]
    for method, url in requests:
        before = state()
        body = json.dumps(replaced({"version": 1, **feature(world)}, place, value))

        response = send(client, method, url, body)

        assert_json_answer(response, before)
