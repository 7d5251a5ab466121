import math

import pandas as pd
import pytest

from graph.rings.metrics import (
    jaccard_matrix,
    pair_metrics,
    ring_label_outcomes,
    ring_metrics,
    rings_recovered,
    top_precision,
)

TRUTH = [["a", "b", "c", "d"], ["e", "f", "g"]]


def test_jaccard_matrix_values():
    jac = jaccard_matrix([["a", "b"], ["x"]], TRUTH).toarray()
    assert jac.shape == (2, 2)
    assert jac[0, 0] == pytest.approx(0.5)
    assert jac[1].sum() == 0


def test_recovered_uses_the_best_prediction_and_the_half_threshold():
    predicted = [["a", "b"], ["a", "b", "c", "x", "y"], ["e", "q"]]
    # ring 1: best J = max(2/4, 3/6) = 0.5 -> recovered; ring 2: J = 1/4 -> not
    assert rings_recovered(predicted, TRUTH) == 0.5
    assert rings_recovered(predicted, TRUTH, threshold=0.6) == 0.0
    assert math.isnan(rings_recovered(predicted, []))


def test_top_precision_counts_matches_among_the_first_k():
    ranked = [["e", "f", "g"], ["x", "y"], ["a", "b", "c"]]
    assert top_precision(ranked, TRUTH) == 0.5          # k = 2 true rings
    assert top_precision(ranked, TRUTH, k=3) == pytest.approx(2 / 3)
    assert math.isnan(top_precision([], TRUTH))


def test_ring_metrics_ranks_by_score():
    rings = pd.DataFrame({"members": [["x", "y"], ["a", "b", "c", "d"], ["e", "f"]],
                          "score": [0.1, 0.9, 0.8]})
    figures = ring_metrics(rings, TRUTH)
    assert figures["recovered"] == 1.0
    assert figures["top_precision"] == 1.0
    assert figures["n_predicted"] == 3


def test_ring_label_outcomes_half_of_labelled_members_makes_a_ring_abusive():
    rings = pd.DataFrame({
        "ring_id": ["r1", "r2", "r3", "r4"],
        "score": [0.9, 0.8, 0.7, 0.6],
        "members": [["a", "b", "c"], ["d", "e", "f"], ["x", "y"], ["g", "h", "i"]],
    })
    labels = pd.DataFrame({"account_id": ["a", "b", "d", "e", "f", "g", "h", "i", "zz"],
                           "label": [1, 0, 0, 0, 1, 1, 0, 0, 1]})
    out = ring_label_outcomes(rings, labels)
    assert out["ring_id"].tolist() == ["r1", "r2", "r3", "r4"]
    assert out["labelled"].tolist() == [2, 3, 0, 3]
    assert out["abusive_members"].tolist() == [1, 1, 0, 1]
    # r1: 1 of 2 labelled abusive (half) -> abusive; r2, r4: 1 of 3 -> not; r3: unknown.
    assert out["abusive"].iloc[[0, 1, 3]].tolist() == [1.0, 0.0, 0.0]
    assert math.isnan(out["abusive"].iloc[2])
    assert ring_label_outcomes(rings, labels, abusive_share=0.6)["abusive"].iloc[0] == 0.0


def test_ring_label_outcomes_rejects_bad_input_and_handles_no_rings():
    rings = pd.DataFrame({"ring_id": ["r1"], "score": [0.9], "members": [["a"]]})
    with pytest.raises(ValueError, match="labels lacks column"):
        ring_label_outcomes(rings, pd.DataFrame({"account_id": ["a"]}))
    with pytest.raises(ValueError, match="'a' has two labels"):
        ring_label_outcomes(rings, pd.DataFrame({"account_id": ["a", "a"], "label": [0, 1]}))
    none = rings.iloc[:0]
    assert ring_label_outcomes(none, pd.DataFrame({"account_id": ["a"], "label": [1]})).empty


def test_pair_metrics_count_matches_exact_pairs_and_honest_ones():
    reported = [["a", "b"], ["c", "d", "e"], ["x", "y"], ["a", "x"], ["p", "q", "r", "s", "t"]]
    pairs = [["b", "a"], ["c", "d"], ["p", "q"], ["m", "n"]]
    abusive = {"a", "b", "c", "d", "p", "q", "m", "n"}
    figures = pair_metrics(reported, pairs, abusive)
    # (a, b) exactly, (c, d) inside a ring of three; (p, q) in a ring of five is too loose
    assert figures["recovered"] == 0.5 and figures["exact"] == 0.25
    assert figures["reported_pairs"] == 3 and figures["honest"] == 1
    assert figures["precision"] == 1 / 3
    assert math.isnan(pair_metrics([], pairs, abusive)["precision"])
