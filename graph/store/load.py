"""Load a graph snapshot into Neo4j: the front door that picks the driver or the bulk path.

The driver path (:mod:`graph.store.driver_load`) compares the store with the snapshot and writes
only what changed, in batched transactions; it serves every load. The bulk path
(:mod:`graph.store.bulk`) runs ``neo4j-admin database import`` into an empty database of the
local server abusenet manages: an order of magnitude faster for a big first load, but it stops
the server and replaces the database. ``mode="auto"`` takes the bulk path only where it fits.

Every load goes into a named graph (:mod:`graph.store.graphs`) and never reads or changes
another graph. Stale rows of the same graph (written by an earlier load, absent from the
snapshot) stay unless a prune is asked for; a prune says what it deletes and is refused beyond
``max_prune_fraction`` of the graph unless forced.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from graph.snapshot import Snapshot, read_snapshot
from graph.store.bulk import bulk_load
from graph.store.driver_load import BATCH_SIZE, WRITERS, PruneRefusedError, driver_load
from graph.store.graphs import DEFAULT_GRAPH, graph_name
from graph.store.load_summary import LoadSummary
from graph.store.runner import QueryRunner

#: ``mode="auto"`` bulk-imports a first load of at least this many relationships.
BULK_MIN_RELATIONSHIPS = 1_000_000
MODES = ("auto", "driver", "bulk")
#: The largest share of a graph (nodes and relationships) a prune deletes without ``force``.
MAX_PRUNE_FRACTION = 0.2

__all__ = ["BULK_MIN_RELATIONSHIPS", "MAX_PRUNE_FRACTION", "MODES", "PruneRefusedError",
           "load_snapshot"]

logger = logging.getLogger(__name__)


def load_snapshot(
    store: QueryRunner,
    snapshot_dir: str | os.PathLike[str] | Snapshot,
    *,
    graph: str = DEFAULT_GRAPH,
    mode: str = "auto",
    progress: bool = True,
    batch_size: int = BATCH_SIZE,
    prune: bool = False,
    force: bool = False,
    max_prune_fraction: float = MAX_PRUNE_FRACTION,
    writers: int = WRITERS,
) -> LoadSummary:
    """Load a snapshot into graph ``graph`` of the store, idempotently and incrementally.

    Loading the same snapshot twice writes nothing the second time. A load cut off half way
    (the server stopped, the process killed) is finished by running it again.

    Parameters
    ----------
    store
        The store (:func:`graph.store.connect`) or any :class:`QueryRunner`.
    snapshot_dir
        A snapshot directory, or a :class:`~graph.snapshot.Snapshot` already in memory.
    graph
        The graph's name (:func:`graph.store.graphs.graph_name`); other graphs are untouched.
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
        Delete the graph's nodes and relationships that an earlier load wrote but the snapshot
        lacks (logged as a warning first). Without it they stay, counted in ``stale``.
    force
        Prune even more than ``max_prune_fraction`` of the graph.
    max_prune_fraction
        The largest share of the graph's nodes and relationships a prune deletes unless forced.
    writers
        Batches written at once, each in its own transaction (driver path). Concurrent
        relationship batches may deadlock on a shared node; the server detects it and the
        driver retries the batch (as ``MERGE``), so the result is the same.

    Returns
    -------
    LoadSummary
        Rows written, unchanged, stale and deleted per label and relationship type.

    Raises
    ------
    PruneRefusedError
        When a prune would exceed ``max_prune_fraction`` without ``force`` (the load itself
        finished; nothing was deleted).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if not 0.0 <= max_prune_fraction <= 1.0:
        raise ValueError(f"max_prune_fraction must lie in [0, 1], not {max_prune_fraction}")
    graph_name(graph)
    snapshot = (
        snapshot_dir if isinstance(snapshot_dir, Snapshot) else read_snapshot(Path(snapshot_dir))
    )
    if mode == "auto":
        mode = "bulk" if _bulk_fits(store, snapshot) else "driver"
    logger.info("loading a snapshot as graph %r into %r through the %s path", graph, store, mode)
    if mode == "bulk":
        summary = bulk_load(store, snapshot, graph=graph, progress=progress)
    else:
        summary = driver_load(store, snapshot, graph=graph, progress=progress,
                              batch_size=batch_size, prune=prune,
                              prune_limit=None if force else max_prune_fraction, writers=writers)
    logger.info(
        "%s load of graph %r: %d written, %d unchanged, %d deleted in %.1f s (%s)", summary.mode,
        graph, summary.total_written, sum(summary.unchanged.values()),
        sum(summary.deleted.values()), summary.seconds,
        ", ".join(f"{k} {v:.1f} s" for k, v in summary.phases.items()),
    )
    stale = sum(summary.stale.values()) - sum(summary.deleted.values())
    if stale:
        logger.info("graph %r keeps %d stale nodes and relationships an earlier load wrote "
                    "(prune to delete them)", graph, stale)
    return summary


def _bulk_fits(store: QueryRunner, snapshot: Snapshot) -> bool:
    """Whether ``auto`` takes the bulk path: a local server, enough relationships, no nodes."""
    if getattr(store, "server", None) is None:
        return False
    if sum(len(t) for t in snapshot.edges.values()) < BULK_MIN_RELATIONSHIPS:
        return False
    return store.read("MATCH (n) RETURN count(n) AS n").single("n") == 0
