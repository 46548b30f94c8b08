"""The work page: the editor's settings, read-only states and the layers it starts with."""

import pytest
from django.urls import reverse

from tasks import services as task_services

pytestmark = pytest.mark.django_db


def work_url(item):
    return reverse("annotations:work", args=[item.assignment_id, item.slide_id])


def items(assignment):
    return list(assignment.assignment_slides.order_by("order", "id"))


def editor_config(response) -> dict:
    return response.context["editor_config"]


def test_the_work_page_opens_the_editor_for_writing(client_for, annotator, assignment):
    first = items(assignment)[0]

    response = client_for(annotator).get(work_url(first))

    config = editor_config(response)
    assert config["readOnly"] is False and config["readOnlyReason"] == ""
    assert config["assignmentId"] == assignment.pk and config["slideId"] == first.slide_id
    assert [label["name"] for label in config["labels"]] == ["Tumour", "Stroma", "Necrosis"]
    assert config["urls"]["annotation"] == "/api/annotations/"
    assert 'id="read-only-notice"' not in response.content.decode()


def test_a_slide_marked_done_opens_read_only(client_for, annotator, assignment):
    first = items(assignment)[0]
    task_services.work_done(item=first)

    response = client_for(annotator).get(work_url(first))

    assert editor_config(response)["readOnly"] is True
    text = response.content.decode()
    assert "Read-only. This slide is marked done; reopen it to change its annotations." in text
    assert 'data-tool="polygon"' not in text


def test_a_completed_assignment_opens_read_only(client_for, annotator, assignment):
    for item in items(assignment):
        task_services.work_done(item=item)

    response = client_for(annotator).get(work_url(items(assignment)[1]))

    assert editor_config(response)["readOnly"] is True
    assert "Read-only. This assignment is completed" in response.content.decode()


def test_the_work_page_tells_the_viewer_the_heartbeat_interval(client_for, annotator, assignment):
    page = client_for(annotator).get(work_url(items(assignment)[0]))

    assert f'data-heartbeat-seconds="{task_services.HEARTBEAT_SECONDS}"' in page.content.decode()


def test_the_editor_starts_with_the_persons_own_layer_editable(
    client_for, annotator, assignment, second_assignment
):
    response = client_for(annotator).get(work_url(items(assignment)[0]))

    layers = editor_config(response)["layers"]
    # The other annotator's work on the same slide is not shown: review stays blind.
    assert [layer["assignment"] for layer in layers] == [assignment.pk]
    assert layers[0]["own"] and layers[0]["editable"] and layers[0]["readOnlyReason"] == ""
    assert layers[0]["featuresUrl"].endswith(f"?assignment={assignment.pk}")


def test_a_managers_layers_list_everyone_on_the_slide_read_only(
    client_for, manager, assignment, second_assignment, make_annotation
):
    make_annotation()
    make_annotation(on=second_assignment)
    make_annotation(on=second_assignment)
    url = reverse("layers:slide_layers", args=[items(assignment)[0].slide_id])

    layers = client_for(manager).get(url).json()["layers"]

    counts = {layer["assignment"]: layer["count"] for layer in layers}
    assert counts == {assignment.pk: 1, second_assignment.pk: 2}
    assert not any(layer["editable"] or layer["own"] for layer in layers)
    assert {layer["readOnlyReason"] for layer in layers} == {
        "Only the assignee may change the annotations of an assignment."
    }


def test_a_layer_of_a_slide_marked_done_says_why_it_is_read_only(client_for, annotator, assignment):
    first = items(assignment)[0]
    task_services.work_done(item=first)
    url = reverse("layers:slide_layers", args=[first.slide_id])

    (layer,) = client_for(annotator).get(url).json()["layers"]

    assert not layer["editable"]
    assert layer["readOnlyReason"].startswith("This slide is marked done")
