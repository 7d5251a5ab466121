"""Canonical events -> graph snapshot, aggregated by DuckDB (out-of-core, multi-threaded).

The aggregation is the SQL text of :mod:`graph.snapshot_sql`, run over a view ``events`` of the
event files: the pairs of each relation, then the nodes of each entity type, the ``Account``
nodes and the edges. Each result is written by DuckDB straight to the snapshot's Parquet files
(:func:`write_snapshot_files`); :func:`build_snapshot` reads them back into memory. The labels
come from :mod:`graph.snapshot_labels` (account labels, and event and entity labels when given:
the DuckDB build only), the manifest from :mod:`graph.manifest`.

:func:`build_inputs` and :func:`finish_snapshot` are the first and last steps of every engine
that builds a snapshot (DuckDB here, Spark in :mod:`graph.spark_build`). Each step's time is
logged at debug level.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graph.manifest import events_meta, make_manifest
from graph.snapshot import (
    ACCOUNT,
    NODE_KEY_COLUMNS,
    RELATIONS,
    Snapshot,
    new_snapshot_dir,
    publish_snapshot_dir,
    read_snapshot,
    relation_specs,
    write_snapshot,
)
from graph.snapshot_labels import (
    copy_known_entity_labels,
    copy_known_event_labels,
    copy_known_labels,
    level_labels,
    snapshot_labels,
)
from graph.snapshot_sql import (
    MAX_ATTRIBUTE_VALUES,
    MAX_EVENT_TYPES,
    RelationSource,
    account_nodes_sql,
    attribute_share_features,
    attribute_values_sql,
    edge_sql,
    entity_nodes_sql,
    event_type_features,
    pairs_sql,
    relation_sources,
)
from ingest.engine import connect
from ingest.mapping import Mapping, load_mapping
from ingest.progress import status_display
from ingest.sql import ident, literal
from ingest.state import IngestState
from ingest.store import event_files

log = logging.getLogger(__name__)


class BuildError(ValueError):
    """The events directory holds no events, or its content does not fit the snapshot."""


def build_inputs(
    events_dir: Path, mapping: Mapping | str | os.PathLike[str] | None
) -> tuple[Mapping | None, list[Path], IngestState]:
    """The loaded mapping, the event files and the ingest state of ``events_dir``.

    Shared by every engine that builds a snapshot (DuckDB here, Spark in :mod:`graph.spark_build`).
    Raises :class:`BuildError` when ``events_dir`` holds no events.
    """
    if mapping is not None and not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    files = event_files(events_dir)
    if not files:
        raise BuildError(
            f"{events_dir} holds no events (no day=*/ Parquet files); run `abusenet ingest` first"
        )
    state = IngestState.load(events_dir)
    if mapping is not None:
        state.add_schema(mapping)
    return mapping, files, state


def build_snapshot(
    events_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | pd.DataFrame | None = None,
    mapping: Mapping | str | os.PathLike[str] | None = None,
    event_labels: str | os.PathLike[str] | pa.Table | pd.DataFrame | None = None,
    entity_labels: str | os.PathLike[str] | pa.Table | pd.DataFrame | None = None,
    attribute_shares: dict[str, dict[str, str]] | None = None,
    progress: bool = True,
) -> Snapshot:
    """Aggregate the canonical events in ``events_dir`` into a graph snapshot at ``out_dir``.

    :func:`write_snapshot_files`, then the written snapshot read back into memory (after
    DuckDB has let go of its memory, so the peak is the larger of the two, not their sum).

    Parameters
    ----------
    events_dir
        An events directory written by :func:`ingest.run.ingest_logs`.
    out_dir
        The snapshot directory; replaced atomically.
    labels
        Canonical labels (a DataFrame ``account_id, label[, ts]``) or a labels file (read with
        ``mapping``'s labels section). Default: ``events_dir/labels.parquet`` when present.
        Only labels of accounts in the graph are kept.
    mapping
        Adds its extra entity types to those recorded in the events directory.
    event_labels, entity_labels
        Canonical event / entity labels (:mod:`ingest.event_labels`), or files read with
        ``mapping``'s ``event_labels`` / ``entity_labels`` sections; kept as
        ``event_labels.parquet`` / ``entity_labels.parquet`` for the events and nodes of the
        graph, the others counted in the manifest (:mod:`graph.snapshot_labels`).
    attribute_shares
        The string attributes' share features to build (name -> value -> feature, as a
        manifest's ``attribute_shares`` or a saved model records them), say a model's when a
        later snapshot is scored with it; default: :func:`find_attribute_shares` of the
        events.
    progress
        Show the current step on stderr.

    Returns
    -------
    Snapshot
        The snapshot as written; its ``meta`` holds input checksums and event counts.

    Raises
    ------
    BuildError
        When ``events_dir`` holds no events.
    """
    write_snapshot_files(events_dir, out_dir, labels=labels, mapping=mapping,
                         event_labels=event_labels, entity_labels=entity_labels,
                         attribute_shares=attribute_shares, progress=progress)
    return read_snapshot(out_dir)



def write_snapshot_files(
    events_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | pd.DataFrame | None = None,
    mapping: Mapping | str | os.PathLike[str] | None = None,
    event_labels: str | os.PathLike[str] | pa.Table | pd.DataFrame | None = None,
    entity_labels: str | os.PathLike[str] | pa.Table | pd.DataFrame | None = None,
    attribute_shares: dict[str, dict[str, str]] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Like :func:`build_snapshot`, but returns only the manifest: no table is held in memory.

    DuckDB aggregates the events (spilling beyond ``ABUSENET_DUCKDB_MEMORY``) and writes each
    node and edge table straight to Parquet, so memory stays within DuckDB's budget whatever the
    size of the graph. The snapshot directory is filled beside ``out_dir`` and renamed into
    place (see :func:`graph.snapshot.publish_snapshot_dir`).
    """
    started = time.perf_counter()
    events_dir, out_dir = Path(events_dir), Path(out_dir)
    mapping, files, state = build_inputs(events_dir, mapping)
    relations = relation_sources(state)
    float_attributes = [a for a, kind in state.attributes.items() if kind == "float"]
    label_table = snapshot_labels(events_dir, labels, mapping)
    event_table = level_labels(event_labels, mapping, "event")
    entity_table = level_labels(entity_labels, mapping, "entity")

    target = new_snapshot_dir(out_dir)
    # One DuckDB thread: the amount, time-of-day and attribute aggregates are sums of doubles,
    # which a parallel aggregation adds in scheduling order (reruns 1e-10 apart, enough to move
    # a ring's flow surprise by 3e-3); one thread makes a rerun the same bits.
    con = connect(target / ".spill", threads=1)
    try:
        with status_display(progress, "building snapshot") as show:
            with _step(show, "reading events"):
                columns = _register_events(con, files)
                relations = [r for r in relations if r.column in columns]
                float_attributes = [a for a in float_attributes if a in columns]
                by_type = _events_by_type(con)
                event_types = [row[0] for row in by_type[:MAX_EVENT_TYPES]]
            with _step(show, "attribute values"):
                shares = (find_attribute_shares(lambda sql: con.execute(sql).fetchall(), state,
                                           columns, mapping)
                          if attribute_shares is None
                          else fixed_shares(attribute_shares, columns))

            for rel in relations:
                with _step(show, f"pairs {rel.name}"):
                    con.execute(f"CREATE TEMP TABLE {ident('pairs_' + rel.name)} AS "
                                f"{pairs_sql(rel, float_attributes, event_types)}")
            relations = [r for r in relations if _count(con, "pairs_" + r.name)]

            nodes: dict[str, tuple[int, list[str]]] = {}
            for rel in relations:
                if rel.node_type != ACCOUNT:
                    with _step(show, f"nodes {rel.node_type}"):
                        nodes[rel.node_type] = _copy_table(
                            con, entity_nodes_sql(rel, event_types),
                            target / "nodes" / rel.node_type)
            with _step(show, "nodes Account"):
                nodes[ACCOUNT] = _copy_table(
                    con, account_nodes_sql(event_types, relations, float_attributes,
                                           attribute_shares=shares),
                    target / "nodes" / ACCOUNT)
            edges: dict[str, int] = {}
            for rel in relations:
                with _step(show, f"edges {rel.name}"):
                    edges[rel.name] = _copy_table(
                        con, edge_sql(rel), target / "edges" / rel.name)[0]
                    con.execute(f"DROP TABLE {ident('pairs_' + rel.name)}")
            meta = _events_meta(by_type, state, files, event_types)
            if shares:
                meta["attribute_shares"] = shares
            label_facts = None
            if label_table is not None:
                with _step(show, "labels"):
                    label_facts = copy_known_labels(con, label_table, target, meta)
            if event_table is not None:
                with _step(show, "event labels"):
                    copy_known_event_labels(con, event_table, target, meta)
            if entity_table is not None:
                with _step(show, "entity labels"):
                    copy_known_entity_labels(con, entity_table, target, meta)
        con.close()
        shutil.rmtree(target / ".spill", ignore_errors=True)
        manifest = publish_manifest(target, out_dir, nodes, edges, relations, label_facts, meta,
                                    started=started)
    except BaseException:
        con.close()
        shutil.rmtree(target, ignore_errors=True)
        raise
    log.info("snapshot %s: %d accounts, %d relations in %.1f s", out_dir,
             nodes[ACCOUNT][0], len(relations), meta["build_seconds"])
    return manifest


def find_attribute_shares(
    query: Callable[[str], list[tuple[Any, ...]]],
    state: IngestState,
    columns: set[str],
    mapping: Mapping | None,
) -> dict[str, dict[str, str]]:
    """The share features of the string attributes with few values: name -> value -> feature
    (:func:`graph.snapshot_sql.attribute_share_features`), values most frequent first.

    A string attribute of the events (``columns``) gets them when it has at most
    :data:`~graph.snapshot_sql.MAX_ATTRIBUTE_VALUES` distinct values (exact text, as stored)
    and ``mapping`` does not say ``featurize: false`` on it. One with more gets none, and a
    warning names it with its count. ``query`` runs a SQL text over the view ``events`` and
    returns its rows (DuckDB here, Spark in :mod:`graph.spark_build`); one aggregate per
    string attribute.
    """
    skip = set(mapping.not_featurized) if mapping is not None else set()
    values: dict[str, list[str]] = {}
    for name, kind in state.attributes.items():
        if kind != "string" or name not in columns or name in skip:
            continue
        rows = query(attribute_values_sql(name))
        if not rows:
            continue
        if rows[0][2] > MAX_ATTRIBUTE_VALUES:
            log.warning(
                "attribute %s has %s distinct values, more than %d: it is kept on the events "
                "but makes no features (map its text to numbers with values:, or set "
                "featurize: false on it to silence this)", name, f"{rows[0][2]:,}",
                MAX_ATTRIBUTE_VALUES)
            continue
        values[name] = [str(row[0]) for row in rows]
    return attribute_share_features(values)


def fixed_shares(shares: dict[str, dict[str, str]],
                 columns: set[str]) -> dict[str, dict[str, str]]:
    """``shares`` given to a build (a saved model's), checked against the events' ``columns``.

    Raises
    ------
    BuildError
        When the events lack one of its attributes.
    """
    missing = sorted(set(shares) - columns)
    if missing:
        raise BuildError(
            f"the events have no attribute {missing[0]!r}, whose values the model was trained "
            f"on as features ({', '.join(list(shares[missing[0]])[:5])}); map it in the "
            "mapping's attributes: as a string attribute")
    return {name: dict(values) for name, values in shares.items()}


def publish_manifest(
    target: Path,
    out_dir: Path,
    nodes: dict[str, tuple[int, list[str]]],
    edges: dict[str, int],
    relations: list[RelationSource],
    label_facts: dict[str, Any] | None,
    meta: dict[str, Any],
    *,
    started: float,
) -> dict[str, Any]:
    """Write the manifest of a snapshot built file by file and move it into place at ``out_dir``.

    The last step of every engine that writes its tables straight to ``target`` (DuckDB in
    :func:`write_snapshot_files`, Spark in :mod:`graph.spark_build`), so both write the same
    manifest.

    Parameters
    ----------
    target
        The filled snapshot directory beside ``out_dir`` (:func:`graph.snapshot.new_snapshot_dir`).
    out_dir
        Where the snapshot is published (:func:`graph.snapshot.publish_snapshot_dir`).
    nodes
        Node type to (row count, feature columns).
    edges
        Relation name to edge count; every relation in ``relations`` has one.
    relations
        The relations with edges.
    label_facts
        The label facts of :func:`graph.snapshot_labels.copy_known_labels`, or None.
    meta
        The events' facts (:func:`graph.manifest.events_meta`); ``build_seconds`` is set here.
    started
        :func:`time.perf_counter` at the start of the build.

    Returns
    -------
    dict
        The manifest written.
    """
    meta["build_seconds"] = round(time.perf_counter() - started, 3)
    extra = {r.name: (ACCOUNT, r.node_type) for r in relations if r.name not in RELATIONS}
    specs = relation_specs(extra)
    manifest = make_manifest(
        nodes,
        {r.name: (specs[r.name].src_type, specs[r.name].dst_type, edges[r.name])
         for r in relations},
        label_facts,
        meta,
    )
    publish_snapshot_dir(target, out_dir, manifest)
    return manifest


def finish_snapshot(
    out_dir: Path,
    nodes: dict[str, pd.DataFrame],
    edges: dict[str, pd.DataFrame],
    relations: list[RelationSource],
    meta: dict,
    *,
    events_dir: Path,
    labels: str | os.PathLike[str] | pd.DataFrame | None,
    mapping: Mapping | None,
    started: float,
) -> Snapshot:
    """Attach the labels of accounts in the graph, then write the snapshot atomically.

    The last step of every engine that builds a snapshot (DuckDB here, Spark in
    :mod:`graph.spark_build`), so both write the same manifest and label table.
    """
    label_table = snapshot_labels(events_dir, labels, mapping)
    if label_table is not None:
        known = label_table["account_id"].isin(nodes[ACCOUNT]["id"])
        meta["labels_without_events"] = int((~known).sum())
        label_table = label_table[known].reset_index(drop=True)
    meta["build_seconds"] = round(time.perf_counter() - started, 3)
    extra = {r.name: (ACCOUNT, r.node_type) for r in relations if r.name not in RELATIONS}
    specs = relation_specs(extra)
    snapshot = Snapshot(
        nodes=nodes,
        edges=edges,
        relations={r.name: specs[r.name] for r in relations},
        labels=label_table,
        meta=meta,
    )
    write_snapshot(snapshot, out_dir)
    log.info("snapshot %s: %d accounts, %d relations in %.1f s", out_dir,
             len(nodes[ACCOUNT]), len(relations), meta["build_seconds"])
    return snapshot


@contextmanager
def _step(show: Callable[[str], None], description: str) -> Iterator[None]:
    """Show ``description`` as the current step of the build; log how long it took (debug)."""
    show(description)
    began = time.perf_counter()
    yield
    log.debug("building snapshot: %s took %.3f s", description, time.perf_counter() - began)


def _copy_table(con: duckdb.DuckDBPyConnection, sql: str, stem: Path) -> tuple[int, list[str]]:
    """Write the rows of ``sql`` to ``<stem>.parquet``; return (row count, feature columns).

    No string dictionaries, as in :func:`graph.snapshot.write_table`.
    """
    path = stem.with_suffix(".parquet")
    count = con.execute(
        f"COPY ({sql}) TO {literal(str(path))} (FORMAT parquet, "
        "STRING_DICTIONARY_PAGE_SIZE_LIMIT 1)"
    ).fetchall()[0][0]
    features = [f.name for f in pq.read_schema(path)
                if f.name not in NODE_KEY_COLUMNS
                and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))]
    return int(count), features


