"""Labels files -> canonical labels: ``account_id`` str, ``label`` int8 (1 = abusive), ``ts``.

A row with an account but an empty label value (and no ``labels.values`` entry for ``''``) says
nothing about the account: it is skipped and counted (:class:`LabelRows`), never given a class;
so is a row without an account. Any other value that is neither 0/1 nor translated by
``labels.values`` stops the read with its line, and so does a ``ts`` that is not a plausible
time (the mapping's ``timestamps`` bounds, as for events; ``1/1/15`` is not read as the year 1).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.engine import connect
from ingest.mapping import (
    TS_MAX_FUTURE,
    TS_MIN,
    LabelsSpec,
    Mapping,
    MappingError,
    check_source_columns,
)
from ingest.readers import iter_chunks, source_columns
from ingest.sql import ident, literal
from ingest.validate import timestamp_expr

LABELS_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string()),
        pa.field("label", pa.int8()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
    ]
)
#: The labels section used when a mapping has none: the canonical column names.
CANONICAL_LABELS = LabelsSpec(columns={"account_id": "account_id", "label": "label"})
#: How many lines of skipped rows :class:`LabelRows` keeps, for messages.
_LINES_KEPT = 5

log = logging.getLogger(__name__)


class LabelsError(ValueError):
    """A labels file holds a value that is not a label."""


@dataclass(frozen=True)
class LabelRows:
    """A labels file read by :func:`load_labels`.

    Attributes
    ----------
    table
        The canonical labels (:data:`LABELS_SCHEMA`), one row per account.
    without_label
        Rows with an account id but an empty label value: skipped.
    without_account
        Rows with an empty account id: skipped.
    lines_without_label
        The first few lines (file lines, header is line 1) of the rows without a label value.
    """

    table: pa.Table
    without_label: int = 0
    without_account: int = 0
    lines_without_label: tuple[int, ...] = ()

    def describe_skipped(self) -> str:
        """``"3 rows without a label value (lines 4, 9, 12) skipped"``, or ``""`` if none."""
        parts = []
        if self.without_label:
            lines = ", ".join(map(str, self.lines_without_label))
            more = ", ..." if self.without_label > len(self.lines_without_label) else ""
            parts.append(f"{self.without_label:,} row{'s' if self.without_label != 1 else ''} "
                         f"without a label value (line{'s' if self.without_label != 1 else ''} "
                         f"{lines}{more})")
        if self.without_account:
            parts.append(f"{self.without_account:,} without an account id")
        return " and ".join(parts) + " skipped" if parts else ""


def labels_spec(mapping: Mapping | None) -> LabelsSpec:
    """The mapping's labels section, or the canonical one (``account_id, label``)."""
    return (mapping.labels if mapping is not None else None) or CANONICAL_LABELS


def check_label_times(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike[str],
    mapping: Mapping | None,
    *,
    what: str = "labels file",
    key: str = "labels.ts",
) -> None:
    """Raise :class:`LabelsError` at the first non-empty ``ts_raw`` of the table ``parsed``
    whose ``ts`` is not a time within the mapping's bounds (default: 1970-01-01 to a day from
    now). ``what`` and ``key`` name the file kind and the mapping key in the message."""
    lowest = mapping.ts_min if mapping is not None else TS_MIN
    ahead = mapping.ts_max_future if mapping is not None else TS_MAX_FUTURE
    latest = datetime.now(UTC) + ahead if ahead is not None else None
    upper = f" OR ts > {literal(latest.isoformat())}::TIMESTAMPTZ" if latest else ""
    bad = con.execute(
        "SELECT _line, ts_raw FROM parsed WHERE ts_raw IS NOT NULL AND (ts IS NULL OR "
        f"ts < {literal(lowest.isoformat())}::TIMESTAMPTZ{upper}) ORDER BY _line LIMIT 1"
    ).fetchall()
    if bad:
        line, value = bad[0]
        until = f" to {latest:%Y-%m-%d %H:%M} UTC" if latest else ""
        section, _, column = key.rpartition(".")
        raise LabelsError(
            f"{what} {path}, line {line}: {column} {value!r} is not a time from "
            f"{lowest:%Y-%m-%d}{until} (label times are read as ISO-8601 with the year first, "
            "or epoch seconds / milli- / micro- / nanoseconds, unless "
            f"'{section}.timestamp_format' says their format, e.g. '%d.%m.%Y'); say it, fix "
            f"the file, or leave {key} out of the mapping"
        )


