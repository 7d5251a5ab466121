import numpy as np
import pytest

from graph.rings.anchored import (
    ANCHORED_FEATURE,
    anchor_rate,
    anchored_candidates,
    anchored_surprise,
    benjamini_hochberg,
    pair_anchor_rate,
    paired_candidates,
)
from graph.rings.candidates import CHANCE_PAIR_FEATURE, RingCandidate, ring_id_for


def _candidate(members: list[str], surprise: float, significant: float) -> RingCandidate:
    return RingCandidate(ring_id_for(members), sorted(members), "flow_fan_in", ["Hub:a0"],
                         {"surprise": surprise, "significant": significant, "size": 6.0})


def _scores(anchors: int, others: int) -> dict[str, float]:
    """``anchors`` accounts ``a<i>`` at 0.9 and ``others`` accounts ``h<i>`` at 0.1."""
    return {**{f"a{i}": 0.9 for i in range(anchors)}, **{f"h{i}": 0.1 for i in range(others)}}


def test_anchor_rate_and_surprise():
    assert anchor_rate(np.array([0.9, 0.5, 0.1, 0.2]), 0.5) == 0.5
    assert anchor_rate(np.zeros(0), 0.5) == 0.0
    # six members all anchors where one account in ten is: 6 orders on top of the structure
    np.testing.assert_allclose(anchored_surprise(np.array([6]), np.array([-3.0]), 0.1), [3.0])
    assert np.isnan(anchored_surprise(np.array([6]), np.array([-3.0]), 1.0)).all()
    assert np.isnan(anchored_surprise(np.array([6]), np.array([-3.0]), 0.0)).all()


def test_a_group_of_anchors_chance_explains_stays_with_its_reason():
    scores = _scores(anchors=10, others=90)  # one account in ten an anchor
    ring = _candidate([f"a{i}" for i in range(6)], surprise=-3.0, significant=0.0)
    kept = anchored_candidates([ring], scores, 0.5, 2.0)
    assert list(kept) == [ring.ring_id]
    out = kept[ring.ring_id]
    assert out.members == ring.members
    assert out.features[ANCHORED_FEATURE] == pytest.approx(3.0)
    assert out.evidence[0] == "Hub:a0"
    assert out.evidence[-1].startswith("Anchored:all 6 members score at least 0.5, as 10.0%")


def test_groups_not_judged_or_not_surprising_are_left_out():
    scores = _scores(anchors=10, others=90)
    mixed = _candidate([*(f"a{i}" for i in range(5)), "h0"], surprise=-3.0, significant=0.0)
    significant = _candidate([f"a{i}" for i in range(4, 10)], surprise=5.0, significant=1.0)
    loose = _candidate([f"a{i}" for i in range(3)], surprise=-3.0, significant=0.0)  # 3 - 3 = 0
    assert anchored_candidates([mixed, significant, loose], scores, 0.5, 2.0) == {}


def test_where_most_accounts_are_anchors_nothing_stays():
    scores = _scores(anchors=90, others=10)  # nine accounts in ten: 0.05 orders a member
    ring = _candidate([f"a{i}" for i in range(6)], surprise=1.5, significant=0.0)
    assert anchored_candidates([ring], scores, 0.5, 2.0) == {}


def test_the_test_is_charged_for_every_group_it_could_have_kept():
    scores = _scores(anchors=10, others=90)  # one account in ten an anchor
    ring = _candidate([f"a{i}" for i in range(6)], surprise=-3.0, significant=0.0)  # 3 orders
    # 200 chance-explained groups that would reach the bar were their members anchors
    others = [_candidate([f"h{j}", *(f"h{(j + k) % 90}" for k in range(1, 6))], -3.0, 0.0)
              for j in range(200)]
    assert anchored_candidates([ring, *others], scores, 0.5, 2.0) == {}  # 3 - log10(201) < 2
    kept = anchored_candidates([ring, *others[:5]], scores, 0.5, 2.0)  # 3 - log10(6) >= 2
    assert kept[ring.ring_id].features[ANCHORED_FEATURE] == pytest.approx(3.0 - np.log10(6))


