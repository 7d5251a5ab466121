import numpy as np
import pytest

from gnn.calibration import ScoreCalibrator


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrated_scores_are_bounded_monotone_and_round_trip(method):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=500)
    y = (rng.random(500) < 1 / (1 + np.exp(-2 * logits))).astype(int)
    calibrator = ScoreCalibrator(method).fit(logits, y)
    grid = np.linspace(-4, 4, 50)
    probs = calibrator.transform(grid)
    assert ((probs >= 0) & (probs <= 1)).all()
    assert (np.diff(probs) >= 0).all()
    again = ScoreCalibrator.from_dict(calibrator.to_dict())
    np.testing.assert_array_equal(again.transform(grid), probs)


def test_platt_recovers_the_true_slope():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=20_000)
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(2 * logits - 1)))).astype(int)
    calibrator = ScoreCalibrator().fit(logits, y)
    assert calibrator.slope_ == pytest.approx(2.0, rel=0.1)
    assert calibrator.intercept_ == pytest.approx(-1.0, abs=0.1)
