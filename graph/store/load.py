"""Load a graph snapshot into Neo4j through the driver, writing only what changed.

The store keeps a ``content_hash`` on every node and relationship it loads. A load reads those
hashes back, compares them with the snapshot's, and then, in managed write transactions of
``batch_size`` rows (``UNWIND $rows ... MERGE``, idempotent, retried by the driver):

1. upserts the changed or new nodes, label by label;
2. upserts the changed or new relationships, one batch at a time, sorted by endpoints;
3. deletes the relationships, then the nodes, that the store loaded before but the snapshot no
   longer holds (``prune``).

Loading the same snapshot twice writes nothing the second time. A load cut off half way (the
server stopped, the process killed) is finished by running it again: committed batches carry
their hashes and are skipped, the rest is written, and the result equals a clean load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from graph.snapshot import Snapshot, read_snapshot
from graph.store.names import property_key
from graph.store.runner import QueryRunner
from graph.store.schema import ensure_schema
from graph.store.tables import (
    HASH,
    NodeTable,
    RelTable,
    node_tables,
    property_rows,
    rel_tables,
    temporal_columns,
)

#: Rows per write transaction.
BATCH_SIZE = 10_000
#: ``mode="auto"`` bulk-imports a first load of at least this many relationships.
BULK_MIN_RELATIONSHIPS = 1_000_000
MODES = ("auto", "driver", "bulk")


@dataclass
class LoadSummary:
    """What a load did.

    ``written`` and ``deleted`` count rows per label / relationship type; ``unchanged`` counts
    rows already in the store with the same content. ``seconds`` is the wall time of the load,
    ``phases`` splits it (driver: ``compare``, ``nodes``, ``relationships``, ``prune``; bulk:
    ``files``, ``import``, ``restart``, ``schema``).
    """

    mode: str
    written: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    relationship_types: tuple[str, ...] = ()
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def add_time(self, phase: str, since: float) -> float:
        """Add the time from ``since`` (a ``perf_counter`` value) to ``phase``; returns now."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - since
        return now

    @property
    def relationships_written(self) -> int:
        """Relationships created or updated."""
        return sum(self.written.get(t, 0) for t in self.relationship_types)

    @property
    def nodes_written(self) -> int:
        """Nodes created or updated."""
        return sum(n for k, n in self.written.items() if k not in self.relationship_types)

    @property
    def total_written(self) -> int:
        """Nodes and relationships created or updated."""
        return sum(self.written.values())


def load_snapshot(
    store: QueryRunner,
    snapshot_dir: str | os.PathLike[str] | Snapshot,
    *,
    mode: str = "auto",
    progress: bool = True,
    batch_size: int = BATCH_SIZE,
    prune: bool = True,
) -> LoadSummary:
    """Load a snapshot into the store, idempotently and incrementally.

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
    if mode == "bulk":
        from graph.store.bulk import bulk_load

        return bulk_load(store, snapshot, progress=progress)
    return driver_load(store, snapshot, progress=progress, batch_size=batch_size, prune=prune)


def driver_load(
    runner: QueryRunner, snapshot: Snapshot, *, progress: bool = True,
    batch_size: int = BATCH_SIZE, prune: bool = True,
) -> LoadSummary:
    """The driver path of :func:`load_snapshot` (see the module docstring)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    start = time.perf_counter()
    nodes, rels = node_tables(snapshot), rel_tables(snapshot)
    ensure_schema(runner, [t.label for t in nodes])
    summary = LoadSummary("driver", relationship_types=tuple(t.rel_type for t in rels))
    stale_nodes: dict[str, list[str]] = {}
    stale_rels: dict[str, pd.DataFrame] = {}
    clock = time.perf_counter()
    for table in nodes:
        loaded = _loaded_nodes(runner, table.label)
        changed = _changed(table.frame, loaded, ["id"])
        summary.unchanged[table.label] = len(table.frame) - len(changed)
        stale_nodes[table.label] = sorted(set(loaded["id"]) - set(table.frame["id"]))
        clock = summary.add_time("compare", clock)
        summary.written[table.label] = _write_batches(
            runner, _node_upsert(table), changed, table.properties, batch_size,
            progress, f"{table.label} nodes",
        )
        clock = summary.add_time("nodes", clock)
    for table in rels:
        loaded = _loaded_rels(runner, table)
        changed = _changed(table.frame, loaded, ["src", "dst"])
        summary.unchanged[table.rel_type] = len(table.frame) - len(changed)
        if not loaded.empty:
            keep = table.frame[["src", "dst"]].assign(_keep=True)
            gone = loaded.merge(keep, on=["src", "dst"], how="left")
            stale_rels[table.rel_type] = gone.loc[gone["_keep"].isna(), ["src", "dst"]]
        else:
            stale_rels[table.rel_type] = loaded[["src", "dst"]]
        clock = summary.add_time("compare", clock)
        # Sorted by endpoints: each batch touches neighbouring nodes, in a stable lock order.
        changed = changed.sort_values(["src", "dst"], kind="stable")
        summary.written[table.rel_type] = _write_batches(
            runner, _rel_upsert(table), changed, table.properties, batch_size,
            progress, f"{table.rel_type} relationships",
        )
        clock = summary.add_time("relationships", clock)
    if prune:
        for table in rels:
            summary.deleted[table.rel_type] = _delete_rels(
                runner, table, stale_rels[table.rel_type], batch_size
            )
        for table in nodes:
            summary.deleted[table.label] = _delete_nodes(
                runner, table.label, stale_nodes[table.label], batch_size
            )
        summary.add_time("prune", clock)
    summary.seconds = time.perf_counter() - start
    return summary


