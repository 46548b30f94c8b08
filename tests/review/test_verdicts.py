"""Verdicts: what each kind needs, that the original annotation never changes, who may give
them (only the assigned reviewer, never on their own work), their history, the slide marked
reviewed, one transaction per change, and the agreement of the verdicts on an annotation."""

from unittest import mock

import pytest
import shapely
from django.db import IntegrityError, transaction
from django.urls import reverse

from annotations.models import Annotation, AnnotationRevision
from review import selectors, services
from review.models import Verdict
from tasks import services as task_services
from tasks.models import Assignment, AssignmentSlide
from tests import factories
from tests.review.conftest import (
    HEIGHT,
    WIDTH,
    history_url,
    review_item,
    send,
    state,
    verdict_url,
)

pytestmark = pytest.mark.django_db

BOW_TIE = {"type": "Polygon", "coordinates": [[[0, 0], [200, 200], [200, 0], [0, 200], [0, 0]]]}


@pytest.fixture
def target(drawn):
    """Pathologist's Tumour square on slide 0."""
    return drawn["pathologist", 0][0]


@pytest.fixture
def reviewer_client(client_for, people):
    return client_for(people["reviewer"])


def put(client, review_assignment, annotation, **body):
    return send(client, "put", verdict_url(review_assignment, annotation), body)


def original(annotation: Annotation) -> tuple:
    fresh = Annotation.objects.get(pk=annotation.pk)
    revisions = AnnotationRevision.objects.filter(annotation=annotation).count()
    return fresh.geometry, fresh.label_id, fresh.version, fresh.comment, revisions


# --- Each kind ------------------------------------------------------------------------------------


def test_an_agree_verdict_is_stored_and_answered(reviewer_client, review_assignment, target):
    response = put(reviewer_client, review_assignment, target, verdict="agree", comment="Fine.")

    assert response.status_code == 200, response.content
    body = response.json()
    stored = Verdict.objects.get()
    assert body == {
        "id": stored.pk,
        "annotation": target.pk,
        "verdict": "agree",
        "label": None,
        "geometry": None,
        "comment": "Fine.",
        "reviewer": "reviewer",
        "at": selectors.timestamp(stored.created_at),
    }
    assert (stored.review_assignment, stored.reviewer.username) == (review_assignment, "reviewer")


def test_a_reject_verdict_needs_nothing_more(reviewer_client, review_assignment, target):
    response = put(reviewer_client, review_assignment, target, verdict="reject")

    assert response.status_code == 200, response.content
    assert Verdict.objects.get().kind == "reject"


def test_a_wrong_label_verdict_names_the_label_it_should_have(
    reviewer_client, review_assignment, target, labels
):
    before = original(target)

    response = put(
        reviewer_client, review_assignment, target, verdict="wrong_label", label=labels["Stroma"].pk
    )

    assert response.status_code == 200, response.content
    assert response.json()["label"] == labels["Stroma"].pk
    assert Verdict.objects.get().label == labels["Stroma"]
    assert original(target) == before


def _label(labels, other_project, name):
    if name == "another project's":
        return other_project.labels.get().pk
    if name == "archived":
        labels["Necrosis"].is_archived = True
        labels["Necrosis"].save()
        return labels["Necrosis"].pk
    return {"the annotation's own": labels["Tumour"].pk, "none": None, "unknown": 999999}[name]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("none", "A wrong_label verdict names the label the annotation should have."),
        ("the annotation's own", "The annotation is labelled “Tumour” already"),
        ("another project's", "No label "),
        ("unknown", "No label 999999."),
        ("archived", "Label “Necrosis” is archived."),
    ],
)
def test_a_wrong_label_verdict_needs_another_active_label_of_the_project(
    reviewer_client, review_assignment, target, labels, other_project, label, message
):
    chosen = _label(labels, other_project, label)
    before = state()

    response = put(reviewer_client, review_assignment, target, verdict="wrong_label", label=chosen)

    assert response.status_code == 400, response.content
    assert response.json()["field"] == "label"
    assert response.json()["error"].startswith(message)
    assert state() == before


def test_only_a_wrong_label_verdict_names_a_label(
    reviewer_client, review_assignment, target, labels
):
    response = put(
        reviewer_client, review_assignment, target, verdict="agree", label=labels["Stroma"].pk
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "Only a wrong_label verdict names a label.",
        "field": "label",
    }
    assert not Verdict.objects.exists()


