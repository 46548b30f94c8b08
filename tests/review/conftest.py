"""Personas and data for the review tests.

The project “Breast tumour segmentation” has an annotation task, “Tumour outlines”, over two
slides: pathologist and second (another annotator) each hold both slides and have drawn on
them. The review task “Outline review” reviews it: reviewer holds both slides. Elsewhere, in the
project “Lung nodules”, other-reviewer reviews a lung annotator's work on slide 0 (the same
slide: they see it, but not this review). A manager and a staff member of the project, a manager
of the other project, an outsider and a superuser complete the personas.
"""

import json

import pytest
from django.urls import reverse

from annotations.models import Annotation, AnnotationRevision
from review.models import SendBack, Verdict
from tasks import roles
from tasks import services as task_services
from tasks.models import Assignment, AssignmentSlide, DelegationEvent, Label, Project, Task
from tests import factories

WIDTH, HEIGHT = 4096, 3072


@pytest.fixture
def slides(slides_root, db):
    """Two slides registered with a real scanner's size; the files stay small."""
    return factories.scanner_sized_slides(slides_root, WIDTH, HEIGHT)


@pytest.fixture
def labels(project):
    return {label.name: label for label in project.labels.all()}


@pytest.fixture
def other_project(db):
    project = Project.objects.create(name="Lung nodules")
    Label.objects.create(project=project, name="Nodule", colour="#1f77b4")
    return project


@pytest.fixture
def people(project, other_project, admin_user):
    def person(name, *, role="", member=project, **extra):
        user = factories.user_create(name, role=role, **extra)
        if member is not None:
            member.members.add(user)
        return user

    return {
        "anonymous": None,
        "reviewer": person("reviewer", role=roles.REVIEWER),
        "pathologist": person("pathologist", role=roles.ANNOTATOR),
        "second": person("second", role=roles.ANNOTATOR),
        "other reviewer": person("other-reviewer", role=roles.REVIEWER, member=other_project),
        "manager": person("manager", role=roles.PROJECT_MANAGER, is_staff=True),
        "other manager": person(
            "other-manager", role=roles.PROJECT_MANAGER, is_staff=True, member=other_project
        ),
        "staff": person("staff-member", is_staff=True),
        "outsider": person("outsider", member=None),
        "superuser": admin_user,
    }


@pytest.fixture
def work(project, slides, people, admin_user):
    """“Tumour outlines”: the assignments of pathologist and second, both on both slides."""
    task, (mine, theirs) = factories.annotation_task_create(
        project=project,
        name="Tumour outlines",
        slides=slides,
        annotators=[people["pathologist"], people["second"]],
        actor=admin_user,
    )
    return task, mine, theirs


@pytest.fixture
def drawn(work, slides, labels):
    """What each annotator drew: {(annotator, slide index): [annotations]}. Pathologist drew a
    Tumour and a Stroma square on slide 0 and a Tumour square on slide 1; second one Tumour
    square on each slide."""
    _, mine, theirs = work

    def draw(assignment, slide, label, x):
        return factories.annotation_draw(
            assignment=assignment, slide=slide, label=labels[label], geometry=factories.square(x, x)
        )

    return {
        ("pathologist", 0): [
            draw(mine, slides[0], "Tumour", 100),
            draw(mine, slides[0], "Stroma", 400),
        ],
        ("pathologist", 1): [draw(mine, slides[1], "Tumour", 100)],
        ("second", 0): [draw(theirs, slides[0], "Tumour", 120)],
        ("second", 1): [draw(theirs, slides[1], "Tumour", 700)],
    }


@pytest.fixture
def review_task(project, work, admin_user):
    task, _, _ = work
    return Task.objects.create(
        project=project,
        name="Outline review",
        kind=Task.Kind.REVIEW,
        reviewed_task=task,
        created_by=admin_user,
    )


@pytest.fixture
def review_assignment(review_task, slides, people, admin_user, drawn):
    """The reviewer's share of “Outline review”: both slides."""
    return task_services.assignment_create(
        task=review_task, assignee=people["reviewer"], slides=slides, actor=admin_user
    )


@pytest.fixture
def elsewhere(other_project, slides, people, admin_user):
    """In “Lung nodules”: lung-annotator's work on slide 0 (one annotation), reviewed by
    other-reviewer. Returns (annotation assignment, review assignment, annotation)."""
    lung = factories.user_create("lung-annotator", role=roles.ANNOTATOR)
    task, (assignment,) = factories.annotation_task_create(
        project=other_project, name="Nodules", slides=slides[:1], annotators=[lung]
    )
    annotation = factories.annotation_draw(
        assignment=assignment,
        slide=slides[0],
        label=other_project.labels.get(),
        geometry=factories.square(2000, 2000),
    )
    review = Task.objects.create(
        project=other_project, name="Nodule review", kind=Task.Kind.REVIEW, reviewed_task=task
    )
    review_assignment = task_services.assignment_create(
        task=review, assignee=people["other reviewer"], slides=slides[:1], actor=admin_user
    )
    return assignment, review_assignment, annotation


# --- Requests --------------------------------------------------------------------------------


def verdict_url(review_assignment: Assignment, annotation: Annotation) -> str:
    return reverse("review_api:verdict", args=[review_assignment.pk, annotation.pk])


def history_url(review_assignment: Assignment, annotation: Annotation) -> str:
    return reverse("review_api:verdict_history", args=[review_assignment.pk, annotation.pk])


def slide_url(name: str, review_assignment: Assignment, slide) -> str:
    """``name``: items, slide_reviewed, slide_reopen or send_back."""
    return reverse(f"review_api:{name}", args=[review_assignment.pk, slide.pk])


def feedback_url(slide, assignment: Assignment) -> str:
    return reverse("review_api:feedback", args=[slide.pk]) + f"?assignment={assignment.pk}"


def send(client, method: str, url: str, body: object = None):
    """``method`` ``url`` with ``body`` as JSON (no body at all when None)."""
    if body is None:
        return client.generic(method.upper(), url)
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def state() -> tuple:
    """Everything a review request might change: a refused one changes none of it."""
    return (
        list(Verdict.objects.order_by("pk").values()),
        list(SendBack.objects.order_by("pk").values()),
        DelegationEvent.objects.count(),
        list(AssignmentSlide.objects.order_by("pk").values_list("pk", "state", "done_at")),
        list(Assignment.objects.order_by("pk").values_list("pk", "state", "completed_at")),
        list(Annotation.objects.order_by("pk").values_list("pk", "version", "is_deleted")),
        AnnotationRevision.objects.count(),
    )


def review_item(review_assignment: Assignment, slide) -> AssignmentSlide:
    return AssignmentSlide.objects.select_related("assignment", "slide").get(
        assignment=review_assignment, slide=slide
    )


def annotator_item(assignment: Assignment, slide) -> AssignmentSlide:
    return AssignmentSlide.objects.select_related("assignment").get(
        assignment=assignment, slide=slide
    )
