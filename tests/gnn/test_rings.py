import numpy as np
import pandas as pd
import pytest

from gnn.rings import (
    CHANCE_MIN_POOL,
    FLOW_ROBUST_BAR,
    FLOW_ROBUST_SHARE,
    FLOW_SURPRISE_HALF,
    MIN_MEMBER_POOL,
    RING_COLUMNS,
    assign_rings,
    calibrate_rings,
    fit_ring_calibrator,
    flow_significance,
    robust_pooled,
    score_rings,
    trim_members,
    trim_to_core,
    unlabelled_scores,
)
from graph.rings.anchored import ANCHORED_FEATURE
from graph.rings.candidates import (
    CHANCE_PAIR_FEATURE,
    RingCandidate,
    find_ring_candidates,
    ring_id_for,
)
from graph.rings.metrics import ring_metrics
from graph.rings.planted import planted_ring_snapshot


def _candidate(members, **features):
    base = {
        "size": len(members),
        "density": 0.0,
        "sharing": 0.0,
        "exclusivity": 0.0,
        "synchrony": 0.0,
        "internal_flow": 0.0,
    }
    return RingCandidate(
        ring_id_for(members),
        sorted(members),
        "shared_entities",
        [f"Device:{members[0]}"],
        {**base, **features},
    )


def test_contract_columns_and_types():
    rings = score_rings([_candidate(["a", "b", "c"], depth=1.0)])
    assert tuple(rings.columns) == RING_COLUMNS
    assert list(rings.columns[:5]) == ["ring_id", "score", "size", "members", "evidence"]
    row = rings.iloc[0]
    assert row["members"] == ["a", "b", "c"] and row["evidence"] == ["Device:a"]
    assert 0.0 <= row["score"] <= 1.0 and row["size"] == 3
    assert np.isnan(row["member_score"])


def test_without_scores_significance_ranks():
    # deep, flowing and dense but unsurprising, against surprising
    loose = _candidate(["a", "b", "c"], depth=0.9, internal_flow=1.0, surprise=1.0, density=0.9)
    tight = _candidate(["x", "y", "z"], depth=0.2, surprise=30.0, density=0.3)
    rings = score_rings([loose, tight])
    assert rings["ring_id"].tolist() == [tight.ring_id, loose.ring_id]
    surprise = np.array([30.0, 1.0])  # ranked by surprise (gnn.ring_ranking)
    assert rings["score"].tolist() == pytest.approx(surprise / (surprise + 10))
    assert rings["surprise"].tolist() == [30.0, 1.0] and rings["density"].tolist() == [0.3, 0.9]


def test_account_scores_lift_a_ring_of_risky_members():
    tight = _candidate(["x", "y", "z"], depth=1.0, internal_flow=1.0)
    risky = _candidate(["a", "b", "c"], depth=0.5)
    scores = pd.DataFrame({"account_id": ["a", "b", "c", "x"], "score": [0.9, 0.95, 0.8, 0.1]})
    rings = score_rings([tight, risky], None, scores)
    assert rings["ring_id"].iloc[0] == risky.ring_id
    assert rings["member_score"].iloc[0] == pytest.approx(0.5 * 0.8833333 + 0.5 * 0.8833333)


def test_overlapping_lower_ring_is_suppressed():
    best = _candidate(["a", "b", "c", "d"], surprise=30.0)
    near = _candidate(["a", "b", "c", "e"], surprise=10.0)
    other = _candidate(["p", "q", "r"], surprise=5.0)
    assert score_rings([best, near, other])["ring_id"].tolist() == [best.ring_id, other.ring_id]
    assert len(score_rings([best, near, other], nms_jaccard=1.0)) == 3


def test_fragment_of_a_better_ring_is_demoted_not_dropped():
    whole = _candidate(list("abcdefghijk"), depth=0.8)
    core = _candidate(list("abcde"), depth=0.5)  # all 5 inside whole, ranked below it
    other = _candidate(["p", "q", "r"], depth=0.5)
    scores = pd.DataFrame({"account_id": list("abcdefghijkpqr"), "score": 0.9})
    plain = score_rings([whole, core, other], None, scores, labelled_fragment_share=1.1)
    assert plain["ring_id"].tolist() == [whole.ring_id, core.ring_id, other.ring_id]
    rings = score_rings([whole, core, other], None, scores)
    assert rings["ring_id"].tolist() == [whole.ring_id, other.ring_id, core.ring_id]
    demoted = plain.set_index("ring_id")["score"][core.ring_id] * 0.5
    assert rings.set_index("ring_id")["score"][core.ring_id] == pytest.approx(demoted)


def test_a_piece_scored_within_its_rings_uncertainty_gives_the_ring_its_place():
    # the piece holds the ring's four best-scored members: its mean is higher only by leaving
    # the other implicated members out (0.016 above, within the ring's 0.021)
    whole = _candidate(list("abcdefgh"), depth=0.5)
    piece = _candidate(list("abcd"), depth=0.5)
    scores = pd.DataFrame({"account_id": list("abcdefgh"), "score": [0.99] * 6 + [0.6] * 2})
    before = score_rings([whole, piece], None, scores, nest_tolerance=0.0)
    assert before["ring_id"].tolist() == [piece.ring_id]  # the ring: half in the piece, dropped
    rings = score_rings([whole, piece], None, scores)
    assert rings["ring_id"].tolist() == [whole.ring_id]
    assert rings["score"].iloc[0] == pytest.approx(before["score"].iloc[0])
    assert any(e.startswith("Nested:") for e in rings["evidence"].iloc[0])
    kept = score_rings([whole, piece], None, scores, nms_jaccard=1.0).set_index("ring_id")
    assert kept.loc[piece.ring_id, "score"] == pytest.approx(0.5 * kept.loc[whole.ring_id,
                                                                            "score"])
    # padded with weaker members, the ring is further below the piece than its uncertainty
    padded = scores.assign(score=[0.99] * 4 + [0.5] * 4)
    ranked = score_rings([whole, piece], None, padded, nms_jaccard=1.0)
    assert ranked["ring_id"].tolist() == [piece.ring_id, whole.ring_id]
    assert not any(e.startswith("Nested:") for e in ranked["evidence"].iloc[1])