def _bulk_fits(store: QueryRunner, snapshot: Snapshot) -> bool:
    if getattr(store, "server", None) is None:
        return False
    if sum(len(t) for t in snapshot.edges.values()) < BULK_MIN_RELATIONSHIPS:
        return False
    return store.read("MATCH (n) RETURN count(n) AS n").single("n") == 0


def _node_upsert(table: NodeTable) -> str:
    return (
        f"UNWIND $rows AS row MERGE (n:`{table.label}` {{id: row.id}}) "
        f"SET {_set_properties('n', temporal_columns(table.frame, table.properties))} "
        "RETURN count(*) AS written"
    )


def _rel_upsert(table: RelTable) -> str:
    return (
        f"UNWIND $rows AS row "
        f"MATCH (a:`{table.src_label}` {{id: row.src}}) "
        f"MATCH (b:`{table.dst_label}` {{id: row.dst}}) "
        f"MERGE (a)-[r:`{table.rel_type}`]->(b) "
        f"SET {_set_properties('r', temporal_columns(table.frame, table.properties))} "
        "RETURN count(*) AS written"
    )


def _set_properties(var: str, temporal: list[str]) -> str:
    """``x += row.props`` plus one ``DateTime`` per timestamp column, built from ``row.t``."""
    clauses = [f"{var} += row.props"]
    for i, column in enumerate(temporal):
        clauses.append(
            f"{var}.`{property_key(column)}` = CASE WHEN row.t[{i}] IS NULL THEN null "
            f"ELSE datetime({{epochSeconds: row.t[{i}][0], nanosecond: row.t[{i}][1]}}) END"
        )
    return ", ".join(clauses)


def _loaded_nodes(runner: QueryRunner, label: str) -> pd.DataFrame:
    """``id, content_hash`` of the nodes an earlier load wrote."""
    if not runner.read(f"MATCH (n:`{label}`) RETURN count(n) AS n").single("n"):
        return pd.DataFrame({"id": pd.Series(dtype=str), "loaded_hash": pd.Series(dtype="int64")})
    rows = runner.read(
        f"MATCH (n:`{label}`) WHERE n.{HASH} IS NOT NULL "
        f"RETURN n.id AS id, n.{HASH} AS loaded_hash"
    )
    return pd.DataFrame(rows.records, columns=["id", "loaded_hash"])


def _loaded_rels(runner: QueryRunner, table: RelTable) -> pd.DataFrame:
    """``src, dst, content_hash`` of the relationships an earlier load wrote."""
    count = runner.read(f"MATCH ()-[r:`{table.rel_type}`]->() RETURN count(r) AS n").single("n")
    if not count:
        return pd.DataFrame({c: pd.Series(dtype=str) for c in ("src", "dst")}).assign(
            loaded_hash=pd.Series(dtype="int64")
        )
    rows = runner.read(
        f"MATCH (a:`{table.src_label}`)-[r:`{table.rel_type}`]->(b:`{table.dst_label}`) "
        f"WHERE r.{HASH} IS NOT NULL RETURN a.id AS src, b.id AS dst, r.{HASH} AS loaded_hash"
    )
    return pd.DataFrame(rows.records, columns=["src", "dst", "loaded_hash"])


def _changed(frame: pd.DataFrame, loaded: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """The rows of ``frame`` that are new or differ from what is loaded."""
    if loaded.empty:
        return frame
    merged = frame.merge(loaded, on=key, how="left")
    return frame[(merged["loaded_hash"] != merged[HASH]).to_numpy()]


def _write_batches(
    runner: QueryRunner, query: str, frame: pd.DataFrame, properties: list[str],
    batch_size: int, progress: bool, what: str,
) -> int:
    from tqdm.auto import tqdm

    keys = [c for c in ("id", "src", "dst") if c in frame.columns]
    written = 0
    with tqdm(total=len(frame), desc=what, unit="rows", disable=not progress or frame.empty) as bar:
        for chunk in _chunks(frame, batch_size):
            props, times = property_rows(chunk, properties)
            key_values = zip(*(chunk[k].tolist() for k in keys), strict=True)
            rows = [
                {**dict(zip(keys, kv, strict=True)), "props": p, "t": t}
                for kv, p, t in zip(key_values, props, times, strict=True)
            ]
            result = runner.write([(query, {"rows": rows})])
            written += int(result[0].single("written") or 0)
            bar.update(len(chunk))
    return written


def _delete_rels(
    runner: QueryRunner, table: RelTable, stale: pd.DataFrame, batch_size: int
) -> int:
    query = (
        f"UNWIND $rows AS row "
        f"MATCH (:`{table.src_label}` {{id: row.src}})-[r:`{table.rel_type}`]->"
        f"(:`{table.dst_label}` {{id: row.dst}}) "
        "DELETE r RETURN count(*) AS deleted"
    )
    deleted = 0
    for chunk in _chunks(stale, batch_size):
        rows = chunk[["src", "dst"]].to_dict("records")
        deleted += int(runner.write([(query, {"rows": rows})])[0].single("deleted") or 0)
    return deleted


def _delete_nodes(runner: QueryRunner, label: str, ids: list[str], batch_size: int) -> int:
    query = (
        f"UNWIND $ids AS id MATCH (n:`{label}` {{id: id}}) "
        "DETACH DELETE n RETURN count(*) AS deleted"
    )
    deleted = 0
    for start in range(0, len(ids), batch_size):
        batch = ids[start:start + batch_size]
        deleted += int(runner.write([(query, {"ids": batch})])[0].single("deleted") or 0)
    return deleted


def _chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]
