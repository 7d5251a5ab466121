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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_INTEGER_TYPES = {
    exp.DataType.Type.UBIGINT: "DECIMAL(20, 0)",
    exp.DataType.Type.INT128: "DECIMAL(38, 0)",
}


@dataclass(frozen=True)
class SparkQuery:
    """A DuckDB query in Spark SQL: ``sql``, and the columns to drop from its result."""

    sql: str
    drop: tuple[str, ...] = ()


def to_spark_sql(sql: str) -> SparkQuery:
    """Translate the DuckDB query ``sql`` to Spark SQL.

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
    return SparkQuery(tree.sql(dialect="spark"), tuple(drop))


def run_sql(spark: SparkSession, sql: str) -> DataFrame:
    """Run the DuckDB query ``sql`` on ``spark`` (transpiled by :func:`to_spark_sql`)."""
    query = to_spark_sql(sql)
    frame = spark.sql(query.sql)
    return frame.drop(*query.drop) if query.drop else frame


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


def _double(text: str) -> exp.Expression:
    return exp.Cast(this=exp.Literal.number(text), to=exp.DataType.build("DOUBLE"))
