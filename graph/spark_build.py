"""The PySpark path: canonical events -> the same graph snapshot as :mod:`graph.build`.

For logs that outgrow one machine. The aggregation is not re-implemented here: the SQL text of
:mod:`graph.snapshot_sql` (``pairs_sql``, ``edge_sql``, ``entity_nodes_sql``,
``account_nodes_sql``) is translated to Spark SQL by :func:`to_spark_sql` and run on a Spark
cluster (or ``local[*]``), so every feature is defined in one place. The result is written with
:func:`graph.build.finish_snapshot`, its manifest by :mod:`graph.manifest`, and has the same
tables, columns and types as the DuckDB path.

PySpark is an optional dependency (``pip install 'abusenet[spark]'``; needs Java 17).
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graph.build import build_inputs, finish_snapshot
from graph.manifest import events_meta
from graph.snapshot import ACCOUNT, Snapshot
from graph.snapshot_sql import (
    MAX_EVENT_TYPES,
    account_nodes_sql,
    edge_sql,
    entity_nodes_sql,
    event_type_features,
    pairs_sql,
    relation_sources,
)
from ingest.mapping import Mapping
from ingest.state import IngestState

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

#: Spark settings the translated SQL relies on: UTC days and hours, DuckDB-like lenient
#: arithmetic (ANSI mode off), Arrow transfers to pandas.
SPARK_SQL_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.mergeSchema": "true",
}
#: Defaults for sessions :func:`spark_session` creates (overridable through its ``conf``).
SESSION_DEFAULTS: dict[str, str] = {"spark.ui.showConsoleProgress": "false"}

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"((?:[^\"]|\"\")*)\"|[^'\"]+")
_EPOCH = re.compile(r"\bepoch\(")
_EPOCH_US = re.compile(r"\bepoch_us\(")
_DECIMAL = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])")
_TYPES = {re.compile(r"\bVARCHAR\b"): "STRING", re.compile(r"\bTIMESTAMPTZ\b"): "TIMESTAMP"}


class SparkUnavailableError(RuntimeError):
    """PySpark (or the Java runtime it needs) is not installed."""


def to_spark_sql(sql: str) -> str:
    r"""Translate the DuckDB SQL of :mod:`graph.snapshot_sql` to Spark SQL.

    Double-quoted identifiers become backquoted, ``epoch(x)`` becomes seconds since the epoch
    as a double (microsecond precision), ``epoch_us(x)`` becomes ``unix_micros(x)``, decimal
    literals become doubles (Spark would read ``1.0`` as a DECIMAL and round averages),
    ``VARCHAR`` / ``TIMESTAMPTZ`` become ``STRING`` / ``TIMESTAMP``. String literals are left
    untouched.

    Examples
    --------
    >>> print(to_spark_sql('SELECT "n", epoch(ts) / 86400.0 FROM t WHERE x = \'"1.0"\''))
    SELECT `n`, (unix_micros(ts) / 1000000.0D) / 86400.0D FROM t WHERE x = '"1.0"'
    """
    out = []
    for match in _TOKEN.finditer(sql):
        token = match.group(0)
        if token.startswith("'"):
            out.append(token)
        elif match.group(1) is not None:
            out.append("`" + match.group(1).replace('""', '"').replace("`", "``") + "`")
        else:
            token = _EPOCH_US.sub("unix_micros(", _DECIMAL.sub(r"\1D", token))
            for pattern, spark_type in _TYPES.items():
                token = pattern.sub(spark_type, token)
            out.append(token)
    return _replace_epoch("".join(out))


def _replace_epoch(sql: str) -> str:
    """``epoch(<expr>)`` -> ``(unix_micros(<expr>) / 1000000.0D)``, for nested expressions too.

    Parentheses inside quoted literals or identifiers do not count.
    """
    while match := _EPOCH.search(sql):
        depth, i, quote = 1, match.end(), None
        while depth:
            char = sql[i]
            if quote:
                quote = None if char == quote else quote
            elif char in "'`":
                quote = char
            else:
                depth += {"(": 1, ")": -1}.get(char, 0)
            i += 1
        inner = sql[match.end(): i - 1]
        sql = f"{sql[: match.start()]}(unix_micros({inner}) / 1000000.0D){sql[i:]}"
    return sql


def spark_session(master: str = "local[*]", *, shuffle_partitions: int = 8,
                  app_name: str = "abusenet", **conf: str) -> SparkSession:
    """A Spark session set up for :func:`build_snapshot_spark` (reused when one exists).

    Parameters
    ----------
    master
        Spark master URL: ``local[*]`` for all local cores, or a cluster's URL.
    shuffle_partitions
        ``spark.sql.shuffle.partitions``: small for small inputs, about 2-3 per core of the
        cluster for large ones.
    app_name
        Name shown in the Spark UI.
    **conf
        More Spark settings (dots written as given, e.g. ``{"spark.ui.enabled": "false"}``).

    Raises
    ------
    SparkUnavailableError
        When PySpark is not installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise SparkUnavailableError(
            "the Spark path needs PySpark: install it with `pip install 'abusenet[spark]'` "
            "(and a Java 17 runtime)"
        ) from err
    builder = SparkSession.builder.master(master).appName(app_name)
    settings = {**SESSION_DEFAULTS, **SPARK_SQL_CONF,
                "spark.sql.shuffle.partitions": str(shuffle_partitions), **conf}
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    for key, value in SPARK_SQL_CONF.items():
        session.conf.set(key, value)
    return session


