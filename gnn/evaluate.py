"""Node-level quality figures: AUROC, AUPRC, Recall@k, calibration (Brier score, ECE, the ECE
without label noise and the one noise alone gives, a reliability table), and mean ± std over
splits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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


def reliability(y_true: np.ndarray, score: np.ndarray, n_bins: int = 10) -> dict[str, Any]:
    """How well scores read as probabilities: Brier score, ECE and a reliability table.

    Parameters
    ----------
    y_true
        Binary outcomes (1 = abusive).
    score
        Predicted probabilities in [0, 1], one per outcome.
    n_bins
        Equal-width score bins over [0, 1]; a score of exactly 1 falls in the last one.

    Returns
    -------
    dict
        ``count``; ``brier`` (mean squared error of the scores); ``ece`` (expected calibration
        error: the count-weighted mean of ``|mean score - observed rate|`` over the bins);
        ``ece_noise`` and ``ece_noise_high``: the mean and 95th percentile of the ECE a
        perfectly calibrated model shows on the same scores by chance (see
        :func:`ece_under_calibration`; a few hundred labels give one 0.03-0.06);
        ``ece_debiased``: the ECE with each bin's label noise taken out, the count-weighted
        mean of ``sqrt(max(0, gap**2 - var))`` where ``gap`` is the bin's ``mean score -
        observed rate`` and ``var = sum(s * (1 - s)) / count**2`` is the variance that gap
        has when the scores are calibrated (``gap**2 - var`` estimates the squared
        miscalibration without bias). It stays small for a calibrated model (about 0.013 on
        400 labels, 0.001 on 40,000, where the raw ECE is 0.03 and 0.003) and near the
        large-sample ECE for a miscalibrated one. ``bins``: one entry per non-empty bin with
        ``lower``, ``upper``, ``count``,
        ``mean_score``, ``observed_rate`` (the share of outcomes that are 1) and
        ``observed_low`` / ``observed_high`` (its 95 % Wilson interval: a mean score outside
        it is a miscalibration that the bin's count alone hardly explains). ``brier`` and the
        ECE figures are ``nan`` without outcomes.

    Raises
    ------
    ValueError
        If the two arrays differ in length, ``n_bins`` is below 1, or a score lies outside
        [0, 1].
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    if y_true.shape != score.shape:
        raise ValueError(f"reliability: {len(y_true)} outcomes but {len(score)} scores")
    if n_bins < 1:
        raise ValueError(f"reliability: n_bins must be at least 1, not {n_bins}")
    if len(score) and (np.isnan(score).any() or score.min() < 0.0 or score.max() > 1.0):
        raise ValueError("reliability: scores must be probabilities in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.minimum((score * n_bins).astype(np.int64), n_bins - 1)
    bins = []
    ece = debiased = 0.0
    for b in np.unique(which):
        inside = which == b
        mean_score, observed = float(score[inside].mean()), float(y_true[inside].mean())
        ece += inside.sum() * abs(mean_score - observed)
        noise = float(np.sum(score[inside] * (1.0 - score[inside]))) / inside.sum() ** 2
        debiased += inside.sum() * np.sqrt(max(0.0, (mean_score - observed) ** 2 - noise))
        low, high = wilson_interval(observed, int(inside.sum()))
        bins.append({"lower": float(edges[b]), "upper": float(edges[b + 1]),
                     "count": int(inside.sum()), "mean_score": mean_score,
                     "observed_rate": observed, "observed_low": low, "observed_high": high})
    count = len(score)
    noise, noise_high = ece_under_calibration(score, n_bins)
    return {
        "count": count,
        "brier": float(np.mean((score - y_true) ** 2)) if count else float("nan"),
        "ece": float(ece / count) if count else float("nan"),
        "ece_debiased": float(debiased / count) if count else float("nan"),
        "ece_noise": noise,
        "ece_noise_high": noise_high,
        "bins": bins,
    }


NOISE_DRAWS = 1000
"""Label sets drawn by :func:`ece_under_calibration`."""

_EXACT_BIN = 1000
"""Bins up to this many scores draw every label; larger ones draw the bin's positive count from
the normal law with its mean and variance (its error is far below the ECE's own spread)."""


def ece_under_calibration(
    score: np.ndarray, n_bins: int = 10, draws: int = NOISE_DRAWS, seed: int = 0,
) -> tuple[float, float]:
    """The ECE a perfectly calibrated model would show on these scores by chance.

    Labels are drawn as ``Bernoulli(score)`` (exactly what calibration means) ``draws`` times
    with a fixed ``seed``, and each draw's ECE is measured with the bins of :func:`reliability`.
    The noise shrinks as ``1 / sqrt(count)``: its mean is about 0.03 on 400 labels and 0.003 on
    40,000 for typical fraud scores. An observed ECE near it is no evidence of miscalibration.

    Parameters
    ----------
    score
        Probabilities in [0, 1] (checked by :func:`reliability`).
    n_bins
        Equal-width bins over [0, 1], as in :func:`reliability`.
    draws, seed
        Label sets drawn and the random generator's seed: the result is deterministic.

    Returns
    -------
    tuple of float
        The mean and the 95th percentile of the drawn ECEs (``nan`` for no scores).
    """
    score = np.asarray(score, dtype=np.float64)
    if not len(score):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    which = np.minimum((score * n_bins).astype(np.int64), n_bins - 1)
    gaps = np.zeros(draws)
    for b in np.unique(which):
        inside = score[which == b]
        if len(inside) <= _EXACT_BIN:
            positives = (rng.random((draws, len(inside))) < inside).sum(axis=1)
        else:
            spread = float(np.sqrt(np.sum(inside * (1.0 - inside))))
            positives = rng.normal(inside.sum(), spread, draws)
        gaps += np.abs(positives - inside.sum())
    drawn = gaps / len(score)
    return float(drawn.mean()), float(np.quantile(drawn, 0.95))


def wilson_interval(rate: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``rate`` observed on ``count`` trials.

    ``z`` = 1.96 gives 95 %; ``(0.0, 1.0)`` when ``count`` is 0.
    """
    if count <= 0:
        return 0.0, 1.0
    denominator = 1.0 + z * z / count
    centre = (rate + z * z / (2 * count)) / denominator
    half = z * np.sqrt(rate * (1.0 - rate) / count + z * z / (4 * count * count)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


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
