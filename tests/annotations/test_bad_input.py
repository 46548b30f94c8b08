"""Odd values in every place of a request: always a JSON refusal, never a server error."""

import itertools
import json

import pytest
from django.urls import reverse

from tests.annotations.conftest import counts, square

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
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


PLACES = [
    ("geometry",),
    ("geometry", "type"),
    ("geometry", "coordinates"),
    ("properties",),
    ("properties", "assignment"),
    ("properties", "label"),
    ("properties", "kind"),
    ("properties", "name"),
    ("properties", "comment"),
    ("properties", "uuid"),
]


@pytest.mark.parametrize("path", PLACES, ids="/".join)
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
