"""The one visibility rule as a persona × layer table: which assignments' annotations each
persona sees on a slide, in the layer list, in the viewport answer (its features, on
PostgreSQL the raw SQL, and its reduced form, from the density cells) and when reading one
annotation.

On slide 0 five assignments have drawn:
    A  annotator's, in “Round 1” of the project
    B  second's (the other annotator), in “Round 1”
    R  reviewer's, in the review task of “Round 1” (a missed region, added in review)
    C  lung's, in “Nodules” of another project, “Lung nodules”
    D  other-reviewer's, in the review task of “Nodules” (a missed region)
"""

import pytest
from django.urls import reverse

from annotations import selectors
from annotations.permissions import visible_assignment_ids
from tasks import roles
from tasks import services as task_services
from tasks.models import Label, Project, Task
from tests import factories
from tests.annotations.conftest import square

pytestmark = pytest.mark.django_db

# persona: the layers they see on slide 0
EXPECTED = {
    "annotator": "A",
    "other annotator": "B",
    "reviewer of it": "ABR",
    "reviewer of something else": "CD",
    "manager of this project": "ABR",
    "manager of another project": "CD",
    "staff member of the project": "ABR",
    "superuser": "ABCDR",
}


def _review(task, reviewer, slides, actor):
    review = Task.objects.create(
        project=task.project,
        name=f"Review of {task.name}",
        kind=Task.Kind.REVIEW,
        reviewed_task=task,
    )
    return task_services.assignment_create(
        task=review, assignee=reviewer, slides=slides, actor=actor
    )


@pytest.fixture
def world(
    project, slides, labels, assignment, second_assignment, manager, admin_user, make_annotation
):
    """The five layers of slide 0, one annotation each, and the personas."""
    lung_project = Project.objects.create(name="Lung nodules")
    nodule = Label.objects.create(project=lung_project, name="Nodule", colour="#1f77b4")
    lung = factories.user_create("lung", role=roles.ANNOTATOR)
    nodules, (lung_work,) = factories.annotation_task_create(
        project=lung_project, name="Nodules", slides=slides[:1], annotators=[lung]
    )
    reviewer = factories.user_create("reviewer", role=roles.REVIEWER)
    other_reviewer = factories.user_create("other-reviewer", role=roles.REVIEWER)
    layers = {
        "A": assignment,
        "B": second_assignment,
        "R": _review(assignment.task, reviewer, slides, admin_user),
        "C": lung_work,
        "D": _review(nodules, other_reviewer, slides[:1], admin_user),
    }
    notes = {
        letter: make_annotation(
            square(100 + 300 * i, 100),
            label=nodule if letter in "CD" else "Tumour",
            on=layers[letter],
        )
        for i, letter in enumerate(layers)
    }
    other_manager = factories.user_create("other-manager", is_staff=True)
    other_manager.groups.add(factories.role_group(roles.PROJECT_MANAGER))
    lung_project.members.add(other_manager)
    staff = factories.user_create("staff-member", is_staff=True)
    project.members.add(staff)
    people = {
        "annotator": assignment.assignee,
        "other annotator": second_assignment.assignee,
        "reviewer of it": reviewer,
        "reviewer of something else": other_reviewer,
        "manager of this project": manager,
        "manager of another project": other_manager,
        "staff member of the project": staff,
        "superuser": admin_user,
    }
    return {"layers": layers, "notes": notes, "people": people}


def letters(world, assignment_ids) -> str:
    names = {assignment.pk: letter for letter, assignment in world["layers"].items()}
    return "".join(sorted(names[pk] for pk in assignment_ids))


@pytest.mark.parametrize("persona", EXPECTED)
def test_the_layers_list_the_visible_assignments(world, slides, persona):
    layers = selectors.annotation_layers(user=world["people"][persona], slide=slides[0])

    assert letters(world, [layer["assignment"] for layer in layers]) == EXPECTED[persona]
    assert all(layer["count"] == 1 for layer in layers)


@pytest.mark.parametrize("persona", EXPECTED)
def test_the_layers_api_lists_the_visible_assignments(client_for, world, slides, persona):
    url = reverse("layers:slide_layers", args=[slides[0].pk])

    response = client_for(world["people"][persona]).get(url)

    assert response.status_code == 200
    shown = [layer["assignment"] for layer in response.json()["layers"]]
    assert letters(world, shown) == EXPECTED[persona]


@pytest.mark.parametrize("persona", EXPECTED)
def test_the_viewport_holds_the_visible_assignments_annotations(client_for, world, slides, persona):
    url = reverse("annotations:slide_annotations", args=[slides[0].pk])

    response = client_for(world["people"][persona]).get(url)

    assert response.status_code == 200
    features = response.json()["features"]
    assert letters(world, [f["properties"]["assignment"] for f in features]) == EXPECTED[persona]
    assert sorted(f["id"] for f in features) == sorted(
        world["notes"][letter].pk for letter in EXPECTED[persona]
    )


@pytest.mark.parametrize("persona", EXPECTED)
def test_the_reduced_viewport_counts_only_the_visible_annotations(
    client_for, world, slides, persona
):
    url = reverse("annotations:slide_annotations", args=[slides[0].pk])

    body = client_for(world["people"][persona]).get(url, {"limit": 1}).json()

    # More than the limit of one: the counts of the density cells answer.
    assert body["reduced"] is (len(EXPECTED[persona]) > 1)
    assert body["total"] == len(EXPECTED[persona])


@pytest.mark.parametrize("persona", EXPECTED)
@pytest.mark.parametrize("layer", "ABCDR")
def test_one_annotation_is_read_only_from_a_visible_layer(client_for, world, persona, layer):
    note = world["notes"][layer]
    expected = 200 if layer in EXPECTED[persona] else 404

    response = client_for(world["people"][persona]).get(
        reverse("annotations:annotation", args=[note.pk])
    )

    assert response.status_code == expected, response.content
    if expected == 404:
        assert response.json() == {"error": "No such annotation."}


def test_an_outsider_sees_neither_the_slide_nor_its_annotations(
    client_for, world, slides, outsider
):
    client = client_for(outsider)

    answers = [
        client.get(reverse("layers:slide_layers", args=[slides[0].pk])),
        client.get(reverse("annotations:slide_annotations", args=[slides[0].pk])),
        client.get(reverse("annotations:annotation", args=[world["notes"]["A"].pk])),
    ]

    assert [answer.status_code for answer in answers] == [404, 404, 404]


def test_a_reviewer_sees_only_the_chosen_assignments_under_review(world, slides):
    review = world["layers"]["R"].task
    review.reviewed_assignments.set([world["layers"]["B"]])

    layers = selectors.annotation_layers(user=world["people"]["reviewer of it"], slide=slides[0])

    assert letters(world, [layer["assignment"] for layer in layers]) == "BR"


def test_a_reviewer_sees_the_work_under_review_only_on_the_slides_they_review(
    world, slides, admin_user
):
    review = world["layers"]["R"]
    task_services.assignment_set_slides(assignment=review, slides=slides[1:], actor=admin_user)
    reviewer = world["people"]["reviewer of it"]

    on_reviewed = selectors.annotation_layers(user=reviewer, slide=slides[1])

    assert letters(world, [layer["assignment"] for layer in on_reviewed]) == "ABR"
    assert letters(world, visible_assignment_ids(reviewer, slides[0])) == "R"
