import math

import pandas as pd
import pytest

from graph.rings.metrics import jaccard_matrix, ring_metrics, rings_recovered, top_precision

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
