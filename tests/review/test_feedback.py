"""What an annotator reads of the review of their work: the verdicts on their own annotations
and why a slide was sent back, through the API and on their work page (feedback_config)."""

import pytest
from django.urls import reverse

from review import selectors, services
from tasks import roles
from tasks import services as task_services
from tests import factories
from tests.review.conftest import feedback_url, review_item, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_review(review_task, slides, admin_user, review_assignment):
    """Another reviewer's share of the same review task."""
    return task_services.assignment_create(
        task=review_task,
        assignee=factories.user_create("reviewer-2", role=roles.REVIEWER),
        slides=slides,
        actor=admin_user,
    )


def give(review_assignment, annotation, kind, **extra):
    return services.verdict_set(
        review_assignment=review_assignment,
        annotation=annotation,
        reviewer=review_assignment.assignee,
        kind=kind,
        **extra,
    )


@pytest.fixture
def reviewed(review_assignment, second_review, drawn, labels, slides, work):
    """Verdicts on slide 0: reviewer agrees with pathologist's Tumour and relabels the Stroma
    square as Necrosis, reviewer-2 rejects the Tumour; reviewer agrees with second's square.
    Reviewer then sends slide 0 back to pathologist."""
    tumour, stroma = drawn["pathologist", 0]
    _, mine, _ = work
    give(review_assignment, tumour, "agree", comment="Clear.")
    give(review_assignment, stroma, "wrong_label", label=labels["Necrosis"])
    give(second_review, tumour, "reject")
    give(review_assignment, drawn["second", 0][0], "agree")
    services.slide_send_back(
        item=review_item(review_assignment, slides[0]),
        assignment=mine,
        reviewer=review_assignment.assignee,
        note="Relabel the square.",
    )
    return tumour, stroma


def test_the_annotator_reads_the_verdicts_on_their_own_work(
    client_for, people, reviewed, work, slides, labels
):
    tumour, stroma = reviewed
    _, mine, _ = work

    response = send(client_for(people["pathologist"]), "get", feedback_url(slides[0], mine))

    assert response.status_code == 200, response.content
    body = response.json()
    seen = [(v["annotation"], v["verdict"], v["reviewer"], v["label"]) for v in body["verdicts"]]
    assert seen == [
        (tumour.pk, "agree", "reviewer", None),
        (tumour.pk, "reject", "reviewer-2", None),
        (stroma.pk, "wrong_label", "reviewer", labels["Necrosis"].pk),
    ]
    assert body["verdicts"][0]["comment"] == "Clear."
    assert body["summary"] == {"agree": 1, "wrong_label": 1, "wrong_region": 0, "reject": 1}
    assert [(s["note"], s["reviewer"]) for s in body["sentBack"]] == [
        ("Relabel the square.", "reviewer")
    ]
    assert set(body["sentBack"][0]) == {"note", "reviewer", "at"}
    assert body["truncated"] is False


def test_an_annotator_reads_nothing_of_another_annotators_review(
    client_for, people, reviewed, work, slides, drawn
):
    _, mine, theirs = work

    own = send(client_for(people["second"]), "get", feedback_url(slides[0], theirs)).json()
    other = send(client_for(people["second"]), "get", feedback_url(slides[0], mine))

    assert [v["annotation"] for v in own["verdicts"]] == [drawn["second", 0][0].pk]
    assert own["sentBack"] == []
    assert other.status_code == 404


def test_withdrawn_verdicts_and_deleted_annotations_leave_the_feedback(
    client_for, people, reviewed, review_assignment, second_review, work, slides
):
    tumour, stroma = reviewed
    _, mine, _ = work
    services.verdict_withdraw(
        review_assignment=second_review, annotation=tumour, reviewer=second_review.assignee
    )
    stroma.is_deleted = True
    stroma.save()

    body = send(client_for(people["pathologist"]), "get", feedback_url(slides[0], mine)).json()

    assert [(v["annotation"], v["verdict"]) for v in body["verdicts"]] == [(tumour.pk, "agree")]
    assert body["summary"] == {"agree": 1, "wrong_label": 0, "wrong_region": 0, "reject": 0}


def test_the_feedback_is_bounded(reviewed, work, slides, monkeypatch):
    _, mine, _ = work
    monkeypatch.setattr(selectors, "MAX_FEEDBACK", 2)

    body = selectors.feedback_for(assignment=mine, slide=slides[0])

    assert len(body["verdicts"]) == 2
    assert body["truncated"] is True
    assert sum(body["summary"].values()) == 3


def test_a_manager_of_the_project_reads_the_feedback(client_for, people, reviewed, work, slides):
    _, mine, _ = work

    response = send(client_for(people["manager"]), "get", feedback_url(slides[0], mine))

    assert response.status_code == 200
    assert len(response.json()["verdicts"]) == 3


# --- On the work page ------------------------------------------------------------------------


def work_page(client, assignment, slide):
    return client.get(reverse("annotations:work", args=[assignment.pk, slide.pk]))


def test_the_work_page_carries_the_feedback_of_a_reviewed_slide(
    client_for, people, reviewed, work, slides
):
    _, mine, _ = work

    response = work_page(client_for(people["pathologist"]), mine, slides[0])

    assert response.status_code == 200
    config = response.context["feedback_config"]
    assert config["assignment"] == mine.pk
    assert config == {
        "assignment": mine.pk,
        **selectors.feedback_for(assignment=mine, slide=slides[0]),
        "urls": {"feedback": feedback_url(slides[0], mine)},
    }
    assert config["sentBack"][0]["note"] == "Relabel the square."


def test_the_work_page_of_a_slide_without_feedback_carries_none(
    client_for, people, reviewed, work, slides
):
    _, mine, _ = work

    response = work_page(client_for(people["pathologist"]), mine, slides[1])

    assert response.status_code == 200
    assert "feedback_config" not in response.context


def test_a_slide_only_sent_back_carries_the_note(
    client_for, people, review_assignment, work, slides
):
    _, _, theirs = work
    services.slide_send_back(
        item=review_item(review_assignment, slides[1]),
        assignment=theirs,
        reviewer=review_assignment.assignee,
        note="Too coarse.",
    )

    response = work_page(client_for(people["second"]), theirs, slides[1])

    config = response.context["feedback_config"]
    assert (config["verdicts"], [s["note"] for s in config["sentBack"]]) == ([], ["Too coarse."])


def test_someone_elses_work_page_carries_no_feedback(client_for, people, reviewed, work, slides):
    _, mine, _ = work

    response = work_page(client_for(people["second"]), mine, slides[0])

    assert response.status_code == 404
    assert "feedback_config" not in (response.context or {})