def test_a_group_judged_before_is_neither_judged_again_nor_charged_for():
    scores = _scores(anchors=10, others=90)
    ring = _candidate([f"a{i}" for i in range(6)], surprise=-3.0, significant=0.0)
    judged = [_candidate([f"a{i}" for i in range(j, j + 6)], surprise=-3.0, significant=0.0)
              for j in range(1, 4)]
    judged = [RingCandidate(c.ring_id, c.members, c.kind, c.evidence,
                            {**c.features, ANCHORED_FEATURE: 9.0}) for c in judged]
    alone = anchored_candidates([ring], scores, 0.5, 2.0)
    assert anchored_candidates([ring, *judged], scores, 0.5, 2.0) == alone


def _chance_pair(a: str, b: str) -> RingCandidate:
    return RingCandidate(ring_id_for([a, b]), sorted([a, b]), "pair", ["Device:d", "Card:c"],
                         {"surprise": -0.5, "significant": 0.0, "size": 2.0,
                          CHANCE_PAIR_FEATURE: 1.0})


def test_benjamini_hochberg_rejects_up_to_the_largest_rank_under_its_line():
    # m = 5 at rate 0.05: the line is 0.01 k; sorted, 0.001 0.015 0.02 0.2 0.9 against 0.01
    # 0.02 0.03 0.04 0.05: rank 3 is the largest under it, so the three smallest go
    rejected, adjusted = benjamini_hochberg(np.array([0.2, 0.001, 0.02, 0.9, 0.015]), 0.05)
    assert rejected.tolist() == [False, True, True, False, True]
    np.testing.assert_allclose(adjusted, [0.25, 0.005, 0.0333333, 0.9, 0.0333333], rtol=1e-5)
    assert benjamini_hochberg(np.zeros(0), 0.05)[0].size == 0


def test_pair_anchor_rate_is_read_from_the_paired_accounts_only():
    # 10 pairs with one anchor, 40 with none: (10 + 1) / (11 + 80) of the accounts whose partner
    # is no anchor are anchors; pairs of two anchors say nothing of the rate, nor do accounts
    # in no pair (review R59: farms far from any pair once bound it)
    anchors = np.array([1] * 10 + [0] * 40 + [2] * 30)
    assert pair_anchor_rate(anchors) == pytest.approx(11 / 91)
    assert pair_anchor_rate(np.array([0] * 50)) == pytest.approx(1 / 101)  # never 0
    assert pair_anchor_rate(np.array([2, 2])) == 1.0  # nothing to tell chance by


def test_pair_anchor_rate_beside_honest_partners_bounds_a_rate_planted_pairs_inflate():
    # planted pairs with one partner under the bar make the paired rate 0.12; the accounts
    # whose partner the labels call honest, 12 anchors of 600, give at most 0.0322 (the upper
    # 95 % Clopper-Pearson bound of 2 %): the lower of the two
    anchors = np.array([1] * 10 + [0] * 40 + [2] * 30)
    beside = np.array([True] * 12 + [False] * 588)
    assert pair_anchor_rate(anchors, beside) == pytest.approx(0.0322, abs=5e-4)
    # few such accounts bound nothing: 2 of 2 anchors leave the rate among pairs' accounts
    assert pair_anchor_rate(anchors, np.array([True, True])) == pytest.approx(11 / 91)


def _pairs_family(both: int, honest: int) -> tuple[list[RingCandidate], dict[str, float]]:
    """``both`` chance pairs of two anchors and ``honest`` pairs one in 25 of which has one
    anchor (0.6), the rest two accounts at 0.1 (a paired rate of about 2 %), among 10,000
    other accounts of which 2,000 are anchors (far from any pair: they do not count)."""
    pairs = [_chance_pair(f"x{i}", f"y{i}") for i in range(both)]
    pairs += [_chance_pair(f"u{i}", f"v{i}") for i in range(honest)]
    scores = {**{f"x{i}": 0.9 for i in range(both)}, **{f"y{i}": 0.8 for i in range(both)},
              **{f"u{i}": 0.6 if i % 25 == 0 else 0.1 for i in range(honest)},
              **{f"v{i}": 0.1 for i in range(honest)},
              **_scores(anchors=2000, others=8000)}
    return pairs, scores


