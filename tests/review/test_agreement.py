"""Agreement numbers against cases worked out by hand (review/agreement.py, the pure part).

Squares are given as (x0, y0, x1, y1); every expected figure is written out from the areas.
"""

import itertools

import numpy as np
import pytest
import shapely
from scipy.optimize import linear_sum_assignment
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from review.agreement import (
    AreaAgreement,
    Consensus,
    ObjectAgreement,
    _match,
    area_agreement,
    compare,
    compare_matched,
    consensus_label,
    object_agreement,
    prepare,
)

approx = pytest.approx


def test_identical_sets_agree_fully():
    a = [box(0, 0, 10, 10), box(20, 0, 30, 10)]

    area = area_agreement(a, list(a))
    objects = object_agreement(a, list(a))

    assert (area.dice, area.iou) == (1, 1)
    assert (objects.matched, objects.precision, objects.recall, objects.f1) == (2, 1, 1, 1)
    assert objects.mean_iou == 1


def test_disjoint_sets_agree_not_at_all():
    a, b = [box(0, 0, 10, 10)], [box(20, 0, 30, 10)]

    area = area_agreement(a, b)
    objects = object_agreement(a, b)

    assert (area.intersection, area.dice, area.iou) == (0, 0, 0)
    assert (objects.matched, objects.precision, objects.recall, objects.f1) == (0, 0, 0, 0)
    assert objects.mean_iou is None


def test_two_squares_half_overlapping():
    # |A| = |B| = 100, |A∩B| = 5 × 10 = 50, |A∪B| = 150: IoU 50/150 = 1/3, Dice 100/200 = 1/2.
    a, b = [box(0, 0, 10, 10)], [box(5, 0, 15, 10)]

    area = area_agreement(a, b)

    assert area.iou == approx(1 / 3)
    assert area.dice == approx(1 / 2)
    # An IoU of 1/3 is below 0.5: the squares are not the same object...
    assert object_agreement(a, b).matched == 0
    # ...unless the threshold allows it.
    assert object_agreement(a, b, threshold=0.3).mean_iou == approx(1 / 3)


def test_iou_of_exactly_the_threshold_matches():
    # |A∩B| = 100, |A∪B| = 200: IoU 0.5 exactly.
    objects = object_agreement([box(0, 0, 10, 10)], [box(0, 0, 10, 20)])

    assert objects.matched == 1
    assert objects.mean_iou == approx(0.5)


def test_a_square_with_a_hole_against_the_filled_square():
    # A: 10 × 10 with a 6 × 6 hole = 100 - 36 = 64. B: 100. |A∩B| = 64, |A∪B| = 100.
    holed = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], holes=[[(2, 2), (8, 2), (8, 8), (2, 8)]])

    area = area_agreement([holed], [box(0, 0, 10, 10)])
    objects = object_agreement([holed], [box(0, 0, 10, 10)])

    assert (area.area_a, area.area_b, area.intersection) == (64, 100, 64)
    assert area.iou == approx(0.64)
    assert area.dice == approx(2 * 64 / 164)  # = 32/41
    assert objects.matched == 1 and objects.mean_iou == approx(0.64)


def test_what_lies_in_a_hole_does_not_overlap():
    holed = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], holes=[[(2, 2), (8, 2), (8, 8), (2, 8)]])

    area = area_agreement([holed], [box(3, 3, 7, 7)])

    assert area.intersection == 0 and area.dice == 0


def test_several_objects_each_shifted_by_one_pixel():
    # Three 10 × 10 squares, each moved 1 px right: |a∩b| = 90, |a∪b| = 110 each, IoU 9/11.
    a = [box(x, 0, x + 10, 10) for x in (0, 30, 60)]
    b = [box(x + 1, 0, x + 11, 10) for x in (0, 30, 60)]

    area = area_agreement(a, b)
    objects = object_agreement(a, b)

    assert area.dice == approx(2 * 270 / 600)  # 0.9
    assert area.iou == approx(270 / 330)  # 9/11
    assert (objects.matched, objects.f1) == (3, 1)
    assert objects.mean_iou == approx(9 / 11)


def test_unmatched_objects_lower_precision_and_recall():
    # a: the 3 shared squares and 1 of its own; b: the 3 shared squares and 2 that a missed.
    shared = [box(x, 0, x + 10, 10) for x in (0, 30, 60)]
    a = [*shared, box(0, 50, 10, 60)]
    b = [*shared, box(30, 50, 40, 60), box(60, 50, 70, 60)]

    objects = object_agreement(a, b)

    assert (objects.count_a, objects.count_b, objects.matched) == (4, 5, 3)
    assert objects.precision == approx(3 / 4)
    assert objects.recall == approx(3 / 5)
    assert objects.f1 == approx(2 * 3 / 9)  # 2/3
    # Areas: 300 shared of 400 and 500: Dice 600/900.
    assert area_agreement(a, b).dice == approx(2 / 3)


