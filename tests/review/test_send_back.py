"""Per slide: marking it reviewed (and reopening it), and sending it back to an annotator with
a note, which reopens their slide and is logged like every delegation change."""

from unittest import mock

import pytest

from review import services
from review.models import SendBack
from tasks import services as task_services
from tasks.models import Assignment, AssignmentSlide, DelegationEvent
from tests.review.conftest import annotator_item, review_item, send, slide_url, state

pytestmark = pytest.mark.django_db

NOTE = "The invasive front is missing at the top left; outline it again."


@pytest.fixture
def reviewer_client(client_for, people):
    return client_for(people["reviewer"])


@pytest.fixture
def finished(work, slides):
    """Pathologist marked both slides done: their assignment is completed."""
    _, mine, _ = work
    for slide in slides:
        task_services.work_done(item=annotator_item(mine, slide))
    mine.refresh_from_db()
    assert mine.state == Assignment.State.COMPLETED
    return mine


def send_back(client, review_assignment, slide, assignment, note=NOTE):
    url = slide_url("send_back", review_assignment, slide)
    return send(client, "post", url, {"assignment": assignment.pk, "note": note})


# --- Sending back -----------------------------------------------------------------------------


def test_sending_back_reopens_the_annotators_slide_and_assignment(
    reviewer_client, review_assignment, finished, slides
):
    response = send_back(reviewer_client, review_assignment, slides[0], finished)

    assert response.status_code == 201, response.content
    sent = SendBack.objects.get()
    assert response.json() == {
        "sentBack": {
            "assignment": finished.pk,
            "annotator": "pathologist",
            "note": NOTE,
            "reviewer": "reviewer",
            "at": response.json()["sentBack"]["at"],
        }
    }
    assert (sent.slide, sent.assignment, sent.reviewer.username) == (
        slides[0],
        finished,
        "reviewer",
    )
    assert annotator_item(finished, slides[0]).state == AssignmentSlide.State.IN_PROGRESS
    assert annotator_item(finished, slides[0]).done_at is None
    assert annotator_item(finished, slides[1]).state == AssignmentSlide.State.DONE
    finished.refresh_from_db()
    assert finished.state == Assignment.State.REOPENED


def test_sending_back_is_logged_as_a_delegation_change(
    reviewer_client, review_assignment, finished, slides, work
):
    task, _, _ = work

    send_back(reviewer_client, review_assignment, slides[0], finished)

    event = DelegationEvent.objects.get(action=DelegationEvent.Action.SENT_BACK)
    assert (event.actor.username, event.assignee.username, event.task) == (
        "reviewer",
        "pathologist",
        task,
    )
    assert event.details == {
        "slides": ["CASE-01-A.tiff"],
        "note": NOTE,
        "review_task": "Outline review",
    }
    # Reopening the completed assignment is logged as well, as any reopening is.
    assert DelegationEvent.objects.filter(
        action=DelegationEvent.Action.REOPENED, assignee=finished.assignee
    ).exists()


def test_a_slide_in_progress_sent_back_stays_in_progress_and_keeps_the_note(
    reviewer_client, review_assignment, work, slides
):
    _, mine, _ = work
    task_services.work_start(assignment=mine, slide=slides[0])

    response = send_back(reviewer_client, review_assignment, slides[0], mine)

    assert response.status_code == 201
    assert annotator_item(mine, slides[0]).state == AssignmentSlide.State.IN_PROGRESS
    assert SendBack.objects.get().note == NOTE


def test_the_note_is_kept_without_surrounding_blanks(
    reviewer_client, review_assignment, finished, slides
):
    send_back(reviewer_client, review_assignment, slides[0], finished, note=f"\n  {NOTE}  \n")

    assert SendBack.objects.get().note == NOTE


@pytest.mark.parametrize("note", ["", "   \n\t", None, 42])
def test_sending_back_needs_a_note(reviewer_client, review_assignment, finished, slides, note):
    before = state()

    response = send_back(reviewer_client, review_assignment, slides[0], finished, note=note)

    assert response.status_code == 400
    assert response.json() == {
        "error": "Say in a note what the annotator should look at again.",
        "field": "note",
    }
    assert state() == before


def test_only_work_under_review_on_the_slide_can_be_sent_back(
    reviewer_client, review_assignment, review_task, finished, work, slides, elsewhere
):
    _, _, theirs = work
    review_task.reviewed_assignments.set([finished])
    lung_work, _, _ = elsewhere
    before = state()

    answers = [
        send_back(reviewer_client, review_assignment, slides[0], theirs),  # not chosen
        send_back(reviewer_client, review_assignment, slides[0], lung_work),  # another project
        send_back(reviewer_client, review_assignment, slides[0], review_assignment),  # own
    ]

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert {answer.json()["error"] for answer in answers} == {
        "No such assignment under this review."
    }
    assert state() == before


