import numpy as np
import pytest

from graph.rings.anchored import (
    ANCHORED_FEATURE,
    anchor_rate,
    anchored_candidates,
    anchored_surprise,
)
from graph.rings.candidates import RingCandidate, ring_id_for


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