def test_chance_pairs_of_two_anchors_stay_when_far_more_than_chance_makes():
    # paired rate 40 / 1,902 (39 pairs of one anchor, 931 of none): chance makes 1,000 *
    # 0.021^2 = 0.44 pairs of two anchors, under 0.05 of the 30 there are; the 2,000 anchors
    # in no pair (20 % of all accounts) do not count
    pairs, scores = _pairs_family(both=30, honest=970)
    kept = paired_candidates(pairs, scores, 0.5, 0.05)
    assert sorted(kept) == sorted(p.ring_id for p in pairs[:30])
    out = kept[pairs[0].ring_id]
    assert out.members == ["x0", "y0"] and out.evidence[:2] == ["Device:d", "Card:c"]
    assert out.evidence[-1].startswith("Paired:both accounts score at least 0.5")
    assert "30 of the 1,000 pairs chance explains" in out.evidence[-1]
    assert "false discovery rate of 0.05 (Benjamini-Hochberg)" in out.evidence[-1]
    assert out.features[ANCHORED_FEATURE] > -np.log10(0.05)


def test_chance_pairs_of_two_anchors_as_many_as_chance_makes_do_not_stay():
    # 3 pairs of two anchors among 1,000 where chance makes 0.44 (over 0.05 of 3): no finding
    pairs, scores = _pairs_family(both=3, honest=997)
    assert paired_candidates(pairs, scores, 0.5, 0.05) == {}
    # nor where the scores tell nothing (every account an anchor)
    assert paired_candidates(pairs, dict.fromkeys(scores, 0.9), 0.5, 0.05) == {}


def test_a_chance_pair_with_one_anchor_never_stays_and_pairs_are_not_charged_as_groups():
    pairs, scores = _pairs_family(both=30, honest=970)
    half = _chance_pair("x0", "h5")  # one anchor, one account at 0.1
    assert half.ring_id not in paired_candidates([*pairs, half], scores, 0.5, 0.05)
    # the anchored rule neither judges the chance pairs nor counts them in its charge
    ring = _candidate([f"a{i}" for i in range(6)], surprise=-3.0, significant=0.0)
    group_scores = _scores(anchors=10, others=90)
    assert anchored_candidates([ring, *pairs], {**scores, **group_scores}, 0.5, 2.0).keys() \
        == anchored_candidates([ring], {**scores, **group_scores}, 0.5, 2.0).keys()
    assert not set(anchored_candidates(pairs, scores, 0.5, 2.0))


def test_an_account_the_training_labels_call_honest_anchors_no_chance_pair():
    pairs, scores = _pairs_family(both=30, honest=970)
    kept = paired_candidates(pairs, scores, 0.5, 0.05, labelled_honest={"y0", "y1"})
    assert sorted(kept) == sorted(p.ring_id for p in pairs[2:30])


def test_many_groups_of_anchors_stay_at_a_false_discovery_rate_where_one_would_not():
    scores = _scores(anchors=60, others=540)  # one account in ten an anchor
    # twenty groups of six anchors at 3 orders each (surprise -3) and 180 groups of others that
    # could reach the bar were their members anchors: a family of 200
    rings = [_candidate([f"a{(3 * j + k) % 60}" for k in range(6)], -3.0, 0.0) for j in range(20)]
    others = [_candidate([f"h{(2 * j + k) % 540}" for k in range(6)], -3.0, 0.0)
              for j in range(181)]
    # alone, 3 - log10(181) < 2; twenty of them at 1e-3 <= 20 x 0.01 / 200
    assert anchored_candidates([rings[0], *others[:180]], scores, 0.5, 2.0) == {}
    kept = anchored_candidates([*rings, *others[:180]], scores, 0.5, 2.0)
    assert sorted(kept) == sorted(r.ring_id for r in rings)
    assert all(c.features[ANCHORED_FEATURE] == pytest.approx(2.0) for c in kept.values())
    assert "false discovery rate of 0.01 among the 200" in kept[rings[0].ring_id].evidence[-1]
    # nineteen in a family of 200 are not enough: 1e-3 > 19 x 0.01 / 200
    assert anchored_candidates([*rings[:19], *others], scores, 0.5, 2.0) == {}
