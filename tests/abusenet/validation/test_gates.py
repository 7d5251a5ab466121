import numpy as np
import pytest

from abusenet.validation.config import GatesConfig
from abusenet.validation.gates import Figures, GateResult, check_gates, failed
from gnn.evaluate import reliability


def test_every_gate_passes_for_a_good_model():
    results = check_gates(Figures(0.9, 0.6, 0.02, [0.85, 0.9]), champion=Figures(0.902, 0.5),
                          challenger_auprc=0.55, gates=GatesConfig())
    assert not failed(results)
    assert [r.name for r in results] == ["auroc_vs_champion", "auprc_vs_challenger",
                                         "calibration", "time_slices"]


def test_a_shuffled_label_model_fails_with_margins():
    results = check_gates(Figures(0.51, 0.1, 0.2, [0.4, 0.55]), champion=Figures(0.9, 0.6),
                          challenger_auprc=0.5, gates=GatesConfig())
    bad = {r.name: r for r in failed(results)}
    assert set(bad) == {"auroc_vs_champion", "auprc_vs_challenger", "calibration",
                        "time_slices"}
    assert bad["auroc_vs_champion"].margin == pytest.approx(0.51 - 0.895)
    assert bad["calibration"].margin == pytest.approx(0.05 - 0.2)


def test_missing_comparisons_pass_and_say_so():
    results = check_gates(Figures(0.8, 0.5, 0.01), champion=None, challenger_auprc=None,
                          gates=GatesConfig())
    assert not failed(results)
    assert "no champion" in results[0].detail


def test_an_unmeasurable_figure_fails():
    results = check_gates(Figures(0.8, 0.5, None), champion=None, challenger_auprc=None,
                          gates=GatesConfig())
    assert [r.name for r in failed(results)] == ["calibration"]


def _calibration_gate(y: np.ndarray, score: np.ndarray) -> GateResult:
    table = reliability(y, score)
    figures = Figures(0.9, 0.6, table["ece"], ece_debiased=table["ece_debiased"],
                      ece_noise=table["ece_noise"])
    results = check_gates(figures, champion=None, challenger_auprc=None, gates=GatesConfig())
    return next(r for r in results if r.name == "calibration")


def test_a_calibrated_model_on_400_labels_passes_in_nearly_every_seed():
    raw_failures = gate_failures = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        score = rng.beta(0.3, 2.0, size=400)
        y = (rng.uniform(size=score.size) < score).astype(int)
        gate = _calibration_gate(y, score)
        gate_failures += not gate.passed
        raw_failures += reliability(y, score)["ece"] > 0.05
    assert gate_failures <= 2
    assert raw_failures >= 1  # the raw ECE at 0.05 failed some of these good models


def test_a_model_whose_scores_are_off_by_a_factor_fails_with_both_figures_shown():
    failures = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        truth = rng.beta(0.3, 2.0, size=400)
        y = (rng.uniform(size=truth.size) < truth).astype(int)
        gate = _calibration_gate(y, np.clip(2 * truth, 0.0, 1.0))
        failures += not gate.passed
    assert failures >= 19
    assert "without label noise" in gate.detail and "raw ECE" in gate.detail
    assert gate.value == pytest.approx(reliability(y, np.clip(2 * truth, 0.0, 1.0))["ece_debiased"])


def test_figures_without_the_debiased_ece_are_held_to_the_raw_ece():
    results = check_gates(Figures(0.8, 0.5, 0.06), champion=None, challenger_auprc=None,
                          gates=GatesConfig())
    gate = next(r for r in results if r.name == "calibration")
    assert not gate.passed and gate.value == 0.06 and "noise not measured" in gate.detail
