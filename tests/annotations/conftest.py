"""Personas and data for the annotation tests: a project with labels, a task on two slides, an
assignment for the annotator, a second annotator on the same slides, a manager, an outsider."""

import pytest

from annotations import services
from annotations.models import Annotation, AnnotationCell, AnnotationRevision
from tasks import services as task_services
from tasks.models import Label, Project, Task
from tests import factories

WIDTH, HEIGHT = 4096, 3072


def square(x: float, y: float, size: float = 100) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]],
    }


@pytest.fixture
def labels(project):
    return {label.name: label for label in project.labels.all()}


@pytest.fixture
def other_label(db):
    """A label of another project."""
    other = Project.objects.create(name="Another project")
    return Label.objects.create(project=other, name="Tumour", colour="#000000")


@pytest.fixture
def slides(slides_root, db):
    """Two registered slides, registered with their real size; the files stay small."""
    return factories.scanner_sized_slides(slides_root, WIDTH, HEIGHT)


@pytest.fixture
def slide(slides):
    return slides[0]


@pytest.fixture
def task(project, admin_user):
    return Task.objects.create(project=project, name="Round 1", created_by=admin_user)


@pytest.fixture
def assignment(task, slides, annotator, admin_user):
    annotator.groups.add(factories.role_group("Annotator"))
    return task_services.assignment_create(
        task=task, assignee=annotator, slides=slides, actor=admin_user
    )


@pytest.fixture
def second_annotator(db):
    user = factories.user_create("second")
    user.groups.add(factories.role_group("Annotator"))
    return user


@pytest.fixture
def second_assignment(task, slides, second_annotator, admin_user):
    return task_services.assignment_create(
        task=task, assignee=second_annotator, slides=slides, actor=admin_user
    )


@pytest.fixture
def manager(project):
    """A project manager of the project (managers see the projects they are members of)."""
    user = factories.user_create("manager", is_staff=True)
    user.groups.add(factories.role_group("Project manager"))
    project.members.add(user)
    return user


@pytest.fixture
def make_annotation(slide, assignment, labels):
    """Create an annotation through the service, by the assignee unless told otherwise."""

    def make(geometry=None, *, label="Tumour", kind="polygon", on=None, **extra):
        on = on or assignment
        annotation, _ = services.annotation_create(
            slide=extra.pop("slide", slide),
            assignment=on,
            author=on.assignee,
            label=labels[label] if isinstance(label, str) else label,
            kind=kind,
            geometry=geometry or square(100, 100),
            **extra,
        )
        return annotation

    return make


def counts() -> tuple[int, int, int]:
    """Rows of annotations, revisions and cells: a refused request changes none."""
    return (
        Annotation.objects.count(),
        AnnotationRevision.objects.count(),
        AnnotationCell.objects.count(),
    )


def cells_of(slide) -> dict:
    """The slide's non-empty cells as {(assignment, label, gx, gy): (count, area)}."""
    return {
        (c.assignment_id, c.label_id, c.gx, c.gy): (c.count, round(c.area_px, 2))
        for c in AnnotationCell.objects.filter(slide=slide, count__gt=0)
    }


# Every place in a create body where a client may send something odd (tests of bad input).
BODY_PLACES = [
    ("geometry",),
    ("geometry", "type"),
    ("geometry", "coordinates"),
    ("properties",),
    ("properties", "assignment"),
    ("properties", "label"),
    ("properties", "kind"),
    ("properties", "name"),
    ("properties", "comment"),
    ("properties", "uuid"),
]


def replaced(document: dict, place: tuple, value: object) -> object:
    """``document`` with ``value`` at ``place`` (the whole document for the empty place)."""
    if not place:
        return value
    target = document
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = value
    return document