def test_a_wrong_region_verdict_keeps_the_corrected_geometry_apart_from_the_original(
    reviewer_client, review_assignment, target
):
    before = original(target)
    corrected = factories.rectangle(90, 90, 260, 230)

    response = put(
        reviewer_client, review_assignment, target, verdict="wrong_region", geometry=corrected
    )

    assert response.status_code == 200, response.content
    assert response.json()["geometry"] == corrected
    assert Verdict.objects.get().geometry == corrected
    assert original(target) == before


def test_a_self_crossing_correction_is_repaired_as_any_geometry(
    reviewer_client, review_assignment, target
):
    response = put(
        reviewer_client, review_assignment, target, verdict="wrong_region", geometry=BOW_TIE
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["repaired"].startswith("Self-intersection at (100.0, 100.0) repaired")
    assert body["geometry"]["type"] == "MultiPolygon"
    assert Verdict.objects.get().geometry == body["geometry"]


def test_a_correction_over_the_slide_edge_is_clipped_to_it(
    reviewer_client, review_assignment, target
):
    over = factories.rectangle(WIDTH - 100, HEIGHT - 100, WIDTH + 100, HEIGHT + 100)

    response = put(
        reviewer_client, review_assignment, target, verdict="wrong_region", geometry=over
    )

    assert response.status_code == 200, response.content
    assert "Clipped to the slide's edge" in response.json()["repaired"]
    clipped = shapely.geometry.shape(response.json()["geometry"])
    assert clipped.equals(shapely.geometry.box(WIDTH - 100, HEIGHT - 100, WIDTH, HEIGHT))


def _many_vertices(count):
    ring = [[100 + i % 2, 100 + i * 0.1] for i in range(count)]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (None, "A wrong_region verdict sends the corrected geometry."),
        (factories.square(WIDTH + 10, 10), "The shape lies wholly outside the slide"),
        ({"type": "Point", "coordinates": [5, 5]}, "A polygon needs a Polygon or MultiPolygon"),
        (_many_vertices(20_001), "The geometry has 20002 vertices; at most 20000 are allowed."),
        ({"type": "Polygon", "coordinates": "nonsense"}, ""),
    ],
    ids=["missing", "off the slide", "not the annotation's kind", "too many vertices", "nonsense"],
)
def test_a_correction_that_cannot_be_stored_is_refused(
    reviewer_client, review_assignment, target, geometry, message
):
    before = state()

    response = put(
        reviewer_client, review_assignment, target, verdict="wrong_region", geometry=geometry
    )

    assert response.status_code == 400, response.content
    assert response.json()["field"] == "geometry"
    assert response.json()["error"].startswith(message)
    assert state() == before


def test_only_a_wrong_region_verdict_sends_a_geometry(reviewer_client, review_assignment, target):
    response = put(
        reviewer_client,
        review_assignment,
        target,
        verdict="reject",
        geometry=factories.square(1, 1),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "Only a wrong_region verdict sends a geometry."


@pytest.mark.parametrize("kind", ["", "maybe", 3, None, ["agree"]])
def test_an_unknown_verdict_is_refused(reviewer_client, review_assignment, target, kind):
    response = put(reviewer_client, review_assignment, target, verdict=kind)

    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": "verdict must be one of agree, wrong_label, wrong_region, reject.",
        "field": "verdict",
    }


@pytest.mark.parametrize("comment", ["x" * 10_001, 5, None])
def test_a_comment_is_text_of_at_most_10000_characters(
    reviewer_client, review_assignment, target, comment
):
    response = put(reviewer_client, review_assignment, target, verdict="agree", comment=comment)

    assert response.status_code == 400
    assert response.json()["field"] == "comment"
    assert not Verdict.objects.exists()


def test_a_comment_of_10000_characters_is_kept(reviewer_client, review_assignment, target):
    response = put(
        reviewer_client, review_assignment, target, verdict="agree", comment="x" * 10_000
    )

    assert response.status_code == 200
    assert len(Verdict.objects.get().comment) == 10_000


def test_a_deleted_annotation_gets_no_verdict(reviewer_client, review_assignment, target):
    target.is_deleted = True
    target.save()

    response = put(reviewer_client, review_assignment, target, verdict="agree")

    assert response.status_code == 400
    assert response.json()["field"] == "annotation"
    assert not Verdict.objects.exists()


