"""What an export holds, on the hand-built data of conftest.py: exports.selectors.

Expected annotations are written out by the names of conftest's table.
"""

import json
from collections import Counter

import pytest
from django.http import QueryDict

from exports.options import options_parse
from exports.selectors import (
    export_plan,
    export_preview,
    export_rows,
    exportable_projects_summary,
)
from wsi2ml.api import ApiError

pytestmark = pytest.mark.django_db

COMPLETED = ["a1", "a2", "a3", "a4", "a5", "m1", "b1", "b2", "b3", "c2"]


def exported(data, text: str = "") -> dict:
    """{annotation name: row} of the export of ``text`` (ids written as {Tumour}, {A}, {P} …)."""
    names = {a.pk: name for name, a in data.annotations.items()}
    options = options_parse(project=data.project, query=QueryDict(_ids(data, text)))
    plan = export_plan(options=options)
    rows = {}
    for slide in plan.slides:
        for row in export_rows(options=options, plan=plan, slide=slide):
            rows[names[row.annotation_id]] = row
    return rows


def _ids(data, text: str) -> str:
    ids = {name: label.pk for name, label in data.labels.items()}
    ids |= {name: slide.pk for name, slide in data.slides.items()}
    ids |= {name: task.pk for name, task in data.tasks.items()}
    ids |= {name: a.assignee_id for name, a in data.assignments.items()}
    return text.format(**ids)


def preview(data, text: str = "") -> dict:
    return export_preview(
        options=options_parse(project=data.project, query=QueryDict(_ids(data, text)))
    )


def test_completed_work_of_every_task_is_exported_by_default(export_data):
    assert sorted(exported(export_data)) == sorted(COMPLETED)


def test_include_in_progress_adds_the_rest_of_the_work(export_data):
    assert sorted(exported(export_data, "include_in_progress=1")) == sorted(
        [*COMPLETED, "c1", "m2"]
    )


def test_the_tasks_filter_keeps_missed_regions_to_the_review_task(export_data):
    assert sorted(exported(export_data, "tasks={outlines}")) == sorted(set(COMPLETED) - {"m1"})
    assert sorted(exported(export_data, "tasks={review}&include_in_progress=1")) == ["m1", "m2"]


def test_the_slides_filter(export_data):
    assert sorted(exported(export_data, "slides={B}")) == ["b1", "b2", "b3"]


def test_the_labels_filter_judges_the_exported_label(export_data):
    assert sorted(exported(export_data, "labels={Tumour}")) == ["a1", "a3", "a4", "b1"]
    corrected = exported(export_data, "labels={Tumour}&apply_corrections=1")
    assert sorted(corrected) == ["a1", "a3", "a4"]  # b1 is Necrosis by consensus


def test_the_annotators_filter(export_data):
    assert sorted(exported(export_data, "annotators={S}")) == ["a4", "a5", "b2", "c2"]
    assert sorted(exported(export_data, "annotators={R1}")) == ["m1"]


def test_reviewed_drops_unreviewed_but_keeps_missed_regions(export_data):
    assert sorted(exported(export_data, "policy=reviewed")) == [
        "a1", "a2", "a3", "a4", "b1", "b2", "m1"
    ]  # fmt: skip


def test_not_rejected_drops_rejected_annotations(export_data):
    assert sorted(exported(export_data, "policy=not_rejected")) == [
        "a1", "a2", "a4", "a5", "b1", "b3", "c2", "m1"
    ]  # fmt: skip


def test_consensus_keeps_agreed_labels_under_the_consensus_label(export_data):
    d = export_data
    rows = exported(d, "policy=consensus")
    assert {name: row.label_id for name, row in rows.items()} == {
        "a1": d.labels["Tumour"].pk,
        "a4": d.labels["Tumour"].pk,
        "b1": d.labels["Necrosis"].pk,  # drawn as Tumour; the one verdict says Necrosis
        "m1": d.labels["Necrosis"].pk,
    }
    assert rows["b1"].original_label_id == d.labels["Tumour"].pk
    assert rows["b1"].class_index == 3
    assert json.loads(rows["a4"].geometry) == d.annotations["a4"].geometry  # not corrected


