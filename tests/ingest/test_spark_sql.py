"""DuckDB SQL -> Spark SQL (ingest/spark_sql.py): the rewrites, checked on the text."""

from __future__ import annotations

import pytest

from ingest.spark_sql import to_spark_sql


def test_translation_keeps_literals_and_quotes_identifiers():
    sql = ('SELECT "a""b", epoch(x.ts) % 86400, avg(CASE WHEN y THEN 1.0 ELSE 0.0 END), '
           "CAST(NULL AS VARCHAR), CAST(NULL AS TIMESTAMPTZ) FROM t WHERE s = 'it''s \"1.0\"'")
    assert to_spark_sql(sql).sql == (
        "SELECT `a\"b`, (UNIX_MICROS(x.ts) / CAST(1000000.0 AS DOUBLE)) % 86400, "
        "AVG(CASE WHEN y THEN CAST(1.0 AS DOUBLE) ELSE CAST(0.0 AS DOUBLE) END), "
        "CAST(NULL AS STRING), CAST(NULL AS TIMESTAMP) FROM t WHERE s = 'it\\'s \"1.0\"'")


def test_duckdb_only_functions_and_types_are_rewritten():
    query = to_spark_sql(
        "SELECT * EXCLUDE (a, b), epoch_us(ts), isfinite(x), regexp_full_match(ip, '(?i)a|b'), "
        "CAST(y AS UBIGINT) FROM t")
    assert query.drop == ("a", "b")
    assert query.sql == (
        "SELECT *, UNIX_MICROS(ts), ABS(x) < CAST('inf' AS DOUBLE), "
        "ip RLIKE '^(?:(?i)a|b)$', CAST(y AS DECIMAL(20, 0)) FROM t")


def test_a_computed_regex_pattern_is_refused():
    with pytest.raises(ValueError, match="literal pattern"):
        to_spark_sql("SELECT regexp_full_match(ip, p) FROM t")


def test_the_top_level_order_is_taken_out_on_request():
    sql = "WITH a AS (SELECT x FROM t ORDER BY x) SELECT id, x FROM a ORDER BY id, x DESC"
    assert to_spark_sql(sql).order == ()
    query = to_spark_sql(sql, take_order=True)
    assert query.sql == "WITH a AS (SELECT x FROM t ORDER BY x NULLS LAST) SELECT id, x FROM a"
    assert [(o.this.sql(), bool(o.args.get("desc"))) for o in query.order] == [
        ("id", False), ("x", True)]
