"""The report stage: the run's results -> ``report.html``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from abusenet.pipeline.stages.files import REPORT


def report_stage(
    out: Path,
    *,
    run_facts: dict[str, Any],
    ingest: dict[str, Any],
    graph: dict[str, dict[str, int]],
    stages: list[tuple[str, float, bool]],
    snapshot_dir: Path,
    account_scores_path: Path,
    entity_scores_path: Path,
    rings_path: Path,
    evaluation_labels: Path | None = None,
    metrics_path: Path | None = None,
    explanations_path: Path | None = None,
    neo4j: dict[str, str] | None = None,
    top_rings: int = 10,
    top_entities: int = 20,
    title: str | None = None,
    drift: dict[str, Any] | None = None,
    event_scores_path: Path | None = None,
    event_risk: dict[str, Any] | None = None,
    entity_risk: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Gather the run's results and write ``out/report.html``.

    ``explanations_path`` is :func:`~abusenet.pipeline.stages.detect.explain_stage`'s table,
    shown under each ring it covers. ``title`` defaults to
    :func:`abusenet.report.report_title` of the run facts' ``inputs`` and ``graph`` (or, without
    a graph, the name of the ``output directory``). ``drift`` is the drift stage's report (a
    run with a saved model). ``event_scores_path`` (``event_scores.parquet``), ``event_risk``
    and ``entity_risk`` (the events and entities stages' facts) fill the event and entity risk
    sections.
    """
    from abusenet.report import ReportData, build_report, report_title, ring_subgraph
    from graph.snapshot import read_snapshot

    accounts = pd.read_parquet(account_scores_path)
    rings = pd.read_parquet(rings_path)
    snapshot = read_snapshot(snapshot_dir, node_types=[])
    drawn = rings.head(top_rings)
    subgraphs = {
        ring.ring_id: ring_subgraph(snapshot.edges, snapshot.relations, list(ring.members))
        for ring in drawn.itertuples(index=False)
    }
    evaluation = None
    if evaluation_labels is not None and evaluation_labels.is_file():
        evaluation = pd.read_parquet(evaluation_labels, columns=["account_id", "label"]).merge(
            accounts[["account_id", "score"]], on="account_id", how="left")
        evaluation["score"] = evaluation["score"].fillna(0.0)
    metrics = None
    if metrics_path is not None and metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
    explanations = None
    if explanations_path is not None and explanations_path.is_file():
        explanations = pd.read_parquet(explanations_path)
    if title is None:
        output = run_facts.get("output directory")
        title = report_title(run_facts.get("inputs") or [], graph=run_facts.get("graph"),
                             run=Path(output).name if output else None)
    data = ReportData(
        title=title, run=run_facts, ingest=ingest, graph=graph, stages=stages,
        account_scores=accounts, entity_scores=pd.read_parquet(entity_scores_path),
        rings=rings, subgraphs=subgraphs, evaluation=evaluation, metrics=metrics,
        explanations=explanations, neo4j=neo4j, top_rings=top_rings, top_entities=top_entities,
        drift=drift,
        event_scores=(pd.read_parquet(event_scores_path)
                      if event_scores_path is not None and event_scores_path.is_file() else None),
        event_risk=event_risk, entity_risk=entity_risk,
    )
    path = build_report(data, out / REPORT)
    return {"bytes": path.stat().st_size, "rings_drawn": len(subgraphs)}