def test_min_agreement_keeps_agree_fractions_at_or_above_it(export_data):
    rows = exported(export_data, "min_agreement=0.5")
    assert {name: row.agreement for name, row in rows.items()} == {
        "a1": 1.0, "a2": 0.5, "a4": 0.5, "b2": 0.5, "m1": 1.0
    }  # fmt: skip


def test_apply_corrections_replaces_the_region_and_the_label(export_data):
    d = export_data
    rows = exported(d, "apply_corrections=1")
    a4 = rows["a4"]
    assert json.loads(a4.geometry) == {
        "type": "Polygon",
        "coordinates": [[[1000.0, 1000.0], [1200.0, 1000.0], [1200.0, 1100.0], [1000.0, 1100.0],
                         [1000.0, 1000.0]]],
    }  # fmt: skip
    assert a4.corrected and a4.area_um2 == 1250.0 and a4.perimeter_um == 150.0
    assert rows["b1"].label_id == d.labels["Necrosis"].pk
    assert rows["a2"].label_id == d.labels["Stroma"].pk  # a tie keeps the own label
    assert not rows["a1"].corrected and rows["a1"].area_um2 == 625.0


def test_rows_carry_provenance_and_verdicts(export_data):
    d = export_data
    rows = exported(d)
    a4, m1, b3 = rows["a4"], rows["m1"], rows["b3"]
    assert a4.author == "second" and a4.task_id == d.tasks["outlines"].pk
    assert a4.assignment_id == d.assignments["S"].pk
    assert a4.uuid == str(d.annotations["a4"].uuid)
    assert a4.verdicts == {"agree": 1, "wrong_label": 0, "wrong_region": 1, "reject": 0}
    assert a4.agreement == 0.5 and a4.consensus_label_id == d.labels["Tumour"].pk
    assert a4.created_at.endswith("Z") and a4.created_at[10] == "T"
    assert m1.missed_region and m1.author == "reviewer" and m1.agreement == 1.0
    assert m1.task_id == d.tasks["review"].pk
    assert b3.kind == "line" and b3.perimeter_um == 100.0 and b3.area_um2 is None
    assert rows["a3"].verdicts["reject"] == 1 and rows["a3"].verdicts["agree"] == 0  # replaced


def test_rows_come_in_id_order_per_slide(export_data):
    d = export_data
    options = options_parse(project=d.project, query=QueryDict("include_in_progress=1"))
    plan = export_plan(options=options)
    for slide in plan.slides:
        ids = [row.annotation_id for row in export_rows(options=options, plan=plan, slide=slide)]
        assert ids == sorted(ids)


def test_classes_merge_and_rename_labels_in_label_order(export_data):
    d = export_data
    text = "class_{Stroma}=Tumour&class_{Necrosis}=Dead tissue"
    plan_preview = preview(d, text)
    assert [(c["index"], c["name"], c["colour"], [la["name"] for la in c["labels"]])
            for c in plan_preview["classes"]] == [
        (1, "Tumour", "#d62728", ["Tumour", "Stroma"]),
        (2, "Dead tissue", "#7f7f7f", ["Necrosis"]),
    ]  # fmt: skip
    rows = exported(d, text)
    assert rows["a2"].class_index == 1 and rows["a2"].label_id == d.labels["Stroma"].pk
    assert rows["a5"].class_index == 2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "include_in_progress=1",
        "policy=reviewed",
        "policy=not_rejected",
        "policy=consensus",
        "min_agreement=0.5",
        "policy=reviewed&min_agreement=0.6",
        "apply_corrections=1&labels={Tumour},{Necrosis}",
        "policy=consensus&labels={Necrosis}&class_{Necrosis}=Dead",
    ],
)
def test_preview_counts_equal_the_exported_rows(export_data, text):
    d = export_data
    shown = preview(d, text)
    rows = exported(d, text)
    classes = {c["index"]: c["name"] for c in shown["classes"]}
    assert shown["features"] == len(rows)
    per_class = Counter(classes[row.class_index] for row in rows.values())
    assert {c["name"]: c["features"] for c in shown["classes"]} == {
        name: per_class[name] for name in classes.values()
    }
    per_slide = Counter(row_slide(d, name) for name in rows)
    assert {s["id"]: s["features"] for s in shown["slides"]} == {
        s.pk: per_slide[s.pk] for s in (d.slides["A"], d.slides["B"], d.slides["C"])
    }
    live = len(COMPLETED) + (2 if "include_in_progress" in text else 0)
    assert sum(shown["dropped"].values()) == live - len(rows)