def read_label_rows(path: str | os.PathLike[str], spec: LabelsSpec) -> pa.Table | None:
    """The columns ``spec`` names of a labels file, with ``_line`` (its file line), or ``None``
    when the file holds no rows."""
    columns = list(dict.fromkeys(spec.columns.values()))
    chunks = list(iter_chunks(Path(path), columns, header=spec.header, delimiter=spec.delimiter))
    if not chunks:
        return None
    return pa.concat_tables(c.table for c in chunks).append_column(
        "_line", pa.concat_arrays([c.lines for c in chunks])
    )


def label_sql(spec: LabelsSpec) -> tuple[str, str]:
    """SQL of a row's raw label text and of its 0/1 label (``NULL`` when not translatable)."""
    if "label" in spec.constants:
        return literal(str(spec.constants["label"])), literal(int(spec.constants["label"]))
    raw = f"trim(CAST({ident(spec.columns['label'])} AS VARCHAR))"
    if spec.values:
        # the text first, then the number: YAML's {-1: 1, 1: 0} matches the file's '+1'
        number = f"try_cast({raw} AS DOUBLE)"
        label = "CASE " + " ".join(
            [f"WHEN {raw} = {literal(k)} THEN {v}" for k, v in spec.values.items()]
            + [f"WHEN {number} = {float(k)!r} THEN {v}" for k, v in spec.values.items()
               if _finite(k)]
        ) + " END"
    else:
        label = (
            f"coalesce(try_cast({raw} AS INTEGER), "
            f"CAST(try_cast({raw} AS BOOLEAN) AS INTEGER))"
        )
    return raw, label


def time_sql(table: pa.Table, spec: LabelsSpec, name: str) -> tuple[str, str]:
    """SQL of the time column ``name`` (``ts``, ``known_at``) as a time and as its raw text;
    nulls when ``spec`` does not map it."""
    if name not in spec.columns:
        return "CAST(NULL AS TIMESTAMPTZ)", "CAST(NULL AS VARCHAR)"
    column = spec.columns[name]
    return (timestamp_expr(ident(column), table.schema.field(column).type,
                           spec.timestamp_format),
            f"NULLIF(trim(CAST({ident(column)} AS VARCHAR)), '')")


def _finite(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


#: The condition of a row of ``parsed`` that has no label value (skipped, never given a class).
EMPTY_LABEL = "label IS NULL AND coalesce(raw, '') = ''"


def check_label_values(
    con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str], *, id_column: str,
    what: str = "labels file", section: str = "labels",
) -> None:
    """Raise :class:`LabelsError` at the first row of ``parsed`` with an id and a label value
    that is neither 0/1 nor translated by ``<section>.values``, listing other such values."""
    bad = con.execute(
        f"SELECT min(_line), raw FROM parsed WHERE {id_column} IS NOT NULL AND "
        f"(label IS NULL OR label NOT IN (0, 1)) AND NOT ({EMPTY_LABEL}) "
        "GROUP BY raw ORDER BY min(_line) LIMIT 6"
    ).fetchall()
    if bad:
        line, value = bad[0]
        others = ", ".join(repr(v) for _, v in bad[1:])
        raise LabelsError(
            f"{what} {path}, line {line}: label {value!r} is not 0 or 1"
            + (f" (other such values: {others})" if others else "")
            + "; translate each of the file's values to 1 (abusive) or 0 (legitimate) in "
            f"the mapping, e.g. '{section}: {{values: {{{value!r}: <1 or 0>}}}}'"
        )


