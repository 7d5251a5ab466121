"""The driver path of a load: write only what changed, in batched transactions.

The store keeps a ``content_hash`` on every node and relationship it loads. A load reads those
hashes back, compares them with the snapshot's, and then, in managed write transactions of
``batch_size`` rows (retried by the driver):

1. writes the new nodes (``CREATE``) and the changed ones (``MERGE``), label by label, and
   notes the element id of every node (read back with the hashes, or returned by the write);
2. writes the new relationships (``CREATE``) and the changed ones (``MERGE``), type by type,
   endpoints named by element id (the server reads the node record directly instead of
   seeking the unique id index), in batches sorted by endpoints (``writers`` batches
   at a time: concurrent batches hold disjoint source ranges, and a deadlock on a shared
   destination is detected by the server and the batch retried); while one type is written, a
   background thread compares, sorts and prepares the next, so the server does not wait for the
   client between types;
3. only when asked (``prune``), deletes the relationships, then the nodes, that an earlier load
   of the same graph wrote but the snapshot no longer holds, after saying what it deletes, and
   refuses when that is more than a set share of the graph.

Everything is confined to the load's graph (:mod:`graph.store.graphs`): the comparison reads only
the graph's nodes (and relationships from them), writes carry ``graph``, and a prune deletes only
from it. Other graphs in the store are never read or changed.

Rows travel as parallel lists, one per column (the statements are in :mod:`graph.store.cypher`).
``CREATE`` is safe because the comparison has
just shown the row absent, and it skips ``MERGE``'s look-up of an existing node or relationship;
a batch the driver retries runs as ``MERGE``, since the failed attempt may have committed.

Loading the same snapshot twice writes nothing the second time. A load cut off half way (the
server stopped, the process killed) is finished by running it again: committed batches carry
their hashes and are skipped, the rest is written, and the result equals a clean load.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graph.snapshot import Snapshot
from graph.store.cypher import node_delete, node_write, rel_delete, rel_write, write_params
from graph.store.graphs import COMPLETE, FAILED, fingerprint, finish_load, graph_name, start_load
from graph.store.load_summary import LoadSummary
from graph.store.runner import QueryRunner, Rows
from graph.store.schema import ensure_schema
from graph.store.tables import HASH, NodeTable, RelTable, node_tables, positions, rel_tables
from ingest.progress import ProgressDisplay, progress_display

#: Rows per write transaction.
BATCH_SIZE = 10_000
#: Write transactions in flight at once (each batch is its own transaction).
WRITERS = 2
#: Nodes one read of the comparison returns.
READ_NODES = 50_000
#: Source nodes whose relationships one read of the comparison returns.
READ_SOURCES = 10_000

logger = logging.getLogger(__name__)


def driver_load(
    runner: QueryRunner, snapshot: Snapshot, *, graph: str, progress: bool = True,
    batch_size: int = BATCH_SIZE, prune: bool = False, prune_limit: float | None = None,
    writers: int = WRITERS,
) -> LoadSummary:
    """Load ``snapshot`` into graph ``graph`` through the driver (see the module docstring).

    The parameters are those of :func:`graph.store.load.load_snapshot` (``prune_limit``: the
    largest share of the graph a prune may delete, ``None`` for no limit); returns what was
    written, left unchanged, found stale and deleted, per label and relationship type. The load
    is recorded as a ``LoadRun`` (:mod:`graph.store.graphs`).

    Raises
    ------
    PruneRefusedError
        After the load finished (everything written, nothing deleted) when pruning would delete
        more than ``prune_limit`` of the graph.
    """
    if batch_size < 1 or writers < 1:
        raise ValueError(f"batch_size and writers must be positive, not {batch_size}, {writers}")
    graph_name(graph)
    start = time.perf_counter()
    nodes = node_tables(snapshot)
    ensure_schema(runner, [t.label for t in nodes])
    run_id = start_load(runner, graph, None)
    refused = None
    try:
        summary, deletions = _load(runner, snapshot, nodes, graph, progress, batch_size, writers)
        refused = _check_prune(summary, graph, prune_limit) if prune else None
        if prune and refused is None:
            clock = time.perf_counter()
            deletions()
            summary.add_time("prune", clock)
    except BaseException:
        _record_failure(runner, run_id)
        raise
    finish_load(runner, run_id, COMPLETE, summary.fingerprint)
    if refused is not None:
        raise refused
    summary.seconds = time.perf_counter() - start
    return summary


class PruneRefusedError(RuntimeError):
    """A prune that would delete more of a graph than allowed; the message says how much."""


def _load(
    runner: QueryRunner, snapshot: Snapshot, nodes: list[NodeTable], graph: str,
    progress: bool, batch_size: int, writers: int,
) -> tuple[LoadSummary, Callable[[], None]]:
    """Write what changed; returns the summary and the deletions a prune would run."""
    summary = LoadSummary("driver", graph=graph)
    stale_nodes: dict[str, list[str]] = {}
    stale_rels: dict[str, pd.DataFrame] = {}
    element_ids: dict[str, ElementIds] = {}
    stored: dict[str, np.ndarray] = {}  # element ids of the graph's nodes before the load
    # One background thread prepares relationships (tables, then each type's comparison with
    # the store, sort and endpoint look-up) while the server writes: the client's share of a
    # load is otherwise time the server waits.
    with ThreadPoolExecutor(1) as prep, progress_display(progress) as bars:
        pending_rels = prep.submit(rel_tables, snapshot)
        clock = time.perf_counter()
        for table in nodes:
            loaded = _loaded_nodes(runner, table.label, graph)
            new, changed = _new_and_changed(table.frame, loaded, ["id"])
            summary.unchanged[table.label] = len(table.frame) - len(new) - len(changed)
            stale_nodes[table.label] = sorted(_stale(loaded, table.frame, ["id"])["id"])
            summary.stale[table.label] = len(stale_nodes[table.label])
            summary.stored[table.label] = int(loaded["loaded_hash"].notna().sum())
            clock = summary.add_time("compare", clock)
            stored[table.label] = loaded["element_id"].to_numpy(object)
            known = ElementIds(loaded["id"], loaded["element_id"])
            summary.written[table.label] = 0
            for verb, rows, what in (("CREATE", new, "new"), ("MERGE", changed, "changed")):
                for chunk, result in _write_batches(
                    runner, node_write(table, verb), node_write(table, "MERGE"), rows,
                    table.properties, graph, batch_size, bars, f"{table.label} nodes ({what})",
                    writers,
                ):
                    written = result.single("rows") or []
                    known.add(chunk["id"].to_numpy()[written], result.single("element_ids"))
                    summary.written[table.label] += len(written)
            element_ids[table.label] = known
            clock = summary.add_time("nodes", clock)
        rels = pending_rels.result()
        summary.relationship_types = tuple(t.rel_type for t in rels)
        summary.fingerprint = fingerprint(t.frame[HASH].to_numpy() for t in [*nodes, *rels])
        upcoming = [prep.submit(_prepare_rels, runner, t, element_ids, stored) for t in rels[:1]]
        for index, table in enumerate(rels):
            prepared = upcoming.pop().result()
            if index + 1 < len(rels):  # the next type is prepared while this one is written
                upcoming.append(
                    prep.submit(_prepare_rels, runner, rels[index + 1], element_ids, stored))
            summary.unchanged[table.rel_type] = prepared.unchanged
            stale_rels[table.rel_type] = prepared.stale
            summary.stale[table.rel_type] = len(prepared.stale)
            summary.stored[table.rel_type] = prepared.stored
            clock = summary.add_time("compare", clock)
            summary.written[table.rel_type] = 0
            for verb, rows, what in (("CREATE", prepared.new, "new"),
                                     ("MERGE", prepared.changed, "changed")):
                summary.written[table.rel_type] += sum(
                    int(result.single("written") or 0) for _, result in _write_batches(
                        runner, rel_write(table, verb), rel_write(table, "MERGE"), rows,
                        table.properties, graph, batch_size, bars,
                        f"{table.rel_type} relationships ({what})", writers)
                )
            clock = summary.add_time("relationships", clock)

    def deletions() -> None:
        for table in rels:
            summary.deleted[table.rel_type] = _delete_rels(
                runner, table, stale_rels[table.rel_type], graph, batch_size
            )
        for table in nodes:
            summary.deleted[table.label] = _delete_nodes(
                runner, table.label, stale_nodes[table.label], graph, batch_size
            )

    return summary, deletions


def _check_prune(
    summary: LoadSummary, graph: str, limit: float | None
) -> PruneRefusedError | None:
    """Say what a prune deletes (a warning), or return the refusal when it exceeds ``limit``."""
    stale = {k: v for k, v in summary.stale.items() if v}
    if not stale:
        return None
    total, stored = sum(stale.values()), sum(summary.stored.values())
    share = total / stored if stored else 1.0
    what = ", ".join(f"{v:,} {k}" for k, v in stale.items())
    if limit is not None and share > limit:
        return PruneRefusedError(
            f"pruning graph {graph!r} would delete {total:,} of its {stored:,} nodes and "
            f"relationships ({share:.1%}: {what}), more than the {limit:.0%} allowed; the load "
            "itself finished and nothing was deleted. If the snapshot is right, prune with "
            "--force; if it is another dataset, load it under its own --graph name"
        )
    logger.warning("pruning graph %r: deleting %s (%.1f%% of the graph), rows an earlier load "
                   "wrote that the snapshot no longer has", graph, what, 100 * share)
    return None


def _record_failure(runner: QueryRunner, run_id: str) -> None:
    """Mark the load failed, if the server still answers (a dead one leaves it ``running``)."""
    try:
        finish_load(runner, run_id, FAILED)
    except Exception:  # the original error is the one to report
        logger.debug("could not mark load %s as failed", run_id, exc_info=True)


class ElementIds:
    """The store's element id of each node of one label, by the node's ``id``.

    Filled from the nodes already in the store and those a load writes; relationship batches
    then name their endpoints by element id, which the server finds with a direct record
    look-up (``NodeByElementIdSeek``) instead of a unique-index seek.
    """

    def __init__(self, ids: pd.Series, element_ids: pd.Series) -> None:
        self._ids: list[np.ndarray] = [ids.to_numpy(object)]
        self._element_ids: list[np.ndarray] = [element_ids.to_numpy(object)]
        self._index: tuple[pa.Array, np.ndarray] | None = None

    def add(self, ids: np.ndarray, element_ids: list[str]) -> None:
        """Record the element ids of nodes just written (``ids`` in the same order)."""
        self._ids.append(np.asarray(ids, dtype=object))
        self._element_ids.append(np.asarray(element_ids, dtype=object))
        self._index = None

    def of(self, ids: pd.Series) -> np.ndarray:
        """The element ids of ``ids``; raises if a node is not known (not in the store).

        A node recorded twice (merged after it was read back) has the same element id both
        times. The look-up table is built on the first call after nodes were added.
        """
        if self._index is None:
            self._index = (pa.array(np.concatenate(self._ids), type=pa.string()),
                           np.concatenate(self._element_ids))
        keys, element_ids = self._index
        found = positions(ids, keys)
        if (found < 0).any():
            missing = ids[found < 0].iloc[0]
            raise RuntimeError(f"node {missing!r} is not in the store after the node phase")
        return element_ids[found]


@dataclass
class PreparedRels:
    """One relationship type compared with the store, ready to write.

    ``new`` and ``changed`` are sorted by endpoints (each batch touches neighbouring nodes, in a
    stable lock order) and name them by element id; ``stale`` holds the ``src, dst`` ids of
    relationships an earlier load wrote that the snapshot no longer has.
    """

    new: pd.DataFrame
    changed: pd.DataFrame
    unchanged: int
    stale: pd.DataFrame
    stored: int


def _prepare_rels(
    runner: QueryRunner, table: RelTable, element_ids: dict[str, ElementIds],
    stored: dict[str, np.ndarray],
) -> PreparedRels:
    loaded = _loaded_rels(runner, table, stored.get(table.src_label, np.array([], object)))
    new, changed = _new_and_changed(table.frame, loaded, ["src", "dst"])

    def by_element_id(rows: pd.DataFrame) -> pd.DataFrame:
        rows = rows.sort_values(["src", "dst"], kind="stable")
        return rows.assign(src=element_ids[table.src_label].of(rows["src"]),
                           dst=element_ids[table.dst_label].of(rows["dst"]))

    return PreparedRels(by_element_id(new), by_element_id(changed),
                        len(table.frame) - len(new) - len(changed),
                        _stale(loaded, table.frame, ["src", "dst"]),
                        int(loaded["loaded_hash"].notna().sum()))


def _loaded_nodes(runner: QueryRunner, label: str, graph: str) -> pd.DataFrame:
    """``id, loaded_hash, element_id`` of the graph's nodes in the store (hash null for nodes no
    load wrote).

    Read :data:`READ_NODES` at a time in ``id`` order from the ``(graph, id)`` unique index (each
    read starts after the last id of the one before), each chunk as one record of lists.
    """
    frames = [pd.DataFrame({"id": pd.Series(dtype=object),
                            "loaded_hash": pd.Series(dtype="Int64"),
                            "element_id": pd.Series(dtype=object)})]
    returns = (
        # Ordered by the whole index key, so the index gives the order (by n.id alone the
        # planner sorts every remaining node of the graph for each chunk).
        f"WITH n ORDER BY n.graph, n.id LIMIT $limit RETURN collect(n.id) AS id, "
        f"collect(coalesce(n.{HASH}, 0)) AS hash, collect(n.{HASH} IS NULL) AS unhashed, "
        "collect(elementId(n)) AS element_id"
    )
    first = f"MATCH (n:`{label}`) WHERE n.graph = $graph AND n.id >= '' {returns}"
    after = f"MATCH (n:`{label}`) WHERE n.graph = $graph AND n.id > $after {returns}"
    rows = runner.read(first, {"graph": graph, "limit": READ_NODES})
    while rows.single("id"):
        frames.append(pd.DataFrame({"id": rows.single("id"), "loaded_hash": _hashes(rows),
                                    "element_id": rows.single("element_id")}))
        rows = runner.read(after, {"graph": graph, "after": rows.single("id")[-1],
                                   "limit": READ_NODES})
    return pd.concat(frames, ignore_index=True)


def _loaded_rels(runner: QueryRunner, table: RelTable, sources: np.ndarray) -> pd.DataFrame:
    """``src, dst, loaded_hash`` of the relationships in the store (null hash: not loaded).

    ``sources`` are the element ids of the source label's nodes in the store before this load
    (a relationship can only start at one of them). They are read :data:`READ_SOURCES` at a
    time, each chunk as one record of three lists: the driver decodes a list in bulk, a record
    at about 15 us each.
    """
    count = runner.read(f"MATCH ()-[r:`{table.rel_type}`]->() RETURN count(r) AS n").single("n")
    frames = [pd.DataFrame({c: pd.Series(dtype=object) for c in ("src", "dst")}).assign(
        loaded_hash=pd.Series(dtype="Int64"))]
    query = (
        f"UNWIND $sources AS source MATCH (a:`{table.src_label}`) WHERE elementId(a) = source "
        f"MATCH (a)-[r:`{table.rel_type}`]->(b:`{table.dst_label}`) "
        f"RETURN collect(a.id) AS src, collect(b.id) AS dst, "
        f"collect(coalesce(r.{HASH}, 0)) AS hash, collect(r.{HASH} IS NULL) AS unhashed"
    )
    for start in range(0, len(sources) if count else 0, READ_SOURCES):
        chunk = sources[start:start + READ_SOURCES].tolist()
        rows = runner.read(query, {"sources": chunk})
        frames.append(pd.DataFrame({"src": rows.single("src"), "dst": rows.single("dst"),
                                    "loaded_hash": _hashes(rows)}))
    return pd.concat(frames, ignore_index=True)


def _hashes(rows: Rows) -> pd.arrays.IntegerArray:
    """The content hashes of a chunk read, null where ``unhashed`` (``collect`` skips nulls, so
    they travel as 0 with a flag)."""
    hashes = pd.array(rows.single("hash"), dtype="Int64")
    hashes[np.asarray(rows.single("unhashed"), dtype=bool)] = pd.NA
    return hashes


def _new_and_changed(
    frame: pd.DataFrame, loaded: pd.DataFrame, key: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``frame`` absent from the store, and those present with other content.

    A node or relationship the store holds without a hash (not written by a load) counts as
    changed, so it is merged, never created twice.
    """
    if loaded.empty:
        return frame, frame.iloc[:0]
    found = pc.index_in(_row_keys(frame, key), value_set=_row_keys(loaded, key))
    absent = found.is_null().to_numpy(zero_copy_only=False)
    stored = pa.array(loaded["loaded_hash"], type=pa.int64()).take(found.fill_null(0))
    same = pc.fill_null(pc.equal(stored, pa.array(frame[HASH], type=pa.int64())), False)
    differs = ~absent & ~same.to_numpy(zero_copy_only=False)
    return frame[absent], frame[differs]


