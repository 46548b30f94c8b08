"""The review policies on verdict summaries: exports.policy (no database)."""

import pytest
from wsi2ml_toolkit.export import stem_make

from exports.policy import Judgement, Policy

TUMOUR, STROMA, NECROSIS = 1, 2, 3
CLASSES = {TUMOUR: 1, STROMA: 2, NECROSIS: 3}


def judge(policy: Policy, **summary) -> Judgement:
    return policy.judge(own_label=TUMOUR, **summary)


def policy(name="all", **extra) -> Policy:
    return Policy(name=name, class_of=extra.pop("class_of", CLASSES), **extra)


def test_all_keeps_an_unreviewed_annotation_under_its_own_label():
    assert judge(policy()) == Judgement(None, TUMOUR, 1, None, None)


@pytest.mark.parametrize("name", ["reviewed", "consensus"])
def test_policies_that_need_a_review_drop_an_unreviewed_annotation(name):
    assert judge(policy(name)).reason == "unreviewed"
    assert policy(name).drops_unreviewed


@pytest.mark.parametrize(
    ("name", "reason"), [("not_rejected", "rejected"), ("consensus", "rejected")]
)
def test_a_reject_verdict_drops_under_not_rejected_and_consensus(name, reason):
    assert judge(policy(name), agree=2, reject=1).reason == reason


def test_reviewed_keeps_a_rejected_annotation():
    assert judge(policy("reviewed"), reject=1) == Judgement(None, TUMOUR, 1, None, 0.0)


def test_consensus_drops_a_label_tie_and_relabels_a_majority():
    assert judge(policy("consensus"), agree=1, wrong_labels=[STROMA]).reason == "tie"
    relabelled = judge(policy("consensus"), agree=1, wrong_labels=[STROMA, STROMA])
    assert relabelled == Judgement(None, STROMA, 2, STROMA, pytest.approx(1 / 3))


def test_consensus_keeps_the_own_label_when_no_verdict_names_one():
    assert judge(policy("consensus"), wrong_region=1) == Judgement(None, TUMOUR, 1, None, 0.0)


@pytest.mark.parametrize(
    ("summary", "kept"),
    [
        ({"agree": 1}, True),
        ({"agree": 1, "reject": 1}, True),  # exactly the threshold
        ({"agree": 1, "reject": 2}, False),
        ({"wrong_labels": [STROMA]}, False),
        ({}, False),  # no verdict: no agreement at all
    ],
)
def test_min_agreement_keeps_agree_fractions_at_or_above_it(summary, kept):
    judgement = judge(policy(min_agreement=0.5), **summary)
    assert (judgement.reason is None) is kept
    if not kept:
        assert judgement.reason == "below_agreement"


def test_a_policy_with_min_agreement_drops_unreviewed_on_the_fast_path():
    assert policy(min_agreement=0.0).drops_unreviewed
    assert not policy("not_rejected").drops_unreviewed


def test_apply_corrections_takes_the_consensus_label_but_keeps_the_own_on_a_tie():
    corrected = policy(apply_corrections=True)
    assert judge(corrected, wrong_labels=[NECROSIS]).label == NECROSIS
    assert judge(corrected, agree=1, wrong_labels=[NECROSIS]).label == TUMOUR
    assert judge(policy(), wrong_labels=[NECROSIS]).label == TUMOUR


def test_a_missed_region_passes_every_policy_agreed():
    for name in ("all", "reviewed", "not_rejected", "consensus"):
        strict = policy(name, min_agreement=1.0)
        assert judge(strict, missed=True) == Judgement(None, TUMOUR, 1, TUMOUR, 1.0)


def test_the_labels_filter_judges_the_final_label():
    only_necrosis = policy(apply_corrections=True, class_of={NECROSIS: 1})
    assert judge(only_necrosis, wrong_labels=[NECROSIS]) == Judgement(
        None, NECROSIS, 1, NECROSIS, 0.0
    )
    assert judge(only_necrosis).reason == "label_filtered"
    assert judge(only_necrosis, missed=True).reason == "label_filtered"


def test_merged_labels_share_a_class_index():
    merged = policy(class_of={TUMOUR: 1, STROMA: 1})
    assert merged.judge(own_label=STROMA).class_index == 1


def test_an_unknown_policy_is_a_programming_error():
    with pytest.raises(ValueError, match="Unknown policy"):
        Policy(name="best")


def test_the_policy_is_described_in_words():
    text = policy("not_rejected", min_agreement=0.75, apply_corrections=True).describe()
    assert text == (
        "all annotations but those a reviewer rejected, with an agreement of at least 0.75, "
        "with reviewers' corrected regions and consensus labels applied"
    )


@pytest.mark.parametrize(
    ("path", "stem"),
    [
        ("a/case.tif", "7_a_case"),
        ("b/case.tif", "7_b_case"),
        ("Scans 2024/Case #3 (HE).ome.tiff", "7_Scans_2024_Case_3_HE_.ome"),
        ("folder.v2/slide", "7_folder.v2_slide"),
        ("é/ü.svs", "7"),
    ],
)
def test_slide_stems_are_safe_file_names_led_by_the_id(path, stem):
    assert stem_make(slide_id=7, path=path) == stem
