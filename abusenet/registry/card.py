"""A registered model's card: what it is, what it was trained on, how well it did, how to use it.

The card is Markdown written from the model's ``metadata.json`` and the run's ``metrics.json``,
so it says only what the run measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: ``metrics.json`` figures the card lists, with their labels.
CARD_METRICS = (
    ("accounts.auroc", "AUROC (accounts)"),
    ("accounts.auprc", "AUPRC (accounts)"),
    ("accounts.recall_at_k", "Recall@k (k = positives)"),
    ("precision_at_0_5", "Precision at score 0.5"),
    ("recall_at_0_5", "Recall at score 0.5"),
    ("calibration.brier", "Brier score"),
    ("calibration.ece", "Expected calibration error"),
)


def model_card(
    metadata: Mapping[str, Any],
    metrics: Mapping[str, float],
    *,
    model_version: str,
    graph: str,
    abusenet_version: str,
    evaluated_on: str | None = None,
) -> str:
    """The Markdown model card of one trained detector.

    Parameters
    ----------
    metadata
        The model directory's ``metadata.json``.
    metrics
        ``metrics.json`` flattened (``accounts.auroc``, ...); empty when the run held none back.
    model_version
        The model's content hash (``gnn-...``).
    graph
        The graph it was trained on.
    abusenet_version
        The abusenet release that trained it.
    evaluated_on
        What the metrics were measured on (``metrics.json``'s ``evaluated_on``).
    """
    config = metadata.get("config", {})
    rows = [f"| {label} | {metrics[key]:.4f} |" for key, label in CARD_METRICS if key in metrics]
    quality = (
        ["| figure | value |", "|---|---|", *rows] if rows
        else ["No held-back labels: the run measured no quality figures."]
    )
    settings = [f"| `{key}` | `{value}` |" for key, value in sorted(config.items())]
    lines = [
        f"# Model card: {model_version}",
        "",
        f"- Kind: {metadata.get('kind', 'unknown')} (account risk scores in [0, 1], higher = "
        "riskier, calibrated on held-back validation labels)",
        f"- Trained on graph: `{graph}`; data fingerprint `{metadata.get('data_fingerprint')}`",
        f"- abusenet {abusenet_version}, torch {metadata.get('torch_version', 'unknown')}",
        f"- Input features: {len(metadata.get('features', []))} account features",
        "",
        "## Quality" + (f" (on {evaluated_on})" if evaluated_on else ""),
        "",
        *quality,
        "",
        "## Intended use",
        "",
        "Rank accounts of the same kind of interaction logs for review by investigators, and "
        "score the rings they form. Scores are evidence for a person to weigh, not decisions. "
        "Data whose behaviour differs from the training graph (another product, another "
        "period) can make the scores wrong without warning: check drift before relying on them.",
        "",
        "## Settings",
        "",
        "| setting | value |",
        "|---|---|",
        *settings,
        "",
        "Files: `model.pt` (a PyTorch `state_dict`, loaded with `weights_only=True`) and "
        "`metadata.json`; load with `gnn.detector.AccountDetector.load`.",
        "",
    ]
    return "\n".join(lines)
