"""Labels files -> canonical labels: ``account_id`` str, ``label`` int8 (1 = abusive), ``ts``."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from ingest.engine import connect
from ingest.mapping import LabelsSpec, Mapping, MappingError, check_source_columns
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


class LabelsError(ValueError):
    """A labels file holds a value that is not a label."""


def labels_spec(mapping: Mapping | None) -> LabelsSpec:
    """The mapping's labels section, or the canonical one (``account_id, label``)."""
    return (mapping.labels if mapping is not None else None) or CANONICAL_LABELS


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
    """Read a labels file into canonical labels, one row per account.

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
    pyarrow.Table
        With :data:`LABELS_SCHEMA`, sorted by ``account_id``.

    Raises
    ------
    LabelsError
        When a label is neither 0/1 nor translated by ``labels.values``.
    """
    check_labels_file(path, mapping)
    spec = labels_spec(mapping)
    columns = list(dict.fromkeys(spec.columns.values()))
    chunks = list(iter_chunks(Path(path), columns, header=spec.header, delimiter=spec.delimiter))
    if not chunks:
        return LABELS_SCHEMA.empty_table()
    table = pa.concat_tables(c.table for c in chunks).append_column(
        "_line", pa.concat_arrays([c.lines for c in chunks])
    )
    account = f"NULLIF(trim(CAST({ident(spec.columns['account_id'])} AS VARCHAR)), '')"
    if "label" in spec.constants:
        raw, label = literal(str(spec.constants["label"])), literal(int(spec.constants["label"]))
    else:
        raw = f"trim(CAST({ident(spec.columns['label'])} AS VARCHAR))"
        if spec.values:
            label = "CASE " + " ".join(
                f"WHEN {raw} = {literal(k)} THEN {v}" for k, v in spec.values.items()
            ) + " END"
        else:
            label = (
                f"coalesce(try_cast({raw} AS INTEGER), "
                f"CAST(try_cast({raw} AS BOOLEAN) AS INTEGER))"
            )
    if "ts" in spec.columns:
        ts_col = spec.columns["ts"]
        ts = timestamp_expr(ident(ts_col), table.schema.field(ts_col).type, None)
    else:
        ts = "CAST(NULL AS TIMESTAMPTZ)"
    con = connect()
    try:
        con.register("labels_raw", table)
        con.execute(
            f"CREATE TEMP TABLE parsed AS SELECT {account} AS account_id, {label} AS label, "
            f"{raw} AS raw, {ts} AS ts, _line FROM labels_raw"
        )
        bad = con.execute(
            "SELECT _line, raw FROM parsed WHERE account_id IS NOT NULL AND "
            "(label IS NULL OR label NOT IN (0, 1)) ORDER BY _line LIMIT 1"
        ).fetchall()
        if bad:
            line, value = bad[0]
            raise LabelsError(
                f"labels file {path}, line {line}: label {value!r} is not 0 or 1; translate the "
                f"file's values with 'labels: {{values: {{{value!r}: 1}}}}' in the mapping"
            )
        result = con.sql(
            "SELECT account_id, CAST(max(label) AS TINYINT) AS label, min(ts) AS ts FROM parsed "
            "WHERE account_id IS NOT NULL GROUP BY account_id ORDER BY account_id"
        ).to_arrow_table()
    finally:
        con.close()
    return result.cast(LABELS_SCHEMA)