def test_fragment_needs_its_share_inside_one_ring_that_is_no_fragment():
    first = _candidate(list("abcdef"), surprise=40.0)
    second = _candidate(list("ghijkl"), surprise=30.0)
    straddling = _candidate(list("abcghi"), surprise=20.0)  # half in each: no fragment
    rings = score_rings([first, second, straddling], nms_jaccard=1.0)
    assert rings["ring_id"].tolist() == [first.ring_id, second.ring_id, straddling.ring_id]
    assert rings["score"].iloc[2] == pytest.approx(unlabelled_scores([straddling])[0])
    inner = _candidate(list("abcd"), surprise=30.0)  # inside first
    innermost = _candidate(list("abc"), surprise=20.0)  # inside the fragment inner and in first
    ranked = score_rings([first, inner, innermost], nms_jaccard=1.0)
    expected = unlabelled_scores([first, inner, innermost]) * [1.0, 0.5, 0.5]
    assert ranked.set_index("ring_id")["score"].reindex(
        [first.ring_id, inner.ring_id, innermost.ring_id]).tolist() == pytest.approx(expected)


def test_fragment_factor_out_of_range_is_refused():
    with pytest.raises(ValueError, match="fragment_factor"):
        score_rings([_candidate(["a", "b", "c"])], fragment_factor=1.5)


def test_empty_candidates_give_an_empty_contract_table():
    rings = score_rings([])
    assert rings.empty and tuple(rings.columns) == RING_COLUMNS


def test_assign_rings_picks_each_accounts_best_ring():
    rings = pd.DataFrame(
        {"ring_id": ["r1", "r2"], "score": [0.4, 0.9], "members": [["a", "b"], ["b", "c"]]}
    )
    scores = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "score": [0.1, 0.2, 0.3, 0.4]})
    out = assign_rings(scores, rings)
    assert out["ring_id"].tolist() == ["r1", "r2", "r2", None]
    assert "ring_id" not in scores


def test_planted_rings_rank_first_by_structure_alone():
    snap, planted = planted_ring_snapshot(n_accounts=2000, ring_sizes=(5, 6, 8, 10), seed=7)
    rings = score_rings(find_ring_candidates(snap), snap)
    figures = ring_metrics(rings, planted)
    assert figures["recovered"] == 1.0
    assert figures["top_precision"] == 1.0
    # the four planted rings stand well apart from the best of the rest
    assert rings["surprise"].iloc[3] >= 2 * rings["surprise"].iloc[4]


def test_trim_members_keeps_the_implicated_and_says_why():
    padded = _candidate(["bad1", "bad2", "h1", "h2", "h3"])
    padded.evidence.append("Transfer:h1->bad1")
    padded.evidence.append("Transfer:bad2->h1")  # h1 pays and is paid by kept members: tied
    padded.evidence.append("Transfer:h2->bad1")  # one transfer only: not enough
    flow = RingCandidate(ring_id_for(["bad1", "h4", "h5"]), ["bad1", "h4", "h5"], "flow_chain",
                         ["Path:bad1->h4->h5"], {"size": 3.0})
    fan = RingCandidate(ring_id_for(["bad3", "h6", "h8"]), ["bad3", "h6", "h8"], "flow_fan_out",
                        ["Transfer:bad3->h6"], {"size": 3.0})
    lonely = _candidate(["bad3", "h6", "h7"])
    scores = pd.DataFrame({"account_id": ["bad1", "bad2", "bad3", "h1", "h2", "h3", "h4", "h5"],
                           "score": [0.9, 0.8, 0.7, 0.1, 0.2, 0.1, 0.1, 0.1]})
    trimmed = trim_members([padded, flow, lonely, fan], scores, min_trimmed_size=2)
    assert [c.members for c in trimmed] == [["bad1", "bad2", "h1"], ["bad1", "h4", "h5"],
                                            ["bad3", "h6"]]
    kept = trimmed[0]
    assert kept.ring_id == ring_id_for(["bad1", "bad2", "h1"])
    assert kept.evidence[-1] == "Trimmed:2 members scored below 0.5"
    assert "Transfer:h2->bad1" not in kept.evidence and "Transfer:h1->bad1" in kept.evidence
    assert kept.features["kept_share"] == pytest.approx(3 / 5) and kept.features["size"] == 3
    assert trimmed[1] is flow  # one transfer on a money path implicates, link by link
    assert trimmed[2].evidence == ["Transfer:bad3->h6", "Trimmed:1 members scored below 0.5"]
    # by default a candidate trimmed to a pair is dropped: one risky account and a partner
    assert [c.members for c in trim_members([padded, flow, lonely, fan], scores)] == [
        ["bad1", "bad2", "h1"], ["bad1", "h4", "h5"]]
    rings = score_rings([padded, flow, lonely, fan], None, scores, nms_jaccard=1.0,
                        labelled_fragment_share=1.1)
    assert sorted(map(tuple, rings["members"])) == [("bad1", "bad2", "h1"), ("bad1", "h4", "h5")]
    untrimmed = score_rings([padded, flow, lonely, fan], None, scores, min_member_score=None,
                            nms_jaccard=1.0, fragment_share=1.1)
    assert len(untrimmed) == 4


def _scored_rings(n: int, pooled: float, collusive: int, start: int) -> tuple[list, list]:
    """``n`` rings of 3 fresh members scored ``pooled``; the first ``collusive`` all abusive."""
    rings, labels = [], []
    for i in range(start, start + n):
        members = [f"a{i}-{j}" for j in range(3)]
        rings.append({"ring_id": f"r{i}", "score": pooled, "pooled_score": pooled,
                      "members": members, "evidence": []})
        labels += [(m, int(i - start < collusive)) for m in members]
    return rings, labels


def test_ring_calibration_maps_scores_to_the_collusive_rate_of_training_rings():
    low, low_labels = _scored_rings(40, 0.6, 10, 0)  # pooled 0.6: a quarter collusive
    high, high_labels = _scored_rings(40, 0.9, 36, 100)  # pooled 0.9: nine in ten
    rings = pd.DataFrame(low + high)
    labels = pd.DataFrame(low_labels + high_labels, columns=["account_id", "label"])
    calibrator = fit_ring_calibrator(rings, labels)
    scores = pd.DataFrame({"account_id": labels["account_id"], "score": 0.55})
    calibrated = calibrate_rings(rings, calibrator, scores)
    by_pooled = calibrated.groupby("pooled_score")["score"].first()
    assert by_pooled[0.6] == pytest.approx(0.25, abs=0.02)
    assert by_pooled[0.9] == pytest.approx(0.9, abs=0.02)
    assert calibrated["score"].is_monotonic_decreasing  # best first, ranking kept
    low_ring = calibrated[calibrated["pooled_score"] == 0.6].iloc[0]
    assert low_ring["evidence"][-1].startswith("Calibrated:0.25 below its least risky member")
    assert calibrated[calibrated["pooled_score"] == 0.9]["evidence"].map(len).eq(0).all()


