"""Tests of the label-free ring ranking: surprise credited by the members a core kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gnn.ring_ranking import (
    FLOW_REPORT_SURPRISE_UNCAPPED,
    PAIR_REPORT_SURPRISE,
    held_surprise,
    member_surprise,
    reportable,
    unlabelled_ranking,
)
from gnn.rings import score_rings
from graph.rings.candidates import RingCandidate, ring_id_for


def _candidate(members: list[str], surprise: float, core: list[str] | None = None,
               **features: float) -> RingCandidate:
    return RingCandidate(ring_id_for(members), sorted(members), "shared_entities", [],
                         {"surprise": surprise, "significant": 1.0, **features},
                         core=sorted(core or []))


RING = [f"r{i}" for i in range(6)]


def test_member_surprise_credits_a_trimmed_core_its_share():
    whole = _candidate(RING, 40.0)
    core = _candidate(RING[:2], 40.0, kept_share=0.25)
    chance = _candidate(RING[:3], -3.0)
    assert member_surprise([whole, core, chance]) == pytest.approx([40.0, 10.0, 0.0])


def test_ranking_is_monotone_in_the_surprise_whatever_the_size():
    small = _candidate(["a", "b"], 20.0)
    large = _candidate(RING, 30.0)  # per square root of the size it ranked below the pair
    score = unlabelled_ranking([small, large])
    assert score[1] > score[0]
    assert score[0] == pytest.approx(20.0 / 30.0)
    assert ((score >= 0) & (score < 1)).all()


def test_ranking_of_nothing_is_empty():
    assert unlabelled_ranking([]).shape == (0,)


def test_score_rings_without_labels_ranks_a_ring_above_a_core_cut_from_a_large_group():
    ring = _candidate(RING, 50.0)
    household = [f"h{i}" for i in range(20)]
    # 20 accounts sharing one surprising group's evidence, of which 2 form the core
    padded = _candidate(household, 120.0, core=household[:2])
    rings = score_rings([ring, padded])
    assert rings["members"].tolist() == [sorted(RING), household[:2]]
    assert rings["score"].iloc[1] == pytest.approx(12.0 / 22.0)
    assert np.isclose(rings["surprise"], [50.0, 120.0]).all()


def test_reportable_lets_money_flow_shapes_in_on_their_robust_surprise():
    rings = pd.DataFrame({
        "kind": ["shared_entities", "flow_fan_in", "flow_cycle+dense_block", "flow_fan_out",
                 "dense_block", "flow_cycle", "flow_chain"],
        "surprise": [30.0, 9.0, 16.0, 18.0, 24.0, 40.0, 4.0],
        "significant": [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0],
        # the fan-out's evidence is one statistic far out (a payroll's window); the chain's
        # robust surprise above its surprise counts as its surprise
        "flow_robust_surprise": [np.nan, 6.0, 5.0, -4.0, np.nan, 40.0, 7.0],
    })
    assert reportable(rings, 25.0).tolist() == [True, True, True, False, False, False, False]
    # a bar under the flow bar holds for every kind
    assert reportable(rings, 3.0).tolist() == [True, True, True, True, True, False, True]
    assert reportable(rings, 25.0, flow_min_surprise=6.0).tolist() == [
        True, True, False, False, False, False, False]


def test_reportable_lets_entity_bursts_in_on_their_own_test():
    rings = pd.DataFrame({
        "kind": ["entity_burst", "entity_burst+shared_entities", "entity_burst",
                 "shared_entities", "entity_burst"],
        "surprise": [12.0, 6.0, 4.0, 12.0, 30.0],
        "significant": [1.0, 1.0, 1.0, 1.0, 0.0],
        "burst_surprise": [12.0, 6.0, 4.0, np.nan, 30.0],
    })
    assert reportable(rings, 25.0).tolist() == [True, True, False, False, False]
    assert not reportable(rings.drop(columns="burst_surprise"), 25.0).any()


def test_reportable_lets_account_takeovers_in_on_their_own_test():
    rings = pd.DataFrame({
        "kind": ["account_takeover", "account_takeover+dense_block", "account_takeover",
                 "account_takeover"],
        "surprise": [80.0, 6.0, 4.0, 30.0],
        "significant": [1.0, 1.0, 1.0, 0.0],
        "burst_surprise": [80.0, 6.0, 4.0, 30.0],
    })
    assert reportable(rings, 100.0).tolist() == [True, True, False, False]


def test_reportable_without_robust_surprise_keeps_the_whole_surprise_bar():
    rings = pd.DataFrame({
        "kind": ["shared_entities", "flow_fan_in", "flow_cycle+dense_block", "flow_chain",
                 "dense_block", "flow_cycle"],
        "surprise": [30.0, 16.0, 15.0, 14.0, 24.0, 40.0],
        "significant": [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    })
    assert FLOW_REPORT_SURPRISE_UNCAPPED == 15.0
    assert reportable(rings, 25.0).tolist() == [True, True, True, False, False, False]
    assert reportable(rings, 10.0).tolist() == [True, True, True, True, True, False]
    # NaN (a candidate written before the feature) is the same as no column
    rings["flow_robust_surprise"] = np.nan
    assert reportable(rings, 25.0).tolist() == [True, True, True, False, False, False]


def test_reportable_takes_own_pair_candidates_at_the_significance_bar():
    rings = pd.DataFrame({
        "kind": ["shared_entities", "pair", "pair", "pair", "pair", "shared_entities",
                 "pair+dense_block", "pair"],
        "surprise": [30.0, 3.0, 2.0, 1.5, 9.0, 20.0, 4.0, 3.0],
        "significant": [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
        # a core of two trimmed from a larger group keeps that group's surprise: a group still
        "kept_share": [1.0, np.nan, 1.0, np.nan, np.nan, 0.1, np.nan, 1.0],
        "members": [["a", "b", "c"], ["d", "e"], ["f", "g"], ["h", "i"], ["j", "k"],
                    ["l", "m"], ["n", "o"], ["a", "c"]],
    })
    assert PAIR_REPORT_SURPRISE == 2.0
    # the last pair is a fragment of the reported group: both its accounts are in it
    assert reportable(rings, 25.0).tolist() == [
        True, True, True, False, False, False, True, False]
    assert reportable(rings, 25.0, pair_min_surprise=3.5).tolist() == [
        True, False, False, False, False, False, True, False]
    # a bar under the pair bar holds for every kind, fragments included
    assert reportable(rings, 2.5, pair_min_surprise=3.0).tolist() == [
        True, True, False, False, False, True, True, True]


def test_reportable_without_pairs_needs_no_members():
    rings = pd.DataFrame({"kind": ["shared_entities", "pair"], "surprise": [30.0, 3.0],
                          "significant": [1.0, 0.0]})
    assert reportable(rings, 25.0).tolist() == [True, False]


def test_score_rings_carries_the_robust_surprise_of_flow_shapes_only():
    flow = RingCandidate(ring_id_for(RING), sorted(RING), "flow_fan_out", [],
                         {"surprise": 20.0, "significant": 1.0, "flow_robust_surprise": 6.5})
    shared = _candidate(["a", "b", "c"], 30.0)
    rings = score_rings([flow, shared]).set_index("kind")["flow_robust_surprise"]
    assert rings["flow_fan_out"] == pytest.approx(6.5)
    assert np.isnan(rings["shared_entities"])


def test_a_flow_shapes_money_counts_at_its_robust_surprise_against_the_whole_bar():
    # an honest payroll fan: its money alone 35 (its run's window), robust -9.5: held to 0; a
    # review ring's loop: 101 in all, 10 of it its money (robust -24): its shared entities' 91
    # stay; a loop of 40, 10 of it money (robust -24): its entities' 30 clear the bar (held to
    # 6 when a negative robust surprise was subtracted: session 17's review); a shared-entity
    # group and a flow shape written before flow_surprise keep their surprise
    rings = pd.DataFrame({
        "kind": ["flow_fan_out", "flow_cycle", "flow_cycle", "shared_entities", "flow_chain"],
        "surprise": [35.2, 101.0, 40.0, 30.0, 30.0],
        "significant": [1.0] * 5,
        "flow_surprise": [35.2, 10.0, 10.0, np.nan, np.nan],
        "flow_robust_surprise": [-9.5, -24.0, -24.0, np.nan, 3.0],
    })
    assert held_surprise(rings).tolist() == pytest.approx([0.0, 91.0, 30.0, 30.0, 30.0])
    assert reportable(rings, 25.0).tolist() == [False, True, True, True, True]
    assert reportable(rings.drop(columns="flow_surprise"), 25.0).tolist() == [True] * 5