@pytest.mark.parametrize("kind", ["wrong_label", "wrong_region"])
def test_the_database_refuses_a_verdict_without_what_its_kind_needs(
    review_assignment, target, kind
):
    with pytest.raises(IntegrityError), transaction.atomic():
        Verdict.objects.create(
            annotation=target,
            review_assignment=review_assignment,
            reviewer=review_assignment.assignee,
            kind=kind,
        )


def test_the_database_keeps_one_current_verdict_per_annotation_and_review(
    review_assignment, target
):
    fields = {"annotation": target, "review_assignment": review_assignment, "kind": "agree"}
    Verdict.objects.create(**fields, reviewer=review_assignment.assignee)

    with pytest.raises(IntegrityError), transaction.atomic():
        Verdict.objects.create(**fields, reviewer=review_assignment.assignee)


# --- Who may give them ----------------------------------------------------------------------------


def test_the_reviewer_may_not_change_the_original_annotation(
    reviewer_client, review_assignment, target, work, labels, slides
):
    _, mine, _ = work
    before = original(target)
    url = f"/api/annotations/{target.pk}"
    create = {
        "geometry": factories.square(900, 900),
        "properties": {"assignment": mine.pk, "label": labels["Tumour"].pk, "kind": "polygon"},
    }

    answers = [
        send(reviewer_client, "get", url),
        send(reviewer_client, "patch", url, {"version": 1, "properties": {"comment": "no"}}),
        send(reviewer_client, "patch", url, {"version": 1, "geometry": factories.square(5, 5)}),
        send(reviewer_client, "delete", url),
        send(reviewer_client, "post", f"/api/slides/{slides[0].pk}/annotations", create),
    ]

    assert answers[0].status_code == 200  # they see it: it is under their review
    assert [answer.status_code for answer in answers[1:]] == [403, 403, 403, 403]
    assert (
        answers[1].json()["error"]
        == "Only the assignee may change the annotations of an assignment."
    )
    assert original(target) == before
    assert Annotation.objects.filter(assignment=mine).count() == 3


def test_a_missed_region_is_drawn_on_the_reviewers_own_layer(
    reviewer_client, review_assignment, labels, slides
):
    properties = {"assignment": review_assignment.pk, "label": labels["Tumour"].pk}
    create = {
        "geometry": factories.square(1500, 1500),
        "properties": properties | {"kind": "polygon"},
    }

    response = send(reviewer_client, "post", f"/api/slides/{slides[0].pk}/annotations", create)

    assert response.status_code == 201, response.content
    added = Annotation.objects.get(pk=response.json()["id"])
    assert (added.assignment, added.author.username) == (review_assignment, "reviewer")
    assert added.assignment.task.kind == "review"
    # Added in review, it is not itself under review.
    assert put(reviewer_client, review_assignment, added, verdict="agree").status_code == 404
    items = selectors.review_items(item=review_item(review_assignment, slides[0]))["items"]
    assert added.pk not in [entry["annotation"] for entry in items]


def test_an_annotation_of_the_reviewers_own_work_is_not_under_their_review(
    reviewer_client, review_assignment, work, slides, labels, people
):
    """Delegation never gives anyone their own work to review (tasks.services); should the
    data say otherwise, the review still leaves it out."""
    task, _, _ = work
    own = Assignment.objects.create(task=task, assignee=people["reviewer"])
    AssignmentSlide.objects.create(assignment=own, slide=slides[0])
    mine = factories.annotation_draw(
        assignment=own, slide=slides[0], label=labels["Tumour"], geometry=factories.square(50, 50)
    )

    response = put(reviewer_client, review_assignment, mine, verdict="agree")

    assert response.status_code == 404
    assert response.json() == {"error": "No such annotation under this review."}
    items = selectors.review_items(item=review_item(review_assignment, slides[0]))
    assert mine.pk not in [entry["annotation"] for entry in items["items"]]
    assert not Verdict.objects.exists()


def test_only_the_chosen_assignments_are_under_review(
    reviewer_client, review_assignment, review_task, work, drawn
):
    _, mine, _ = work
    review_task.reviewed_assignments.set([mine])

    chosen = put(reviewer_client, review_assignment, drawn["pathologist", 0][0], verdict="agree")
    other = put(reviewer_client, review_assignment, drawn["second", 0][0], verdict="agree")

    assert (chosen.status_code, other.status_code) == (200, 404)


