"""Load a graph snapshot into Neo4j: the front door that picks the driver or the bulk path.

The driver path (:mod:`graph.store.driver_load`) compares the store with the snapshot and writes
only what changed, in batched transactions; it serves every load. The bulk path
(:mod:`graph.store.bulk`) runs ``neo4j-admin database import`` into an empty database of the
local server abusenet manages: an order of magnitude faster for a big first load, but it stops
the server and replaces the database. ``mode="auto"`` takes the bulk path only where it fits.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from graph.snapshot import Snapshot, read_snapshot
from graph.store.bulk import bulk_load
from graph.store.driver_load import BATCH_SIZE, WRITERS, driver_load
from graph.store.load_summary import LoadSummary
from graph.store.runner import QueryRunner

#: ``mode="auto"`` bulk-imports a first load of at least this many relationships.
BULK_MIN_RELATIONSHIPS = 1_000_000
MODES = ("auto", "driver", "bulk")

logger = logging.getLogger(__name__)


def load_snapshot(
    store: QueryRunner,
    snapshot_dir: str | os.PathLike[str] | Snapshot,
    *,
    mode: str = "auto",
    progress: bool = True,
    batch_size: int = BATCH_SIZE,
    prune: bool = True,
    writers: int = WRITERS,
) -> LoadSummary:
    """Load a snapshot into the store, idempotently and incrementally.

    Loading the same snapshot twice writes nothing the second time. A load cut off half way
    (the server stopped, the process killed) is finished by running it again.

    Parameters
    ----------
    store
        The store (:func:`graph.store.connect`) or any :class:`QueryRunner`.
    snapshot_dir
        A snapshot directory, or a :class:`~graph.snapshot.Snapshot` already in memory.
    mode
        ``"driver"``: batched ``MERGE`` through the driver (incremental). ``"bulk"``:
        ``neo4j-admin database import`` into an empty database of a local server (the server is
        stopped and restarted). ``"auto"``: bulk for a first load of at least
        :data:`BULK_MIN_RELATIONSHIPS` relationships when the store manages a local server,
        else driver.
    progress
        Show progress bars.
    batch_size
        Rows per write transaction (driver path).
    prune
        Delete nodes and relationships that an earlier load wrote but the snapshot lacks.
    writers
        Batches written at once, each in its own transaction (driver path). Concurrent
        relationship batches may deadlock on a shared node; the server detects it and the
        driver retries the batch (as ``MERGE``), so the result is the same.

    Returns
    -------
    LoadSummary
        Rows written, unchanged and deleted per label and relationship type.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    snapshot = (
        snapshot_dir if isinstance(snapshot_dir, Snapshot) else read_snapshot(Path(snapshot_dir))
    )
    if mode == "auto":
        mode = "bulk" if _bulk_fits(store, snapshot) else "driver"
    logger.info("loading a snapshot into %r through the %s path", store, mode)
    if mode == "bulk":
        summary = bulk_load(store, snapshot, progress=progress)
    else:
        summary = driver_load(store, snapshot, progress=progress, batch_size=batch_size,
                              prune=prune, writers=writers)
    logger.info(
        "%s load: %d written, %d unchanged, %d deleted in %.1f s (%s)", summary.mode,
        summary.total_written, sum(summary.unchanged.values()), sum(summary.deleted.values()),
        summary.seconds, ", ".join(f"{k} {v:.1f} s" for k, v in summary.phases.items()),
    )
    return summary


def _bulk_fits(store: QueryRunner, snapshot: Snapshot) -> bool:
    """Whether ``auto`` takes the bulk path: a local server, enough relationships, no nodes."""
    if getattr(store, "server", None) is None:
        return False
    if sum(len(t) for t in snapshot.edges.values()) < BULK_MIN_RELATIONSHIPS:
        return False
    return store.read("MATCH (n) RETURN count(n) AS n").single("n") == 0
