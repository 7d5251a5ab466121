"""Node-level quality figures: AUROC, AUPRC, Recall@k, and mean ± std over splits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def auroc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (0.5 = random); ``nan`` when only one class is present."""
    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(roc_auc_score(y_true, score))


def auprc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision; random = positive rate)."""
    y_true = np.asarray(y_true)
    if y_true.sum() == 0:
        return float("nan")
    return float(average_precision_score(y_true, score))


def recall_at_k(y_true: np.ndarray, score: np.ndarray, k: int | None = None) -> float:
    """Share of the positives found among the ``k`` highest scores (``k`` = number of positives)."""
    y_true = np.asarray(y_true)
    positives = int(y_true.sum())
    if positives == 0:
        return float("nan")
    k = positives if k is None else k
    top = np.argsort(-np.asarray(score), kind="stable")[:k]
    return float(y_true[top].sum() / positives)


def node_metrics(y_true: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """``auroc``, ``auprc`` and ``recall_at_k`` (k = number of positives) of one scoring."""
    return {
        "auroc": auroc(y_true, score),
        "auprc": auprc(y_true, score),
        "recall_at_k": recall_at_k(y_true, score),
    }


def summarize(runs: Iterable[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """Metric name -> (mean, standard deviation) over runs (splits or seeds)."""
    runs = list(runs)
    names = runs[0].keys() if runs else []
    return {
        name: (
            float(np.nanmean([r[name] for r in runs])),
            float(np.nanstd([r[name] for r in runs])),
        )
        for name in names
    }
