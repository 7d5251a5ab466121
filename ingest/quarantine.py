"""The quarantine: rows that failed validation, kept with their file, line and reason.

Bad rows are staged beside the good ones (``_reason`` not null in the table ``staged``, see
:mod:`ingest.staging`), with the original text of the source columns in ``_raw``. This module
reads them back out: the first one (for an error message), all of them as a table, and adds
that table to the quarantine file of earlier runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.files import write_parquet_atomic
from ingest.sql import ident, literal

log = logging.getLogger(__name__)


def quarantine_rows(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], source_columns: Sequence[str]
) -> pa.Table:
    """The rejected staged rows: source file, line, reason and their original values as text.

    Parameters
    ----------
    con
        The connection holding the table ``staged``.
    files
        The staged files, in the order of their ``_file`` index.
    source_columns
        The mapping's source columns, in the order of ``_raw``.
    """
    names = literal([str(p) for p in files])
    raw = ", ".join(f"_raw[{i + 1}] AS {ident(name)}" for i, name in enumerate(source_columns))
    return con.sql(
        f"SELECT {names}[_file + 1] AS source_file, _line AS line, _reason AS reason, {raw} "
        "FROM staged WHERE _reason IS NOT NULL ORDER BY _file, _line"
    ).to_arrow_table()


def first_bad_row(con: duckdb.DuckDBPyConnection) -> tuple[int, int, str]:
    """The first rejected staged row (by file, then line): its file index, line and reason."""
    index, line, reason = con.execute(
        "SELECT _file, _line, _reason FROM staged WHERE _reason IS NOT NULL "
        "ORDER BY _file, _line LIMIT 1"
    ).fetchall()[0]
    return index, line, reason


def merge_quarantine(table: pa.Table, target: Path) -> None:
    """Add the rows of ``table`` to the quarantine file ``target`` (atomically)."""
    added = table.num_rows
    if target.is_file():
        table = pa.concat_tables([pq.read_table(target), table], promote_options="permissive")
    log.debug("quarantine %s: %d rows added, %d in all", target, added, table.num_rows)
    write_parquet_atomic(table, target)


def describe_reasons(reasons: dict[str, int], most: int | None = None) -> str:
    """``"unparseable ts 12, malformed ip 3"``: the reasons, most common first (then by name);
    only the ``most`` common when given."""
    ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:most]
    return ", ".join(f"{reason} {n:,}" for reason, n in ranked)
