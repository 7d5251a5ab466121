"""The Neo4j stages: load the graph snapshot, write scores and rings back. Both idempotent."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from graph.store.connection import Neo4jSettings


def neo4j_load_stage(
    settings: Neo4jSettings, snapshot_dir: Path, *, mode: str = "auto", progress: bool = True
) -> dict[str, Any]:
    """Load (incrementally) the snapshot into Neo4j; idempotent, so it runs on every run.

    The local server of ``abusenet neo4j install`` (when ``settings`` name it) enables the bulk
    import."""
    from graph.store import connect, load_snapshot
    from graph.store.connection import local_server_for

    with connect(settings, server=local_server_for(settings)) as store:
        summary = load_snapshot(store, snapshot_dir, mode=mode, progress=progress)
    return {
        "mode": summary.mode,
        "written": int(summary.total_written),
        "unchanged": int(sum(summary.unchanged.values())),
        "deleted": int(sum(summary.deleted.values())),
        "seconds": round(summary.seconds, 2),
    }


def writeback_stage(
    settings: Neo4jSettings,
    account_scores_path: Path,
    entity_scores_path: Path,
    rings_path: Path,
    version: str,
) -> dict[str, Any]:
    """Write risk scores, rings and memberships back to Neo4j (idempotent)."""
    from graph.store import connect
    from graph.store.writeback import write_scores

    with connect(settings) as store:
        summary = write_scores(
            store, pd.read_parquet(account_scores_path), pd.read_parquet(entity_scores_path),
            pd.read_parquet(rings_path), model_version=version,
        )
    counts = asdict(summary)
    return {
        "accounts scored": counts["accounts_scored"],
        "entities scored": counts["entities_scored"],
        "rings": counts["rings_written"],
        "memberships": counts["memberships_written"],
        "stale rings removed": counts["stale_rings_removed"],
    }
