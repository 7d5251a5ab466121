"""Map model logits to calibrated probabilities, with JSON-serialisable state."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression


class ScoreCalibrator:
    """Platt scaling (default: monotone, keeps the ranking) or isotonic regression on logits.

    Parameters
    ----------
    method
        ``"platt"`` or ``"isotonic"``.
    """

    def __init__(self, method: str = "platt") -> None:
        self.method = method

    def fit(self, logits: np.ndarray, y: np.ndarray) -> ScoreCalibrator:
        """Fit on validation logits and labels; with a single class, fall back to the sigmoid."""
        logits = np.asarray(logits, dtype=np.float64)
        y = np.asarray(y)
        if self.method not in ("platt", "isotonic"):
            raise ValueError(f"calibration must be 'platt' or 'isotonic', not {self.method!r}")
        self.slope_, self.intercept_ = 1.0, 0.0
        self.thresholds_: list[float] = []
        self.values_: list[float] = []
        if len(np.unique(y)) < 2:
            return self
        if self.method == "platt":
            model = LogisticRegression(C=1e4).fit(logits.reshape(-1, 1), y)
            self.slope_ = float(model.coef_[0, 0])
            self.intercept_ = float(model.intercept_[0])
        else:
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(logits, y)
            self.thresholds_ = iso.X_thresholds_.tolist()
            self.values_ = iso.y_thresholds_.tolist()
        return self

    def transform(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities in [0, 1], higher = riskier."""
        logits = np.asarray(logits, dtype=np.float64)
        if self.thresholds_:
            return np.interp(logits, self.thresholds_, self.values_)
        return 1.0 / (1.0 + np.exp(-(self.slope_ * logits + self.intercept_)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description."""
        return {
            "method": self.method,
            "slope": self.slope_,
            "intercept": self.intercept_,
            "thresholds": self.thresholds_,
            "values": self.values_,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> ScoreCalibrator:
        """Rebuild from :meth:`to_dict` output."""
        calibrator = cls(state["method"])
        calibrator.slope_ = state["slope"]
        calibrator.intercept_ = state["intercept"]
        calibrator.thresholds_ = list(state["thresholds"])
        calibrator.values_ = list(state["values"])
        return calibrator
