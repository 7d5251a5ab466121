"""The challenger: XGB-Graph on the same split, the GNN + XGB-Graph blend, and the winner.

Three candidates score every account: ``gnn`` (the run's detector), ``xgb-graph``
(:class:`gnn.baselines.xgb_graph.XGBGraph` fitted on the GNN's training labels, early-stopped
and Platt-calibrated on its validation labels, as the GNN is) and ``blend``
(``w * gnn + (1 - w) * xgb-graph`` of the two probabilities, ``w`` on a 0.1 grid chosen on
the validation labels). The winner is chosen on
the validation labels only: the held-back test labels and the out-of-time window never choose.
The blend is judged out of fold (:func:`cross_fitted_blend`): its grid holds 0 and 1 (each
candidate alone), so a weight chosen on the very labels it is judged on never scores below
either candidate there, and with few positives chance alone would make it win.
A convex mix of probabilities stays in [0, 1], so every candidate publishes probabilities.

The published candidate is saved with the model: XGB-Graph in ``<model>/challenger`` (its own
JSON format, no pickle) and :data:`PUBLISHED_FILE` naming the candidate and the blend weight, so
that :func:`score_published` applies the same candidate wherever the model scores again. A
model directory without :data:`PUBLISHED_FILE` (older runs) scores as the GNN.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

GNN, CHALLENGER, BLEND = "gnn", "xgb-graph", "blend"
#: Inside a model directory: the saved XGB-Graph and the file naming the published candidate.
CHALLENGER_DIR = "challenger"
PUBLISHED_FILE = "published.json"
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
) -> tuple[Any, pd.DataFrame]:
    """Fit XGB-Graph on ``fit_labels`` (early-stopped and calibrated on ``val_labels``); score
    every account.

    Returns
    -------
    tuple
        The fitted :class:`gnn.baselines.xgb_graph.XGBGraph` and its scores (``account_id``
        str, ``score`` float in [0, 1]).
    """
    from gnn.data.snapshot_graph import snapshot_to_heterodata

    data, scaler = snapshot_to_heterodata(snapshot)
    return fit_challenger_on_graph(data, scaler, fit_labels, val_labels, random_state)


def fit_challenger_on_graph(
    data: Any, scaler: Any, fit_labels: pd.DataFrame, val_labels: pd.DataFrame,
    random_state: int = 0,
) -> tuple[Any, pd.DataFrame]:
    """:func:`fit_challenger` on the snapshot's graph, built once for fitting and scoring.

    ``data`` and ``scaler`` are what :func:`gnn.data.snapshot_graph.snapshot_to_heterodata`
    returns without a scaler (the graph XGB-Graph's own ``fit`` and ``score_accounts`` would
    each build again), so the caller need not hold the snapshot meanwhile.
    """
    from gnn.baselines.xgb_graph import XGBGraph
    from gnn.data.snapshot_graph import account_index
    from graph.snapshot import ACCOUNT

    model = XGBGraph(random_state=random_state)
    model.scaler_ = scaler
    rows, y, _ = account_index(data, fit_labels)
    val_rows, val_y, _ = account_index(data, val_labels)
    model.fit_graph(data, rows, y, val_rows, val_y)
    scores = pd.DataFrame({"account_id": np.asarray(data[ACCOUNT].node_ids, dtype=object),
                           "score": model.score_graph(data)})
    return model, scores.astype({"account_id": str})


def save_published(
    out: Path, challenger: Any, winner: str, weight: float,
    score_reference: dict[str, Any] | None = None,
) -> Path:
    """Save XGB-Graph into ``out/challenger`` and :data:`PUBLISHED_FILE` naming the candidate.

    :data:`PUBLISHED_FILE` holds ``candidate``, ``blend_weight`` (the GNN's weight),
    ``challenger_sha256`` (the hash of the saved trees, so that a model's content hash changes
    with them) and ``score_reference``: the published scores' histogram on the training graph
    (:func:`abusenet.validation.drift.histogram`), which replaces the GNN's in the drift
    reference. Returns the path of :data:`PUBLISHED_FILE`.
    """
    from ingest.files import write_text_atomic

    saved = challenger.save(out / CHALLENGER_DIR)
    digest = hashlib.sha256((saved / "model.json").read_bytes()).hexdigest()
    document = {"candidate": winner, "blend_weight": float(weight),
                "challenger": CHALLENGER_DIR, "challenger_sha256": digest,
                "score_reference": score_reference}
    write_text_atomic(out / PUBLISHED_FILE, json.dumps(document, indent=2))
    return out / PUBLISHED_FILE


def read_published(model_dir: Path) -> dict[str, Any]:
    """The published candidate of a saved model: ``{"candidate", "blend_weight"}``.

    A directory without :data:`PUBLISHED_FILE` (an older run) publishes the GNN.

    Raises
    ------
    ValueError
        When :data:`PUBLISHED_FILE` names an unknown candidate, or a candidate other than the
        GNN whose saved XGB-Graph is missing.
    """
    path = Path(model_dir) / PUBLISHED_FILE
    if not path.is_file():
        return {"candidate": GNN, "blend_weight": None}
    document = json.loads(path.read_text())
    candidate = document.get("candidate")
    if candidate not in (GNN, CHALLENGER, BLEND):
        raise ValueError(f"{path}: candidate {candidate!r} is not one of {GNN!r}, "
                         f"{CHALLENGER!r}, {BLEND!r}")
    if candidate != GNN and not (Path(model_dir) / CHALLENGER_DIR / "model.json").is_file():
        raise ValueError(f"{path}: candidate {candidate!r} needs the saved XGB-Graph in "
                         f"{Path(model_dir) / CHALLENGER_DIR}, which is missing")
    if candidate == BLEND and document.get("blend_weight") is None:
        raise ValueError(f"{path}: candidate 'blend' without a blend_weight")
    return {"candidate": candidate, "blend_weight": document.get("blend_weight")}


def score_published(
    model_dir: Path, snapshot: Any, gnn_scores: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, str]:
    """Score every account with the saved model's published candidate.

    Parameters
    ----------
    model_dir
        A saved detector's directory (maybe with :data:`PUBLISHED_FILE` and its XGB-Graph).
    snapshot
        The graph to score.
    gnn_scores
        The GNN's ``account_id, score`` on ``snapshot`` when already computed (else the saved
        detector scores).

    Returns
    -------
    tuple
        The GNN's table with ``score`` replaced by the candidate's, and the candidate's name.
    """
    published = read_published(model_dir)
    if gnn_scores is None:
        from gnn.detector import AccountDetector

        gnn_scores = AccountDetector.load(model_dir).score_accounts(snapshot)
    candidate = published["candidate"]
    if candidate == GNN:
        return gnn_scores, GNN
    from gnn.baselines.xgb_graph import XGBGraph

    xgb = XGBGraph.load(Path(model_dir) / CHALLENGER_DIR).score_accounts(snapshot)
    table = gnn_scores.astype({"account_id": str}).reset_index(drop=True)
    weight = float(published["blend_weight"] if candidate == BLEND else 0.0)
    chosen = candidates(table, xgb.astype({"account_id": str}), weight)[candidate]
    return gnn_scores.reset_index(drop=True).assign(score=chosen["score"].to_numpy()), candidate


def blend_weight(gnn: np.ndarray, xgb: np.ndarray, y: np.ndarray, metric: str = "auprc") -> float:
    """The GNN's weight in ``w * gnn + (1 - w) * xgb`` that scores best on labels ``y``.

    Ties go to the larger weight (the GNN alone wins a tie).
    """
    from gnn.evaluate import node_metrics

    figures = [node_metrics(y, w * gnn + (1.0 - w) * xgb)[metric] for w in BLEND_WEIGHTS]
    figures = np.nan_to_num(np.asarray(figures), nan=-1.0)
    return float(BLEND_WEIGHTS[np.flatnonzero(figures == figures.max())[-1]])


def cross_fitted_blend(gnn: np.ndarray, xgb: np.ndarray, y: np.ndarray, metric: str = "auprc",
                       seed: int = 0) -> np.ndarray:
    """The blend's scores of labelled accounts for judging it: the labels in two stratified
    halves, each half blended with the weight :func:`blend_weight` chooses on the other.

    A weight that only fits the noise of a few labels then scores as it would on new accounts.
    A half without positives chooses no weight but the GNN's own (the tie rule), so with one or
    two validation positives the blend is judged as the GNN alone.

    Parameters
    ----------
    gnn, xgb
        The two candidates' scores of the labelled accounts.
    y
        Their labels (0 / 1).
    metric
        The figure the weight is chosen by (``auprc`` or ``auroc``).
    seed
        The halves' split.
    """
    from gnn.labels import stratified_split

    gnn, xgb, y = (np.asarray(a) for a in (gnn, xgb, y))
    out = np.asarray(gnn, np.float64).copy()
    if len(y) < 2:
        return out
    first, second = stratified_split(y, 0.5, seed)
    for fit, judged in ((first, second), (second, first)):
        weight = blend_weight(gnn[fit], xgb[fit], y[fit], metric)
        out[judged] = np.clip(weight * gnn[judged] + (1.0 - weight) * xgb[judged], 0.0, 1.0)
    return out


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
    blend: float | None = None, forced: str | None = None,
) -> Selection:
    """Choose the candidate with the best ``metric`` on ``val_labels``; ties keep the GNN.

    ``forced`` (a candidate's name) publishes that candidate whatever the figures say; the
    margin is still its figure minus the best other candidate's.
    """
    from gnn.evaluate import node_metrics

    validation = {name: node_metrics(*scores_on(val_labels, table))
                  for name, table in scored.items()}
    order = sorted(validation, key=lambda n: (np.nan_to_num(validation[n][metric], nan=-1.0),
                                              n == GNN), reverse=True)
    if forced is not None:
        order = [forced, *(n for n in order if n != forced)]
    winner = order[0]
    margin = (validation[winner][metric] - validation[order[1]][metric]) if len(order) > 1 \
        else 0.0
    return Selection(winner, metric, float(np.nan_to_num(margin)), validation, blend)
