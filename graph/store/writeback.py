"""Write a detection run's results into the graph: scores on nodes, rings with their members.

Everything happens inside one named graph (:mod:`graph.store.graphs`): scores go to that graph's
nodes, rings and ``MEMBER_OF`` carry its name, and the clean-up of step 3 touches nothing outside
it. A run is identified by ``(model_version, scored_at)``. Writing a run

1. sets ``risk_score``, ``model_version`` and ``scored_at`` on every scored account and entity,
   and ``risk_method`` (``supervised`` | ``pooled``, see :mod:`gnn.entity_scores`) on entities;
2. upserts one ``(:Ring {graph, id, score, size, kind, evidence, detected_at, model_version})``
   per ring, with its sub-scores (:data:`RING_SUBSCORES`) where the rings table has them
   and replaces its ``(:Account)-[:MEMBER_OF]->(:Ring)`` edges, ring batch by ring batch, each
   batch in one transaction;
3. then removes what earlier runs left: score properties on nodes this run did not score, and
   rings this run did not detect.

The graph has no event nodes: :func:`write_event_risk` puts each event's score on the aggregated
relationships the event belongs to (``(:Account)-[:USED_TERMINAL]->(:Terminal)`` for an event
of that account at that terminal, and likewise for its device, IP and card):
``max_event_risk`` (the highest score of those events), ``risky_events`` (how many scored at
least ``threshold``) and ``event_risk_at`` (when), clearing them from relationships of the graph
the run did not score.

So investigators always see exactly one run, never a pile of them, and between steps 2 and 3 they
see the new results plus old ones about to go, never none. Every step is idempotent: writing the
same run again changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from graph.snapshot import ACCOUNT
from graph.store.graphs import DEFAULT_GRAPH, LOAD_RUN, graph_name
from graph.store.names import RING, UnsafeNameError, node_label
from graph.store.runner import QueryRunner
from graph.store.schema import ensure_schema

BATCH_SIZE = 10_000

_SET_SCORES = (
    "UNWIND $rows AS row MATCH (n:`{label}` {{graph: $graph, id: row.id}}) "
    "SET n.risk_score = row.score, n.risk_method = row.method, n.model_version = $model_version, "
    "n.scored_at = $scored_at "
    "RETURN count(*) AS written"
)
_CLEAR_STALE_SCORES = (
    "MATCH (n:`{label}`) WHERE n.risk_score IS NOT NULL AND n.graph = $graph "
    "AND (n.model_version IS NULL OR n.model_version <> $model_version "
    "OR n.scored_at IS NULL OR n.scored_at <> $scored_at) "
    "WITH n LIMIT $limit REMOVE n.risk_score, n.risk_method, n.model_version, n.scored_at "
    "RETURN count(*) AS cleared"
)
_UPSERT_RINGS = (
    "UNWIND $rings AS ring MERGE (r:Ring {graph: $graph, id: ring.id}) "
    "SET r.score = ring.score, r.size = ring.size, r.kind = ring.kind, r.evidence = ring.evidence, "
    "r.surprise = ring.surprise, r.significant = ring.significant, r.density = ring.density, "
    "r.structure_score = ring.structure_score, r.member_score = ring.member_score, "
    "r.detected_at = $scored_at, r.model_version = $model_version "
    "WITH r CALL (r) { MATCH (r)<-[m:MEMBER_OF]-() DELETE m } "
    "RETURN count(*) AS written"
)
_ADD_MEMBERS = (
    "UNWIND $members AS row MATCH (a:Account {graph: $graph, id: row.account}) "
    "MATCH (r:Ring {graph: $graph, id: row.ring}) "
    "MERGE (a)-[m:MEMBER_OF]->(r) SET m.graph = $graph RETURN count(*) AS written"
)
_DROP_EMPTY_RINGS = (
    "UNWIND $rings AS ring MATCH (r:Ring {graph: $graph, id: ring.id}) "
    "WHERE NOT EXISTS { ()-[:MEMBER_OF]->(r) } DETACH DELETE r RETURN count(*) AS dropped"
)
_REMOVE_STALE_RINGS = (
    "MATCH (r:Ring {graph: $graph}) WHERE r.model_version IS NULL "
    "OR r.model_version <> $model_version OR r.detected_at IS NULL OR r.detected_at <> $scored_at "
    "WITH r LIMIT $limit DETACH DELETE r RETURN count(*) AS removed"
)


@dataclass
class WritebackSummary:
    """What :func:`write_scores` did.

    ``missing_accounts`` / ``missing_entities`` count scores whose node is not in the graph (they
    were skipped); ``missing_members`` counts ring members not in the graph, and
    ``empty_rings_dropped`` rings none of whose members is (not written).
    """

    accounts_scored: int = 0
    entities_scored: int = 0
    missing_accounts: int = 0
    missing_entities: int = 0
    rings_written: int = 0
    memberships_written: int = 0
    missing_members: int = 0
    empty_rings_dropped: int = 0
    stale_scores_cleared: int = 0
    stale_rings_removed: int = 0
    seconds: float = 0.0


def write_scores(
    store: QueryRunner,
    account_scores_df: pd.DataFrame,
    entity_scores_df: pd.DataFrame | None,
    rings_df: pd.DataFrame | None,
    *,
    graph: str = DEFAULT_GRAPH,
    model_version: str,
    scored_at: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> WritebackSummary:
    """Write one detection run into graph ``graph``, replacing the results of earlier runs there.

    Parameters
    ----------
    store
        The store (:func:`graph.store.connect`) or any :class:`~graph.store.QueryRunner`.
    account_scores_df
        ``account_id``, ``score`` (the run's ``account_scores.parquet``).
    entity_scores_df
        ``node_type``, ``entity_id``, ``score`` and optionally ``method`` (stored as
        ``risk_method``), or ``None``.
    rings_df
        ``ring_id``, ``score``, ``size``, ``members`` (list of account ids), optionally
        ``evidence`` (list of ``type:id``) and ``kind``; or ``None`` for no rings.
    graph
        The graph the scores belong to (the one the run loaded); no other graph changes.
    model_version
        The model that produced the scores.
    scored_at
        When the run scored (timezone-aware; default: now, UTC). Stored as ``scored_at`` and
        as the rings' ``detected_at``.
    batch_size
        Rows per write transaction.

    Returns
    -------
    WritebackSummary
        Counts of what was written, skipped and removed.
    """
    if not model_version:
        raise ValueError("model_version must be a non-empty string")
    scored_at = scored_at or datetime.now(UTC)
    if scored_at.tzinfo is None:
        raise ValueError("scored_at must be timezone-aware (e.g. datetime.now(timezone.utc))")
    start = time.perf_counter()
    run = {"graph": graph_name(graph), "model_version": model_version, "scored_at": scored_at}
    summary = WritebackSummary()
    by_label = {ACCOUNT: _score_rows(account_scores_df, "account_id")}
    if entity_scores_df is not None and not entity_scores_df.empty:
        for node_type, group in entity_scores_df.groupby("node_type", sort=True):
            by_label[node_label(str(node_type))] = _score_rows(group, "entity_id")
    ensure_schema(store, list(by_label))
    for label, rows in by_label.items():
        written = 0
        for batch in _batches(rows, batch_size):
            query = _SET_SCORES.format(label=label)
            written += int(store.write([(query, {"rows": batch, **run})])[0].single("written"))
        if label == ACCOUNT:
            summary.accounts_scored, summary.missing_accounts = written, len(rows) - written
        else:
            summary.entities_scored += written
            summary.missing_entities += len(rows) - written
    if rings_df is not None:
        _write_rings(store, rings_df, run, batch_size, summary)
    for label in _scorable_labels(store):
        summary.stale_scores_cleared += _repeat(
            store, _CLEAR_STALE_SCORES.format(label=label), run, batch_size, "cleared"
        )
    summary.stale_rings_removed = _repeat(store, _REMOVE_STALE_RINGS, run, batch_size, "removed")
    summary.seconds = time.perf_counter() - start
    return summary


#: Default score from which an event counts in ``risky_events``.
RISKY_EVENT_THRESHOLD = 0.5

_SET_EVENT_RISK = (
    "UNWIND $rows AS row MATCH (:Account {{graph: $graph, id: row.account}})"
    "-[r:`{rel}`]->(:`{label}` {{graph: $graph, id: row.entity}}) "
    "SET r.max_event_risk = row.max_risk, r.risky_events = row.risky, "
    "r.event_risk_at = $scored_at RETURN count(r) AS written"
)
_CLEAR_STALE_EVENT_RISK = (
    "MATCH ()-[r:`{rel}`]->() WHERE r.graph = $graph AND r.max_event_risk IS NOT NULL "
    "AND (r.event_risk_at IS NULL OR r.event_risk_at <> $scored_at) "
    "WITH r LIMIT $limit REMOVE r.max_event_risk, r.risky_events, r.event_risk_at "
    "RETURN count(*) AS cleared"
)


@dataclass
class EventRiskSummary:
    """What :func:`write_event_risk` did: relationships given event risk, pairs whose
    relationship is not in the graph (skipped), stale ones cleared."""

    relationships_written: int = 0
    missing_relationships: int = 0
    stale_cleared: int = 0


def write_event_risk(
    store: QueryRunner,
    event_scores_df: pd.DataFrame,
    relations: dict[str, tuple[str, str]],
    *,
    graph: str = DEFAULT_GRAPH,
    scored_at: datetime | None = None,
    threshold: float = RISKY_EVENT_THRESHOLD,
    batch_size: int = BATCH_SIZE,
) -> EventRiskSummary:
    """Put event scores on the account-to-entity relationships the events belong to.

    Parameters
    ----------
    store
        The store or any :class:`~graph.store.QueryRunner`.
    event_scores_df
        ``account_id``, ``score`` and the entity columns (``event_scores.parquet``).
    relations
        Entity column -> ``(relationship type, entity label)``, e.g.
        ``{"terminal_id": ("USED_TERMINAL", "Terminal")}``; columns absent from the scores are
        skipped.
    graph
        The graph written (no other changes).
    scored_at
        When the run scored (default now, UTC): ``event_risk_at``; relationships of
        ``relations`` types in ``graph`` with another ``event_risk_at`` lose their event risk.
    threshold
        Score from which an event counts in ``risky_events``.
    batch_size
        Rows per write transaction.
    """
    scored_at = scored_at or datetime.now(UTC)
    run = {"graph": graph_name(graph), "scored_at": scored_at}
    summary = EventRiskSummary()
    for column, (rel, label) in relations.items():
        query = _SET_EVENT_RISK.format(rel=node_label(rel), label=node_label(label))
        if column in event_scores_df.columns:
            rows = _pair_risk(event_scores_df, column, threshold)
            for batch in _batches(rows, batch_size):
                written = int(store.write([(query, {"rows": batch, **run})])[0].single("written"))
                summary.relationships_written += written
                summary.missing_relationships += len(batch) - written
        summary.stale_cleared += _repeat(
            store, _CLEAR_STALE_EVENT_RISK.format(rel=node_label(rel)), run, batch_size,
            "cleared")
    return summary


def _pair_risk(scores: pd.DataFrame, column: str, threshold: float) -> list[dict[str, object]]:
    """One row per (account, entity) pair of ``column``: the highest score, the risky count."""
    frame = scores.loc[scores[column].notna(), ["account_id", column, "score"]]
    frame = frame.assign(risky=(frame["score"] >= threshold).astype(np.int64))
    pairs = frame.groupby(["account_id", column], sort=True).agg(
        max_risk=("score", "max"), risky=("risky", "sum")).reset_index()
    return [{"account": str(a), "entity": str(e), "max_risk": float(m), "risky": int(r)}
            for a, e, m, r in pairs.itertuples(index=False, name=None)]


def _score_rows(frame: pd.DataFrame, id_column: str) -> list[dict[str, object]]:
    scores = pd.to_numeric(frame["score"], errors="coerce")
    known = scores.notna().to_numpy()
    ids = frame[id_column].astype(str).to_numpy()[known]
    methods = (frame["method"].astype(str).to_numpy()[known] if "method" in frame.columns
               else [None] * len(ids))
    return [{"id": i, "score": float(s), "method": m}
            for i, s, m in zip(ids, scores.to_numpy()[known], methods, strict=True)]


#: The sub-scores of a ring an investigator needs beside its score (``rings.parquet`` columns,
#: each optional): null-model surprise and significance, density, structure and member scores.
RING_SUBSCORES = ("surprise", "significant", "density", "structure_score", "member_score")


def _number(value: object) -> float | None:
    """A finite float, or ``None`` (the property is then left unset)."""
    if value is None or pd.isna(value):
        return None
    return float(value)


def _write_rings(
    store: QueryRunner, rings_df: pd.DataFrame, run: dict[str, object], batch_size: int,
    summary: WritebackSummary,
) -> None:
    rings, members = [], []
    for ring in rings_df.itertuples(index=False):
        ring_members = [str(m) for m in _as_list(ring.members)]
        rings.append({
            "id": str(ring.ring_id),
            "score": float(ring.score),
            "size": int(ring.size),
            "kind": None if pd.isna(getattr(ring, "kind", None)) else str(ring.kind),
            "evidence": [str(e) for e in _as_list(getattr(ring, "evidence", None))],
            **{name: _number(getattr(ring, name, None)) for name in RING_SUBSCORES},
        })
        members.append([{"account": m, "ring": str(ring.ring_id)} for m in ring_members])
    batch_rings: list[dict[str, object]] = []
    batch_members: list[dict[str, str]] = []
    for ring, ring_members in zip(rings, members, strict=True):
        batch_rings.append(ring)
        batch_members.extend(ring_members)
        if len(batch_rings) + len(batch_members) >= batch_size:
            _flush_rings(store, batch_rings, batch_members, run, summary)
            batch_rings, batch_members = [], []
    if batch_rings:
        _flush_rings(store, batch_rings, batch_members, run, summary)


def _flush_rings(
    store: QueryRunner, rings: list[dict[str, object]], members: list[dict[str, str]],
    run: dict[str, object], summary: WritebackSummary,
) -> None:
    # One transaction per batch: a ring is never seen without its members, and a ring none of
    # whose members is in the graph is not written at all.
    upserted, added, dropped = store.write([
        (_UPSERT_RINGS, {"rings": rings, **run}),
        (_ADD_MEMBERS, {"members": members, "graph": run["graph"]}),
        (_DROP_EMPTY_RINGS, {"rings": rings, "graph": run["graph"]}),
    ])
    empty = int(dropped.single("dropped") or 0)
    summary.rings_written += len(rings) - empty
    summary.empty_rings_dropped += empty
    written = int(added.single("written") or 0)
    summary.memberships_written += written
    summary.missing_members += len(members) - written


def _scorable_labels(store: QueryRunner) -> list[str]:
    """Labels in the database that can carry scores (never ``Ring`` or ``LoadRun``; only safe
    names)."""
    labels = []
    for name in store.read("CALL db.labels() YIELD label RETURN label").column("label"):
        try:
            labels.append(node_label(name))
        except UnsafeNameError:
            continue  # not written by abusenet: it never scored such a node
    return [x for x in labels if x not in (RING, LOAD_RUN)]


def _repeat(store: QueryRunner, query: str, run: dict[str, object], limit: int,
            column: str) -> int:
    """Run a ``... LIMIT $limit`` clean-up until it finds nothing more."""
    total = 0
    while True:
        done = int(store.write([(query, {**run, "limit": limit})])[0].single(column) or 0)
        total += done
        if done < limit:
            return total


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, float) and np.isnan(value):
        return []
    return [value]


def _batches(rows: list[dict[str, object]], size: int) -> Iterator[list[dict[str, object]]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]