def greedy_matches(a, b, threshold=0.5):
    """What matching the best pair first would give (to show the case below is a real one)."""
    pairs = sorted(
        (
            (x.intersection(y).area / x.union(y).area, i, j)
            for (i, x), (j, y) in itertools.product(enumerate(a), enumerate(b))
        ),
        reverse=True,
    )
    used_a, used_b = set(), set()
    for iou, i, j in pairs:
        if iou >= threshold and i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return len(used_a)


def test_the_optimal_assignment_beats_matching_the_best_pair_first():
    # b1 = [0,10]×[0,10] and b2 = [0,10]×[4,14] overlap. a1 = [0,10]×[1,11] has IoU 90/110 = 9/11
    # with b1 and 70/130 = 7/13 with b2; a2 = [0,10]×[-3,7] has 70/130 = 7/13 with b1 and
    # 30/170 with b2. Best pair first takes a1-b1 and leaves a2 alone; the optimum is
    # a1-b2 and a2-b1.
    a = [box(0, 1, 10, 11), box(0, -3, 10, 7)]
    b = [box(0, 0, 10, 10), box(0, 4, 10, 14)]

    objects = object_agreement(a, b)

    assert greedy_matches(a, b) == 1
    assert objects.matched == 2
    assert objects.f1 == 1
    assert objects.mean_iou == approx(7 / 13)


def test_among_as_many_matches_the_greatest_total_iou_wins():
    # a1 = b2 and a2 = b1, and each also has IoU 9/11 with the other: both matchings have two
    # pairs, and a1-b2 + a2-b1 (1 + 1) beats a1-b1 + a2-b2 (9/11 + 9/11).
    a = [box(0, 0, 10, 10), box(1, 0, 11, 10)]
    b = [box(1, 0, 11, 10), box(0, 0, 10, 10)]

    objects = object_agreement(a, b)

    assert objects.matched == 2
    assert objects.mean_iou == 1


def brute_force_matches(rows, cols, weights):
    """The maximum matching of the whole candidate graph, by one dense assignment."""
    size = max(rows.max(), cols.max()) + 1
    worth = np.zeros((size, size))
    worth[rows, cols] = size + 1 + weights
    r, c = linear_sum_assignment(worth, maximize=True)
    kept = worth[r, c] > 0
    return kept.sum(), weights_of(rows, cols, weights, r[kept], c[kept])


def weights_of(rows, cols, weights, r, c):
    lookup = {(i, j): w for i, j, w in zip(rows, cols, weights, strict=True)}
    return sum(lookup[i, j] for i, j in zip(r, c, strict=True))


@pytest.mark.parametrize("seed", range(30))
def test_matching_by_components_equals_one_whole_assignment(seed):
    rng = np.random.default_rng(seed)
    pairs = {(int(i), int(j)) for i, j in rng.integers(0, 12, size=(25, 2))}
    rows = np.array([i for i, _ in pairs])
    cols = np.array([j for _, j in pairs])
    weights = rng.uniform(0.5, 1, size=len(pairs))

    chosen = _match(rows, cols, weights)

    count, total = brute_force_matches(rows, cols, weights)
    assert len(chosen) == count
    assert len(set(rows[chosen])) == len(set(cols[chosen])) == count  # one-to-one
    assert weights[chosen].sum() == approx(total)


def test_overlapping_regions_of_one_annotator_count_their_union_once():
    # a's two squares overlap: their union is [0,15]×[0,10] = 150, not 200.
    a = [box(0, 0, 10, 10), box(5, 0, 15, 10)]
    b = [box(0, 0, 15, 10)]

    area = area_agreement(a, b)
    objects = object_agreement(a, b)

    assert (area.area_a, area.intersection, area.dice) == (150, 150, 1)
    # Each of a's squares has IoU 100/150 with b's rectangle; only one can be matched to it.
    assert (objects.matched, objects.precision, objects.recall) == (1, 0.5, 1)
    assert objects.f1 == approx(2 / 3)


