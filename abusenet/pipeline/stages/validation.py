"""The validation stages: the training labels split by time and for validation, the
challenger and the published candidate, and the drift of new data from a model's reference.

Files (:data:`FIT_LABELS`, :data:`VALIDATION_LABELS`, :data:`OUT_OF_TIME_LABELS` in the train
stage's output; :data:`CANDIDATES_FILE` and ``account_scores.parquet`` in the challenger's;
:data:`DRIFT_FILE` in the drift stage's).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abusenet.pipeline.outputs import write_contract_table
from abusenet.pipeline.stages.files import ACCOUNT_SCORES
from abusenet.validation.config import DriftConfig, ValidationConfig

logger = logging.getLogger(__name__)

#: The labels the detector trained on, those it early-stopped and calibrated on, and the
#: out-of-time window held out of both (absent when the labels allow none).
FIT_LABELS = "fit_labels.parquet"
VALIDATION_LABELS = "validation_labels.parquet"
OUT_OF_TIME_LABELS = "out_of_time_labels.parquet"
#: ``account_id`` and one score column per candidate (``gnn``, ``xgb-graph``, ``blend``).
CANDIDATES_FILE = "candidates.parquet"
DRIFT_FILE = "drift.json"


def split_training_labels(
    snapshot: Any, labels: pd.DataFrame, settings: ValidationConfig | None,
    val_fraction: float, seed: int, out: Path,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Split the training labels: the out-of-time window off, then a stratified validation part.

    Writes :data:`FIT_LABELS`, :data:`VALIDATION_LABELS` and (when there is a window)
    :data:`OUT_OF_TIME_LABELS` into ``out``; returns ``(fit, validation, facts)``.
    """
    from abusenet.validation.out_of_time import label_times, time_split
    from gnn.labels import stratified_split
    from graph.snapshot import ACCOUNT

    facts: dict[str, Any] = {}
    if settings is not None:
        accounts = snapshot.nodes[ACCOUNT]
        first_seen = (accounts.set_index(accounts["id"].astype(str))["first_ts"]
                      if "first_ts" in accounts else None)
        split = time_split(labels, label_times(labels, first_seen), settings.out_of_time_days,
                           settings.gap_days)
        labels = split.earlier
        if split.window is not None:
            split.window.to_parquet(out / OUT_OF_TIME_LABELS, index=False)
        facts = {"out_of_time": {"start": split.start, "reason": split.reason,
                                 "labels": 0 if split.window is None else len(split.window),
                                 "gapped": split.gapped}}
    fit_pos, val_pos = stratified_split(labels["label"].to_numpy(), val_fraction, seed)
    fit, val = labels.iloc[fit_pos], labels.iloc[val_pos]
    fit.to_parquet(out / FIT_LABELS, index=False)
    val.to_parquet(out / VALIDATION_LABELS, index=False)
    return fit, val, {**facts, "fit_labels": len(fit), "validation_labels": len(val)}


def challenger_stage(
    snapshot_dir: Path, train_dir: Path, gnn_scores_path: Path, settings: ValidationConfig,
    out: Path, *, seed: int = 0,
) -> dict[str, Any]:
    """XGB-Graph on the detector's split, the blend, and the scores of the winner (the blend
    judged out of fold on the validation labels: :func:`abusenet.validation.challenger.
    cross_fitted_blend`).

    Writes :data:`CANDIDATES_FILE`, ``account_scores.parquet`` (the winner's scores,
    ``score_kind`` probability), the saved XGB-Graph (``challenger/``) and ``published.json``
    naming the winner and the blend weight (both published inside the run's ``model/``, see
    :func:`abusenet.validation.challenger.save_published`); returns the selection
    (:meth:`Selection.to_dict`) with a ``warning`` when the GNN does not beat XGB-Graph on the
    validation labels. ``settings.publish`` other than ``best`` forces the winner; with
    ``best``, validation labels holding fewer than ``settings.min_challenger_positives``
    positives keep the GNN (``kept`` says so, with a warning).
    """
    from abusenet.validation.challenger import (
        BLEND,
        CHALLENGER,
        GNN,
        blend_weight,
        candidates,
        cross_fitted_blend,
        fit_challenger_on_graph,
        save_published,
        scores_on,
        select,
    )
    from abusenet.validation.drift import histogram

    data, scaler = _snapshot_graph(snapshot_dir)
    fit = pd.read_parquet(train_dir / FIT_LABELS)
    val = pd.read_parquet(train_dir / VALIDATION_LABELS)
    gnn = pd.read_parquet(gnn_scores_path)
    model, xgb = fit_challenger_on_graph(data, scaler, fit, val, random_state=seed)
    del data
    metric = settings.selection_metric
    y, gnn_val = scores_on(val, gnn)
    xgb_val = scores_on(val, xgb)[1]
    weight = blend_weight(gnn_val, xgb_val, y, metric)
    scored = candidates(gnn, xgb, weight)
    judged = {**scored, BLEND: pd.DataFrame({
        "account_id": val["account_id"].astype(str).to_numpy(),
        "score": cross_fitted_blend(gnn_val, xgb_val, y, metric, seed)})}
    positives = int(y.sum())
    too_few = settings.publish == "best" and positives < settings.min_challenger_positives
    choice = select(judged, val, metric, weight,
                    forced=GNN if too_few else
                    None if settings.publish == "best" else settings.publish)
    save_published(out, model, choice.winner, weight,
                   histogram(scored[choice.winner]["score"].to_numpy(np.float64),
                             settings.drift.bins))
    table = pd.DataFrame({"account_id": scored[GNN]["account_id"],
                          **{name: s["score"].to_numpy() for name, s in scored.items()}})
    table.to_parquet(out / CANDIDATES_FILE, index=False)
    winner = scored[choice.winner]
    write_contract_table(gnn.assign(score=winner["score"].to_numpy()), ACCOUNT_SCORES,
                         out / ACCOUNT_SCORES)
    info = choice.to_dict()
    if too_few:
        info["kept"] = {"positives": positives,
                        "min_challenger_positives": settings.min_challenger_positives}
        info["warning"] = (f"{positives} positives in the validation labels, fewer than "
                           f"validation.min_challenger_positives "
                           f"({settings.min_challenger_positives}): the GNN stays published "
                           "(a figure on so few is mostly chance)")
        logger.warning(info["warning"])
    elif (choice.validation[GNN][metric] or 0.0) <= (choice.validation[CHALLENGER][metric] or 0.0):
        info["warning"] = (f"the GNN does not beat XGB-Graph on the validation labels ({metric} "
                           f"{choice.validation[GNN][metric]:.4f} vs "
                           f"{choice.validation[CHALLENGER][metric]:.4f})")
        logger.warning(info["warning"])
    return info


