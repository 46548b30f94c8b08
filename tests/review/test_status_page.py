"""A reviewer's work on the status page: Continue, My slides and the viewer's link lead to the
reviewer's viewer, as an annotator's lead to the editor."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def review_url(review_assignment, slide):
    return reverse("review:work", args=[review_assignment.pk, slide.pk])


def test_continue_opens_the_first_review_slide_in_the_reviewers_viewer(
    client_for, people, review_assignment, slides
):
    response = client_for(people["reviewer"]).get(reverse("tasks:continue"))

    assert response.status_code == 302
    assert response["Location"] == review_url(review_assignment, slides[0])


def test_the_status_page_counts_review_work(client_for, people, review_assignment):
    page = client_for(people["reviewer"]).get(reverse("home"))

    assert page.context["total"] == 2 and page.context["done"] == 0
    assert "Outline review" in page.content.decode()


def test_my_slides_links_review_slides_to_the_reviewers_viewer(
    client_for, people, review_assignment, slides
):
    page = client_for(people["reviewer"]).get(reverse("tasks:my_slides")).content.decode()

    assert f'href="{review_url(review_assignment, slides[0])}"' in page
    editor = reverse("annotations:work", args=[review_assignment.pk, slides[0].pk])
    assert f'href="{editor}"' not in page


def test_the_plain_viewer_offers_review_on_a_slide_under_review(
    client_for, people, review_assignment, slides
):
    page = client_for(people["reviewer"]).get(reverse("slides:viewer", args=[slides[0].pk]))

    (action,) = page.context["viewer_actions"]
    assert action["label"] == "Review"
    assert action["url"] == review_url(review_assignment, slides[0])


def test_done_on_a_review_slide_opens_the_next_in_the_reviewers_viewer(
    client_for, people, review_assignment, slides
):
    done = reverse("tasks:done", args=[review_assignment.pk, slides[0].pk])

    response = client_for(people["reviewer"]).post(done)

    assert response["Location"] == review_url(review_assignment, slides[1])


def test_the_editors_url_of_a_review_slide_leads_to_the_reviewers_viewer(
    client_for, people, review_assignment, slides
):
    editor = reverse("annotations:work", args=[review_assignment.pk, slides[0].pk])

    response = client_for(people["reviewer"]).get(editor)

    assert response.status_code == 302
    assert response["Location"] == review_url(review_assignment, slides[0])