def test_a_slide_marked_reviewed_is_not_sent_back_until_reopened(
    reviewer_client, review_assignment, finished, slides
):
    task_services.work_done(item=review_item(review_assignment, slides[0]))
    before = state()

    response = send_back(reviewer_client, review_assignment, slides[0], finished)

    assert response.status_code == 403
    assert (
        response.json()["error"] == "This slide is marked reviewed; reopen it to change its review."
    )
    assert state() == before


def test_a_send_back_that_fails_midway_leaves_the_annotators_slide_done(
    review_assignment, finished, slides, people
):
    before = state()
    record = DelegationEvent.objects.create

    def fail_at_the_end(**event):
        # The slide was reopened (and that logged) and the SendBack stored by now.
        if event["action"] == DelegationEvent.Action.SENT_BACK:
            raise RuntimeError("the database went away")
        return record(**event)

    with (
        mock.patch.object(DelegationEvent.objects, "create", side_effect=fail_at_the_end),
        pytest.raises(RuntimeError),
    ):
        services.slide_send_back(
            item=review_item(review_assignment, slides[0]),
            assignment=finished,
            reviewer=people["reviewer"],
            note=NOTE,
        )

    assert state() == before
    assert annotator_item(finished, slides[0]).state == AssignmentSlide.State.DONE


def test_the_items_tell_the_reviewer_what_they_sent_back(
    reviewer_client, review_assignment, finished, slides
):
    send_back(reviewer_client, review_assignment, slides[0], finished)

    body = send(reviewer_client, "get", slide_url("items", review_assignment, slides[0])).json()

    [sent] = body["slide"]["sentBack"]
    assert {key: sent[key] for key in ("assignment", "annotator", "note", "reviewer")} == {
        "assignment": finished.pk,
        "annotator": "pathologist",
        "note": NOTE,
        "reviewer": "reviewer",
    }


# --- Marking reviewed and reopening -------------------------------------------------------------


def test_marking_a_slide_reviewed_needs_no_verdicts(reviewer_client, review_assignment, slides):
    response = send(
        reviewer_client, "post", slide_url("slide_reviewed", review_assignment, slides[0]), {}
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"state": "done"}
    assert review_item(review_assignment, slides[0]).state == AssignmentSlide.State.DONE
    review_assignment.refresh_from_db()
    assert review_assignment.state == Assignment.State.IN_PROGRESS


def test_marking_the_last_slide_reviewed_completes_the_review_and_reopening_reopens_it(
    reviewer_client, review_assignment, slides
):
    for slide in slides:
        send(reviewer_client, "post", slide_url("slide_reviewed", review_assignment, slide))
    review_assignment.refresh_from_db()
    assert review_assignment.state == Assignment.State.COMPLETED

    response = send(
        reviewer_client, "post", slide_url("slide_reopen", review_assignment, slides[1])
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"state": "in_progress"}
    review_assignment.refresh_from_db()
    assert review_assignment.state == Assignment.State.REOPENED
    assert review_item(review_assignment, slides[0]).state == AssignmentSlide.State.DONE


def test_marking_a_slide_reviewed_twice_changes_nothing_the_second_time(
    reviewer_client, review_assignment, slides
):
    url = slide_url("slide_reviewed", review_assignment, slides[0])
    send(reviewer_client, "post", url)
    before = state()

    response = send(reviewer_client, "post", url)

    assert (response.status_code, response.json()) == (200, {"state": "done"})
    assert state() == before


def test_reopening_a_slide_not_marked_reviewed_changes_nothing(
    reviewer_client, review_assignment, slides
):
    before = state()

    response = send(
        reviewer_client, "post", slide_url("slide_reopen", review_assignment, slides[0])
    )

    assert (response.status_code, response.json()) == (200, {"state": "not_started"})
    assert state() == before


def test_a_review_closed_by_a_manager_is_not_marked_reviewed(
    reviewer_client, review_assignment, slides, admin_user
):
    task_services.assignment_close(assignment=review_assignment, actor=admin_user)
    before = state()

    response = send(
        reviewer_client, "post", slide_url("slide_reviewed", review_assignment, slides[0])
    )

    assert response.status_code == 403
    assert response.json()["error"].startswith("This review is completed")
    assert state() == before
