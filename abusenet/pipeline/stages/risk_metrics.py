"""The risk metrics stage: ``metrics.json`` with the event and entity models' measures beside the
account ones.

``metrics.json`` keeps what the evaluate stage measured on accounts (when it ran) and gains
``events`` (:func:`abusenet.pipeline.stages.events.event_metrics`) and ``entities`` (entity type
-> :func:`abusenet.pipeline.stages.entities.entity_metrics`), each left out when there is
nothing to report. Planned only with an event or entity model, so a run without one writes the
evaluate stage's file unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from abusenet.pipeline.stages.files import METRICS
from ingest.files import write_text_atomic


def risk_metrics_stage(
    account_metrics: Path | None,
    events: dict[str, Any] | None,
    entities: dict[str, Any] | None,
    out: Path,
) -> dict[str, Any]:
    """Write ``out/metrics.json``: the account metrics file (if any) plus ``events`` and
    ``entities`` from those stages' ``metrics`` (if any); return the sections written."""
    metrics: dict[str, Any] = {}
    if account_metrics is not None and account_metrics.is_file():
        metrics = json.loads(account_metrics.read_text())
    for name, info in (("events", events), ("entities", entities)):
        if info and info.get("metrics"):
            metrics[name] = info["metrics"]
    write_text_atomic(out / METRICS, json.dumps(metrics, indent=2))
    return {"sections": sorted(metrics)}
