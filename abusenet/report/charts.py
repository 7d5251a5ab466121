"""The report's charts: matplotlib figures as self-contained ``data:image/svg+xml`` URIs.

Each chart is its own SVG document inside an ``<img>``, so the ids matplotlib writes can never
clash between charts, and the report stays one file that opens offline.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "abusenet", "font.size": 9})

POSITIVE, NEGATIVE, NEUTRAL = "#c0392b", "#2e86c1", "#7f8c8d"


def figure_uri(fig: plt.Figure) -> str:
    """The figure as a base64 SVG data URI; the figure is closed."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue().encode()).decode()


def score_histogram(scores: pd.Series, labelled: pd.DataFrame | None = None,
                    title: str = "Account risk scores") -> str:
    """Histogram of ``scores`` (log counts); with ``labelled`` (``label, score``) also per class."""
    fig, ax = plt.subplots(figsize=(5.2, 3.0), layout="constrained")
    bins = np.linspace(0.0, 1.0, 41)
    ax.hist(scores.to_numpy(np.float64), bins=bins, color=NEUTRAL, alpha=0.55, label="all")
    if labelled is not None and len(labelled):
        for value, colour, name in ((1, POSITIVE, "labelled abusive"),
                                    (0, NEGATIVE, "labelled legitimate")):
            part = labelled.loc[labelled["label"] == value, "score"].to_numpy(np.float64)
            if len(part):
                ax.hist(part, bins=bins, histtype="step", linewidth=1.6, color=colour, label=name)
        ax.legend(frameon=False)
    _log_counts(ax)
    ax.set_xlabel("score (higher = riskier)")
    ax.set_ylabel("accounts (log scale)")
    ax.set_title(title)
    return figure_uri(fig)


def entity_histograms(entity_scores: pd.DataFrame) -> str:
    """Score histogram per entity type, one line each (log counts)."""
    fig, ax = plt.subplots(figsize=(5.2, 3.0), layout="constrained")
    bins = np.linspace(0.0, 1.0, 41)
    for node_type, part in entity_scores.groupby("node_type"):
        ax.hist(part["score"].to_numpy(np.float64), bins=bins, histtype="step", linewidth=1.5,
                label=f"{node_type} ({len(part):,})")
    _log_counts(ax)
    ax.set_xlabel("score")
    ax.set_ylabel("entities (log scale)")
    ax.set_title("Linked-entity risk scores")
    if len(entity_scores):
        ax.legend(frameon=False)
    return figure_uri(fig)


def pr_curve(y: np.ndarray, score: np.ndarray) -> str:
    """Precision-recall curve with its average precision and the positive rate as baseline."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, score)
    fig, ax = plt.subplots(figsize=(3.6, 3.2), layout="constrained")
    ax.plot(recall, precision, color=POSITIVE, drawstyle="steps-post",
            label=f"AUPRC {average_precision_score(y, score):.3f}")
    ax.axhline(float(np.mean(y)), color=NEUTRAL, linestyle="--", linewidth=1,
               label=f"random {np.mean(y):.3f}")
    _unit_axes(ax, "recall", "precision", "Precision-recall (held-back labels)")
    return figure_uri(fig)


def roc_curve_chart(y: np.ndarray, score: np.ndarray) -> str:
    """ROC curve with its AUROC and the diagonal."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, score)
    fig, ax = plt.subplots(figsize=(3.6, 3.2), layout="constrained")
    ax.plot(fpr, tpr, color=NEGATIVE, label=f"AUROC {roc_auc_score(y, score):.3f}")
    ax.plot([0, 1], [0, 1], color=NEUTRAL, linestyle="--", linewidth=1, label="random")
    _unit_axes(ax, "false positive rate", "true positive rate", "ROC (held-back labels)")
    return figure_uri(fig)


def _log_counts(ax: plt.Axes) -> None:
    """Log-scaled counts with plain tick labels (no mathtext: much faster to draw)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _unit_axes(ax: plt.Axes, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, loc="lower right" if "ROC" in title else "upper right")


def reliability_diagram(block: dict[str, Any], title: str = "Reliability") -> str:
    """Mean score against the observed abusive share per score bin, with 95 % intervals.

    ``block`` is a :func:`gnn.evaluate.reliability` result (``bins``, ``ece``); the diagonal is
    perfect calibration and a marker's area follows its bin's count.
    """
    bins = block.get("bins") or []
    fig, ax = plt.subplots(figsize=(3.6, 3.2), layout="constrained")
    ax.plot([0, 1], [0, 1], color=NEUTRAL, linestyle="--", linewidth=1, label="calibrated")
    if bins:
        mean = np.array([b["mean_score"] for b in bins])
        observed = np.array([b["observed_rate"] for b in bins])
        low = np.array([b.get("observed_low", r) for b, r in zip(bins, observed, strict=True)])
        high = np.array([b.get("observed_high", r) for b, r in zip(bins, observed, strict=True)])
        counts = np.array([b["count"] for b in bins], dtype=np.float64)
        # an interval's bounds may lie a rounding error on the wrong side of the observed share
        errors = np.clip([observed - low, high - observed], 0.0, None)
        ax.errorbar(mean, observed, yerr=errors, fmt="none",
                    ecolor=POSITIVE, elinewidth=1, alpha=0.6)
        ax.scatter(mean, observed, s=20 + 180 * counts / counts.max(), color=POSITIVE,
                   label=f"ECE {block.get('ece') or 0:.3f}", zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean score")
    ax.set_ylabel("observed abusive share")
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper left")
    return figure_uri(fig)
