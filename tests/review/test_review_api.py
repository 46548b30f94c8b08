"""Persona × request × expected status for the review API, what each answer holds, bad input,
and that nothing changes on refusal."""

import pytest
from django.urls import resolve

from review import selectors, services
from review.models import Verdict
from tests import factories
from tests.review.conftest import (
    feedback_url,
    history_url,
    review_item,
    send,
    slide_url,
    state,
    verdict_url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def given(review_assignment, drawn, people):
    """Reviewer's verdict on pathologist's Stroma square of slide 0."""
    return services.verdict_set(
        review_assignment=review_assignment,
        annotation=drawn["pathologist", 0][1],
        reviewer=people["reviewer"],
        kind="agree",
    )


@pytest.fixture
def requests(review_assignment, work, drawn, slides, given, elsewhere):
    _, mine, _ = work
    target = drawn["pathologist", 0][1]
    slide = slides[0]
    return {
        "items": ("get", slide_url("items", review_assignment, slide), None),
        "verdict": ("get", verdict_url(review_assignment, target), None),
        "give": ("put", verdict_url(review_assignment, target), {"verdict": "reject"}),
        "comment": ("patch", verdict_url(review_assignment, target), {"comment": "Why?"}),
        "withdraw": ("delete", verdict_url(review_assignment, target), None),
        "history": ("get", history_url(review_assignment, target), None),
        "reviewed": ("post", slide_url("slide_reviewed", review_assignment, slide), {}),
        "reopen": ("post", slide_url("slide_reopen", review_assignment, slide), {}),
        "send back": (
            "post",
            slide_url("send_back", review_assignment, slide),
            {"assignment": mine.pk, "note": "Outline the invasive front again."},
        ),
        "feedback": ("get", feedback_url(slide, mine), None),
    }


PERSONAS = [
    "anonymous",
    "reviewer",
    "pathologist",
    "second",
    "other reviewer",
    "manager",
    "other manager",
    "staff",
    "outsider",
    "superuser",
]
# Managers (and staff members of the project, and superusers) see the review but may not change
# it (403). Everyone else is answered as if it did not exist (404), including the annotators
# under review and the reviewer of another project's work on the same slide. Feedback is the
# annotator's (pathologist's) and their managers'.
# request:   (anon, reviewer, patholog., second, o. reviewer, manager, o. manager, staff, outs., su)
EXPECTED = {
    "items": (401, 200, 404, 404, 404, 200, 404, 200, 404, 200),
    "verdict": (401, 200, 404, 404, 404, 200, 404, 200, 404, 200),
    "give": (401, 200, 404, 404, 404, 403, 404, 403, 404, 403),
    "comment": (401, 200, 404, 404, 404, 403, 404, 403, 404, 403),
    "withdraw": (401, 200, 404, 404, 404, 403, 404, 403, 404, 403),
    "history": (401, 200, 404, 404, 404, 200, 404, 200, 404, 200),
    "reviewed": (401, 200, 404, 404, 404, 403, 404, 403, 404, 403),
    "reopen": (401, 200, 404, 404, 404, 403, 404, 403, 404, 403),
    "send back": (401, 201, 404, 404, 404, 403, 404, 403, 404, 403),
    "feedback": (401, 404, 200, 404, 404, 200, 404, 200, 404, 200),
}
READS = {"items", "verdict", "history", "feedback"}


@pytest.mark.parametrize("request_name", EXPECTED)
@pytest.mark.parametrize("persona", PERSONAS)
def test_access(client_for, people, requests, request_name, persona):
    expected = EXPECTED[request_name][PERSONAS.index(persona)]
    method, url, body = requests[request_name]
    client = client_for(people[persona])
    before = state()

    response = send(client, method, url, body)

    assert response.status_code == expected, response.content
    assert response["Content-Type"] == "application/json"
    if expected >= 400:
        assert "error" in response.json()
    if expected >= 400 or request_name in READS:
        assert state() == before


def test_the_refusal_of_an_unseen_review_is_that_of_one_that_does_not_exist(
    client_for, people, review_assignment, drawn, slides
):
    client = client_for(people["second"])
    target = drawn["pathologist", 0][0]
    missing = type(review_assignment)(pk=999_999)

    for url, nowhere in [
        (slide_url("items", review_assignment, slides[0]), slide_url("items", missing, slides[0])),
        (verdict_url(review_assignment, target), verdict_url(missing, target)),
    ]:
        seen, unseen = send(client, "get", url), send(client, "get", nowhere)
        assert (seen.status_code, seen.json()) == (unseen.status_code, unseen.json())


def test_an_annotation_outside_the_review_is_answered_as_one_that_does_not_exist(
    client_for, people, review_assignment, elsewhere
):
    client = client_for(people["reviewer"])
    _, _, lung = elsewhere
    missing = type(lung)(pk=999_999)

    outside = send(client, "put", verdict_url(review_assignment, lung), {"verdict": "agree"})
    nowhere = send(client, "put", verdict_url(review_assignment, missing), {"verdict": "agree"})

    assert outside.status_code == nowhere.status_code == 404
    assert outside.json() == nowhere.json() == {"error": "No such annotation under this review."}


# --- What the answers hold ----------------------------------------------------------------------


def test_the_items_are_the_work_under_review_by_annotator_with_their_verdicts(
    client_for, people, review_assignment, drawn, slides, given, work, labels
):
    _, mine, theirs = work
    later = factories.annotation_draw(
        assignment=mine, slide=slides[0], label=labels["Tumour"], geometry=factories.square(9, 9)
    )

    body = send(
        client_for(people["reviewer"]), "get", slide_url("items", review_assignment, slides[0])
    ).json()

    tumour, stroma = drawn["pathologist", 0]
    seconds = drawn["second", 0][0]
    assert [item["annotation"] for item in body["items"]] == [
        tumour.pk,
        stroma.pk,
        later.pk,  # drawn after second's, listed with pathologist's
        seconds.pk,
    ]
    assert body["items"][0] == {
        "annotation": tumour.pk,
        "assignment": mine.pk,
        "annotator": "pathologist",
        "label": tumour.label_id,
        "kind": "polygon",
        "name": "",
        "bbox": [100.0, 100.0, 200.0, 200.0],
        "verdict": None,
    }
    assert body["items"][1]["verdict"] == selectors.verdict_json(given)
    assert body["items"][3]["assignment"] == theirs.pk
    assert (body["reviewed"], body["total"], body["truncated"]) == (1, 4, False)
    assert body["slide"] == {"state": "not_started", "sentBack": []}


def test_the_items_are_bounded_but_the_counts_are_not(
    client_for, people, review_assignment, slides, given, monkeypatch
):
    monkeypatch.setattr(selectors, "MAX_REVIEW_ITEMS", 2)

    body = send(
        client_for(people["reviewer"]), "get", slide_url("items", review_assignment, slides[0])
    ).json()

    assert len(body["items"]) == 2
    assert (body["reviewed"], body["total"], body["truncated"]) == (1, 3, True)


def test_deleted_annotations_are_not_under_review(
    client_for, people, review_assignment, drawn, slides, given
):
    drawn["pathologist", 0][1].is_deleted = True
    drawn["pathologist", 0][1].save()

    body = send(
        client_for(people["reviewer"]), "get", slide_url("items", review_assignment, slides[0])
    ).json()

    assert len(body["items"]) == 2
    assert (body["reviewed"], body["total"]) == (0, 2)


def test_the_review_config_gives_the_page_its_items_labels_and_urls(
    review_assignment, slides, labels, drawn
):
    item = review_item(review_assignment, slides[0])
    labels["Necrosis"].is_archived = True
    labels["Necrosis"].save()

    config = selectors.review_config(item=item)

    assert (config["reviewAssignmentId"], config["slideId"]) == (review_assignment.pk, slides[0].pk)
    assert (config["total"], config["reviewed"], config["truncated"]) == (3, 0, False)
    assert len(config["items"]) == 3
    assert config["slide"] == {"state": "not_started", "sentBack": []}
    assert [label["name"] for label in config["labels"]] == ["Tumour", "Stroma"]
    assert set(config["labels"][0]) == {"id", "name", "colour", "shortcut", "description"}
    urls = config["urls"]
    assert urls["verdict"] == f"/api/review/assignments/{review_assignment.pk}/annotations/"
    assert urls["slide"] == f"/api/review/assignments/{review_assignment.pk}/slides/{slides[0].pk}/"
    assert resolve(urls["items"]).url_name == "items"
    assert resolve(f"{urls['verdict']}17/verdict").url_name == "verdict"
    for action in ("reviewed", "reopen", "send-back", "items"):
        assert resolve(urls["slide"] + action).namespace == "review_api"


def test_the_current_verdict_is_read_alone(client_for, people, review_assignment, given):
    body = send(
        client_for(people["manager"]), "get", verdict_url(review_assignment, given.annotation)
    ).json()

    assert body == {"verdict": selectors.verdict_json(given)}


# --- Bad input ----------------------------------------------------------------------------------


@pytest.fixture
def bad(review_assignment, drawn, slides, work, elsewhere):
    _, mine, _ = work
    target = drawn["pathologist", 0][0]
    verdict, slide = verdict_url(review_assignment, target), slides[0]
    back = slide_url("send_back", review_assignment, slide)
    lung_work, _, _ = elsewhere
    feedback = feedback_url(slide, mine).split("?")[0]
    note = {"assignment": mine.pk}
    return {
        "not JSON": ("put", verdict, "{verdict", 400, ""),
        "not an object": ("put", verdict, ["agree"], 400, "The body"),
        "unknown key": ("put", verdict, {"verdict": "agree", "colour": "red"}, 400, "colour"),
        "no verdict": ("put", verdict, {}, 400, "verdict"),
        "label not an id": ("put", verdict, {"verdict": "wrong_label", "label": "2"}, 400, "label"),
        "geometry not an object": (
            "put", verdict, {"verdict": "wrong_region", "geometry": "square"}, 400, "geometry"
        ),
        "empty comment change": ("patch", verdict, {}, 400, "comment"),
        "comment change of more": (
            "patch", verdict, {"comment": "x", "verdict": "agree"}, 400, "verdict"
        ),
        "no note": ("post", back, note, 400, "note"),
        "blank note": ("post", back, note | {"note": "  \n "}, 400, "note"),
        "note too long": ("post", back, note | {"note": "x" * 10_001}, 400, "note"),
        "assignment not an id": (
            "post", back, {"assignment": "me", "note": "x"}, 400, "assignment"
        ),
        "assignment not under review": (
            "post", back, {"assignment": lung_work.pk, "note": "x"}, 404, ""
        ),
        "reviewed with a parameter": (
            "post", slide_url("slide_reviewed", review_assignment, slide), {"all": True}, 400, "all"
        ),
        "feedback without assignment": ("get", feedback, None, 400, "assignment"),
        "feedback of a bad assignment": (
            "get", f"{feedback}?assignment=x", None, 400, "assignment"
        ),
    }  # fmt: skip


BAD = [
    "not JSON",
    "not an object",
    "unknown key",
    "no verdict",
    "label not an id",
    "geometry not an object",
    "empty comment change",
    "comment change of more",
    "no note",
    "blank note",
    "note too long",
    "assignment not an id",
    "assignment not under review",
    "reviewed with a parameter",
    "feedback without assignment",
    "feedback of a bad assignment",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_refused_with_a_message_and_changes_nothing(
    client_for, people, bad, given, case
):
    method, url, body, status, field = bad[case]
    client = client_for(people["pathologist"] if "feedback" in case else people["reviewer"])
    before = state()

    if isinstance(body, str):
        response = getattr(client, method)(url, body, content_type="application/json")
    else:
        response = send(client, method, url, body)

    assert response.status_code == status, response.content
    assert response.json()["error"]
    assert response.json().get("field", "") == field
    assert state() == before


def test_a_body_that_is_not_json_is_refused_as_such(client_for, people, review_assignment, given):
    url = verdict_url(review_assignment, given.annotation)

    response = client_for(people["reviewer"]).put(url, "verdict=agree", content_type="text/plain")

    assert response.status_code == 415
    assert Verdict.objects.get() == given


@pytest.mark.parametrize(
    ("name", "method"),
    [("items", "post"), ("slide_reviewed", "get"), ("send_back", "put")],
)
def test_a_wrong_method_is_refused(client_for, people, review_assignment, slides, name, method):
    response = getattr(client_for(people["reviewer"]), method)(
        slide_url(name, review_assignment, slides[0])
    )

    assert response.status_code == 405
    assert "error" in response.json()


def test_an_annotation_assignment_is_not_a_review_assignment(client_for, people, work, slides):
    _, mine, _ = work

    response = send(client_for(people["pathologist"]), "get", slide_url("items", mine, slides[0]))

    assert response.status_code == 404
