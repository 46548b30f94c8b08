"""Concurrent writes on PostgreSQL: row locks and upserts keep versions and cells right."""

import threading
import uuid

import pytest
from django.db import connection, connections

from annotations import services
from annotations.models import Annotation, AnnotationRevision
from tasks import services as task_services
from tests.annotations.conftest import cells_of, square

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises writes"),
]


@pytest.fixture
def assignment(task, slides, annotator, admin_user):
    """The annotator's assignment, without the role group: these tests run outside a test
    transaction, after which the database is emptied of what migrations made (groups too)."""
    return task_services.assignment_create(
        task=task, assignee=annotator, slides=slides, actor=admin_user
    )


def in_threads(*calls):
    """Run each call in its own thread and connection, released together; return outcomes."""
    start = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(i, call):
        try:
            start.wait()
            outcomes[i] = call()
        except Exception as exc:  # the test looks at what each thread got
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_two_updates_of_one_version_give_one_success_and_one_conflict(make_annotation, annotator):
    annotation = make_annotation()

    def move(x):
        return lambda: services.annotation_update(
            annotation=annotation, actor=annotator, version=1, geometry=square(x, x)
        )

    outcomes = in_threads(move(500), move(900))

    conflicts = [o for o in outcomes if isinstance(o, services.AnnotationConflict)]
    saved = [o for o in outcomes if isinstance(o, Annotation)]
    assert len(conflicts) == 1 and len(saved) == 1
    annotation.refresh_from_db()
    assert annotation.version == 2
    assert annotation.geometry == saved[0].geometry
    assert AnnotationRevision.objects.filter(annotation=annotation).count() == 2


def test_concurrent_creates_in_one_cell_are_all_counted(slide, assignment, labels, annotator):
    def create(i):
        return lambda: services.annotation_create(
            slide=slide,
            assignment=assignment,
            author=annotator,
            label=labels["Tumour"],
            kind="polygon",
            geometry=square(10 + i, 10 + i),
        )

    outcomes = in_threads(*(create(i) for i in range(6)))

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sum(count for count, _ in cells_of(slide).values()) == 6


def test_a_create_sent_twice_at_once_stores_one_annotation(slide, assignment, labels, annotator):
    same = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

    def create():
        return services.annotation_create(
            slide=slide,
            assignment=assignment,
            author=annotator,
            label=labels["Tumour"],
            kind="polygon",
            geometry=square(10, 10),
            uuid=uuid.UUID(same),
        )

    outcomes = in_threads(create, create)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert Annotation.objects.count() == 1
    assert sorted(created for _, created in outcomes) == [False, True]
    assert sum(count for count, _ in cells_of(slide).values()) == 1
