import pytest

from abusenet.validation.config import GatesConfig
from abusenet.validation.gates import Figures, check_gates, failed


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