def test_a_surprising_ring_of_low_scored_members_is_as_likely_as_its_structure_makes_it():
    # among the training rings of pooled 0.3, the surprising ones (a fan of mules: 20) are
    # collusive nine in ten, the others (a household: 2) one in ten
    mules, mule_labels = _scored_rings(40, 0.3, 36, 0)
    homes, home_labels = _scored_rings(40, 0.3, 4, 100)
    rings = pd.DataFrame(mules + homes).assign(
        surprise=[20.0] * 40 + [2.0] * 40, kind=["flow_fan_out"] * 40 + ["shared_entities"] * 40,
        flow_robust_surprise=[20.0] * 40 + [np.nan] * 40)
    labels = pd.DataFrame(mule_labels + home_labels, columns=["account_id", "label"])
    calibrator = fit_ring_calibrator(rings, labels)
    scores = pd.DataFrame({"account_id": labels["account_id"], "score": 0.2})
    calibrated = calibrate_rings(rings, calibrator, scores).set_index("ring_id")
    mule, home = calibrated.loc["r0"], calibrated.loc["r100"]
    assert mule["score"] == pytest.approx(0.9, abs=0.05)
    assert home["score"] == pytest.approx(0.5, abs=0.02)  # the members' estimate: half
    assert mule["evidence"][-1].startswith("Structure:its surprise 20.0 makes it 0.")
    assert not any(e.startswith("Structure:") for e in home["evidence"])
    assert calibrator.to_dict()["structure"]["evidence"] > 0.0


def test_a_flow_shape_is_read_at_the_boost_its_robust_surprise_supports():
    # two fans of 9 with one raw flow surprise (30: boost 0.8) and pooled 0.9; the payroll
    # run's robust surprise is 3 (1 per square root of its size: boost 1 / 3.5), the mules' 30
    rings = pd.DataFrame({
        "pooled_score": [0.9, 0.9, 0.9], "size": [9, 9, 9], "flow_boost": [0.8, 0.8, 0.0],
        "flow_robust_surprise": [30.0, 3.0, np.nan]})
    weak = 1.0 / (1.0 + FLOW_SURPRISE_HALF)
    assert robust_pooled(rings) == pytest.approx([0.9, 1.0 - 0.1 * (1.0 - weak) / 0.2, 0.9])
    assert robust_pooled(rings.drop(columns="flow_boost")) == pytest.approx([0.9] * 3)
    # a money loop's evidence is its links beyond a tree, which the robust surprise caps
    loops = rings.assign(kind=["flow_fan_out", "flow_cycle+flow_chain", "flow_chain"])
    assert robust_pooled(loops) == pytest.approx([0.9, 0.9, 0.9])
    # under FLOW_ROBUST_BAR per square root of its size, a robust surprise under
    # FLOW_ROBUST_SHARE of the surprise (one capped statistic carried the payroll run) gives
    # no boost; one near the surprise (a small mule fan's money, every test moderate) keeps it
    assert FLOW_ROBUST_BAR > 1.0 and FLOW_ROBUST_SHARE > 0.1
    payroll = rings.assign(surprise=[30.0, 30.0, 30.0])
    assert robust_pooled(payroll) == pytest.approx([0.9, 1.0 - 0.1 / 0.2, 0.9])
    mules = rings.assign(surprise=[30.0, 3.0 / FLOW_ROBUST_SHARE, 30.0])
    assert robust_pooled(mules) == pytest.approx(robust_pooled(rings))
    low, low_labels = _scored_rings(40, 0.6, 10, 0)
    high, high_labels = _scored_rings(40, 0.9, 36, 100)
    table = pd.DataFrame(low + high).assign(flow_boost=0.0, size=3,
                                            flow_robust_surprise=np.nan)
    labels = pd.DataFrame(low_labels + high_labels, columns=["account_id", "label"])
    calibrator = fit_ring_calibrator(table, labels)
    table.loc[[40, 41], ["flow_boost", "flow_robust_surprise"]] = [[0.8, 30.0], [0.8, 1.0]]
    probability, _ = calibrator.transform(table)
    assert probability[40] == pytest.approx(0.9, abs=0.02)  # mules: as scored
    assert probability[41] < 0.5  # payroll: its robust surprise does not carry it


def test_score_rings_reports_the_flow_boost_in_the_pooled_score():
    members = ["hub", "m1", "m2", "m3"]
    fan = RingCandidate(ring_id_for(members), members, "flow_fan_out", [],
                        {"size": 4.0, "surprise": 10.0, "flow_surprise": 10.0,
                         "flow_robust_surprise": 4.0}, [("hub", m) for m in members[1:]])
    scores = pd.DataFrame({"account_id": members, "score": 0.6})
    rings = score_rings([fan], None, scores)
    assert rings["flow_boost"].iloc[0] == pytest.approx(flow_significance([fan])[0])
    assert rings["flow_boost"].iloc[0] == pytest.approx(5.0 / (5.0 + FLOW_SURPRISE_HALF))
    assert score_rings([fan], None, None)["flow_boost"].iloc[0] == 0.0


def test_a_fragment_keeps_its_demotion_and_says_so():
    rings, labels = _scored_rings(20, 0.8, 10, 0)
    table = pd.DataFrame(rings)
    table.loc[0, "score"] = 0.4  # demoted by score_rings: a fragment
    labels = pd.DataFrame(labels, columns=["account_id", "label"])
    calibrator = fit_ring_calibrator(table, labels)
    out = calibrate_rings(table, calibrator, labels.assign(score=0.1)[["account_id", "score"]])
    fragment = out.set_index("ring_id").loc["r0"]
    whole = out.set_index("ring_id").loc["r1"]
    assert fragment["score"] == pytest.approx(0.5 * whole["score"])
    assert fragment["evidence"] == ["Fragment:most members are in a better ring; score x0.50"]


def test_trim_members_ties_every_fan_member_though_the_evidence_is_cut():
    mules = [f"m{i:02d}" for i in range(40)]
    members = sorted(["hub", *mules])
    # the evidence names only the first transfers; the ties list them all
    fan = RingCandidate(ring_id_for(members), members, "flow_fan_in",
                        [f"Transfer:{m}->hub" for m in mules[:5]], {"size": 41.0},
                        [(m, "hub") for m in mules])
    scores = pd.DataFrame({"account_id": ["hub", *mules], "score": [0.9] + [0.1] * 40})
    assert trim_members([fan], scores) == [fan]
    untied = RingCandidate(fan.ring_id, members, "flow_fan_in", fan.evidence, fan.features)
    assert trim_members([untied], scores)[0].members == sorted(["hub", *mules[:5]])
    # two links needed outside flow shapes: one kept partner, however many transfers, is not
    group = RingCandidate(ring_id_for(["a", "b", "c"]), ["a", "b", "c"], "shared_entities", [],
                          {"size": 3.0}, [("a", "c"), ("b", "c"), ("c", "a")])
    one = pd.DataFrame({"account_id": ["a", "b", "c"], "score": [0.9, 0.1, 0.1]})
    assert trim_members([group], one) == []
    both = one.assign(score=[0.9, 0.9, 0.1])
    assert trim_members([group], both) == [group]