def test_an_annotation_on_a_slide_outside_the_review_is_not_under_it(
    reviewer_client, review_assignment, drawn, slides, admin_user
):
    task_services.assignment_set_slides(
        assignment=review_assignment, slides=slides[:1], actor=admin_user
    )

    response = put(reviewer_client, review_assignment, drawn["pathologist", 1][0], verdict="agree")

    assert response.status_code == 404


def test_the_reviewer_of_another_review_assignment_may_not_use_this_one(
    client_for, people, review_assignment, review_task, target, slides, admin_user
):
    from tasks import roles

    colleague = factories.user_create("colleague", role=roles.REVIEWER)
    task_services.assignment_create(
        task=review_task, assignee=colleague, slides=slides, actor=admin_user
    )

    response = put(client_for(colleague), review_assignment, target, verdict="agree")

    assert response.status_code == 404
    assert not Verdict.objects.exists()


# --- History --------------------------------------------------------------------------------------


def test_changing_a_verdict_keeps_every_one_in_its_history_oldest_first(
    reviewer_client, review_assignment, target, labels
):
    put(reviewer_client, review_assignment, target, verdict="agree")
    put(
        reviewer_client, review_assignment, target, verdict="wrong_label", label=labels["Stroma"].pk
    )
    put(reviewer_client, review_assignment, target, verdict="reject", comment="Not tumour at all.")

    response = send(reviewer_client, "get", history_url(review_assignment, target))

    assert response.status_code == 200
    history = response.json()["history"]
    assert [entry["verdict"] for entry in history] == ["agree", "wrong_label", "reject"]
    assert [entry["current"] for entry in history] == [False, False, True]
    assert [entry["reviewer"] for entry in history] == ["reviewer"] * 3
    assert [entry["at"] for entry in history] == sorted(entry["at"] for entry in history)
    assert [(e["ended"] or {}).get("how") for e in history] == ["replaced", "replaced", None]
    assert history[0]["ended"]["by"] == "reviewer"
    assert history[1]["label"] == labels["Stroma"].pk
    assert Verdict.objects.current().get().kind == "reject"


def test_withdrawing_a_verdict_keeps_it_in_the_history(reviewer_client, review_assignment, target):
    put(reviewer_client, review_assignment, target, verdict="agree")

    response = send(reviewer_client, "delete", verdict_url(review_assignment, target))

    assert response.status_code == 200
    assert response.json() == {"verdict": None}
    assert not Verdict.objects.current().exists()
    history = send(reviewer_client, "get", history_url(review_assignment, target)).json()["history"]
    assert [(e["verdict"], e["current"], e["ended"]["how"]) for e in history] == [
        ("agree", False, "withdrawn")
    ]
    current = send(reviewer_client, "get", verdict_url(review_assignment, target)).json()
    assert current == {"verdict": None}


def test_a_withdrawal_sent_twice_changes_nothing_the_second_time(
    reviewer_client, review_assignment, target
):
    put(reviewer_client, review_assignment, target, verdict="agree")
    send(reviewer_client, "delete", verdict_url(review_assignment, target))
    before = state()

    response = send(reviewer_client, "delete", verdict_url(review_assignment, target))

    assert response.status_code == 200
    assert state() == before


def test_changing_the_comment_keeps_the_verdict_and_its_former_comment(
    reviewer_client, review_assignment, target, labels
):
    put(
        reviewer_client, review_assignment, target, verdict="wrong_label", label=labels["Stroma"].pk
    )

    response = send(
        reviewer_client,
        "patch",
        verdict_url(review_assignment, target),
        {"comment": "Look closer."},
    )

    assert response.status_code == 200, response.content
    assert (response.json()["verdict"], response.json()["label"]) == (
        "wrong_label",
        labels["Stroma"].pk,
    )
    assert response.json()["comment"] == "Look closer."
    history = selectors.verdict_history(annotation=target, review_assignment=review_assignment)
    assert [(e["comment"], e["current"]) for e in history["history"]] == [
        ("", False),
        ("Look closer.", True),
    ]


def test_a_comment_needs_a_verdict_first(reviewer_client, review_assignment, target):
    response = send(
        reviewer_client, "patch", verdict_url(review_assignment, target), {"comment": "Hm."}
    )

    assert response.status_code == 400
    assert response.json()["error"] == "Give a verdict first."
    assert not Verdict.objects.exists()


