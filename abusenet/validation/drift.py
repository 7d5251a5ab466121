"""Drift: a model's training reference, and how far new data has moved from it.

The reference is kept with the model (``reference.json`` and ``reference_accounts.npy`` in its
directory): for every numeric input feature of every node type and for the account scores, the
quantile cut points of the training data and the share of values between them; the training
labels' abusive rate; the training graph's accounts as 64-bit hashes. New data is compared by
the population stability index (PSI, over the reference's bins; missing values are a bin of
their own), the share of its accounts the training graph did not hold, and its label rate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abusenet.validation.config import DriftConfig

REFERENCE_FILE = "reference.json"
ACCOUNTS_FILE = "reference_accounts.npy"
#: Floor of a bin's share in the PSI (an empty bin would make it infinite).
_EPS = 1e-4


def histogram(values: np.ndarray, bins: int) -> dict[str, list[float]]:
    """Quantile ``cuts`` of ``values`` and the ``shares`` of values in each bin.

    ``shares`` has ``len(cuts) + 2`` entries: one per bin and, last, missing values.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    cuts = (np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
            if len(finite) else np.empty(0))
    return {"cuts": cuts.tolist(), "shares": shares(values, cuts).tolist()}


def shares(values: np.ndarray, cuts: np.ndarray | list[float]) -> np.ndarray:
    """The share of ``values`` in each bin between ``cuts``, then the share missing."""
    values = np.asarray(values, dtype=np.float64)
    cuts = np.asarray(cuts, dtype=np.float64)
    finite = np.isfinite(values)
    counts = np.bincount(np.searchsorted(cuts, values[finite], side="right"),
                         minlength=len(cuts) + 1).astype(np.float64)
    counts = np.append(counts, float((~finite).sum()))
    return counts / max(len(values), 1)