@pytest.mark.parametrize("seed", range(20))
def test_the_areas_are_those_of_the_two_unions(seed):
    # Random rectangles, many overlapping within each set: the union of each set, intersected.
    rng = np.random.default_rng(seed)

    def rectangles(count):
        corners = rng.uniform(0, 100, size=(count, 2))
        sizes = rng.uniform(2, 25, size=(count, 2))
        return [box(*c, *(c + d)) for c, d in zip(corners, sizes, strict=True)]

    a, b = rectangles(30), rectangles(30)

    area = area_agreement(a, b)

    union_a, union_b = shapely.union_all(a), shapely.union_all(b)
    assert area.area_a == approx(union_a.area)
    assert area.area_b == approx(union_b.area)
    assert area.intersection == approx(union_a.intersection(union_b).area)


def test_an_invalid_bow_tie_is_repaired_into_its_two_triangles():
    # The self-crossing outline encloses two triangles of 25 each: 50 of the square's 100.
    bow_tie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    assert not bow_tie.is_valid

    area = area_agreement([bow_tie], [box(0, 0, 10, 10)])

    assert area.area_a == approx(50)
    assert area.dice == approx(2 * 50 / 150)


def test_nobody_drew_anything_is_undefined_not_perfect():
    area = area_agreement([], [])
    objects = object_agreement([], [])

    assert (area.dice, area.iou) == (None, None)
    assert (objects.precision, objects.recall, objects.f1) == (None, None, None)


def test_one_side_empty():
    only_b = object_agreement([], [box(0, 0, 10, 10)])
    only_a = object_agreement([box(0, 0, 10, 10)], [])

    assert area_agreement([], [box(0, 0, 10, 10)]).dice == 0
    assert (only_b.precision, only_b.recall, only_b.f1) == (None, 0, 0)
    assert (only_a.precision, only_a.recall, only_a.f1) == (0, None, 0)


def test_points_match_within_the_radius_and_have_no_area():
    a, b = [Point(0, 0)], [Point(3, 4)]  # 5 apart

    assert object_agreement(a, b, point_radius=5).matched == 1
    assert object_agreement(a, b, point_radius=4.9).matched == 0
    assert area_agreement(a, b).dice is None


def test_points_are_matched_optimally_too():
    # a2-b1 is the closest pair (4), but taking it leaves a1 with nothing; a1-b1 (6) and a2-b2 (6)
    # match both.
    a = [Point(0, 0), Point(10, 0)]
    b = [Point(6, 0), Point(16, 0)]

    objects = object_agreement(a, b, point_radius=7)

    assert (objects.matched, objects.f1) == (2, 1)
    assert objects.mean_iou is None  # points have no IoU


def test_points_and_regions_do_not_match_each_other():
    objects = object_agreement([Point(5, 5)], [box(0, 0, 10, 10)], point_radius=100)

    assert (objects.count_a, objects.count_b, objects.matched) == (1, 1, 0)


def test_lines_take_no_part():
    line = LineString([(0, 0), (10, 10)])

    objects = object_agreement([line], [line])

    assert (objects.count_a, objects.count_b) == (0, 0)
    assert area_agreement([line], [line]).dice is None


def test_a_multipolygon_is_one_object():
    two_parts = MultiPolygon([box(0, 0, 10, 10), box(20, 0, 30, 10)])

    objects = object_agreement([two_parts], [box(0, 0, 10, 10)])

    # IoU 100/200 = 0.5: matched, one object each.
    assert (objects.count_a, objects.count_b, objects.matched) == (1, 1, 1)


def test_prepared_sets_compare_like_the_plain_functions():
    a = [box(0, 0, 10, 10), box(5, 0, 15, 10), Point(50, 50)]
    b = [box(1, 0, 11, 10), Point(52, 50)]

    area, objects = compare(prepare(a), prepare(b), point_radius=5)

    assert area == area_agreement(a, b)
    assert objects == object_agreement(a, b, point_radius=5)


def test_pooling_adds_areas_and_counts():
    one = AreaAgreement(area_a=100, area_b=100, intersection=100)
    other = AreaAgreement(area_a=100, area_b=300, intersection=0)
    pooled_objects = ObjectAgreement(count_a=2, count_b=2, matched=2) + ObjectAgreement(
        count_a=0, count_b=4, matched=0
    )

    assert (one + other).dice == approx(200 / 600)
    assert pooled_objects.f1 == approx(4 / 8)
    assert pooled_objects.precision == 1


# --- consensus --------------------------------------------------------------------------------

TUMOUR, STROMA, NECROSIS = 1, 2, 3


def test_consensus_is_the_label_most_verdicts_give():
    verdicts = [
        ("agree", None, TUMOUR),
        ("agree", None, TUMOUR),
        ("wrong_label", STROMA, TUMOUR),
    ]

    consensus = consensus_label(verdicts)

    assert consensus.label == TUMOUR and not consensus.tie
    assert consensus.candidates == [TUMOUR]
    assert consensus.votes == {TUMOUR: 2, STROMA: 1}
    assert consensus.verdicts == 3
    assert consensus.agree_fraction == approx(2 / 3)


