"""Everything the report shows, gathered in one place so the renderer needs no files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import pandas as pd

from abusenet.report.subgraph import RingSubgraph


@dataclass
class ReportData:
    """The report's content.

    Attributes
    ----------
    title
        Page heading.
    run
        Free key -> value facts about the run (inputs, mapping, model version, ...), shown as
        a table in this order.
    ingest
        ``rows_in``, ``accepted``, ``quarantined``, ``duplicates`` and ``reasons``.
    graph
        ``nodes`` and ``relationships``: type -> count.
    stages
        ``(title, seconds, cached)`` per stage, in run order.
    account_scores
        ``account_id``, ``score``, ``ring_id``.
    entity_scores
        ``node_type``, ``entity_id``, ``score`` and ``method`` (``supervised`` | ``pooled``; a
        table without it is all pooled).
    rings
        A :func:`gnn.rings.score_rings` table, best first.
    subgraphs
        Ring id -> its drawing's subgraph, for the rings to draw.
    evaluation
        ``account_id``, ``label``, ``score`` of the held-back labels, or ``None``.
    metrics
        ``metrics.json`` content, or ``None``.
    explanations
        ``explanations.parquet`` rows (:func:`abusenet.pipeline.stages.detect.explain_stage`: the
        riskiest members of the top rings, with their ``ring_id``), or ``None``.
    neo4j
        ``uri``, ``browser_url`` and ``query`` when the run used Neo4j, else ``None``.
    drift
        The drift stage's report (:func:`abusenet.validation.drift.compare` plus
        ``reference``) of a run with a saved model, else ``None``.
    top_rings, top_entities
        How many rings to draw and entities to list per type.
    event_scores
        ``event_scores.parquet`` (``event_id, account_id, score`` + entity columns) of a run with
        an event model, else ``None``.
    event_risk, entity_risk
        The events and entities stages' facts (``metrics``, counts, ``skipped``), else ``None``.
    """

    title: str
    run: dict[str, Any]
    ingest: dict[str, Any]
    graph: dict[str, dict[str, int]]
    stages: list[tuple[str, float, bool]]
    account_scores: pd.DataFrame
    entity_scores: pd.DataFrame
    rings: pd.DataFrame
    subgraphs: dict[str, RingSubgraph] = field(default_factory=dict)
    evaluation: pd.DataFrame | None = None
    metrics: dict[str, Any] | None = None
    explanations: pd.DataFrame | None = None
    neo4j: dict[str, str] | None = None
    drift: dict[str, Any] | None = None
    top_rings: int = 10
    top_entities: int = 20
    event_scores: pd.DataFrame | None = None
    event_risk: dict[str, Any] | None = None
    entity_risk: dict[str, Any] | None = None


def report_title(inputs: Sequence[str], *, graph: str | None = None,
                 run: str | None = None) -> str:
    """The page title: what went in, and which graph (or run) it made.

    Parameters
    ----------
    inputs
        The run's input files, directories or globs; named by their last path part, the first
        two of them and how many more.
    graph
        The name of the run's graph, when it has one.
    run
        Another name of the run (e.g. its output directory), shown when there is no graph.

    Examples
    --------
    >>> report_title(["logs/purchases.csv"], graph="purchases")
    'abusenet report: purchases.csv · graph purchases'
    >>> report_title(["a/x.csv", "b/y.csv", "c/*.csv"], run="out")
    'abusenet report: x.csv, y.csv and 1 more · run out'
    """
    names = [PurePath(str(i).rstrip("/")).name or str(i) for i in inputs]
    shown = ", ".join(names[:2]) + (f" and {len(names) - 2} more" if len(names) > 2 else "")
    title = f"abusenet report: {shown or 'no input'}"
    if graph:
        return f"{title} · graph {graph}"
    return f"{title} · run {run}" if run else title