def psi(expected: np.ndarray | list[float], actual: np.ndarray | list[float]) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` over bins (shares floored).

    Below 0.1 is usually read as stable, 0.1-0.25 as a moderate shift, above 0.25 as drift.
    """
    e = np.maximum(np.asarray(expected, dtype=np.float64), _EPS)
    a = np.maximum(np.asarray(actual, dtype=np.float64), _EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def account_hashes(ids: pd.Series | np.ndarray) -> np.ndarray:
    """Sorted unique 64-bit hashes of account ids (stable across runs and machines)."""
    return np.unique(pd.util.hash_array(np.asarray(ids, dtype=object).astype(str)))


def build_reference(
    snapshot: Any, scores: pd.DataFrame, labels: pd.DataFrame | None, bins: int = 10
) -> dict[str, Any]:
    """The training reference of a model: feature and score histograms, label rate.

    Parameters
    ----------
    snapshot
        The training graph snapshot (:class:`graph.snapshot.Snapshot`).
    scores
        The model's ``account_id, score`` on that snapshot.
    labels
        The training labels (``account_id, label``), or ``None``.
    bins
        Quantile bins per distribution.
    """
    features = {
        node_type: {column: histogram(snapshot.nodes[node_type][column].to_numpy(np.float64),
                                      bins)
                    for column in snapshot.feature_columns(node_type)}
        for node_type in snapshot.node_types
    }
    return {
        "bins": bins,
        "features": features,
        "score": histogram(scores["score"].to_numpy(np.float64), bins),
        "label_rate": None if labels is None or labels.empty
        else float(labels["label"].mean()),
        "accounts": int(len(scores)),
    }


def write_reference(model_dir: Path, reference: dict[str, Any], account_ids: pd.Series) -> None:
    """Keep ``reference`` and the training accounts' hashes in ``model_dir`` (atomically)."""
    import os
    import tempfile

    from ingest.files import write_text_atomic

    write_text_atomic(model_dir / REFERENCE_FILE, json.dumps(reference, indent=1))
    fd, tmp = tempfile.mkstemp(dir=model_dir, prefix=".reference-", suffix=".npy")
    with os.fdopen(fd, "wb") as handle:
        np.save(handle, account_hashes(account_ids), allow_pickle=False)
    os.replace(tmp, model_dir / ACCOUNTS_FILE)


def read_reference(model_dir: Path) -> tuple[dict[str, Any], np.ndarray] | None:
    """The reference kept in ``model_dir``, or ``None`` for a model saved without one.

    The score histogram is the published candidate's when the model publishes one
    (``score_reference`` of :data:`abusenet.validation.challenger.PUBLISHED_FILE`), so that the
    scores ``abusenet score`` writes are compared with the same candidate's.
    """
    from abusenet.validation.challenger import PUBLISHED_FILE

    if not (model_dir / REFERENCE_FILE).is_file():
        return None
    hashes = (np.load(model_dir / ACCOUNTS_FILE, allow_pickle=False)
              if (model_dir / ACCOUNTS_FILE).is_file() else np.empty(0, dtype=np.uint64))
    reference = json.loads((model_dir / REFERENCE_FILE).read_text())
    published = model_dir / PUBLISHED_FILE
    if published.is_file():
        score = json.loads(published.read_text()).get("score_reference")
        reference["score"] = score or reference["score"]
    return reference, hashes


def compare(
    reference: dict[str, Any], training_accounts: np.ndarray, snapshot: Any,
    scores: pd.DataFrame, labels: pd.DataFrame | None, settings: DriftConfig,
) -> dict[str, Any]:
    """How far ``snapshot`` and its ``scores`` have drifted from the training ``reference``.

    Returns
    -------
    dict
        ``features`` (node type -> column -> PSI; a column the new data lacks is ``None``),
        ``max_feature_psi`` and the ``worst_feature``, ``score_psi``, ``unseen_share`` (of the
        new accounts, absent from the training graph), ``label_rate`` (``new``, ``reference``;
        ``new`` ``None`` without labels), ``thresholds``, ``alerts`` (one line per threshold
        crossed) and ``drifted`` (any alert).
    """
    features: dict[str, dict[str, float | None]] = {}
    for node_type, columns in reference["features"].items():
        table = snapshot.nodes.get(node_type)
        features[node_type] = {
            column: (None if table is None or column not in table else
                     psi(hist["shares"], shares(table[column].to_numpy(np.float64),
                                                hist["cuts"])))
            for column, hist in columns.items()
        }
    flat = [(f"{t}.{c}", v) for t, cols in features.items() for c, v in cols.items()
            if v is not None]
    worst = max(flat, key=lambda item: item[1]) if flat else (None, 0.0)
    score_psi = psi(reference["score"]["shares"],
                    shares(scores["score"].to_numpy(np.float64), reference["score"]["cuts"]))
    new = account_hashes(scores["account_id"])
    unseen = (float(1.0 - np.isin(new, training_accounts).mean())
              if len(new) and len(training_accounts) else None)
    alerts = []
    if worst[1] > settings.max_feature_psi:
        alerts.append(f"feature {worst[0]} PSI {worst[1]:.3f} > {settings.max_feature_psi}")
    if score_psi > settings.max_score_psi:
        alerts.append(f"score PSI {score_psi:.3f} > {settings.max_score_psi}")
    if unseen is not None and unseen > settings.max_unseen_share:
        alerts.append(f"unseen accounts {unseen:.1%} > {settings.max_unseen_share:.0%}")
    return {
        "features": features,
        "max_feature_psi": float(worst[1]),
        "worst_feature": worst[0],
        "score_psi": score_psi,
        "unseen_share": unseen,
        "label_rate": {"new": None if labels is None or labels.empty
                       else float(labels["label"].mean()),
                       "reference": reference.get("label_rate")},
        "thresholds": settings.model_dump(),
        "alerts": alerts,
        "drifted": bool(alerts),
    }
