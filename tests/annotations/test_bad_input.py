"""Odd values in every place of a request: always a JSON refusal, never a server error."""

import itertools
import json
import logging
import socket
from contextlib import closing, contextmanager

import psycopg2
import pytest
from django.db import connection
from django.urls import reverse

from tests.annotations.conftest import BODY_PLACES, counts, replaced, square

pytestmark = pytest.mark.django_db

ODD = [
    None,
    True,
    0,
    -1,
    1.5,
    10**30,
    "",
    "x",
    "1",
    [],
    {},
    [[]],
    [[[]]],
    [None],
    {"type": "Polygon"},
    float("nan"),
    float("inf"),
]


@pytest.fixture
def client(client, assignment):
    client.force_login(assignment.assignee)
    return client


def body_with(assignment, labels, path, value):
    body = {
        "type": "Feature",
        "geometry": square(10, 10),
        "properties": {
            "assignment": assignment.pk,
            "label": labels["Tumour"].pk,
            "kind": "polygon",
        },
    }
    return replaced(body, path, value)


@pytest.mark.parametrize("path", BODY_PLACES, ids="/".join)
def test_create_never_fails_on_odd_values(client, slide, assignment, labels, path):
    url = reverse("annotations:slide_annotations", args=[slide.pk])
    for value in ODD:
        body = json.dumps(body_with(assignment, labels, path, value))
        response = client.post(url, body, content_type="application/json")
        assert response.status_code in (200, 201, 400), (value, response.content)
        assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "key, value", list(itertools.product(["version", "geometry", "properties"], ODD))
)
def test_patch_never_fails_on_odd_values(client, make_annotation, key, value):
    annotation = make_annotation()
    url = reverse("annotations:annotation", args=[annotation.pk])
    body = {"version": 1, key: value}
    before = counts()

    response = client.patch(url, json.dumps(body), content_type="application/json")

    assert response.status_code in (200, 400, 409), response.content  # 409: a huge version
    if response.status_code != 200:
        assert counts() == before


@pytest.mark.parametrize("value", ["", "x", "-1", "1e99", "0x10", "١٢"])
def test_query_parameters_never_fail(client, slide, value):
    url = reverse("annotations:slide_annotations", args=[slide.pk])
    for name in ("bbox", "limit", "label", "assignment"):
        response = client.get(url, {name: value})
        assert response.status_code in (200, 400), (name, value, response.content)
    stats = client.get(reverse("annotations:slide_stats", args=[slide.pk]), {"assignment": value})
    assert stats.status_code in (200, 400)


# --- Text PostgreSQL cannot store ------------------------------------------------------------

UNSTORABLE = ["\x00", "tumour\x00", "\ud800", "a\udfffb"]


def with_text(body, place, text):
    """``body`` with ``text`` at ``place``: a dotted path, or "key of X" for a key of X."""
    if place.startswith("key of "):
        target = body
        for key in place.removeprefix("key of ").split("."):
            target = target[key]
        target[text] = "x"
        return body
    *parents, last = place.split(".")
    target = body
    for key in parents:
        target = target[key]
    target[last] = text
    return body


