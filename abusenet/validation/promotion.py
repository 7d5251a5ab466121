"""Promotion by rule: the new model and the champion scored on the same labels, the gates
checked, and the new model promoted only when every gate passes.

The comparison labels are the run's out-of-time window (the random hold-out when the labels
allow no window): neither model trained on them. Both models score the run's snapshot with
the same code (:func:`abusenet.validation.challenger.score_published`: each model's published
candidate, the GNN, XGB-Graph or their blend), so the figures differ by the model alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abusenet.validation.config import ValidationConfig
from abusenet.validation.gates import Figures, GateResult, check_gates, failed


@dataclass(frozen=True)
class PromotionDecision:
    """The gates' verdict on a new model.

    Attributes
    ----------
    gates
        Every gate's result.
    compared_on
        Which labels: ``out-of-time window (N labels)`` or ``random hold-out (N labels)``.
    new, champion
        The figures of both models on those labels (``champion`` ``None``: none in production).
    champion_version
        The registry version in production when the decision was made.
    """

    gates: list[GateResult]
    compared_on: str
    new: Figures
    champion: Figures | None = None
    champion_version: int | None = None
    failures: list[GateResult] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "failures", failed(self.gates))

    @property
    def passed(self) -> bool:
        """Whether every gate passed."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """The decision as plain JSON values."""
        return {"passed": self.passed, "compared_on": self.compared_on,
                "champion_version": self.champion_version,
                "gates": [g.to_dict() for g in self.gates]}


def model_figures(
    model_dir: Path, snapshot: Any, labels: pd.DataFrame, times: pd.Series, slice_days: float,
) -> Figures:
    """AUROC, AUPRC, ECE and per-slice AUROC of the saved model in ``model_dir`` on ``labels``.

    The model scores with its published candidate (the GNN for a model saved without one).
    """
    from abusenet.validation.challenger import score_published, scores_on
    from abusenet.validation.out_of_time import slice_metrics
    from gnn.evaluate import node_metrics, reliability

    scores, _ = score_published(model_dir, snapshot)
    y, score = scores_on(labels, scores.astype({"account_id": str}))
    figures = node_metrics(y, score)
    slices = [s["auroc"] for s in slice_metrics(y, score, times, slice_days)
              if s["auroc"] is not None and np.isfinite(s["auroc"])]
    calibration = reliability(y, np.clip(score, 0.0, 1.0))
    return Figures(figures["auroc"], figures["auprc"], calibration["ece"], slices,
                   ece_debiased=calibration["ece_debiased"], ece_noise=calibration["ece_noise"])


def decide(
    model_dir: Path, champion_dir: Path | None, snapshot_dir: Path, labels: pd.DataFrame,
    what: str, metrics: dict[str, Any], settings: ValidationConfig,
    champion_version: int | None = None,
) -> PromotionDecision:
    """Score the new model and the champion on ``labels``; check every gate.

    Parameters
    ----------
    model_dir, champion_dir
        The new model and the production one (``None``: no champion yet).
    snapshot_dir
        The run's graph snapshot.
    labels
        The comparison labels (``account_id, label[, ts]``); ``what`` names them.
    metrics
        The run's ``metrics.json``: the challenger's AUPRC on the same labels is read from it.
    settings
        The ``validation`` section (its gates and slice width).
    """
    from abusenet.validation.out_of_time import label_times
    from graph.snapshot import ACCOUNT, read_snapshot

    snapshot = read_snapshot(snapshot_dir)
    accounts = snapshot.nodes[ACCOUNT]
    first_seen = (accounts.set_index(accounts["id"].astype(str))["first_ts"]
                  if "first_ts" in accounts else None)
    times = label_times(labels, first_seen)
    new = model_figures(model_dir, snapshot, labels, times, settings.slice_days)
    champion = (None if champion_dir is None else
                model_figures(champion_dir, snapshot, labels, times, settings.slice_days))
    window = metrics.get("out_of_time") or {}
    block = window if window.get("labels") and what.startswith("out-of-time") else metrics
    challenger = (block.get("challenger") or {}).get("auprc")
    gates = check_gates(new, champion=champion, challenger_auprc=challenger,
                        gates=settings.gates)
    return PromotionDecision(gates, f"{what} ({len(labels):,} labels)", new, champion,
                             champion_version)


def comparison_labels(train_dir: Path | None, holdout: Path | None) -> tuple[pd.DataFrame, str]:
    """The labels a promotion compares on: the out-of-time window, else the random hold-out.

    Raises
    ------
    ValueError
        When the run kept neither (no labels held back: nothing to compare on).
    """
    from abusenet.pipeline.stages.validation import OUT_OF_TIME_LABELS

    if train_dir is not None and (train_dir / OUT_OF_TIME_LABELS).is_file():
        return pd.read_parquet(train_dir / OUT_OF_TIME_LABELS), "out-of-time window"
    if holdout is not None and holdout.is_file():
        return pd.read_parquet(holdout), "random hold-out"
    raise ValueError("the run held back no labels (labels.holdout_fraction is 0 and no "
                     "out-of-time window): --promote has nothing to compare on")


def read_metrics(out_dir: Path) -> dict[str, Any]:
    """The run's ``metrics.json`` (empty when it wrote none)."""
    path = out_dir / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}
