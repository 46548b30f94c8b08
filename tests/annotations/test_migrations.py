"""Data migrations of annotations, run on today's models (their historical form is the same)."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

from annotations.models import Annotation
from tasks.models import Assignment, AssignmentSlide
from tests.factories import square

pytestmark = pytest.mark.django_db

start = importlib.import_module("annotations.migrations.0004_start_annotated_slides")


def test_slides_annotated_before_work_start_existed_become_in_progress(
    make_annotation, assignment, slides
):
    annotated, untouched = slides[0], slides[1]
    make_annotation(slide=annotated)
    # As the data of a database loaded before annotation_create started the slide.
    AssignmentSlide.objects.filter(assignment=assignment).update(state="not_started")
    Assignment.objects.filter(pk=assignment.pk).update(state="new", started_at=None)
    assert Annotation.objects.filter(slide=annotated).exists()

    start.start_annotated_slides(apps, None)

    states = dict(
        AssignmentSlide.objects.filter(assignment=assignment).values_list("slide_id", "state")
    )
    assert states[annotated.pk] == AssignmentSlide.State.IN_PROGRESS
    assert states[untouched.pk] == AssignmentSlide.State.NOT_STARTED
    assignment.refresh_from_db()
    assert assignment.state == Assignment.State.IN_PROGRESS and assignment.started_at


def test_a_done_slide_and_an_unannotated_assignment_are_left_as_they_are(
    make_annotation, assignment, second_assignment, slides
):
    make_annotation(slide=slides[0])
    AssignmentSlide.objects.filter(assignment=assignment, slide=slides[0]).update(state="done")
    Assignment.objects.filter(pk=second_assignment.pk).update(state="new")

    start.start_annotated_slides(apps, None)

    assert (
        AssignmentSlide.objects.get(assignment=assignment, slide=slides[0]).state
        == AssignmentSlide.State.DONE
    )
    second_assignment.refresh_from_db()
    assert second_assignment.state == Assignment.State.NEW


perimeter = importlib.import_module("annotations.migrations.0005_region_perimeter")


def test_regions_stored_without_a_perimeter_get_theirs_and_lines_keep_their_length(
    make_annotation, slides
):
    region = make_annotation(geometry=square(100, 100, 200))
    line = make_annotation(
        geometry={"type": "LineString", "coordinates": [[10, 10], [40, 50]]}, kind="line"
    )
    # As stored before regions had a perimeter.
    Annotation.objects.filter(pk=region.pk).update(length_px=0, length_um=None)
    mpp_x, mpp_y = slides[0].mpp_x, slides[0].mpp_y

    perimeter.perimeters_store(apps, connection.schema_editor())

    region.refresh_from_db()
    assert region.length_px == 800
    assert region.length_um == pytest.approx(2 * 200 * mpp_x + 2 * 200 * mpp_y)
    line.refresh_from_db()
    assert line.length_px == 50