def test_a_significant_flow_shape_keeps_its_tied_mules_and_ranks_by_its_significance():
    mules = ["m1", "m2", "m3", "m4"]
    members = sorted(["hub", *mules])
    ties = [(m, "hub") for m in mules[:3]]  # m4 is in the group but never transferred inside it

    def fan(surprise: float) -> RingCandidate:
        return RingCandidate(ring_id_for(members), members, "flow_fan_in", [],
                             {"size": 5.0, "surprise": surprise,
                              "significant": float(surprise >= 2.0),
                              "flow_surprise": surprise}, ties)

    scores = pd.DataFrame({"account_id": members, "score": 0.05})
    kept = trim_members([fan(60.0)], scores)
    assert [c.members for c in kept] == [sorted(["hub", "m1", "m2", "m3"])]
    assert trim_members([fan(1.0)], scores) == []  # chance explains it: nobody is implicated
    strong, weak = (score_rings([fan(s)], None, scores, min_member_score=None)["score"].iloc[0]
                    for s in (60.0, 5.0))
    group = _candidate(members, surprise=60.0, significant=1.0)
    plain = score_rings([group], None, scores, min_member_score=None)["score"].iloc[0]
    assert strong > weak > plain  # entity groups get nothing from their significance here
    assert flow_significance([fan(60.0), group]).tolist() == pytest.approx(
        [60 / 5**0.5 / (60 / 5**0.5 + FLOW_SURPRISE_HALF), 0.0])


def test_trim_to_core_keeps_the_best_credited_of_candidates_with_the_same_members():
    ring = [f"r{i}" for i in range(6)]
    group = sorted([*ring, *(f"h{i}" for i in range(19))])
    # a 25-account group cut to the ring: credited 9.1 x 6 / 25, first by ring id order
    padded = RingCandidate(ring_id_for(group), group, "lockstep", [],
                           {"size": 25.0, "surprise": 9.1, "significant": 1.0}, [], ring)
    own = RingCandidate(ring_id_for(ring), ring, "dense_block", [],
                        {"size": 6.0, "surprise": 39.4, "significant": 1.0}, [], ring)
    for order in ([padded, own], [own, padded]):
        trimmed = trim_to_core(order)
        assert [c.members for c in trimmed] == [ring]
        assert trimmed[0] is own  # the core does not shadow the ring's own candidate


def test_a_pairs_own_candidate_is_not_shadowed_by_a_core_trimmed_to_the_same_two():
    """The core keeps its group's surprise (judged as a group); the pair's own candidate is
    judged as a pair: it stays, whatever surprise the core is credited."""
    group = ["a", "b", *(f"h{i}" for i in range(4))]
    padded = RingCandidate(ring_id_for(group), group, "shared_entities", [],
                           {"size": 6.0, "surprise": 60.0, "significant": 1.0}, [], ["a", "b"])
    pair = RingCandidate(ring_id_for(["a", "b"]), ["a", "b"], "pair", [],
                         {"size": 2.0, "surprise": 4.0, "significant": 1.0}, [], ["a", "b"])
    for order in ([padded, pair], [pair, padded]):
        trimmed = trim_to_core(order)
        assert [c.members for c in trimmed] == [["a", "b"]]
        assert trimmed[0] is pair


def test_a_household_core_trimmed_from_a_group_of_families_gets_its_share_not_the_whole():
    """Review R56: a hostel's 14 families, each on its card, are surprising together (14 cards
    of 3); the core is one family. Credited the whole group's 45.9 it was reported; credited its
    3 / 42 it is not, while a core of more than a household keeps the group's surprise."""
    guests = [f"g{i}" for i in range(42)]
    group = RingCandidate(ring_id_for(guests), guests, "shared_entities", [],
                          {"size": 42.0, "surprise": 45.9, "significant": 1.0}, [], guests[:3])
    wide = RingCandidate(ring_id_for(guests[:41]), guests[:41], "shared_entities", [],
                         {"size": 41.0, "surprise": 45.9, "significant": 1.0}, [], guests[:6])
    family, six = trim_to_core([group, wide])
    assert family.members == sorted(guests[:3])
    assert family.features["surprise"] == pytest.approx(45.9 * 3 / 42)
    assert six.features["surprise"] == 45.9
    from gnn.ring_ranking import reportable

    rings = score_rings([group, wide], nms_jaccard=1.0, fragment_share=1.1)
    assert dict(zip(rings["size"], reportable(rings, 25.0), strict=True)) == {6: True, 3: False}


def test_trim_to_core_keeps_the_core_and_only_without_account_scores():
    padded = RingCandidate(ring_id_for(["a", "b", "c", "h1", "h2"]), ["a", "b", "c", "h1", "h2"],
                           "shared_entities", ["Device:d1", "Transfer:a->h1", "Transfer:a->b"],
                           {"size": 5.0, "surprise": 40.0}, [("a", "b"), ("a", "h1")],
                           ["a", "b", "c"])
    unknown = RingCandidate(ring_id_for(["x", "y", "z"]), ["x", "y", "z"], "shared_entities",
                            [], {"size": 3.0, "surprise": 40.0})
    lone = RingCandidate(ring_id_for(["p", "q", "r"]), ["p", "q", "r"], "shared_entities", [],
                         {"size": 3.0, "surprise": 20.0}, [], ["p"])
    same = RingCandidate(ring_id_for(["a", "b", "c", "h3"]), ["a", "b", "c", "h3"],
                         "dense_block", [], {"size": 4.0, "surprise": 30.0}, [],
                         ["a", "b", "c"])
    trimmed = trim_to_core([padded, unknown, lone, same])
    assert [c.members for c in trimmed] == [["a", "b", "c"], ["x", "y", "z"], ["p", "q", "r"]]
    core = trimmed[0]
    assert core.ring_id == ring_id_for(["a", "b", "c"]) and core.core == ["a", "b", "c"]
    assert core.evidence == ["Device:d1", "Transfer:a->b",
                             "Trimmed:2 members share none of its rare entities or transfers",
                             "HouseholdCore:3 of 5 credited their share of the group's surprise"]
    # a household-sized core is judged by its share of the group's surprise, credited once
    # (review R56)
    assert core.features["size"] == 3 and core.features["kept_share"] == 1.0
    assert core.features["surprise"] == pytest.approx(40.0 * 3 / 5)
    assert trimmed[1] is unknown and trimmed[2] is lone
    rings = score_rings([padded, unknown], nms_jaccard=1.0, fragment_share=1.1)
    assert sorted(map(tuple, rings["members"])) == [("a", "b", "c"), ("x", "y", "z")]
    # ranked by surprise, a trimmed core's times its kept share (gnn.ring_ranking)
    assert rings["members"].tolist() == [["x", "y", "z"], ["a", "b", "c"]]
    assert rings["score"].tolist() == pytest.approx([40.0 / 50.0, 24.0 / 34.0])
    kept = score_rings([padded, unknown], trim_unlabelled=False, nms_jaccard=1.0,
                       fragment_share=1.1)
    assert sorted(kept["size"]) == [3, 5]
    scores = pd.DataFrame({"account_id": ["a", "b", "c", "h1", "h2", "x", "y", "z"],
                           "score": 0.9})
    labelled = score_rings([padded, unknown], None, scores, nms_jaccard=1.0, fragment_share=1.1)
    assert sorted(labelled["size"]) == [3, 5]  # with account scores the core plays no part