def test_the_same_verdict_sent_again_is_stored_once(reviewer_client, review_assignment, target):
    first = put(reviewer_client, review_assignment, target, verdict="agree", comment="ok")
    again = put(reviewer_client, review_assignment, target, verdict="agree", comment="ok")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert Verdict.objects.count() == 1


def test_the_history_is_bounded_to_the_latest_rows(review_assignment, target, monkeypatch, people):
    monkeypatch.setattr(selectors, "MAX_HISTORY", 3)
    for n in range(5):
        services.verdict_set(
            review_assignment=review_assignment,
            annotation=target,
            reviewer=people["reviewer"],
            kind="agree",
            comment=str(n),
        )

    history = selectors.verdict_history(annotation=target, review_assignment=review_assignment)

    assert [entry["comment"] for entry in history["history"]] == ["2", "3", "4"]
    assert history["truncated"] is True


# --- A slide marked reviewed, a completed review --------------------------------------------------


def test_a_slide_marked_reviewed_refuses_verdict_changes_until_reopened(
    reviewer_client, review_assignment, target, slides, people
):
    put(reviewer_client, review_assignment, target, verdict="agree")
    task_services.work_done(item=review_item(review_assignment, slides[0]))
    before = state()

    refused = [
        put(reviewer_client, review_assignment, target, verdict="reject"),
        send(reviewer_client, "patch", verdict_url(review_assignment, target), {"comment": "x"}),
        send(reviewer_client, "delete", verdict_url(review_assignment, target)),
    ]

    assert [r.status_code for r in refused] == [403, 403, 403]
    assert (
        refused[0].json()["error"]
        == "This slide is marked reviewed; reopen it to change its review."
    )
    assert state() == before
    services.slide_reopen_review(
        item=review_item(review_assignment, slides[0]), actor=people["reviewer"]
    )
    assert put(reviewer_client, review_assignment, target, verdict="reject").status_code == 200


def test_a_completed_review_refuses_verdicts(
    reviewer_client, review_assignment, target, admin_user
):
    task_services.assignment_close(assignment=review_assignment, actor=admin_user)
    before = state()

    response = put(reviewer_client, review_assignment, target, verdict="agree")

    assert response.status_code == 403
    assert response.json()["error"].startswith("This review is completed")
    assert state() == before


def test_verdicts_on_another_slide_are_not_held_up_by_one_marked_reviewed(
    reviewer_client, review_assignment, drawn, slides
):
    task_services.work_done(item=review_item(review_assignment, slides[0]))

    response = put(reviewer_client, review_assignment, drawn["pathologist", 1][0], verdict="agree")

    assert response.status_code == 200


# --- One transaction ------------------------------------------------------------------------------


def test_a_change_that_fails_midway_leaves_the_former_verdict_current(
    review_assignment, target, people
):
    reviewer = people["reviewer"]
    services.verdict_set(
        review_assignment=review_assignment, annotation=target, reviewer=reviewer, kind="agree"
    )
    before = state()
    real_save = Verdict.save

    def failing_save(self, *args, **kwargs):
        if self.pk is None:  # the new verdict, once the former one was ended
            raise RuntimeError("the database went away")
        return real_save(self, *args, **kwargs)

    with mock.patch.object(Verdict, "save", failing_save), pytest.raises(RuntimeError):
        services.verdict_set(
            review_assignment=review_assignment, annotation=target, reviewer=reviewer, kind="reject"
        )

    assert state() == before
    assert Verdict.objects.current().get().kind == "agree"


def test_a_withdrawal_that_fails_midway_leaves_the_verdict_current(
    review_assignment, target, people
):
    reviewer = people["reviewer"]
    services.verdict_set(
        review_assignment=review_assignment, annotation=target, reviewer=reviewer, kind="agree"
    )
    before = state()

    with (
        mock.patch.object(services, "_lock_current", side_effect=RuntimeError("lost")),
        pytest.raises(RuntimeError),
    ):
        services.verdict_withdraw(
            review_assignment=review_assignment, annotation=target, reviewer=reviewer
        )

    assert state() == before


# --- Agreement of the verdicts on one annotation --------------------------------------------------


@pytest.fixture
def reviewers(review_task, slides, admin_user, review_assignment):
    """Three review assignments of the same slides: reviewer's and two more."""
    from tasks import roles

    more = [
        task_services.assignment_create(
            task=review_task,
            assignee=factories.user_create(name, role=roles.REVIEWER),
            slides=slides,
            actor=admin_user,
        )
        for name in ("reviewer-2", "reviewer-3")
    ]
    return [review_assignment, *more]