def test_relabels_can_outvote_the_annotators_label():
    verdicts = [
        ("agree", None, TUMOUR),
        ("wrong_label", STROMA, TUMOUR),
        ("wrong_label", STROMA, TUMOUR),
    ]

    assert consensus_label(verdicts).label == STROMA


def test_a_tie_is_reported_not_broken():
    verdicts = [
        ("agree", None, TUMOUR),
        ("wrong_label", STROMA, TUMOUR),
        ("wrong_label", NECROSIS, TUMOUR),
        ("wrong_label", STROMA, TUMOUR),
        ("agree", None, TUMOUR),
    ]

    consensus = consensus_label(verdicts)

    assert consensus == Consensus(
        label=None,
        tie=True,
        candidates=[TUMOUR, STROMA],
        verdicts=5,
        agree=2,
        agree_fraction=2 / 5,
        votes={TUMOUR: 2, STROMA: 2, NECROSIS: 1},
    )


def test_the_agree_fraction_counts_rejections_and_wrong_regions():
    # 1 agree of 4 verdicts; the reject and the wrong region vote for no label.
    verdicts = [
        ("agree", None, TUMOUR),
        ("reject", None, TUMOUR),
        ("wrong_region", None, TUMOUR),
        ("reject", None, TUMOUR),
    ]

    consensus = consensus_label(verdicts)

    assert consensus.agree_fraction == approx(1 / 4)
    assert consensus.verdicts == 4
    assert consensus.label == TUMOUR and consensus.votes == {TUMOUR: 1}


def test_rejections_alone_give_no_label_and_no_tie():
    consensus = consensus_label([("reject", None, TUMOUR), ("reject", None, TUMOUR)])

    assert (consensus.label, consensus.tie, consensus.candidates) == (None, False, [])
    assert consensus.agree_fraction == 0


def test_no_verdicts():
    consensus = consensus_label([])

    assert (consensus.label, consensus.tie, consensus.verdicts) == (None, False, 0)
    assert consensus.agree_fraction is None


@pytest.mark.parametrize(
    "verdict", [("maybe", None, TUMOUR), ("wrong_label", None, TUMOUR)], ids=["kind", "label"]
)
def test_malformed_verdicts_are_refused(verdict):
    with pytest.raises(ValueError):
        consensus_label([verdict])


# Which objects were matched, in the positions given: a model's false positives (a's unmatched)
# and false negatives (b's unmatched, b the reference) to step through.


def test_the_matching_names_the_pairs_and_the_unmatched_in_the_positions_given():
    # a: [None, a1 = b0 shifted by 1 (IoU 90/110), a line, a2 far from everything, a point 3 px
    # from b's point]; b: [b0, a point, b2 with nothing of a's on it].
    a = [None, box(1, 0, 11, 10), LineString([(0, 0), (5, 5)]), box(100, 100, 110, 110)]
    a.append(Point(203, 200))
    b = [box(0, 0, 10, 10), Point(200, 200), box(50, 50, 60, 60)]

    area, objects, matching = compare_matched(prepare(a), prepare(b), point_radius=5)

    assert matching.region_pairs.tolist() == [[1, 0]]
    assert matching.region_ious.tolist() == approx([90 / 110])
    assert matching.point_pairs.tolist() == [[4, 1]]
    assert matching.unmatched_a.tolist() == [3]  # the line and None take no part
    assert matching.unmatched_b.tolist() == [2]
    assert (objects.matched, objects.count_a, objects.count_b) == (2, 3, 3)
    assert area.intersection == approx(90)


def test_the_matching_is_the_optimal_one_not_the_greedy_one():
    # The case of test_the_optimal_assignment_beats_matching_the_best_pair_first.
    a = [box(0, 1, 10, 11), box(0, -3, 10, 7)]
    b = [box(0, 0, 10, 10), box(0, 4, 10, 14)]

    matching = compare_matched(prepare(a), prepare(b))[2]

    assert sorted(matching.region_pairs.tolist()) == [[0, 1], [1, 0]]
    assert matching.unmatched_a.size == matching.unmatched_b.size == 0


def test_pairs_below_the_threshold_leave_both_unmatched():
    a = [box(0, 0, 10, 10)]
    b = [box(6, 0, 16, 10)]  # IoU 40/160

    matching = compare_matched(prepare(a), prepare(b), threshold=0.5)[2]

    assert matching.region_pairs.shape == (0, 2)
    assert (matching.unmatched_a.tolist(), matching.unmatched_b.tolist()) == ([0], [0])
