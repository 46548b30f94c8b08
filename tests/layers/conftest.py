"""Personas and data for the layer tests: a project holding two slides in an annotation task
(the annotator's), its manager and ML specialist, a reviewer of the task, an annotator of
another project on the same slide, an outsider; and helpers that write layer files."""

import io
import json

import pytest
from django.urls import reverse

from layers.models import Layer, LayerCell, LayerFeature
from tasks import roles
from tasks import services as task_services
from tasks.models import Label, Project, Task
from tests import factories

WIDTH, HEIGHT = 40960, 30720


@pytest.fixture(autouse=True)
def upload_dir(tmp_path, settings):
    settings.LAYER_UPLOAD_DIR = tmp_path / "layer-uploads"
    return settings.LAYER_UPLOAD_DIR


@pytest.fixture
def slides(slides_root, db):
    """Two registered slides with a scanner's size; the files stay small."""
    return factories.scanner_sized_slides(slides_root, WIDTH, HEIGHT)


@pytest.fixture
def slide(slides):
    return slides[0]


@pytest.fixture
def labels(project):
    return {label.name: label for label in project.labels.all()}


@pytest.fixture
def task(project, slides, annotator, admin_user):
    task, _ = factories.annotation_task_create(
        project=project, name="Round 1", slides=slides, annotators=[annotator], actor=admin_user
    )
    return task


@pytest.fixture
def manager(project):
    user = factories.user_create("manager", is_staff=True, role=roles.PROJECT_MANAGER)
    project.members.add(user)
    return user


@pytest.fixture
def ml_specialist(project):
    user = factories.user_create("ml", role=roles.ML_SPECIALIST)
    project.members.add(user)
    return user


@pytest.fixture
def reviewer(task, slides, admin_user):
    user = factories.user_create("reviewer", role=roles.REVIEWER)
    review = Task.objects.create(
        project=task.project, name="Review of Round 1", kind=Task.Kind.REVIEW, reviewed_task=task
    )
    task_services.assignment_create(task=review, assignee=user, slides=slides, actor=admin_user)
    return user


@pytest.fixture
def other_annotator(slides, admin_user):
    """An annotator of another project, assigned the same first slide."""
    other = Project.objects.create(name="Lung nodules")
    Label.objects.create(project=other, name="Nodule", colour="#1f77b4")
    user = factories.user_create("lung", role=roles.ANNOTATOR)
    factories.annotation_task_create(
        project=other, name="Nodules", slides=slides[:1], annotators=[user], actor=admin_user
    )
    return user


# --- Files ----------------------------------------------------------------------------------


def square(x: float, y: float, size: float = 100) -> dict:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(geometry: dict, **properties) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def collection(features: list) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def detections(n: int, *, cls: str = "Tumor", x: float = 1000, y: float = 1000) -> list[dict]:
    """``n`` square detections in rows of 200, each with a score."""
    return [
        feature(
            square(x + 150 * (i % 200), y + 150 * (i // 200)),
            objectType="detection",
            classification={"name": cls, "color": [200, 0, 0]},
            measurements={"score": round(0.5 + i / (2 * n), 3)},
        )
        for i in range(n)
    ]


def upload(client, slide, content: bytes, name: str = "layer.geojson", headers=None, **fields):
    """POST the file to the slide's layers (with ``fields``); the response."""
    file = io.BytesIO(content)
    file.name = name
    url = reverse("layers:slide_layers", args=[slide.pk])
    return client.post(url, {"file": file, **fields}, headers=headers)


def stored() -> tuple[int, int, int]:
    """Rows of layers, features and cells: a refused upload changes none."""
    return Layer.objects.count(), LayerFeature.objects.count(), LayerCell.objects.count()


def value(stored_json):
    """A json column's value (psycopg2 parses json columns; SQLite gives text)."""
    return json.loads(stored_json) if isinstance(stored_json, str) else stored_json
