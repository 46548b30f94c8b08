"""AnnotationCell counts follow every change, and agree with a rebuild from the annotations."""

import pytest

from annotations import services
from annotations.models import AnnotationCell
from tests.annotations.conftest import cells_of, square

pytestmark = pytest.mark.django_db


def assert_consistent(slide):
    kept = cells_of(slide)
    services.annotation_cells_rebuild(slide=slide)
    assert kept == cells_of(slide)


def test_create_counts_the_annotation_in_the_cell_of_its_centre(make_annotation, slide):
    annotation = make_annotation(square(1000, 2000, 100))  # centre (1050, 2050)

    cell = AnnotationCell.objects.get()
    assert (cell.gx, cell.gy, cell.count, cell.area_px) == (1, 2, 1, 10000)
    assert (cell.label_id, cell.assignment_id) == (annotation.label_id, annotation.assignment_id)
    assert_consistent(slide)


def test_cells_follow_moves_label_changes_deletes_and_restores(
    make_annotation, slide, labels, annotator, second_assignment
):
    one = make_annotation(square(10, 10))
    two = make_annotation(square(20, 20), label="Stroma")
    make_annotation(square(30, 30), on=second_assignment)
    assert_consistent(slide)

    one = services.annotation_update(
        annotation=one, actor=annotator, version=1, geometry=square(3000, 2000)
    )
    assert_consistent(slide)
    one = services.annotation_update(
        annotation=one, actor=annotator, version=2, label=labels["Necrosis"]
    )
    assert_consistent(slide)
    one = services.annotation_update(
        annotation=one, actor=annotator, version=3, geometry=square(3000, 2000, 300)
    )
    assert_consistent(slide)
    services.annotation_delete(annotation=two, actor=annotator)
    assert_consistent(slide)
    services.annotation_restore(annotation=two, actor=annotator)
    assert_consistent(slide)
    services.annotation_delete(annotation=one, actor=annotator)
    assert_consistent(slide)

    assert sum(count for count, _ in cells_of(slide).values()) == 2


def test_an_emptied_cell_is_removed(make_annotation, annotator):
    annotation = make_annotation()

    services.annotation_delete(annotation=annotation, actor=annotator)

    assert not AnnotationCell.objects.exists()


def test_rebuild_recounts_after_a_bulk_load(slide, assignment, labels, annotator):
    items = [
        (labels["Tumour"], "polygon", square(i * 50 % 4000, i * 7 % 3000, 20)) for i in range(300)
    ]

    stored = services.annotations_bulk_create(
        slide=slide, assignment=assignment, author=annotator, items=items, batch_size=64
    )

    assert stored == 300
    assert sum(count for count, _ in cells_of(slide).values()) == 300
    assert sum(area for _, area in cells_of(slide).values()) == pytest.approx(300 * 400)
    AnnotationCell.objects.all().delete()
    services.annotation_cells_rebuild(slide=slide)
    assert sum(count for count, _ in cells_of(slide).values()) == 300


def test_rebuild_touches_only_its_slide(make_annotation, slides):
    make_annotation(square(10, 10), slide=slides[1])

    services.annotation_cells_rebuild(slide=slides[0])

    assert AnnotationCell.objects.filter(slide=slides[1]).count() == 1