def _register_events(con: duckdb.DuckDBPyConnection, files: list[Path]) -> set[str]:
    """Create the ``events`` view over ``files``; return its columns."""
    con.execute(
        f"CREATE VIEW events AS SELECT * FROM read_parquet({literal([str(p) for p in files])}, "
        "union_by_name = true, hive_partitioning = false)"
    )
    return {row[0] for row in con.execute("DESCRIBE events").fetchall()}


def _events_by_type(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, Any, Any]]:
    """``(event_type, count, first ts, last ts)`` per event type, most frequent first."""
    return con.execute(
        "SELECT event_type, count(*), min(ts), max(ts) FROM events GROUP BY event_type "
        "ORDER BY 2 DESC, 1"
    ).fetchall()


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {ident(table)}").fetchall()[0][0])


def _events_meta(
    by_type: list[tuple[str, int, Any, Any]],
    state: IngestState,
    files: list[Path],
    event_types: list[str],
) -> dict[str, Any]:
    """:func:`graph.manifest.events_meta` from the per-type facts of :func:`_events_by_type`."""
    return events_meta(
        by_type={row[0]: row[1] for row in by_type},
        first_ts=min((row[2] for row in by_type), default=None),
        last_ts=max((row[3] for row in by_type), default=None),
        files=files,
        state=state,
        event_type_features=dict(
            zip(event_types, event_type_features(event_types), strict=True)
        ),
    )
