"""The Spark engine's snapshot: canonical events -> the same graph snapshot as :mod:`graph.build`.

For logs that outgrow one machine. The aggregation is not re-implemented here: the DuckDB SQL of
:mod:`graph.snapshot_sql` (``pairs_sql``, ``edge_sql``, ``entity_nodes_sql``,
``account_nodes_sql``) is transpiled to Spark SQL (:func:`ingest.spark_sql.to_spark_sql`) and run
on a Spark cluster (or ``local[*]``), so every feature is defined in one place. Every node and
edge table is written as Parquet by the executors (nothing but counts and the per-type facts of
the manifest reaches the driver); the account labels are attached by DuckDB on the driver, as
in :func:`graph.build.write_snapshot_files`, and the snapshot has the same tables, columns and
types as the DuckDB engine's.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graph.build import build_inputs, find_attribute_shares, fixed_shares, publish_manifest
from graph.manifest import events_meta
from graph.snapshot import (
    ACCOUNT,
    NODE_KEY_COLUMNS,
    Snapshot,
    new_snapshot_dir,
    read_snapshot,
)
from graph.snapshot_labels import copy_known_labels, snapshot_labels
from graph.snapshot_sql import (
    MAX_EVENT_TYPES,
    RelationSource,
    account_nodes_sql,
    edge_sql,
    entity_nodes_sql,
    event_type_features,
    pairs_sql,
    relation_sources,
)
from ingest.engine import connect
from ingest.mapping import Mapping
from ingest.spark_files import write_single_parquet
from ingest.spark_session import session_conf, spark_session
from ingest.spark_sql import run_sql
from ingest.state import IngestState

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

T = TypeVar("T")

#: SQL settings of the node tables' queries: each timeline (:func:`graph.snapshot_sql.
#: _timeline_query`) collects its node's times in an object hash aggregate, run after the
#: shuffle only (a node's times are not merged from partial lists) and kept a hash
#: aggregate up to a million nodes a task (Spark's default falls back to sorting the rows
#: after 128). Instead of a window's sort of every event: snapshot of 3.3M events, 2 runs
#: each alternated, loaded (load 17-20): executor CPU s 46.2 / 45.7 -> 41.5 / 41.8, JVM CPU s
#: 80.1 / 78.4 -> 75.2 / 78.0, JVM peak RSS 2.3 GB either way (benchmarks/README.md,
#: session 17).
TIMELINE_CONF: dict[str, str] = {
    "spark.sql.execution.bypassPartialAggregation": "true",
    "spark.sql.objectHashAggregate.sortBased.fallbackThreshold": "1000000",
}


def build_snapshot_spark(
    events_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | pd.DataFrame | None = None,
    mapping: Mapping | str | os.PathLike[str] | None = None,
    attribute_shares: dict[str, dict[str, str]] | None = None,
    spark: SparkSession | None = None,
) -> Snapshot:
    """:func:`write_snapshot_spark`, then the written snapshot read back into memory.

    Same contract and output as :func:`graph.build.build_snapshot` (account labels only).
    """
    write_snapshot_spark(events_dir, out_dir, labels=labels, mapping=mapping,
                         attribute_shares=attribute_shares, spark=spark)
    return read_snapshot(out_dir)


def write_snapshot_spark(
    events_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | pd.DataFrame | None = None,
    mapping: Mapping | str | os.PathLike[str] | None = None,
    attribute_shares: dict[str, dict[str, str]] | None = None,
    spark: SparkSession | None = None,
) -> dict[str, Any]:
    """Aggregate the canonical events in ``events_dir`` into a snapshot at ``out_dir``, on Spark.

    The node and edge tables equal (up to floating-point summation order) the DuckDB
    engine's (:func:`graph.build.write_snapshot_files`).

    Parameters
    ----------
    events_dir
        An events directory written by either ingest engine (a path every Spark executor can
        read, as is ``out_dir``).
    out_dir
        The snapshot directory (filled beside it, then renamed into place).
    labels
        Canonical labels, or a labels file read with ``mapping``'s labels section. Default:
        ``events_dir/labels.parquet`` when present.
    mapping
        Adds its extra entity types to those recorded in the events directory.
    attribute_shares
        The string attributes' share features to build, as :func:`graph.build.build_snapshot`
        takes them; default: found in the events (:func:`graph.build.find_attribute_shares`,
        the same SQL).
    spark
        The session to use; default: :func:`ingest.spark_session.spark_session`.

    Returns
    -------
    dict
        The manifest written.

    Raises
    ------
    BuildError
        When ``events_dir`` holds no events.
    SparkUnavailableError
        When PySpark is not installed.
    """
    started = time.perf_counter()
    events_dir, out_dir = Path(events_dir), Path(out_dir)
    mapping, files, state = build_inputs(events_dir, mapping)
    label_table = snapshot_labels(events_dir, labels, mapping)
    spark = spark or spark_session()

    events = spark.read.option("mergeSchema", "true").parquet(
        *(str(p.resolve()) for p in files))
    # Spark discovers day=... folders as a column; DuckDB's view (hive_partitioning off) has none.
    if "day" in events.columns and "day" not in pq.read_schema(files[0]).names:
        events = events.drop("day")
    # Each query reads the Parquet columns it needs; persisting the events instead cost as
    # much to fill as it saved at 1M events (benchmarks/README.md, session 10).
    events.createOrReplaceTempView("events")
    columns = set(events.columns)
    relations = [r for r in relation_sources(state) if r.column in columns]
    float_attributes = [a for a, kind in state.attributes.items()
                        if kind == "float" and a in columns]
    by_type = spark.sql(
        "SELECT event_type, count(*) AS n, min(ts) AS first, max(ts) AS last FROM events "
        "GROUP BY event_type ORDER BY n DESC, event_type").collect()
    event_types = [row[0] for row in by_type[:MAX_EVENT_TYPES]]
    shares = (find_attribute_shares(lambda sql: [tuple(r) for r in run_sql(spark, sql).collect()],
                                    state, columns, mapping)
              if attribute_shares is None else fixed_shares(attribute_shares, columns))

    target = new_snapshot_dir(out_dir)
    cached: list[DataFrame] = []
    try:
        def write_edges(rel: RelationSource) -> int:
            pairs = run_sql(spark, pairs_sql(rel, float_attributes, event_types)).cache()
            cached.append(pairs)
            pairs.createOrReplaceTempView(f"pairs_{rel.name}")
            return write_single_parquet(run_sql(spark, edge_sql(rel)),
                                        target / "edges" / f"{rel.name}.parquet")

        cancel = spark.sparkContext.cancelAllJobs
        edges = dict(zip([r.name for r in relations], _concurrently(
            [partial(write_edges, rel) for rel in relations], cancel), strict=True))
        for rel in relations:
            if not edges[rel.name]:
                (target / "edges" / f"{rel.name}.parquet").unlink()
        relations = [r for r in relations if edges[r.name]]

        entities = [r for r in relations if r.node_type != ACCOUNT]
        queries = [(account_nodes_sql(event_types, relations, float_attributes,
                                      attribute_shares=shares, spark=True), ACCOUNT)]
        queries += [(entity_nodes_sql(rel, event_types, spark=True), rel.node_type)
                    for rel in entities]
        writes = [partial(_write_nodes, spark, sql, target / "nodes" / f"{node_type}.parquet")
                  for sql, node_type in queries]
        with session_conf(spark, TIMELINE_CONF):
            account, *entity_nodes = _concurrently(writes, cancel)
        nodes = {**dict(zip([r.node_type for r in entities], entity_nodes, strict=True)),
                 ACCOUNT: account}
        meta = _meta(by_type, state, files, event_types)
        meta["engine"] = f"spark {spark.version}"
        if shares:
            meta["attribute_shares"] = shares
        label_facts = None
        if label_table is not None:
            con = connect(target / ".spill")
            try:
                label_facts = copy_known_labels(con, label_table, target, meta)
            finally:
                con.close()
                shutil.rmtree(target / ".spill", ignore_errors=True)
        manifest = publish_manifest(target, out_dir, nodes, edges, relations, label_facts, meta,
                                    started=started)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        for table in cached:
            table.unpersist()
        spark.catalog.dropTempView("events")
    log.info("spark snapshot %s: %d accounts, %d relations in %.1f s", out_dir,
             nodes[ACCOUNT][0], len(relations), meta["build_seconds"])
    return manifest


def _concurrently(calls: list[Callable[[], T]], cancel: Callable[[], None]) -> list[T]:
    """The results of ``calls``, each run in a thread of its own, so that their Spark jobs are
    submitted together: a stage of one task (a table written as one file) or a pause of the
    driver (planning the next query) leaves a core to the other jobs' tasks (FIFO: the first
    call's jobs first). When one fails, ``cancel`` stops the others' jobs (no minutes of work
    after the build has failed); every error is logged and the first raised once all ended."""
    if len(calls) < 2:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="snapshot") as pool:
        futures = [pool.submit(call) for call in calls]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        if any(future.exception() is not None for future in done):
            cancel()
        wait(futures)
        errors = [future.exception() for future in futures if future.exception() is not None]
        for error in errors[1:]:
            log.error("snapshot on Spark: another job failed too: %s", error)
        if errors:
            raise errors[0]
        return [future.result() for future in futures]


def _write_nodes(spark: SparkSession, sql: str, path: Path) -> tuple[int, list[str]]:
    """Write the node table of the DuckDB query ``sql`` (sorted in one task) as ``path``;
    return (row count, feature columns), as the manifest wants them."""
    rows = write_single_parquet(run_sql(spark, sql, one_partition=True), path)
    features = [f.name for f in pq.read_schema(path)
                if f.name not in NODE_KEY_COLUMNS
                and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))]
    return rows, features


def _meta(by_type: list[Any], state: IngestState, files: list[Path],
          event_types: list[str]) -> dict[str, Any]:
    """:func:`graph.manifest.events_meta` from the per-type facts computed on Spark."""
    return events_meta(
        by_type={row[0]: int(row[1]) for row in by_type},
        first_ts=min((row[2] for row in by_type), default=None),
        last_ts=max((row[3] for row in by_type), default=None),
        files=files,
        state=state,
        event_type_features=dict(
            zip(event_types, event_type_features(event_types), strict=True)
        ),
    )
