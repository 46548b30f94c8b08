"""Which annotations an export keeps, under which label and class: the review policies.

Plain Python (no Django), shared by the export plan, which judges groups of annotations with
equal verdicts once per group, and by ``exports.rows``, which judges each exported row. The
consensus of an annotation's verdicts is review.agreement's one rule (importing it needs no
configured Django).

An annotation is judged on its CURRENT verdicts: counts of agree, wrong_label (with the labels
they name), wrong_region and reject. Its agree fraction is agree / verdicts (None without
verdicts); its consensus label the one most verdicts give it (agree votes for its own label,
wrong_label for the label named; a tie is no label). Then, in this order:

- ``reviewed`` and ``consensus`` drop annotations without a verdict (reason ``unreviewed``);
- ``not_rejected`` and ``consensus`` drop those with a reject verdict (``rejected``);
- ``consensus`` drops label ties (``tie``) and exports the rest under the consensus label
  (the own label when no verdict votes for a label);
- a minimum agreement t drops those whose agree fraction is None or below t
  (``below_agreement``);
- applying corrections exports the consensus label when there is one (a tie keeps the own
  label) and the latest wrong_region correction as the geometry (see ``exports.rows``);
- finally the labels filter, on the exported label (``label_filtered``), and the class of that
  label.

A reviewer's missed region (an annotation of a review assignment) counts as reviewed and agreed
by the reviewer who drew it: it passes every policy, with agree fraction 1 and its own label as
consensus, and only the labels filter can drop it.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from review.agreement import AGREE, REJECT, WRONG_LABEL, WRONG_REGION, consensus_label

POLICIES = ("all", "reviewed", "not_rejected", "consensus")
DROP_REASONS = ("unreviewed", "rejected", "tie", "below_agreement", "label_filtered")
JUDGED_MAX = 100_000
_NEED_REVIEW = frozenset({"reviewed", "consensus"})
_NO_REJECT = frozenset({"not_rejected", "consensus"})

POLICY_TEXT = {
    "all": "all annotations",
    "reviewed": "only annotations with at least one reviewer's verdict",
    "not_rejected": "all annotations but those a reviewer rejected",
    "consensus": "reviewed, not rejected annotations with a label consensus, under that label",
}


class Judgement(NamedTuple):
    """What the policy makes of one annotation: its exported label and class index, or the
    reason it is dropped (then label and class_index are None)."""

    reason: str | None
    label: int | None
    class_index: int | None
    consensus_label: int | None
    agreement: float | None


@dataclass(frozen=True)
class Policy:
    """A review policy with the export's label filter and classes.

    ``class_of`` maps each label KEPT by the labels filter to its class index (1..n): a label
    missing from it is dropped as ``label_filtered``.
    """

    name: str = "all"
    min_agreement: float | None = None
    apply_corrections: bool = False
    class_of: Mapping[int, int] = field(default_factory=dict)

    # Whether an annotation without verdicts (and not a missed region) is dropped whatever its
    # label: the fast path of exports.rows, set once rather than worked out per row.
    drops_unreviewed: bool = field(init=False)
    # Judgements by verdict summary: a project's annotations share few summaries, and judging
    # one (review.agreement.consensus_label) costs ten times looking it up.
    _judged: dict = field(init=False, default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"Unknown policy {self.name!r}.")
        drops = self.name in _NEED_REVIEW or self.min_agreement is not None
        object.__setattr__(self, "drops_unreviewed", drops)

    def judge(
        self,
        *,
        own_label: int,
        agree: int = 0,
        wrong_labels: Sequence[int] = (),
        wrong_region: int = 0,
        reject: int = 0,
        missed: bool = False,
    ) -> Judgement:
        """Judge an annotation labelled ``own_label`` with these current verdict counts
        (``wrong_labels``: the label named by each wrong_label verdict)."""
        if missed:
            return self._classed(own_label, own_label, 1.0)
        count = agree + len(wrong_labels) + wrong_region + reject
        if count == 0:
            if self.name in _NEED_REVIEW:
                return Judgement("unreviewed", None, None, None, None)
            if self.min_agreement is not None:
                return Judgement("below_agreement", None, None, None, None)
            return self._classed(own_label, None, None)
        if reject and self.name in _NO_REJECT:
            return Judgement("rejected", None, None, None, None)
        votes = [(AGREE, None, own_label)] * agree
        votes += [(WRONG_LABEL, label, own_label) for label in wrong_labels]
        votes += [(WRONG_REGION, None, own_label)] * wrong_region
        votes += [(REJECT, None, own_label)] * reject
        consensus = consensus_label(votes)
        if consensus.tie and self.name == "consensus":
            return Judgement("tie", None, None, None, consensus.agree_fraction)
        agreement = consensus.agree_fraction
        if self.min_agreement is not None and agreement < self.min_agreement:
            return Judgement("below_agreement", None, None, consensus.label, agreement)
        label = own_label
        if (self.name == "consensus" or self.apply_corrections) and consensus.label is not None:
            label = consensus.label
        return self._classed(label, consensus.label, agreement)

    def judge_cached(
        self,
        *,
        own_label: int,
        agree: int,
        wrong_labels: tuple[int, ...],
        wrong_region: int,
        reject: int,
        missed: bool,
    ) -> Judgement:
        """``judge``, remembered per summary (at most JUDGED_MAX of them)."""
        key = (own_label, agree, wrong_labels, wrong_region, reject, missed)
        judgement = self._judged.get(key)
        if judgement is None:
            judgement = self.judge(
                own_label=own_label,
                agree=agree,
                wrong_labels=wrong_labels,
                wrong_region=wrong_region,
                reject=reject,
                missed=missed,
            )
            if len(self._judged) < JUDGED_MAX:
                self._judged[key] = judgement
        return judgement

    def _classed(self, label: int, consensus: int | None, agreement: float | None) -> Judgement:
        index = self.class_of.get(label)
        if index is None:
            return Judgement("label_filtered", None, None, consensus, agreement)
        return Judgement(None, label, index, consensus, agreement)

    def describe(self) -> str:
        """The policy in words, for the preview and the manifest."""
        parts = [POLICY_TEXT[self.name]]
        if self.min_agreement is not None:
            parts.append(f"with an agreement of at least {self.min_agreement:g}")
        if self.apply_corrections:
            parts.append("with reviewers' corrected regions and consensus labels applied")
        return ", ".join(parts)
