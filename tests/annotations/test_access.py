"""Role × URL × expected status for the annotation API."""

import json

import pytest
from django.urls import reverse

from annotations import services
from annotations.models import Annotation, AnnotationRevision
from tasks import services as task_services
from tests import factories
from tests.annotations.conftest import counts, square

pytestmark = pytest.mark.django_db


@pytest.fixture
def personas(assignment, second_assignment, manager, admin_user, outsider, project):
    staff = factories.user_create("staff-member", is_staff=True)
    project.members.add(staff)
    reviewer = factories.user_create("reviewer")
    reviewer.groups.add(factories.role_group("Reviewer"))
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
        "layers": ("get", reverse("layers:slide_layers", args=[slide.pk]), None),
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
# The other annotator's create names the assignee's assignment, which they may not see: the 400
# of an unknown assignment id. Managers see every assignment: 403.
EXPECTED = {
    "viewport": (401, 200, 200, 404, 404, 200, 200, 200),
    "stats": (401, 200, 200, 404, 404, 200, 200, 200),
    "layers": (401, 200, 200, 404, 404, 200, 200, 200),
    "create": (401, 201, 400, 404, 404, 403, 403, 403),
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


# --- What one may not see is answered as if it did not exist ---------------------------------

VIEWERS = ["annotator", "other annotator", "outsider", "manager", "staff"]


@pytest.fixture
def third_party(task, slides, labels, admin_user):
    """A third annotator's assignment with one annotation: none of VIEWERS' own."""
    third = factories.user_create("third")
    third.groups.add(factories.role_group("Annotator"))
    theirs = task_services.assignment_create(
        task=task, assignee=third, slides=slides, actor=admin_user
    )
    annotation, _ = services.annotation_create(
        slide=slides[0],
        assignment=theirs,
        author=third,
        label=labels["Tumour"],
        kind="polygon",
        geometry=square(700, 700),
    )
    return theirs, annotation


def make_it_never_exist(theirs, annotation, other_label) -> None:
    """Remove the third party's assignment, its annotation and the other project's label."""
    AnnotationRevision.objects.filter(annotation=annotation).delete()
    annotation.delete()
    theirs.delete()
    other_label.delete()


@pytest.fixture
def viewers(assignment, second_assignment, manager, outsider, project):
    staff = factories.user_create("staff-member", is_staff=True)
    project.members.add(staff)
    return {
        "annotator": assignment.assignee,
        "other annotator": second_assignment.assignee,
        "outsider": outsider,
        "manager": manager,
        "staff": staff,
    }


def hidden_requests(viewer, *, slide, assignment, second_assignment, labels, other_label, theirs):
    """name: (method, url, body) of a request about something ``viewer`` does not own."""
    theirs_assignment, their_annotation = theirs
    own = second_assignment if viewer == "other annotator" else assignment
    mine = Annotation.objects.filter(assignment=assignment).first()

    def create(on, label):
        properties = {"assignment": on, "label": label, "kind": "polygon"}
        return {"geometry": square(500, 500), "properties": properties}

    def url(name, pk):
        return reverse(f"annotations:{name}", args=[pk])

    slide_url = url("slide_annotations", slide.pk)
    return {
        "create on their assignment": (
            "post",
            slide_url,
            create(theirs_assignment.pk, labels["Tumour"].pk),
        ),
        "create with a foreign label": ("post", slide_url, create(own.pk, other_label.pk)),
        "relabel to a foreign label": (
            "patch",
            url("annotation", mine.pk),
            {"version": 1, "properties": {"label": other_label.pk}},
        ),
        "read theirs": ("get", url("annotation", their_annotation.pk), None),
        "update theirs": (
            "patch",
            url("annotation", their_annotation.pk),
            {"version": 1, "properties": {"name": "x"}},
        ),
        "delete theirs": ("delete", url("annotation", their_annotation.pk), None),
        "restore theirs": ("post", url("annotation_restore", their_annotation.pk), {}),
        "history of theirs": ("get", url("annotation_history", their_annotation.pk), None),
        "viewport of their assignment": (
            "get",
            f"{slide_url}?assignment={theirs_assignment.pk}",
            None,
        ),
        "stats of their assignment": (
            "get",
            f"{url('slide_stats', slide.pk)}?assignment={theirs_assignment.pk}",
            None,
        ),
    }


# request: (annotator, other annotator, outsider, manager, staff); a number is the status both
# while the thing exists and once it never did, with the same body; a pair (while it exists,
# once it never did) is for those who may see it, whose answers may differ.
HIDDEN = {
    "create on their assignment": (400, 400, 404, (403, 400), (403, 400)),
    "create with a foreign label": (400, 400, 404, 400, 400),
    "relabel to a foreign label": (400, 404, 404, 400, 400),
    "read theirs": (404, 404, 404, (200, 404), (200, 404)),
    "update theirs": (404, 404, 404, (403, 404), (403, 404)),
    "delete theirs": (404, 404, 404, (403, 404), (403, 404)),
    "restore theirs": (404, 404, 404, (403, 404), (403, 404)),
    "history of theirs": (404, 404, 404, (200, 404), (200, 404)),
    "viewport of their assignment": (200, 200, 404, (200, 200), (200, 200)),
    "stats of their assignment": (200, 200, 404, (200, 200), (200, 200)),
}


def answer(client, method, url, body):
    if body is None:
        response = getattr(client, method)(url)
    else:
        response = getattr(client, method)(url, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


@pytest.mark.parametrize("request_name", HIDDEN)
@pytest.mark.parametrize("viewer", VIEWERS)
def test_what_one_may_not_see_is_answered_as_if_it_never_existed(
    client_for,
    viewers,
    viewer,
    request_name,
    slide,
    assignment,
    second_assignment,
    labels,
    other_label,
    third_party,
    make_annotation,
):
    make_annotation()
    method, url, body = hidden_requests(
        viewer,
        slide=slide,
        assignment=assignment,
        second_assignment=second_assignment,
        labels=labels,
        other_label=other_label,
        theirs=third_party,
    )[request_name]
    client = client_for(viewers[viewer])
    before = counts()

    while_it_exists = answer(client, method, url, body)
    assert counts() == before
    make_it_never_exist(*third_party, other_label)
    once_it_never_did = answer(client, method, url, body)

    expected = HIDDEN[request_name][VIEWERS.index(viewer)]
    if isinstance(expected, int):
        assert while_it_exists == once_it_never_did
        assert while_it_exists[0] == expected, while_it_exists
    else:
        assert (while_it_exists[0], once_it_never_did[0]) == expected