def _stale(loaded: pd.DataFrame, frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """The ``key`` columns of rows a load wrote (hash not null) that ``frame`` no longer has."""
    ours = loaded[loaded["loaded_hash"].notna()]
    if ours.empty:
        return ours[key]
    kept = pc.is_in(_row_keys(ours, key), value_set=_row_keys(frame, key))
    return ours.loc[~kept.to_numpy(zero_copy_only=False), key]


def _row_keys(frame: pd.DataFrame, key: list[str]) -> pa.Array:
    """One string per row naming it by ``key``, for Arrow's hash look-ups.

    Several key columns are joined, each but the last prefixed by its length, so no two
    different keys give the same string whatever characters the ids hold.
    """
    columns = [pa.array(frame[k], type=pa.string()) for k in key]
    if len(columns) == 1:
        return columns[0]
    parts = []
    for column in columns[:-1]:
        parts += [pc.cast(pc.utf8_length(column), pa.string()), column]
    return pc.binary_join_element_wise(*parts, columns[-1], ":")


def _write_batches(
    runner: QueryRunner, query: str, retry_query: str, frame: pd.DataFrame,
    properties: list[str], graph: str, batch_size: int, bars: ProgressDisplay, what: str,
    writers: int = 1,
) -> list[tuple[pd.DataFrame, Rows]]:
    """Write ``frame`` in batches with ``query``; a retried batch runs ``retry_query``.

    With ``writers`` > 1, that many batches run at once, each in its own transaction.
    Progress shows on ``bars`` as a task named ``what``. Returns each batch with the result of
    its query, in order.
    """
    if frame.empty:
        return []

    def write(chunk: pd.DataFrame) -> Rows:
        params = write_params(chunk, properties, graph)
        return runner.write([(query, params)], on_retry=[(retry_query, params)])[0]

    done: list[tuple[pd.DataFrame, Rows]] = []
    task = bars.add(what, total=len(frame))
    if writers == 1:
        for chunk in _chunks(frame, batch_size):
            done.append((chunk, write(chunk)))
            bars.advance(task, len(chunk))
        return done
    with ThreadPoolExecutor(writers) as pool:
        pending: deque[tuple[pd.DataFrame, Future[Rows]]] = deque()
        for chunk in _chunks(frame, batch_size):
            pending.append((chunk, pool.submit(write, chunk)))
            while len(pending) > writers:
                chunk, future = pending.popleft()
                done.append((chunk, future.result()))
                bars.advance(task, len(chunk))
        for chunk, future in pending:
            done.append((chunk, future.result()))
            bars.advance(task, len(chunk))
    return done


def _delete_rels(
    runner: QueryRunner, table: RelTable, stale: pd.DataFrame, graph: str, batch_size: int
) -> int:
    query = rel_delete(table)
    deleted = 0
    for chunk in _chunks(stale, batch_size):
        rows = chunk[["src", "dst"]].to_dict("records")
        deleted += int(runner.write([(query, {"rows": rows, "graph": graph})])[0]
                       .single("deleted") or 0)
    return deleted


def _delete_nodes(runner: QueryRunner, label: str, ids: list[str], graph: str,
                  batch_size: int) -> int:
    query = node_delete(label)
    deleted = 0
    for start in range(0, len(ids), batch_size):
        batch = ids[start:start + batch_size]
        deleted += int(runner.write([(query, {"ids": batch, "graph": graph})])[0]
                       .single("deleted") or 0)
    return deleted


def _chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]