def build_snapshot_spark(
    events_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | pd.DataFrame | None = None,
    mapping: Mapping | str | os.PathLike[str] | None = None,
    spark: SparkSession | None = None,
) -> Snapshot:
    """Aggregate the canonical events in ``events_dir`` into a snapshot at ``out_dir``, on Spark.

    Same contract and output as :func:`graph.build.build_snapshot`: the node and edge tables are
    equal (up to floating-point summation order) to the DuckDB path's.

    Parameters
    ----------
    events_dir
        An events directory written by :func:`ingest.run.ingest_logs` (a local path, or
        one every Spark executor can read).
    out_dir
        The snapshot directory (written on the driver, atomically).
    labels
        Canonical labels, or a labels file read with ``mapping``'s labels section. Default:
        ``events_dir/labels.parquet`` when present.
    mapping
        Adds its extra entity types to those recorded in the events directory.
    spark
        The session to use; default: :func:`spark_session` with its defaults.

    Returns
    -------
    Snapshot
        The snapshot as written.

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
    spark = spark or spark_session()

    events = spark.read.parquet(*(str(p.resolve()) for p in files))
    # Spark discovers day=... folders as a column; DuckDB's view (hive_partitioning off) has none.
    if "day" in events.columns and "day" not in pq.read_schema(files[0]).names:
        events = events.drop("day")
    events.createOrReplaceTempView("events")
    columns = set(events.columns)
    relations = [r for r in relation_sources(state) if r.column in columns]
    float_attributes = [a for a, kind in state.attributes.items()
                        if kind == "float" and a in columns]
    event_types = [row[0] for row in spark.sql(
        "SELECT event_type FROM events GROUP BY event_type "
        f"ORDER BY count(*) DESC, event_type LIMIT {MAX_EVENT_TYPES}").collect()]

    cached: list[DataFrame] = []
    try:
        edges: dict[str, pd.DataFrame] = {}
        for rel in relations:
            pairs = spark.sql(to_spark_sql(pairs_sql(rel, float_attributes))).cache()
            cached.append(pairs)
            pairs.createOrReplaceTempView(f"pairs_{rel.name}")
            edges[rel.name] = _to_pandas(spark.sql(to_spark_sql(edge_sql(rel))))
        relations = [r for r in relations if len(edges[r.name])]
        edges = {r.name: edges[r.name] for r in relations}

        nodes: dict[str, pd.DataFrame] = {}
        for rel in relations:
            if rel.node_type != ACCOUNT:
                nodes[rel.node_type] = _to_pandas(spark.sql(to_spark_sql(
                    entity_nodes_sql(rel, event_types, spark=True))))
        nodes[ACCOUNT] = _to_pandas(spark.sql(to_spark_sql(
            account_nodes_sql(event_types, relations, float_attributes, spark=True))))
        meta = _meta(spark, state, files, event_types)
    finally:
        for table in cached:
            table.unpersist()
        spark.catalog.dropTempView("events")

    meta["engine"] = f"spark {spark.version}"
    log.debug("spark %s aggregated %d relations in %.3f s", spark.version, len(relations),
              time.perf_counter() - started)
    return finish_snapshot(out_dir, nodes, edges, relations, meta, events_dir=events_dir,
                           labels=labels, mapping=mapping, started=started)


def _to_pandas(frame: DataFrame) -> pd.DataFrame:
    """``frame`` as pandas with the DuckDB path's types: UTC microsecond timestamps, int64
    counts, float64 features."""
    table = frame.toPandas()
    for name, dtype in frame.dtypes:
        if dtype.startswith("timestamp"):
            values = pd.to_datetime(table[name])
            values = (values.dt.tz_localize("UTC") if values.dt.tz is None
                      else values.dt.tz_convert("UTC"))
            table[name] = values.astype("datetime64[us, UTC]")
        elif dtype in ("int", "bigint", "smallint", "tinyint"):
            table[name] = table[name].astype("int64")
        elif dtype in ("double", "float") or dtype.startswith("decimal"):
            table[name] = table[name].astype("float64")
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    return arrow.to_pandas()


def _meta(spark: SparkSession, state: IngestState, files: list[Path],
          event_types: list[str]) -> dict[str, Any]:
    """:func:`graph.manifest.events_meta`, its facts computed on Spark."""
    first, last = spark.sql("SELECT min(ts), max(ts) FROM events").first()
    by_type = {row[0]: int(row[1]) for row in spark.sql(
        "SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC, 1").collect()}
    return events_meta(
        by_type=by_type,
        first_ts=first,
        last_ts=last,
        files=files,
        state=state,
        event_type_features=dict(
            zip(event_types, event_type_features(event_types), strict=True)
        ),
    )