@pytest.mark.parametrize("text", UNSTORABLE, ids=ascii)
@pytest.mark.parametrize(
    "place, field",
    [
        ("properties.name", "properties.name"),
        ("properties.comment", "properties.comment"),
        ("properties.kind", "properties.kind"),
        ("geometry.type", "geometry.type"),
        ("key of properties", "properties"),
        ("key of geometry", "geometry"),
    ],
)
def test_create_refuses_text_postgresql_cannot_store(
    client, slide, assignment, labels, place, field, text
):
    url = reverse("annotations:slide_annotations", args=[slide.pk])
    body = with_text(body_with(assignment, labels, ("type",), "Feature"), place, text)
    before = counts()

    # json.dumps writes \u0000 and \ud800 escapes, which json.loads turns back into them.
    response = client.post(url, json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert "NUL character or an unpaired UTF-16 surrogate" in response.json()["error"]
    assert counts() == before


@pytest.mark.parametrize(
    "encoding, surrogate",
    [("utf-8", b"\xed\xa0\x80"), ("utf-16-le", b"\x00\xd8"), ("utf-32-le", b"\x00\xd8\x00\x00")],
)
def test_create_refuses_a_surrogate_sent_as_raw_bytes(
    client, slide, assignment, labels, encoding, surrogate
):
    url = reverse("annotations:slide_annotations", args=[slide.pk])
    body = json.dumps(body_with(assignment, labels, ("properties", "name"), "NAME"))
    raw = body.encode(encoding).replace("NAME".encode(encoding), surrogate)
    before = counts()

    # json.loads would decode these bytes with "surrogatepass", into U+D800; they are not text.
    response = client.post(url, raw, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json() == {"error": "The request body is not valid JSON."}
    assert counts() == before


def test_a_body_in_utf_16_is_still_json(client, slide, assignment, labels):
    url = reverse("annotations:slide_annotations", args=[slide.pk])
    body = json.dumps(
        body_with(assignment, labels, ("properties", "name"), "é"), ensure_ascii=False
    )

    response = client.post(url, body.encode("utf-16"), content_type="application/json")

    assert response.status_code == 201, response.content
    assert response.json()["properties"]["name"] == "é"


def test_an_escaped_backslash_before_u0000_is_ordinary_text(client, slide, assignment, labels):
    url = reverse("annotations:slide_annotations", args=[slide.pk])
    body = json.dumps(body_with(assignment, labels, ("properties", "name"), "C:\\u0000"))

    response = client.post(url, body, content_type="application/json")

    assert "\\\\u0000" in body
    assert response.status_code == 201, response.content
    assert response.json()["properties"]["name"] == "C:\\u0000"


def test_a_paired_surrogate_is_an_ordinary_character(client, slide, assignment, labels):
    url = reverse("annotations:slide_annotations", args=[slide.pk])
    body = json.dumps(body_with(assignment, labels, ("properties", "name"), "\U0001f52c"))

    response = client.post(url, body, content_type="application/json")

    assert "\\ud83d\\udd2c" in body
    assert response.status_code == 201, response.content
    assert response.json()["properties"]["name"] == "\U0001f52c"


@pytest.mark.parametrize("text", UNSTORABLE, ids=ascii)
@pytest.mark.parametrize("key", ["name", "comment"])
def test_patch_refuses_text_postgresql_cannot_store(client, make_annotation, key, text):
    annotation = make_annotation(name="before", comment="before")
    url = reverse("annotations:annotation", args=[annotation.pk])
    body = {"version": 1, "properties": {key: text}}
    before = counts()

    response = client.patch(url, json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["field"] == f"properties.{key}"
    assert counts() == before
    annotation.refresh_from_db()
    assert (annotation.name, annotation.comment, annotation.version) == ("before", "before", 1)


def test_restore_refuses_a_nul_in_a_key(client, make_annotation):
    annotation = make_annotation()
    client.delete(reverse("annotations:annotation", args=[annotation.pk]))
    url = reverse("annotations:annotation_restore", args=[annotation.pk])
    before = counts()

    response = client.post(url, json.dumps({"version\x00": 2}), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"].startswith("A key of the body holds a NUL character")
    assert counts() == before


def test_a_nul_in_an_api_query_string_is_a_json_400(client, slide):
    url = reverse("annotations:slide_annotations", args=[slide.pk])

    response = client.get(url, {"label": "1\x00"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "The query parameter “label” holds a NUL character" in response.json()["error"]


# --- Bodies that are not JSON ----------------------------------------------------------------


@pytest.fixture
def bodies_elsewhere(client, slide, make_annotation):
    """(method, url) of each request that takes a body, against the assignee's annotations."""
    annotation = make_annotation()
    deleted = make_annotation(square(300, 300))
    client.delete(reverse("annotations:annotation", args=[deleted.pk]))
    return {
        "create": ("post", reverse("annotations:slide_annotations", args=[slide.pk])),
        "update": ("patch", reverse("annotations:annotation", args=[annotation.pk])),
        "restore": ("post", reverse("annotations:annotation_restore", args=[deleted.pk])),
    }


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data; boundary=BoUnDaRy",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/octet-stream",
        "application/jsonx",
        "",
    ],
)
@pytest.mark.parametrize("request_name", ["create", "update", "restore"])
def test_a_body_that_is_not_json_is_a_415(client, bodies_elsewhere, request_name, content_type):
    method, url = bodies_elsewhere[request_name]
    data = {
        "multipart/form-data; boundary=BoUnDaRy": (
            b'--BoUnDaRy\r\nContent-Disposition: form-data; name="version"\r\n\r\n1\r\n'
            b"--BoUnDaRy--\r\n"
        ),
        "application/x-www-form-urlencoded": b"version=1",
    }.get(content_type, b'{"version": 1}')
    before = counts()

    response = client.generic(method.upper(), url, data, content_type=content_type)

    assert response.status_code == 415, response.content
    assert response["Content-Type"] == "application/json"
    assert "Send the body as JSON with Content-Type: application/json" in response.json()["error"]
    assert counts() == before


def test_the_415_names_what_was_sent(client, bodies_elsewhere):
    _, url = bodies_elsewhere["create"]

    response = client.post(url, {"geometry": "x"})  # the test client's default: multipart

    assert response.status_code == 415
    assert response.json()["error"].endswith("(this one is multipart/form-data).")


def test_a_restore_without_any_body_needs_no_content_type(client, bodies_elsewhere):
    _, url = bodies_elsewhere["restore"]

    response = client.generic("POST", url, b"", content_type="")

    assert response.status_code == 200, response.content
    assert response.json()["properties"]["deleted"] is False


# --- A database that is down -----------------------------------------------------------------


@contextmanager
def database_stopped():
    """Point the connection at a port nobody listens on, as when PostgreSQL is stopped."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port)
    try:
        yield
    finally:
        connection.settings_dict["PORT"] = port
        connection.close()


@pytest.fixture
def api_requests(client, slide, make_annotation):
    annotation = make_annotation()
    url = reverse("annotations:annotation", args=[annotation.pk])
    return [
        ("get", reverse("annotations:slide_annotations", args=[slide.pk]), None),
        ("get", reverse("annotations:slide_stats", args=[slide.pk]), None),
        ("post", reverse("annotations:slide_annotations", args=[slide.pk]), {}),
        ("get", url, None),
        ("patch", url, {"version": 1, "properties": {"name": "x"}}),
        ("delete", url, None),
        ("post", reverse("annotations:annotation_restore", args=[annotation.pk]), {}),
        ("get", reverse("annotations:annotation_history", args=[annotation.pk]), None),
    ]


def send(client, method, url, body):
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


@pytest.mark.django_db(transaction=True)
def test_a_stopped_database_is_a_json_503_and_then_recovers(client, api_requests, caplog):
    with database_stopped(), caplog.at_level(logging.ERROR, logger="wsi2ml.api"):
        answers = [send(client, *request) for request in api_requests]

    for response in answers:
        assert response.status_code == 503, response.content
        assert response.json() == {"error": "The database is unavailable; try again in a moment."}
    assert "database unavailable for GET /api/slides/" in caplog.text
    method, url, body = api_requests[3]
    assert send(client, method, url, body).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_killed_mid_session_is_a_json_503(client, api_requests):
    method, url, body = api_requests[3]
    assert send(client, method, url, body).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    params = connection.get_connection_params()
    with closing(psycopg2.connect(**params)) as other, other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    try:
        # First psycopg2's OperationalError (the server closed the connection), then its
        # InterfaceError (the connection is closed) for every later query on it.
        first, second = send(client, method, url, body), send(client, method, url, body)
    finally:
        connection.close()

    assert (first.status_code, second.status_code) == (503, 503)
    assert second.json()["error"] == "The database is unavailable; try again in a moment."
