"""The Neo4j stages: load the graph snapshot, write scores, rings and event risk back. Both
idempotent."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from abusenet.pipeline.errors import PipelineError
from graph.store.connection import Neo4jSettings
from graph.store.load import MAX_PRUNE_FRACTION
from ingest.mapping import Mapping


def neo4j_load_stage(
    settings: Neo4jSettings, snapshot_dir: Path, *, graph: str, mode: str = "auto",
    prune: bool = False, force: bool = False, max_prune_fraction: float = MAX_PRUNE_FRACTION,
    dump_before_prune: bool = False, progress: bool = True,
) -> dict[str, Any]:
    """Load (incrementally) the snapshot into Neo4j as graph ``graph``; idempotent, so it runs
    on every run. Other graphs in the store are never read or changed.

    The local server of ``abusenet neo4j install`` (when ``settings`` name it) enables the bulk
    import. ``prune``, ``force`` and ``max_prune_fraction`` are those of
    :func:`graph.store.load.load_snapshot`. With ``prune`` and ``dump_before_prune``, the local
    server's database is dumped first into ``<server home>/backups/<graph>-<UTC time>.dump``
    (:func:`graph.store.server.backup.dump_database`; the server is stopped for it and started
    again), so a prune can be undone with ``abusenet neo4j restore``.

    Raises
    ------
    PipelineError
        When a prune is refused (it would delete more than ``max_prune_fraction``), or a dump
        before a prune is asked of a server abusenet does not manage.
    """
    from graph.store import connect, load_snapshot
    from graph.store.connection import local_server_for
    from graph.store.driver_load import PruneRefusedError

    server = local_server_for(settings)
    backup = None
    if prune and dump_before_prune:
        backup = _dump_before_prune(server, settings, graph)
    with connect(settings, server=server) as store:
        try:
            summary = load_snapshot(store, snapshot_dir, graph=graph, mode=mode,
                                    progress=progress, prune=prune, force=force,
                                    max_prune_fraction=max_prune_fraction)
        except PruneRefusedError as exc:
            raise PipelineError(str(exc)) from None
    return {
        "graph": graph,
        "mode": summary.mode,
        "written": int(summary.total_written),
        "unchanged": int(sum(summary.unchanged.values())),
        "stale": int(sum(summary.stale.values()) - sum(summary.deleted.values())),
        "deleted": int(sum(summary.deleted.values())),
        "fingerprint": summary.fingerprint,
        "seconds": round(summary.seconds, 2),
        "backup": None if backup is None else str(backup),
    }


def _dump_before_prune(server: Any, settings: Neo4jSettings, graph: str) -> Path:
    """Dump the local server's database before a prune; the dump file's path."""
    from datetime import UTC, datetime

    from graph.store.connection import redact_uri
    from graph.store.server.backup import dump_database

    if server is None:
        raise PipelineError(
            f"neo4j.dump_before_prune: {redact_uri(settings.uri)} is not the local server of "
            "`abusenet neo4j install`, so abusenet cannot dump it; back it up with your own "
            "tools and rerun with neo4j.dump_before_prune=false, or run without --prune"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = server.home / "backups" / f"{graph}-{stamp}.dump"
    return dump_database(server, target, database=settings.database).path


def writeback_stage(
    settings: Neo4jSettings,
    account_scores_path: Path,
    entity_scores_path: Path,
    rings_path: Path,
    version: str,
    *,
    graph: str,
    event_scores_path: Path | None = None,
    event_relations: dict[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Write risk scores (``risk_score``, and ``risk_method`` on entities), rings and
    memberships back to graph ``graph`` in Neo4j, and with ``event_scores_path`` the event risk
    of the account-to-entity relationships (:func:`graph.store.writeback.write_event_risk`;
    ``event_relations``: entity column -> relationship type and label,
    :func:`event_relations`). Idempotent; no other graph changes."""
    from datetime import UTC, datetime

    from graph.store import connect
    from graph.store.writeback import write_event_risk, write_scores

    scored_at = datetime.now(UTC)
    events = None
    with connect(settings) as store:
        summary = write_scores(
            store, pd.read_parquet(account_scores_path), pd.read_parquet(entity_scores_path),
            pd.read_parquet(rings_path), graph=graph, model_version=version,
            scored_at=scored_at,
        )
        if event_relations:
            scores = (pd.read_parquet(event_scores_path)
                      if event_scores_path is not None and event_scores_path.is_file()
                      else pd.DataFrame(columns=["account_id", "score"]))
            events = write_event_risk(store, scores, event_relations, graph=graph,
                                      scored_at=scored_at)
    counts = asdict(summary)
    extra = {} if events is None else {
        "relationships with event risk": events.relationships_written,
        "stale event risk cleared": events.stale_cleared,
    }
    return {**extra,
        "graph": graph,
        "accounts scored": counts["accounts_scored"],
        "entities scored": counts["entities_scored"],
        "rings": counts["rings_written"],
        "memberships": counts["memberships_written"],
        "stale rings removed": counts["stale_rings_removed"],
    }


def event_relations(mapping: Mapping) -> dict[str, tuple[str, str]]:
    """Entity column of the events -> ``(relationship type, entity label)`` of the relationship
    from an account to that entity: the built-in ones and the mapping's extra entities."""
    from graph.snapshot import RELATIONS

    relations = {column: (rel, dst) for rel, (src, dst, column) in RELATIONS.items()
                 if src != dst}
    relations.update({spec.event_column: (spec.relation, spec.node_type)
                      for spec in mapping.entities})
    return relations
