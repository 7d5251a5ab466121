import numpy as np
import pytest

from gnn.evaluate import (
    auprc,
    auroc,
    ece_under_calibration,
    node_metrics,
    recall_at_k,
    reliability,
    summarize,
    wilson_interval,
)


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


def test_reliability_table_by_hand():
    # Bin [0.1, 0.2): scores 0.1, 0.1, observed 1 of 2; bin [0.9, 1.0]: 0.9 and 1.0, both 1.
    y = np.array([0, 1, 1, 1])
    score = np.array([0.1, 0.1, 0.9, 1.0])
    table = reliability(y, score)
    assert table["count"] == 4
    assert [(b["lower"], b["count"]) for b in table["bins"]] == [(0.1, 2), (0.9, 2)]
    assert table["bins"][0]["observed_rate"] == 0.5
    assert table["bins"][1]["mean_score"] == pytest.approx(0.95)
    assert table["brier"] == pytest.approx((0.01 + 0.81 + 0.01 + 0.0) / 4)
    assert table["ece"] == pytest.approx((2 * 0.4 + 2 * 0.05) / 4)


def test_reliability_of_calibrated_scores_is_near_zero_and_of_overconfident_is_not():
    rng = np.random.default_rng(0)
    score = rng.uniform(size=20_000)
    calibrated = (rng.uniform(size=score.size) < score).astype(int)
    assert reliability(calibrated, score)["ece"] < 0.02
    overconfident = np.where(score > 0.5, 0.99, 0.01)
    assert reliability(calibrated, overconfident)["ece"] > 0.2


def test_reliability_rejects_bad_input_and_is_nan_when_empty():
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        reliability([1], [1.5])
    with pytest.raises(ValueError, match="2 outcomes but 1 scores"):
        reliability([1, 0], [0.5])
    empty = reliability([], [])
    assert empty["count"] == 0 and np.isnan(empty["ece"]) and empty["bins"] == []


def test_wilson_interval_matches_the_textbook_value_and_narrows_with_count():
    # 8 of 10: the 95 % Wilson interval is about (0.490, 0.943).
    low, high = wilson_interval(0.8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    wide, narrow = wilson_interval(0.5, 10), wilson_interval(0.5, 1000)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert wilson_interval(1.0, 5)[1] == 1.0 and wilson_interval(0.3, 0) == (0.0, 1.0)
    bin_ = reliability([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], [0.85] * 10)["bins"][0]
    assert (bin_["observed_low"], bin_["observed_high"]) == pytest.approx((low, high))


def _labels_drawn_from(score: np.ndarray, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).uniform(size=score.size) < score).astype(int)


def test_label_noise_of_calibrated_scores_is_measured_and_taken_out():
    score = np.random.default_rng(1).beta(0.3, 2.0, size=400)
    table = reliability(_labels_drawn_from(score, 2), score)
    # On 400 labels a calibrated model's raw ECE is mostly chance: about what the simulated
    # calibrated models show, while the debiased ECE is well below it.
    assert 0.015 < table["ece_noise"] < 0.045
    assert table["ece_noise"] < table["ece_noise_high"]
    assert table["ece_debiased"] < table["ece"]
    assert table["ece_debiased"] < 0.03


def test_ece_noise_is_deterministic_and_shrinks_with_the_count():
    rng = np.random.default_rng(3)
    small, large = rng.beta(0.3, 2.0, size=400), rng.beta(0.3, 2.0, size=40_000)
    assert ece_under_calibration(small) == ece_under_calibration(small)
    assert ece_under_calibration(small, seed=1) != ece_under_calibration(small)
    assert ece_under_calibration(large)[0] < ece_under_calibration(small)[0] / 5
    assert np.isnan(ece_under_calibration(np.array([]))[0])


def test_debiased_ece_of_miscalibrated_scores_is_near_its_large_sample_value():
    # Scores twice the true probability: the ECE on 400,000 labels is about 0.11.
    truth = np.random.default_rng(4).beta(0.3, 2.0, size=400)
    doubled = np.clip(2 * truth, 0.0, 1.0)
    table = reliability(_labels_drawn_from(truth, 5), doubled)
    assert table["ece_debiased"] > 0.07
    assert table["ece_debiased"] > table["ece_noise_high"]