def _snapshot_graph(snapshot_dir: Path) -> tuple[Any, Any]:
    """The snapshot's graph and fitted feature scaler; the snapshot itself is dropped on return
    (XGB-Graph reads only the graph)."""
    from gnn.data.snapshot_graph import read_snapshot_graph

    return read_snapshot_graph(snapshot_dir)


def validation_metrics(
    candidates_path: Path, published: str, holdout: pd.DataFrame,
    out_of_time: pd.DataFrame | None, first_seen: pd.Series | None, slice_days: float,
) -> dict[str, Any]:
    """The validation blocks of ``metrics.json``: challenger, candidates, out-of-time, slices.

    Parameters
    ----------
    candidates_path
        :data:`CANDIDATES_FILE` (one score column per candidate).
    published
        The candidate whose scores the run publishes.
    holdout
        The random hold-out's labels.
    out_of_time
        The out-of-time window's labels, or ``None``.
    first_seen
        Account id -> first event time, for labels without ``ts``.
    slice_days
        Width of the time slices.
    """
    from abusenet.validation.challenger import CHALLENGER, scores_on
    from abusenet.validation.out_of_time import label_times, slice_metrics
    from gnn.evaluate import node_metrics, reliability

    table = pd.read_parquet(candidates_path)
    names = [c for c in table.columns if c != "account_id"]

    def figures(labels: pd.DataFrame) -> dict[str, dict[str, float]]:
        return {name: node_metrics(*scores_on(labels, table.rename(columns={name: "score"})))
                for name in names}

    held = figures(holdout)
    blocks: dict[str, Any] = {
        "published": published,
        "candidates": held,
        "challenger": {"name": CHALLENGER, "auroc": held[CHALLENGER]["auroc"],
                       "auprc": held[CHALLENGER]["auprc"]},
    }
    every = holdout
    if out_of_time is not None:
        window = figures(out_of_time)
        y, score = scores_on(out_of_time, table.rename(columns={published: "score"}))
        times = label_times(out_of_time, first_seen)
        blocks["out_of_time"] = {
            "labels": int(len(out_of_time)), "positives": int(y.sum()),
            "start": times.min().isoformat(), "end": times.max().isoformat(),
            **window[published], "candidates": window,
            "challenger": {"name": CHALLENGER, "auroc": window[CHALLENGER]["auroc"],
                           "auprc": window[CHALLENGER]["auprc"]},
            "calibration": reliability(y, np.clip(score, 0.0, 1.0)),
        }
        every = pd.concat([holdout, out_of_time], ignore_index=True)
    y, score = scores_on(every, table.rename(columns={published: "score"}))
    blocks["time_slices"] = slice_metrics(y, score, label_times(every, first_seen), slice_days)
    return blocks


def drift_stage(
    model_dir: Path, snapshot_dir: Path, account_scores_path: Path,
    labels_path: Path | None, settings: DriftConfig, out: Path,
) -> dict[str, Any]:
    """New data against the model's training reference -> :data:`DRIFT_FILE`.

    A model saved without a reference gives ``{"reference": false, "drifted": false}``.
    """
    from abusenet.validation.drift import compare, read_reference
    from graph.snapshot import read_snapshot
    from ingest.files import write_text_atomic

    found = read_reference(model_dir)
    if found is None:
        report: dict[str, Any] = {"reference": False, "drifted": False, "alerts": []}
    else:
        reference, accounts = found
        labels = pd.read_parquet(labels_path) if labels_path is not None else None
        report = {"reference": True, **compare(
            reference, accounts, read_snapshot(snapshot_dir),
            pd.read_parquet(account_scores_path, columns=["account_id", "score"]), labels,
            settings)}
    for alert in report["alerts"]:
        logger.warning("drift: %s", alert)
    write_text_atomic(out / DRIFT_FILE, json.dumps(report, indent=1))
    return report
