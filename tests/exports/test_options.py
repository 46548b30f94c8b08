"""Reading export options from a query string: exports.options."""

import pytest
from django.http import QueryDict

from exports.options import ExportOptions, options_parse
from wsi2ml.api import ApiError

pytestmark = pytest.mark.django_db


def parse(data, text: str) -> ExportOptions:
    return options_parse(project=data.project, query=QueryDict(text))


def refusal(data, text: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse(data, text)
    assert caught.value.status == 400
    return caught.value


def test_no_parameters_give_the_defaults(export_data):
    options = parse(export_data, "")
    assert options == ExportOptions(project_id=export_data.project.pk)
    assert options.query() == {} and options.query_string() == ""


def test_every_option_is_read_and_written_back_canonically(export_data):
    d = export_data
    tumour, stroma = d.labels["Tumour"].pk, d.labels["Stroma"].pk
    outlines, review = d.tasks["outlines"].pk, d.tasks["review"].pk
    a, b = d.slides["A"].pk, d.slides["B"].pk
    p, s = d.assignments["P"].assignee_id, d.assignments["S"].assignee_id
    options = parse(
        d,
        f"tasks={review},{outlines},{review}&slides={b}&slides={a}&labels={stroma},{tumour}"
        f"&annotators={s},{p}&include_in_progress=1&policy=consensus&min_agreement=0.50"
        f"&apply_corrections=1&class_{stroma}=Tissue&class_{tumour}=Tumour&mask_mpp=2.0",
    )
    assert options == ExportOptions(
        project_id=d.project.pk,
        tasks=(outlines, review),
        slides=(a, b),
        labels=(tumour, stroma),
        annotators=(p, s),
        include_in_progress=True,
        policy="consensus",
        min_agreement=0.5,
        apply_corrections=True,
        classes=((stroma, "Tissue"),),  # Tumour "renamed" Tumour is no rename
        mask_mpp=2.0,
    )
    assert options.query() == {
        "tasks": f"{outlines},{review}",
        "slides": f"{a},{b}",
        "labels": f"{tumour},{stroma}",
        "annotators": f"{p},{s}",
        "include_in_progress": "1",
        "policy": "consensus",
        "min_agreement": "0.5",
        "apply_corrections": "1",
        f"class_{stroma}": "Tissue",
        "mask_mpp": "2",
    }
    assert parse(d, options.query_string()) == options


def test_defaults_sent_explicitly_are_left_out_of_the_query(export_data):
    options = parse(export_data, "policy=all&include_in_progress=0&apply_corrections=0&tasks=")
    assert options.query() == {}


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("labels=999999", "labels", "No label 999999 in this project."),
        ("slides=999999", "slides", "No slide 999999 in this project."),
        ("tasks=999999", "tasks", "No task 999999 in this project."),
        ("annotators=999999", "annotators", "No annotator 999999 in this project's work."),
        ("tasks=abc", "tasks", "tasks must be comma-separated ids"),
        ("labels=1,-2", "labels", "labels must be comma-separated ids"),
        ("min_agreement=-0.1", "min_agreement", "min_agreement must be a number from 0 to 1"),
        ("min_agreement=1.5", "min_agreement", "min_agreement must be a number from 0 to 1"),
        ("min_agreement=abc", "min_agreement", "min_agreement must be a number from 0 to 1"),
        ("min_agreement=nan", "min_agreement", "min_agreement must be a number from 0 to 1"),
        ("policy=best", "policy", "policy must be one of all, reviewed, not_rejected, consensus"),
        ("include_in_progress=2", "include_in_progress", "include_in_progress must be 0 or 1."),
        ("apply_corrections=yes", "apply_corrections", "apply_corrections must be 0 or 1."),
        ("mask_mpp=0", "mask_mpp", "mask_mpp must be a positive number"),
        ("mask_mpp=inf", "mask_mpp", "mask_mpp must be a positive number"),
        ("policy=all&policy=reviewed", "policy", "Give policy once."),
        ("class_abc=X", "class_abc", "write class_<label id>"),
        ("class_999999=X", "class_999999", "No label 999999 in this project."),
        (f"class_1={'x' * 101}", "class_1", "at most 100 characters"),
    ],
)
def test_bad_parameters_are_refused_with_their_field(export_data, text, field, message):
    error = refusal(export_data, text)
    assert error.field == field
    assert message in error.message


def test_an_unknown_parameter_is_named_with_the_known_ones(export_data):
    error = refusal(export_data, "polcy=all&format=zip")
    assert error.field == "format"
    assert error.message.startswith("Unknown parameter format, polcy; the parameters are tasks,")
    assert "class_<label id>" in error.message and "mask_mpp" in error.message


def test_ids_of_another_project_are_answered_as_unknown_ones(export_data):
    d = export_data
    cases = {
        "labels": (d.labels["Nodule"].pk, "label"),
        "slides": (d.slides["D"].pk, "slide"),
        "tasks": (d.tasks["nodules"].pk, "task"),
        "annotators": (d.assignments["lung"].assignee_id, "annotator"),
    }
    for name, (pk, noun) in cases.items():
        error = refusal(d, f"{name}={pk}")
        assert error.field == name
        assert error.message.startswith(f"No {noun} {pk} in this project")
        assert "Lung" not in error.message and "Nodule" not in error.message
    error = refusal(d, f"class_{d.labels['Nodule'].pk}=X")
    assert error.message == f"No label {d.labels['Nodule'].pk} in this project."


def test_several_unknown_ids_are_all_named(export_data):
    error = refusal(export_data, "labels=999998,999999")
    assert error.message == "No labels 999998, 999999 in this project."


def test_an_outsider_is_no_annotator_of_the_project(export_data, people):
    error = refusal(export_data, f"annotators={people['outsider'].pk}")
    assert error.field == "annotators"


def test_reviewers_count_as_people_of_the_project_work(export_data):
    reviewer = export_data.assignments["R1"].assignee_id
    assert parse(export_data, f"annotators={reviewer}").annotators == (reviewer,)


def test_two_labels_given_one_class_name_merge(export_data):
    d = export_data
    stroma, necrosis = d.labels["Stroma"].pk, d.labels["Necrosis"].pk
    options = parse(d, f"class_{necrosis}=Other&class_{stroma}=Other")
    assert options.classes == ((stroma, "Other"), (necrosis, "Other"))
    assert options.query() == {f"class_{stroma}": "Other", f"class_{necrosis}": "Other"}
