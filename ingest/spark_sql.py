"""DuckDB SQL -> Spark SQL, so the Spark engine runs the very queries the DuckDB engine runs.

The validation query (:func:`ingest.validate.transform_sql`) and the snapshot queries
(:mod:`graph.snapshot_sql`) are written once, in DuckDB's dialect. :func:`to_spark_sql` parses
them with sqlglot and writes them out as Spark SQL, after rewriting the few DuckDB functions and
types Spark lacks or spells differently:

==========================  ==================================================================
DuckDB                      Spark
==========================  ==================================================================
``epoch(x)``                ``unix_micros(x) / 1e6`` (seconds as a double, microseconds kept)
``epoch_us(x)``             ``unix_micros(x)``
``isfinite(x)``             ``abs(x) < double('inf')`` (null stays null; NaN is not finite)
``regexp_full_match(s, p)`` ``s RLIKE '^(?:p)$'``
``UBIGINT`` / ``HUGEINT``   ``DECIMAL(20, 0)`` / ``DECIMAL(38, 0)``
``1.5`` (a decimal)         ``CAST(1.5 AS DOUBLE)`` (Spark reads it as a DECIMAL and rounds)
==========================  ==================================================================

``SELECT * EXCLUDE (...)`` has no Spark form: :func:`to_spark_sql` drops the ``EXCLUDE`` and
returns the names to drop from the result (:class:`SparkQuery`).

A top-level ``ORDER BY`` is a global sort in Spark: a sampling job that runs the query once more
to find range bounds, then a shuffle. For a result written as one file anyway (the snapshot's
node tables), :func:`run_sql` with ``one_partition=True`` sorts it in one task instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

_INTEGER_TYPES = {
    exp.DataType.Type.UBIGINT: "DECIMAL(20, 0)",
    exp.DataType.Type.INT128: "DECIMAL(38, 0)",
}


@dataclass(frozen=True)
class SparkQuery:
    """A DuckDB query in Spark SQL: ``sql``, and the columns to drop from its result."""

    sql: str
    drop: tuple[str, ...] = ()
    order: tuple[exp.Ordered, ...] = ()


def to_spark_sql(sql: str, *, take_order: bool = False) -> SparkQuery:
    """Translate the DuckDB query ``sql`` to Spark SQL.

    ``take_order``: leave the top-level ``ORDER BY`` out of ``sql`` and return its keys as
    ``order``.

    Examples
    --------
    >>> print(to_spark_sql('SELECT "n", epoch(ts) / 86400.0 FROM t').sql)
    SELECT `n`, (UNIX_MICROS(ts) / CAST(1000000.0 AS DOUBLE)) / CAST(86400.0 AS DOUBLE) FROM t
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    drop: list[str] = []
    for star in list(tree.find_all(exp.Star)):
        excluded = star.args.get("except_") or star.args.get("except") or []
        drop += [column.name for column in excluded]
        star.set("except_", None)
        star.set("except", None)
    tree = tree.transform(_rewrite)
    order: tuple[exp.Ordered, ...] = ()
    if take_order and tree.args.get("order") is not None:
        order = tuple(tree.args["order"].expressions)
        tree.set("order", None)
    return SparkQuery(tree.sql(dialect="spark"), tuple(drop), order)


def run_sql(spark: SparkSession, sql: str, *, one_partition: bool = False) -> DataFrame:
    """Run the DuckDB query ``sql`` on ``spark`` (transpiled by :func:`to_spark_sql`).

    ``one_partition``: return the result as one partition, sorted by the query's top-level
    ``ORDER BY`` inside it (no sampling job, no range shuffle; meant for a result small enough
    for one task, such as a table written as one file).
    """
    from pyspark.sql import functions as F

    query = to_spark_sql(sql, take_order=one_partition)
    frame = spark.sql(query.sql)
    if query.drop:
        frame = frame.drop(*query.drop)
    if one_partition:
        frame = frame.repartition(1)
    if query.order:
        frame = frame.sortWithinPartitions(*(_sort_key(F, o) for o in query.order))
    return frame


def _rewrite(node: exp.Expression) -> exp.Expression:
    """One node of a DuckDB tree in the Spark form (see the module's table)."""
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name == "epoch_us":
            return exp.Anonymous(this="UNIX_MICROS", expressions=node.expressions)
        if name == "isfinite":
            value = node.expressions[0]
            return exp.LT(this=exp.Abs(this=value.copy()),
                          expression=sqlglot.parse_one("double('inf')", read="spark"))
    if isinstance(node, exp.TimeToUnix):
        micros = exp.Anonymous(this="UNIX_MICROS", expressions=[node.this])
        return exp.Paren(this=exp.Div(this=micros, expression=_double("1000000.0")))
    if isinstance(node, exp.RegexpFullMatch):
        pattern = node.expression
        if not isinstance(pattern, exp.Literal):
            raise ValueError(f"regexp_full_match needs a literal pattern: {node.sql('duckdb')}")
        return exp.RegexpLike(this=node.this,
                              expression=exp.Literal.string(f"^(?:{pattern.name})$"))
    if isinstance(node, exp.DataType) and node.this in _INTEGER_TYPES:
        return exp.DataType.build(_INTEGER_TYPES[node.this], dialect="spark")
    if (isinstance(node, exp.Literal) and not node.is_string and "." in node.name
            and not isinstance(node.parent, exp.Cast)):
        return _double(node.name)
    return node


def _sort_key(functions: Any, ordered: exp.Ordered) -> Column:
    """One ``ORDER BY`` key as a Spark column (direction and null placement kept)."""
    column = functions.expr(ordered.this.sql(dialect="spark"))
    nulls_first = bool(ordered.args.get("nulls_first"))
    if ordered.args.get("desc"):
        return column.desc_nulls_first() if nulls_first else column.desc_nulls_last()
    return column.asc_nulls_first() if nulls_first else column.asc_nulls_last()


def _double(text: str) -> exp.Expression:
    return exp.Cast(this=exp.Literal.number(text), to=exp.DataType.build("DOUBLE"))