def test_a_flow_shape_chance_explains_is_carried_by_its_members_own_scores():
    payees = ["p1", "p2", "p3", "p4"]
    members = sorted(["boss", *payees])

    def fan(surprise: float) -> RingCandidate:
        return RingCandidate(ring_id_for(members), members, "flow_fan_out", [],
                             {"size": 5.0, "surprise": surprise,
                              "significant": float(surprise >= 2.0),
                              "flow_surprise": surprise}, [("boss", p) for p in payees])

    # one risky account paying four honest ones: chance explains it, so no ring
    one = pd.DataFrame({"account_id": members, "score": [0.95, 0.1, 0.1, 0.1, 0.1]})
    assert trim_members([fan(1.5)], one, unsurprising="members") == []
    assert score_rings([fan(1.5)], None, one).empty
    # before session 9 (and for a significant shape) its transfers implicated every payee
    assert trim_members([fan(1.5)], one, unsurprising="flows") == [fan(1.5)]
    assert trim_members([fan(8.0)], one) == [fan(8.0)]
    # "members": risky members carry it, without the flow boost; by default it is dropped
    risky = one.assign(score=[0.95, 0.8, 0.7, 0.6, 0.1])
    kept = trim_members([fan(1.5)], risky, unsurprising="members")
    assert [c.members for c in kept] == [sorted(["boss", "p1", "p2", "p3"])]
    assert trim_members([fan(1.5)], risky) == []
    assert flow_significance([fan(1.5)]).tolist() == [0.0]
    assert flow_significance([fan(1.5)], "flows")[0] > 0.0
    with pytest.raises(ValueError, match="unsurprising"):
        trim_members([fan(1.5)], one, unsurprising="sometimes")