def row_slide(data, name: str) -> int:
    return data.annotations[name].slide_id


def test_preview_counts_drops_per_reason(export_data):
    assert preview(export_data, "policy=consensus")["dropped"] == {
        "unreviewed": 3,  # a5, b3, c2
        "rejected": 2,  # a3, b2
        "tie": 1,  # a2
        "below_agreement": 0,
        "label_filtered": 0,
    }
    assert preview(export_data, "min_agreement=0.5&labels={Tumour}")["dropped"] == {
        "unreviewed": 0,
        "rejected": 0,
        "tie": 0,
        "below_agreement": 5,  # a3, a5, b1, b3, c2
        "label_filtered": 3,  # a2, b2 (Stroma) and m1 (Necrosis)
    }


def test_preview_lists_slides_with_their_paths_and_unique_stems(export_data):
    d = export_data
    shown = preview(d)
    a, b, c = d.slides["A"].pk, d.slides["B"].pk, d.slides["C"].pk
    assert shown["slides"] == [
        {"id": a, "name": "case.tif", "path": "a/case.tif", "stem": f"{a}_a_case", "features": 6},
        {"id": b, "name": "case.tif", "path": "b/case.tif", "stem": f"{b}_b_case", "features": 3},
        {"id": c, "name": "other.tif", "path": "c/other.tif", "stem": f"{c}_c_other",
         "features": 1},
    ]  # fmt: skip
    assert shown["features"] == 10 and shown["policy"] == "all annotations"


def test_a_mask_finer_than_forty_megapixels_is_refused_naming_the_slide(export_data):
    d = export_data
    with pytest.raises(ApiError) as caught:
        preview(d, "mask_mpp=0.5")  # 10000 × 8000 px
    assert caught.value.field == "mask_mpp" and caught.value.status == 400
    assert caught.value.message == (
        "A mask of slide a/case.tif at 0.5 µm/px would be 10000 × 8000 px: masks are at most "
        "40 megapixels and no finer than the slide. Choose mask_mpp 0.708 or more."
    )
    assert preview(d, "mask_mpp=0.708")["features"] == 10


def test_a_mask_finer_than_the_slide_is_refused(export_data):
    d = export_data
    with pytest.raises(ApiError) as caught:
        preview(d, "mask_mpp=0.1&slides={A}")
    assert caught.value.field == "mask_mpp"


def test_a_mask_of_a_slide_without_resolution_is_refused(export_data):
    d = export_data
    d.slides["C"].mpp_x = d.slides["C"].mpp_y = None
    d.slides["C"].save()
    with pytest.raises(ApiError) as caught:
        preview(d, "mask_mpp=2")
    assert "c/other.tif has no resolution" in caught.value.message
    assert preview(d, "mask_mpp=2&slides={A},{B}")["features"] == 9


def test_the_summary_counts_each_exportable_project(
    export_data, people, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        summary = exportable_projects_summary(people["superuser"])
    assert [
        (s["project"].name, s["slides"], s["tasks"], s["completed_assignments"], s["annotations"])
        for s in summary
    ] == [
        ("Breast tumour segmentation", 3, 2, 1, 12),  # a6 deleted; S's assignment completed
        ("Lung nodules", 1, 1, 0, 1),
    ]
    assert [s["project"].name for s in exportable_projects_summary(people["mlspecialist"])] == [
        "Breast tumour segmentation"
    ]
    assert exportable_projects_summary(people["pathologist"]) == []


def test_two_slides_of_the_same_file_name_get_different_stems(export_data):
    d = export_data
    slides = {
        s.id: s
        for s in export_plan(options=options_parse(project=d.project, query=QueryDict())).slides
    }
    a, b = slides[d.slides["A"].pk], slides[d.slides["B"].pk]
    assert a.name == b.name == "case.tif"
    assert a.stem == f"{a.id}_a_case" and b.stem == f"{b.id}_b_case"
