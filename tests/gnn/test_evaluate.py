import numpy as np
import pytest

from gnn.evaluate import auprc, auroc, node_metrics, recall_at_k, summarize


def test_perfect_and_reversed_rankings():
    y = np.array([0, 0, 1, 1])
    assert auroc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert auprc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_recall_at_k():
    y = np.array([1, 0, 1, 0, 0])
    score = np.array([0.9, 0.8, 0.1, 0.7, 0.0])
    assert recall_at_k(y, score) == 0.5  # k = 2 positives: top 2 hold one
    assert recall_at_k(y, score, k=5) == 1.0


def test_single_class_gives_nan():
    assert np.isnan(auroc([0, 0], [0.1, 0.2]))
    assert np.isnan(node_metrics(np.zeros(3), np.ones(3))["auprc"])


def test_summarize_mean_and_std():
    summary = summarize([{"auroc": 0.8}, {"auroc": 0.9}])
    assert summary["auroc"] == pytest.approx((0.85, 0.05))