def give(review_assignment, annotation, kind, label=None):
    return services.verdict_set(
        review_assignment=review_assignment,
        annotation=annotation,
        reviewer=review_assignment.assignee,
        kind=kind,
        label=label,
        geometry=factories.square(100, 100, 120) if kind == "wrong_region" else None,
    )


def test_agreement_counts_current_verdicts_and_finds_the_consensus_label(reviewers, drawn, labels):
    tumour, stroma = drawn["pathologist", 0]
    one, two, three = reviewers
    give(one, tumour, "agree")
    give(two, tumour, "agree")
    give(three, tumour, "wrong_label", labels["Stroma"])
    give(one, stroma, "wrong_label", labels["Tumour"])
    give(two, stroma, "agree")  # stroma: one vote each for Tumour and Stroma
    give(three, stroma, "reject")

    result = selectors.annotation_agreement(
        annotation_ids=[tumour.pk, stroma.pk, drawn["second", 0][0].pk]
    )

    assert result[tumour.pk] == {
        "verdicts": 3,
        "agree_fraction": pytest.approx(2 / 3),
        "consensus": labels["Tumour"].pk,
        "tie": False,
    }
    assert result[stroma.pk] == {
        "verdicts": 3,
        "agree_fraction": pytest.approx(1 / 3),
        "consensus": None,
        "tie": True,
    }
    assert result[drawn["second", 0][0].pk] == {
        "verdicts": 0,
        "agree_fraction": None,
        "consensus": None,
        "tie": False,
    }


def test_agreement_counts_only_the_current_verdict_of_each_review(reviewers, drawn, labels):
    tumour = drawn["pathologist", 0][0]
    one, two, _ = reviewers
    give(one, tumour, "agree")
    give(one, tumour, "wrong_label", labels["Necrosis"])  # replaces the agree
    give(two, tumour, "wrong_label", labels["Necrosis"])
    give(two, tumour, "wrong_region")  # replaces the relabel

    result = selectors.annotation_agreement(annotation_ids=[tumour.pk])

    assert result[tumour.pk] == {
        "verdicts": 2,
        "agree_fraction": 0.0,
        "consensus": labels["Necrosis"].pk,
        "tie": False,
    }


def test_agreement_reads_in_bounded_chunks(reviewers, drawn, monkeypatch):
    monkeypatch.setattr(selectors, "AGREEMENT_CHUNK", 1)
    ids = [a.pk for notes in drawn.values() for a in notes]
    give(reviewers[0], drawn["second", 1][0], "agree")

    result = selectors.annotation_agreement(annotation_ids=ids)

    assert set(result) == set(ids)
    assert result[drawn["second", 1][0].pk]["verdicts"] == 1


# --- The admin ------------------------------------------------------------------------------------


def test_the_admin_lists_verdicts_and_send_backs_to_look_at_only(
    client_for, admin_user, review_assignment, target, work, slides, people
):
    _, mine, _ = work
    give(review_assignment, target, "reject")
    services.slide_send_back(
        item=review_item(review_assignment, slides[0]),
        assignment=mine,
        reviewer=people["reviewer"],
        note="Look again.",
    )
    client = client_for(admin_user)
    verdict = Verdict.objects.get()

    answers = {
        "verdicts": client.get(reverse("admin:review_verdict_changelist")),
        "by kind": client.get(reverse("admin:review_verdict_changelist"), {"kind": "agree"}),
        "send-backs": client.get(reverse("admin:review_sendback_changelist")),
        "one": client.get(reverse("admin:review_verdict_change", args=[verdict.pk])),
        "add": client.get(reverse("admin:review_verdict_add")),
        "change": client.post(
            reverse("admin:review_verdict_change", args=[verdict.pk]), {"kind": "agree"}
        ),
    }

    assert {name: answer.status_code for name, answer in answers.items()} == {
        "verdicts": 200,
        "by kind": 200,
        "send-backs": 200,
        "one": 200,
        "add": 403,
        "change": 403,
    }
    text = answers["verdicts"].content.decode()
    assert "Reject" in text and "Outline review" in text and "reviewer" in text
    assert "0 verdicts" in answers["by kind"].content.decode()
    assert "Look again." in answers["send-backs"].content.decode()
    assert 'name="action"' not in text  # no bulk delete
    assert Verdict.objects.get().kind == "reject"
