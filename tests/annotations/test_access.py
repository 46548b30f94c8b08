"""Role × URL × expected status for the annotation API."""

import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from tests import factories
from tests.annotations.conftest import counts, square

pytestmark = pytest.mark.django_db


@pytest.fixture
def personas(assignment, second_assignment, manager, admin_user, outsider):
    staff = factories.user_create("staff-member", is_staff=True)
    reviewer = factories.user_create("reviewer")
    reviewer.groups.add(Group.objects.get(name="Reviewer"))
    return {
        "anonymous": None,
        "assignee": assignment.assignee,
        "other annotator": second_assignment.assignee,
        "outsider": outsider,
        "reviewer": reviewer,
        "manager": manager,
        "staff": staff,
        "superuser": admin_user,
    }


@pytest.fixture
def requests(slide, assignment, labels, make_annotation):
    annotation = make_annotation()
    to_restore = make_annotation(square(300, 300))
    to_restore.is_deleted = True
    to_restore.save()
    create = {
        "geometry": square(500, 500),
        "properties": {
            "assignment": assignment.pk,
            "label": labels["Tumour"].pk,
            "kind": "polygon",
        },
    }

    def url(name, obj):
        return reverse(f"annotations:{name}", args=[obj.pk])

    return {
        "viewport": ("get", url("slide_annotations", slide), None),
        "stats": ("get", url("slide_stats", slide), None),
        "create": ("post", url("slide_annotations", slide), create),
        "read": ("get", url("annotation", annotation), None),
        "update": ("patch", url("annotation", annotation), {"version": 1, "properties": {}}),
        "delete": ("delete", url("annotation", annotation), None),
        "restore": ("post", url("annotation_restore", to_restore), {}),
        "history": ("get", url("annotation_history", annotation), None),
    }


PERSONAS = [
    "anonymous",
    "assignee",
    "other annotator",
    "outsider",
    "reviewer",
    "manager",
    "staff",
    "superuser",
]
# request: (anonymous, assignee, other annotator, outsider, reviewer, manager, staff, superuser)
EXPECTED = {
    "viewport": (401, 200, 200, 404, 404, 200, 200, 200),
    "stats": (401, 200, 200, 404, 404, 200, 200, 200),
    "create": (401, 201, 403, 404, 404, 403, 403, 403),
    "read": (401, 200, 404, 404, 404, 200, 200, 200),
    "update": (401, 200, 404, 404, 404, 403, 403, 403),
    "delete": (401, 200, 404, 404, 404, 403, 403, 403),
    "restore": (401, 200, 404, 404, 404, 403, 403, 403),
    "history": (401, 200, 404, 404, 404, 200, 200, 200),
}


@pytest.mark.parametrize("request_name", EXPECTED)
@pytest.mark.parametrize("persona", PERSONAS)
def test_access(client_for, personas, requests, request_name, persona):
    expected = EXPECTED[request_name][PERSONAS.index(persona)]
    method, url, body = requests[request_name]
    client = client_for(personas[persona])
    before = counts()

    if body is None:
        response = getattr(client, method)(url)
    else:
        response = getattr(client, method)(url, json.dumps(body), content_type="application/json")

    assert response.status_code == expected, response.content
    assert response["Content-Type"] == "application/json"
    if expected >= 400:
        assert "error" in response.json()
        assert counts() == before