def skipped_lines(
    con: duckdb.DuckDBPyConnection, id_column: str
) -> tuple[int, int, tuple[int, ...]]:
    """(rows with an id but no label value, rows without an id, the first lines of the former)
    of the table ``parsed``."""
    without_label, without_id = con.execute(
        f"SELECT count(*) FILTER ({id_column} IS NOT NULL AND {EMPTY_LABEL}), "
        f"count(*) FILTER ({id_column} IS NULL) FROM parsed"
    ).fetchall()[0]
    lines = tuple(line for (line,) in con.execute(
        f"SELECT _line FROM parsed WHERE {id_column} IS NOT NULL AND {EMPTY_LABEL} "
        f"ORDER BY _line LIMIT {_LINES_KEPT}"
    ).fetchall())
    return int(without_label), int(without_id), lines


def check_labels_file(path: str | os.PathLike[str], mapping: Mapping | None) -> None:
    """Raise :class:`MappingError` unless the labels file has every column the mapping names."""
    spec = labels_spec(mapping)
    found = source_columns(Path(path), header=spec.header, delimiter=spec.delimiter)
    if mapping is None or mapping.labels is None:
        missing = [c for c in spec.columns.values() if c not in found]
        if missing:
            where = "no mapping was given" if mapping is None else f"{mapping.path} has no"
            raise MappingError(
                f"labels file {path} lacks column {missing[0]!r} and {where} 'labels:' section "
                f"to say which columns to use; its columns are: {', '.join(map(repr, found))}"
            )
        return
    check_source_columns(mapping, found, str(path), labels=True)


def read_labels(path: str | os.PathLike[str], mapping: Mapping | None) -> pa.Table:
    """The canonical labels of a labels file (:func:`load_labels`'s table; skipped rows are
    logged as a warning)."""
    rows = load_labels(path, mapping)
    if rows.describe_skipped():
        log.warning("labels file %s: %s", path, rows.describe_skipped())
    return rows.table


def load_labels(path: str | os.PathLike[str], mapping: Mapping | None) -> LabelRows:
    """Read a labels file into canonical labels, one row per account, counting skipped rows.

    An account labelled more than once keeps label 1 if any row says 1, and the earliest ``ts``.

    Parameters
    ----------
    path
        The labels file (any format :mod:`ingest.readers` reads).
    mapping
        Its ``labels`` section names the columns, value translation and constants; without
        one, the file must have the canonical columns ``account_id, label[, ts]``.

    Returns
    -------
    LabelRows
        The table (:data:`LABELS_SCHEMA`, sorted by ``account_id``) and the rows skipped for
        an empty label value or account id.

    Raises
    ------
    LabelsError
        When a non-empty label is neither 0/1 nor translated by ``labels.values``; the message
        names the line and the file's other unknown values.
    """
    check_labels_file(path, mapping)
    spec = labels_spec(mapping)
    table = read_label_rows(path, spec)
    if table is None:
        return LabelRows(LABELS_SCHEMA.empty_table())
    account = f"NULLIF(trim(CAST({ident(spec.columns['account_id'])} AS VARCHAR)), '')"
    raw, label = label_sql(spec)
    ts, ts_raw = time_sql(table, spec, "ts")
    con = connect()
    try:
        con.register("labels_raw", table)
        con.execute(
            f"CREATE TEMP TABLE parsed AS SELECT {account} AS account_id, {label} AS label, "
            f"{raw} AS raw, {ts} AS ts, {ts_raw} AS ts_raw, _line FROM labels_raw"
        )
        check_label_times(con, path, mapping)
        check_label_values(con, path, id_column="account_id")
        without_label, without_account, lines = skipped_lines(con, "account_id")
        result = con.sql(
            "SELECT account_id, CAST(max(label) AS TINYINT) AS label, min(ts) AS ts FROM parsed "
            f"WHERE account_id IS NOT NULL AND NOT ({EMPTY_LABEL}) GROUP BY account_id "
            "ORDER BY account_id"
        ).to_arrow_table()
    finally:
        con.close()
    return LabelRows(result.cast(LABELS_SCHEMA), without_label, without_account, lines)