def test_a_significant_flow_of_honest_looking_accounts_is_no_ring():
    members = ["a", "b", "c", "d"]
    cycle = RingCandidate(ring_id_for(members), members, "flow_cycle", [],
                          {"size": 4.0, "surprise": 30.0, "significant": 1.0,
                           "flow_surprise": 30.0},
                          [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")])
    honest = pd.DataFrame({"account_id": members, "score": 0.02})
    scored = score_rings([cycle], None, honest)
    assert scored["score"].iloc[0] > 0.5  # the flow boost alone would report it
    identity = fit_ring_calibrator(scored, pd.DataFrame({"account_id": ["a"], "label": [1]}))
    out = calibrate_rings(scored, identity, honest)
    assert out["score"].iloc[0] == 0.0  # pooled 0.02 < MIN_MEMBER_POOL
    assert out["evidence"].iloc[0][-1] == (
        f"Honest:its members' pooled score 0.02 is under {MIN_MEMBER_POOL:g}")
    assert calibrate_rings(scored, identity, honest, min_member_pool=0.0)["score"].iloc[0] > 0.5
    mules = honest.assign(score=[0.3, 0.2, 0.05, 0.05])
    scored = score_rings([cycle], None, mules)
    assert calibrate_rings(scored, identity, mules)["score"].iloc[0] > 0.5


def test_a_flow_shape_under_the_floor_stands_on_its_members_and_robust_surprise():
    # training flow shapes whose members look honest one by one (member score 0.05, the flow
    # boost lifting their pooled score to 0.7): with a robust surprise of 20 (mules)
    # collusive nine in ten, of 3 (a payroll run, surprising on its window alone) one in ten
    mules, mule_labels = _scored_rings(40, 0.7, 36, 0)
    payroll, payroll_labels = _scored_rings(40, 0.7, 4, 100)
    rings = pd.DataFrame(mules + payroll).assign(
        member_score=0.05, kind="flow_fan_out", significant=1.0,
        surprise=[20.0] * 40 + [30.0] * 40, flow_robust_surprise=[20.0] * 40 + [3.0] * 40)
    labels = pd.DataFrame(mule_labels + payroll_labels, columns=["account_id", "label"])
    calibrator = fit_ring_calibrator(rings, labels)
    scores = pd.DataFrame({"account_id": labels["account_id"], "score": 0.05})
    out = calibrate_rings(rings, calibrator, scores).set_index("ring_id")
    mule, pay = out.loc["r0"], out.loc["r100"]
    assert mule["score"] == pytest.approx(0.9, abs=0.05)
    assert mule["evidence"][-1].startswith(
        f"Flow:its members' own score 0.05 is under {MIN_MEMBER_POOL:g}, but with its money's "
        "robust surprise 20.0 flow shapes were 0.")
    assert pay["score"] == 0.0
    assert pay["evidence"][-1].startswith("Honest:")
    assert calibrator.to_dict()["flow"]["evidence"] > 0.0
    # too few training flow shapes of one outcome: no flow estimate, the floor holds
    few = rings.iloc[:40]
    assert fit_ring_calibrator(few, labels).flow is None
    assert calibrate_rings(few, fit_ring_calibrator(few, labels), scores)["score"].eq(0.0).all()


def test_a_ring_chance_explains_needs_members_more_likely_abusive_than_not():
    members = ["boss", "p1", "p2"]
    fan = RingCandidate(ring_id_for(members), members, "flow_fan_out", [],
                        {"size": 3.0, "surprise": 1.0, "significant": 0.0,
                         "flow_surprise": 1.0}, [("boss", "p1"), ("boss", "p2")])
    identity_labels = pd.DataFrame({"account_id": ["boss"], "label": [1]})
    for scores, reported in (([0.9, 0.6, 0.6], True), ([0.9, 0.2, 0.2], False)):
        table = pd.DataFrame({"account_id": members, "score": scores})
        scored = score_rings([fan], None, table, unsurprising="members", min_member_score=0.1)
        assert len(scored) == 1
        out = calibrate_rings(scored, fit_ring_calibrator(scored, identity_labels), table)
        pooled = scored["member_score"].iloc[0]
        assert (pooled >= CHANCE_MIN_POOL) == reported
        assert (out["score"].iloc[0] > 0.0) == reported
        if not reported:
            assert out["evidence"].iloc[0][-1] == (
                f"Honest:its members' pooled score {pooled:.2f} is under {CHANCE_MIN_POOL:g} "
                "(chance explains its sharing and flows)")
        assert calibrate_rings(scored, fit_ring_calibrator(scored, identity_labels), table,
                               chance_min_pool=0.0)["score"].iloc[0] > 0.0


def _flow(kind: str, members: list[str], ties: list[tuple[str, str]]) -> RingCandidate:
    """A money-flow shape the null model finds significant, its money too."""
    return RingCandidate(ring_id_for(members), sorted(members), kind, [],
                         {"size": float(len(members)), "surprise": 40.0, "significant": 1.0,
                          "flow_surprise": 40.0}, ties)


def test_a_significant_loop_keeps_its_looping_members_not_their_customers():
    loop = ["a", "b", "c", "d"]
    ties = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("a", "c")]
    # h1 pays a looping member once; h2 pays h1; m sits on the loop between two of its members
    ties += [("h1", "a"), ("h2", "h1"), ("b", "m"), ("m", "d")]
    cycle = _flow("flow_cycle", [*loop, "h1", "h2", "m"], ties)
    scores = pd.DataFrame({"account_id": [*loop, "h1", "h2", "m"],
                           "score": [0.9, 0.8, 0.9, 0.7, 0.05, 0.05, 0.2]})
    (kept,) = trim_members([cycle], scores)
    assert kept.members == sorted([*loop, "m"])
    assert kept.evidence[-1] == "Trimmed:2 members scored below 0.5"
    # before session 10 the loop's transfers implicated every member, link by link
    nobody = scores.assign(score=0.05)  # no anchor: the significant shape is the evidence
    assert trim_members([cycle], nobody) == [cycle]


def test_a_fan_keeps_the_leaves_of_its_hub_but_not_their_payees():
    leaves = ["l1", "l2", "l3", "l4"]
    ties = [("hub", leaf) for leaf in leaves] + [("l4", "h1"), ("h1", "h2")]
    fan = _flow("flow_fan_out", ["hub", *leaves, "h1", "h2"], ties)
    # the hub scores low (mules look ordinary); two risky leaves tie it, it ties the others
    scores = pd.DataFrame({"account_id": ["hub", *leaves, "h1", "h2"],
                           "score": [0.3, 0.9, 0.8, 0.1, 0.1, 0.05, 0.05]})
    (kept,) = trim_members([fan], scores)
    assert kept.members == sorted(["hub", *leaves])
    assert trim_members([fan], scores, hub_degree=10)[0].members == ["hub", "l1", "l2"]
    # a laundering path is implicated link by link
    chain = _flow("flow_chain", ["hub", *leaves, "h1", "h2"], ties)
    assert trim_members([chain], scores) == [chain]


def test_a_candidate_trimmed_to_a_pair_is_dropped_but_a_pair_found_as_one_stays():
    group = _candidate(["a", "b", "h1", "h2"])
    group.ties.extend([("a", "b")])
    pair = _candidate(["p", "q"])
    scores = pd.DataFrame({"account_id": ["a", "b", "h1", "h2", "p", "q"],
                           "score": [0.9, 0.9, 0.1, 0.1, 0.9, 0.9]})
    assert trim_members([group, pair], scores) == [pair]
    kept = trim_members([group, pair], scores, min_trimmed_size=2)
    assert [c.members for c in kept] == [["a", "b"], ["p", "q"]]


def test_a_ring_that_will_not_be_reported_does_not_shadow_one_that_will():
    from gnn.ring_ranking import FLOW_REPORT_SURPRISE, reportable

    fan = [f"p{i}" for i in range(8)] + ["hub"]
    part = fan[:6] + ["hub"]  # Jaccard 7/9 with the fan, more surprising, but on one test
    whole = RingCandidate(ring_id_for(fan), sorted(fan), "flow_fan_in", [],
                          {"size": 9, "surprise": 8.1, "significant": 1.0,
                           "flow_robust_surprise": FLOW_REPORT_SURPRISE + 3.0})
    piece = RingCandidate(ring_id_for(part), sorted(part), "flow_fan_in", [],
                          {"size": 7, "surprise": 8.8, "significant": 1.0,
                           "flow_robust_surprise": FLOW_REPORT_SURPRISE - 0.5})
    kw = {"trim_unlabelled": False}
    shadowed = score_rings([whole, piece], **kw)
    assert shadowed["ring_id"].tolist() == [piece.ring_id]  # the piece wins the suppression
    assert not reportable(shadowed, 25.0).any()
    kept = score_rings([whole, piece], eligible=lambda t: reportable(t, 25.0), **kw)
    assert kept["ring_id"].tolist() == [whole.ring_id]
    assert score_rings([piece], eligible=lambda t: reportable(t, 25.0), **kw).empty


def test_a_pair_surprising_enough_to_report_without_labels_keeps_both_accounts_with_them():
    # a planted pair of the pairs world (seed 3): one account scored 0.97, its partner 0.11;
    # reported without labels at surprise 2.97, dropped with them as one risky account
    pair = RingCandidate(ring_id_for(["a", "b"]), ["a", "b"], "pair", ["Device:d1"],
                         {"size": 2.0, "surprise": 2.97, "significant": 1.0}, [], ["a", "b"])
    weaker = RingCandidate(pair.ring_id, ["a", "b"], "pair", ["Device:d1"],
                           {"size": 2.0, "surprise": 1.9, "significant": 1.0}, [], ["a", "b"])
    scores = pd.DataFrame({"account_id": ["a", "b"], "score": [0.97, 0.11]})
    kept = trim_members([pair], scores)
    assert [c.members for c in kept] == [["a", "b"]]
    assert kept[0].evidence[-1].startswith("Core:1 members scored below 0.5")
    # under the pair bar, with the rule off, or cut from a larger group: its scores decide
    assert trim_members([weaker], scores) == []
    assert trim_members([pair], scores, core_min_surprise=None) == []
    cut = RingCandidate(pair.ring_id, ["a", "b"], "pair", ["Device:d1"],
                        {"size": 2.0, "surprise": 2.97, "significant": 1.0, "kept_share": 0.5},
                        [], ["a", "b"])
    assert trim_members([cut], scores) == []
    # two low-scored accounts: the pair null alone does not tell them from a household
    low = pd.DataFrame({"account_id": ["a", "b"], "score": [0.3, 0.05]})
    assert trim_members([pair], low) == []
    # a larger group trimmed to two is still dropped (MIN_TRIMMED_SIZE)
    group = RingCandidate(ring_id_for(["a", "b", "c"]), ["a", "b", "c"], "shared_entities",
                          ["Device:d1"], {"size": 3.0, "surprise": 2.97, "significant": 1.0})
    both = pd.DataFrame({"account_id": ["a", "b", "c"], "score": [0.9, 0.9, 0.1]})
    assert trim_members([group], both) == []


def test_a_group_surprising_enough_to_report_without_labels_keeps_its_core_with_them():
    # a payment ring: seven accounts sharing rare cards, none scored 0.5 (the flows world's
    # seed 11: its members 0.14-0.39), padded with two honest co-users of a busier card
    ring = ["p1", "p2", "p3", "p4", "p5", "p6", "p7"]
    members = [*ring, "h1", "h2"]
    group = RingCandidate(ring_id_for(members), members, "shared_entities", ["Card:c1"],
                          {"size": 9.0, "surprise": 31.0, "significant": 1.0}, [], ring)
    weaker = RingCandidate(group.ring_id, members, "shared_entities", ["Card:c1"],
                           {"size": 9.0, "surprise": 20.0, "significant": 1.0}, [], ring)
    # the rest of the log: 200 ordinary accounts (the mean account score 0.03)
    scores = pd.DataFrame({"account_id": [*members, *(f"o{i}" for i in range(200))],
                           "score": [0.14, 0.19, 0.25, 0.29, 0.36, 0.36, 0.39, 0.2, 0.2,
                                     *[0.02] * 200]})
    kept = trim_members([group], scores)
    assert [c.members for c in kept] == [ring]
    assert kept[0].evidence == [
        "Card:c1", "Core:7 members scored below 0.5 are in its core, which its surprise 31.0 "
        "implicates", "Trimmed:2 members scored below 0.5"]
    assert kept[0].features["kept_share"] == pytest.approx(7 / 9)
    # under the bar, or with the rule off, its members' scores alone decide: none is kept
    assert trim_members([weaker], scores) == []
    assert trim_members([group], scores, core_min_surprise=None) == []
    rings = score_rings([group], None, scores, nms_jaccard=1.0, labelled_fragment_share=1.1)
    assert rings["members"].tolist() == [ring]


def test_a_core_member_the_model_clears_is_not_kept_on_the_groups_structure():
    # default 20k seed 3 (benchmark protocol): four abusive anchors and, in the core of the
    # entities they share, four ordinary accounts scored 0.00-0.21 (the mean account score
    # 0.03): only the one above the mean stays beside the anchors
    anchors, ordinary = ["a1", "a2", "a3", "a4"], ["h1", "h2", "h3", "h4"]
    members = [*anchors, *ordinary]
    group = RingCandidate(ring_id_for(members), members, "shared_entities", ["Card:c1"],
                          {"size": 8.0, "surprise": 28.4, "significant": 1.0}, [], members)
    scores = pd.DataFrame({"account_id": [*members, *(f"o{i}" for i in range(200))],
                           "score": [0.99, 1.0, 1.0, 0.99, 0.0, 0.21, 0.0, 0.004,
                                     *[0.02] * 200]})
    kept = trim_members([group], scores)
    assert [c.members for c in kept] == [[*anchors, "h2"]]
    assert "Core:1 members scored below 0.5" in kept[0].evidence[-2]


def test_a_core_member_the_labels_call_abusive_is_kept_whatever_its_score():
    # review R34 (stuffing_real, half the labels): taken-over accounts score their honest
    # history (0.001-0.018, under the mean account score) and were cut from their takeover
    # ring although the run's labels call them abusive; the label keeps a core member, never
    # one outside the core, and a member labelled honest is cut as before
    anchors, victims = ["a1", "a2", "a3"], ["v1", "v2", "v3"]
    members = [*anchors, *victims, "h1", "x1"]
    group = RingCandidate(ring_id_for(members), members, "account_takeover", ["IP:i1"],
                          {"size": 8.0, "surprise": 40.0, "significant": 1.0}, [],
                          [*anchors, *victims, "h1"])
    scores = pd.DataFrame({"account_id": [*members, *(f"o{i}" for i in range(200))],
                           "score": [0.9, 0.8, 0.95, 0.001, 0.018, 0.004, 0.003, 0.002,
                                     *[0.03] * 200]})
    assert [c.members for c in trim_members([group], scores)] == [anchors]
    kept = trim_members([group], scores, labelled_abusive={"v1", "v2", "x1"})
    assert [c.members for c in kept] == [[*anchors, "v1", "v2"]]
    assert "Core:2 members scored below 0.5" in kept[0].evidence[-2]
    rings = score_rings([group], None, scores, nms_jaccard=1.0, labelled_fragment_share=1.1,
                        labelled_abusive={"v1", "v2", "x1"})
    assert rings["members"].tolist() == [[*anchors, "v1", "v2"]]
    # review R39: a candidate the trim drops (two members over the floor, the rest under) is
    # not padded to the minimum size by a labelled member: its other members stay unreported
    five = RingCandidate(ring_id_for(["h1", "h2", "L", "h3", "h4"]), ["h1", "h2", "L", "h3", "h4"],
                         "shared_entities", ["IP:i2"],
                         {"size": 5.0, "surprise": 30.0, "significant": 1.0}, [],
                         ["h1", "h2", "L", "h3", "h4"])
    low = pd.DataFrame({"account_id": ["h1", "h2", "L", "h3", "h4", *(f"o{i}" for i in range(200))],
                        "score": [0.05, 0.05, 0.01, 0.001, 0.001, *[0.03] * 200]})
    assert trim_members([five], low) == []
    assert trim_members([five], low, labelled_abusive={"L"}) == []
    three = RingCandidate(ring_id_for(["h1", "h2", "L"]), ["h1", "h2", "L"], "shared_entities",
                          ["IP:i3"], {"size": 3.0, "surprise": 30.0, "significant": 1.0}, [],
                          ["h1", "h2", "L"])
    assert trim_members([three], low, labelled_abusive={"L"}) == []


def test_trim_members_keeps_a_group_of_anchors_chance_explains():
    """A candidate the null model finds no more surprising than chance stays with labels when
    every member is an anchor and anchors are rare enough (graph.rings.anchored); one with a
    member under the bar, or with the rule off, is dropped."""
    members = [f"a{i}" for i in range(6)]
    ring = RingCandidate(ring_id_for(members), members, "flow_fan_in", [],
                         {"surprise": -3.0, "significant": 0.0, "size": 6.0})
    scores = pd.DataFrame({"account_id": [*members, *(f"h{i}" for i in range(94))],
                           "score": [0.9] * 6 + [0.1] * 94})
    kept = trim_members([ring], scores)
    assert [c.members for c in kept] == [members]
    assert kept[0].evidence[-1].startswith("Anchored:all 6 members")
    assert trim_members([ring], scores, anchored_min_surprise=None) == []
    low = scores.assign(score=np.where(scores["account_id"] == "a5", 0.2, scores["score"]))
    assert trim_members([ring], low) == []


def test_chance_pairs_of_two_anchors_stay_at_the_pair_fdr_and_are_reported_as_pairs():
    """Chance pairs listed for the scores (graph.rings.anchored.paired_candidates): 40 of 400
    with both accounts anchors where chance makes 0.1 (81 anchors in 4,800) stay whole, with
    their reason, and score as pairs; a pair with one anchor goes, and with ``pair_fdr`` None
    all of them."""
    pairs = [(f"x{i}", f"y{i}") for i in range(40)] + [(f"u{i}", f"v{i}") for i in range(360)]
    candidates = [RingCandidate(ring_id_for(list(p)), sorted(p), "pair", ["Device:d"],
                                {"surprise": -0.5, "significant": 0.0, "size": 2.0,
                                 CHANCE_PAIR_FEATURE: 1.0}, [], sorted(p)) for p in pairs]
    high = [a for p in pairs[:40] for a in p]
    scores = pd.DataFrame({"account_id": [*high, *(a for p in pairs[40:] for a in p),
                                          *(f"o{i}" for i in range(4000)), "u0"],
                           "score": [0.9] * len(high) + [0.1] * 4720 + [0.9]})
    scores = scores.drop_duplicates("account_id", keep="last")
    kept = trim_members(candidates, scores)
    assert sorted(c.members for c in kept) == sorted(sorted(p) for p in pairs[:40])
    assert all(c.evidence[-1].startswith("Paired:") for c in kept)
    assert trim_members(candidates, scores, pair_fdr=None) == []
    rings = score_rings(candidates, None, scores)
    assert len(rings) == 40 and set(rings["size"]) == {2}
    assert score_rings(candidates, None, scores, pair_fdr=None).empty


def test_trim_members_keeps_a_group_judged_anchored_before_as_it_is():
    """A candidate carrying the anchored feature (graph.rings.scored judged it) stays, even
    where the anchored rule would not keep it now (anchors common), and is not judged again."""
    members = [f"a{i}" for i in range(4)]
    ring = RingCandidate(ring_id_for(members), members, "scored_component", ["Scored:x"],
                         {"surprise": -3.0, "significant": 0.0, "size": 4.0,
                          ANCHORED_FEATURE: 5.0})
    scores = pd.DataFrame({"account_id": [*members, *(f"h{i}" for i in range(6))],
                           "score": [0.9] * 4 + [0.1] * 6})
    kept = trim_members([ring], scores)
    assert kept == [ring]


def test_chance_pairs_are_judged_by_the_pair_scores_when_given():
    """A model that reads what a pair shares scores a fraudster's honest partner as high as him;
    judged by the accounts' own evidence (``pair_scores``), the 20 such pairs go and the 40
    whose accounts both carry their own evidence stay, trimmed by the model's scores as
    before; judged by the model's scores, all 60 stay."""
    planted = [(f"x{i}", f"y{i}") for i in range(40)]
    mixed = [(f"f{i}", f"w{i}") for i in range(20)]
    pairs = planted + mixed + [(f"u{i}", f"v{i}") for i in range(340)]
    candidates = [RingCandidate(ring_id_for(list(p)), sorted(p), "pair", ["Device:d"],
                                {"surprise": -0.5, "significant": 0.0, "size": 2.0,
                                 CHANCE_PAIR_FEATURE: 1.0}, [], sorted(p)) for p in pairs]
    ids = [a for p in pairs for a in p] + [f"o{i}" for i in range(4000)]
    high = {a for p in planted + mixed for a in p}
    scores = pd.DataFrame({"account_id": ids, "score": [0.9 if a in high else 0.1 for a in ids]})
    partners = {w for _, w in mixed}
    own = scores.assign(score=np.where(scores["account_id"].isin(partners), 0.1,
                                       scores["score"]))
    kept = trim_members(candidates, scores, pair_scores=own)
    assert sorted(c.members for c in kept) == sorted(sorted(p) for p in planted)
    assert len(trim_members(candidates, scores)) == 60
    rings = score_rings(candidates, None, scores, pair_scores=own)
    assert len(rings) == 40 and not {m for ms in rings["members"] for m in ms} & partners


def test_a_group_sharing_nothing_rare_loses_its_members_counterparties_without_labels():
    # review R71: 8 mules paying each other, each paying its own landlord month after month
    mules = [f"m{i}" for i in range(8)]
    landlords = [f"l{i}" for i in range(8)]
    ties = [(a, b) for a in mules for b in mules if a < b] + list(zip(mules, landlords,
                                                                     strict=True))
    members = sorted(mules + landlords)
    group = RingCandidate(ring_id_for(members), members, "shared_entities", [],
                          {"surprise": 40.0, "significant": 1.0, "size": 16.0}, ties, [])
    chain = RingCandidate(ring_id_for(members), members, "flow_chain", [],
                          {"surprise": 40.0, "significant": 1.0, "size": 16.0}, ties, [])
    lone = RingCandidate(ring_id_for(mules), mules, "lockstep", [],
                         {"surprise": 40.0, "significant": 1.0, "size": 8.0}, [], [])
    trimmed = trim_to_core([group])[0]
    assert trimmed.members == mules and trimmed.features["kept_share"] == 0.5
    assert trimmed.evidence[-1] == ("Trimmed:8 members are tied to it by transfers with one "
                                    "member only (counterparties)")
    assert trim_to_core([chain]) == [chain] and trim_to_core([lone]) == [lone]
