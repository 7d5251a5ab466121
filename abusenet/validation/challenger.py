"""The challenger: XGB-Graph on the same split, the GNN + XGB-Graph blend, and the winner.

Three candidates score every account: ``gnn`` (the run's detector), ``xgb-graph``
(:class:`gnn.baselines.xgb_graph.XGBGraph` fitted on the GNN's training labels and early-stopped
on its validation labels) and ``blend`` (``w * gnn + (1 - w) * xgb-graph`` of the two
probabilities, ``w`` on a 0.1 grid chosen on the validation labels). The winner is chosen on
the validation labels only: the held-back test labels and the out-of-time window never choose.
A convex mix of probabilities stays in [0, 1], so every candidate publishes probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gnn.evaluate import node_metrics

GNN, CHALLENGER, BLEND = "gnn", "xgb-graph", "blend"
#: The blend weights tried (weight of the GNN).
BLEND_WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 2)


@dataclass(frozen=True)
class Selection:
    """Which candidate publishes its scores, and why.

    Attributes
    ----------
    winner
        The candidate chosen (``gnn``, ``xgb-graph`` or ``blend``).
    metric
        The validation figure that chose it (``auroc`` or ``auprc``).
    margin
        The winner's figure minus the best other candidate's (0 when alone; ``to_dict`` adds
        ``margin_over_gnn``).
    validation
        Candidate -> its ``auroc``, ``auprc``, ``recall_at_k`` on the validation labels.
    blend_weight
        The GNN's weight in the blend (``None`` without one).
    """

    winner: str
    metric: str
    margin: float
    validation: dict[str, dict[str, float]] = field(default_factory=dict)
    blend_weight: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The selection as ``metrics.json``'s ``selection`` block."""
        gnn = self.validation.get(GNN, {}).get(self.metric)
        ahead = self.validation.get(self.winner, {}).get(self.metric)
        return {"winner": self.winner, "chosen_on": f"validation labels ({self.metric})",
                "margin": self.margin,
                "margin_over_gnn": None if gnn is None or ahead is None else ahead - gnn,
                "blend_weight": self.blend_weight,
                "validation": self.validation}


def fit_challenger(
    snapshot: Any, fit_labels: pd.DataFrame, val_labels: pd.DataFrame, random_state: int = 0
) -> pd.DataFrame:
    """Fit XGB-Graph on ``fit_labels`` (early stopping on ``val_labels``); score every account.

    Returns
    -------
    pd.DataFrame
        ``account_id`` str, ``score`` float in [0, 1].
    """
    from gnn.baselines.xgb_graph import XGBGraph

    model = XGBGraph(random_state=random_state).fit(snapshot, fit_labels, val_labels=val_labels)
    return model.score_accounts(snapshot).astype({"account_id": str})


def blend_weight(gnn: np.ndarray, xgb: np.ndarray, y: np.ndarray, metric: str = "auprc") -> float:
    """The GNN's weight in ``w * gnn + (1 - w) * xgb`` that scores best on labels ``y``.

    Ties go to the larger weight (the GNN alone wins a tie).
    """
    figures = [node_metrics(y, w * gnn + (1.0 - w) * xgb)[metric] for w in BLEND_WEIGHTS]
    figures = np.nan_to_num(np.asarray(figures), nan=-1.0)
    return float(BLEND_WEIGHTS[np.flatnonzero(figures == figures.max())[-1]])


def candidates(gnn: pd.DataFrame, xgb: pd.DataFrame, weight: float) -> dict[str, pd.DataFrame]:
    """The three candidates' ``account_id, score`` tables, in ``gnn``'s account order."""
    aligned = gnn[["account_id"]].merge(xgb[["account_id", "score"]], on="account_id",
                                        how="left")["score"].fillna(0.0).to_numpy()
    base = gnn[["account_id", "score"]].reset_index(drop=True)
    mixed = weight * base["score"].to_numpy() + (1.0 - weight) * aligned
    return {GNN: base, CHALLENGER: base.assign(score=aligned),
            BLEND: base.assign(score=np.clip(mixed, 0.0, 1.0))}


def scores_on(labels: pd.DataFrame, scores: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(y, score)`` of ``labels`` (``account_id, label``); accounts without a score get 0."""
    joined = labels[["account_id", "label"]].astype({"account_id": str}).merge(
        scores[["account_id", "score"]], on="account_id", how="left")
    return (joined["label"].to_numpy(np.int64),
            joined["score"].fillna(0.0).to_numpy(np.float64))


def select(
    scored: dict[str, pd.DataFrame], val_labels: pd.DataFrame, metric: str = "auprc",
    blend: float | None = None,
) -> Selection:
    """Choose the candidate with the best ``metric`` on ``val_labels``; ties keep the GNN."""
    validation = {name: node_metrics(*scores_on(val_labels, table))
                  for name, table in scored.items()}
    order = sorted(validation, key=lambda n: (np.nan_to_num(validation[n][metric], nan=-1.0),
                                              n == GNN), reverse=True)
    winner = order[0]
    margin = (validation[winner][metric] - validation[order[1]][metric]) if len(order) > 1 \
        else 0.0
    return Selection(winner, metric, float(np.nan_to_num(margin)), validation, blend)
