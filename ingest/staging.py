"""Staging: the new files mapped and validated into the DuckDB table ``staged``, rows counted.

The staged path of the ingest (:mod:`ingest.run`), taken whenever the fast path
(:mod:`ingest.direct`) cannot be: other formats than CSV, a bad or rejected row, an ``event_id``
repeated within the run or already stored. ``staged`` holds the canonical event columns,
``_reason`` (null for good rows), ``_file`` (the file's index among the new files), ``_line``
and, for bad rows, the raw text of the source columns (``_raw``); DuckDB spills it to disk
beyond its memory limit, so rows never pile up in Python.

CSV files go through DuckDB's parallel CSV reader, first unnumbered (any order, every core); a
file is staged again in file order, numbered, only when its lines matter: it has a bad or
rejected row (the quarantine names the line) or repeats an ``event_id`` within itself
(deduplication keeps the first occurrence by line). Other formats stream in as Arrow chunks
from :func:`ingest.readers.iter_chunks`, numbered as they are read.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.plan import IngestPlan
from ingest.progress import ProgressDisplay
from ingest.readers import Chunk, file_format
from ingest.sql import literal
from ingest.state import file_facts

log = logging.getLogger(__name__)


@dataclass
class StagedFiles:
    """What :func:`stage` staged.

    Attributes
    ----------
    facts
        The ingest state's entry of each new file, by state key (rows read, rows quarantined).
    rows_in
        Rows read from all new files, bad rows included.
    reasons
        Number of bad rows by reason.
    """

    facts: dict[str, dict[str, object]] = field(default_factory=dict)
    rows_in: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined(self) -> int:
        """Number of bad rows."""
        return sum(self.reasons.values())


def stage(
    con: duckdb.DuckDBPyConnection,
    new: list[tuple[Path, str]],
    plans: Sequence[IngestPlan],
    show: ProgressDisplay,
    *,
    numbered: set[int],
) -> StagedFiles:
    """Map and validate every new file into the DuckDB table ``staged``; count the rows.

    Parameters
    ----------
    con
        The run's connection; ``staged`` is created by the first file with rows.
    new
        The new files with their ingest state keys; ``_file`` is the index into it.
    plans
        How to read and map each file (one plan per new file, :func:`ingest.plan.source_plans`);
        all write the same event columns.
    show
        The progress display (one task, in bytes read).
    numbered
        Indices of CSV files known to hold bad rows: read in file order, numbered, at once.
    """
    task = show.add("reading", total=sum(p.stat().st_size for p, _ in new))
    staged = StagedFiles()
    for index, (path, key) in enumerate(new):
        show.update(task, description=f"reading {path.name}", info="")
        plan = plans[index]
        rows = _stage_csv(con, index, path, plan, numbered=index in numbered)
        if rows is None:
            rows = _stage_chunks(con, index, path, plan, _RowCounter(show, task))
        show.advance(task, path.stat().st_size)
        staged.facts[key] = file_facts(path, rows)
        staged.rows_in += rows
    if not has_staged(con):
        return staged
    bad = con.execute(
        "SELECT _file, _reason, count(*) FROM staged WHERE _reason IS NOT NULL GROUP BY ALL"
    ).fetchall()
    reasons: Counter[str] = Counter()
    for index, reason, n in bad:
        reasons[reason] += n
        facts = staged.facts[new[index][1]]
        facts["quarantined"] = int(facts["quarantined"]) + n
    staged.reasons = dict(reasons)
    log.debug("staged %d rows of %d files, %d bad", staged.rows_in, len(new),
              staged.quarantined)
    return staged


def has_staged(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the table ``staged`` exists (no file had rows when it does not)."""
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'staged'"
    ).fetchall()[0][0])


def number_repeating_files(
    con: duckdb.DuckDBPyConnection, new: list[tuple[Path, str]], plans: Sequence[IngestPlan]
) -> None:
    """Stage again, numbered, every unnumbered file that repeats an ``event_id`` within itself.

    Deduplication keeps the first occurrence by file, then line, so those files need lines.
    """
    files = con.execute(
        "SELECT DISTINCT _file FROM staged WHERE _reason IS NULL AND _line IS NULL "
        "GROUP BY _file, event_id HAVING count(*) > 1 ORDER BY _file"
    ).fetchall()
    for (index,) in files:
        log.debug("%s repeats an event_id: staging it again in file order", new[index][0])
        _unstage(con, index)
        _scan_csv(con, index, new[index][0], plans[index], numbered=True)


def _stage_csv(
    con: duckdb.DuckDBPyConnection, index: int, path: Path, plan: IngestPlan, *, numbered: bool
) -> int | None:
    """Stage a CSV file through DuckDB's parallel CSV reader; return its row count.

    ``None`` when the file is not a CSV file DuckDB can read (the caller streams it instead).
    Unless ``numbered``, the file is read first on every core without line numbers; only when
    a row is rejected or invalid (the quarantine names its line) is it staged again in file
    order, numbered.
    """
    if file_format(path) != "csv":
        return None
    rows = _scan_csv(con, index, path, plan, numbered=numbered)
    if rows is None or _numbered_or_clean(con, index):
        return rows
    log.debug("%s has bad rows: staging it again in file order", path)
    _unstage(con, index)
    return _scan_csv(con, index, path, plan, numbered=True)


def _scan_csv(
    con: duckdb.DuckDBPyConnection, index: int, path: Path, plan: IngestPlan, *, numbered: bool
) -> int | None:
    """Stage the CSV file ``path`` as file ``index``, ``numbered`` or not (see
    :func:`ingest.readers.csv_scan_sql`); return its row count, rejected rows included.

    Numbered, the rows DuckDB rejected are staged with their reason and the lines of the bad
    rows it accepted are corrected for the rejected lines before them; unnumbered, a rejected
    row makes the file staged again, numbered.
    """
    rejects = f"_rejects_{index}"
    names = plan.csv_view(con, path, "source", rejects=rejects, numbered=numbered)
    if names is None:
        return None
    sql = plan.csv_transform(names, "source", keep_raw=True)
    # Row numbers follow the file order only while DuckDB keeps it.
    con.execute(f"SET preserve_insertion_order = {literal(numbered)}")
    try:
        rows = _insert_staged(con, f"SELECT {index} AS _file, * FROM ({sql})")
    finally:
        con.execute("SET preserve_insertion_order = false")
    con.execute("DROP VIEW source")
    log.debug("staged %s through DuckDB's CSV reader (numbered: %s): %d rows", path, numbered,
              rows)
    rejected = plan.rejected_rows(con, rejects, path, names)
    if rejected is None:
        return rows
    if not numbered:
        log.debug("%s has rows DuckDB rejected: staging it again in file order", path)
        _unstage(con, index)
        return _scan_csv(con, index, path, plan, numbered=True)
    skipped = literal(rejected.lines.to_pylist())
    first = 2 if plan.header is None else 1
    # Only bad rows need their true line (good rows keep their order, which is all dedup uses).
    con.execute(
        f"UPDATE staged SET _line = _line + (SELECT count(*) FROM "
        f"(SELECT unnest({skipped}) AS line, generate_subscripts({skipped}, 1) AS i) "
        f"WHERE line - {first} - (i - 1) <= staged._line - {first}) "
        f"WHERE _file = {index} AND _reason IS NOT NULL"
    )
    return rows + _stage_arrow(con, index, plan, rejected.table.schema, iter([rejected]))


def _numbered_or_clean(con: duckdb.DuckDBPyConnection, index: int) -> bool:
    """Whether every bad row of file ``index`` (if any) has its line number."""
    return not con.execute(
        f"SELECT count(*) FROM staged WHERE _file = {index} AND _reason IS NOT NULL "
        "AND _line IS NULL"
    ).fetchall()[0][0]


def _unstage(con: duckdb.DuckDBPyConnection, index: int) -> None:
    con.execute(f"DELETE FROM staged WHERE _file = {index}")


def _stage_chunks(
    con: duckdb.DuckDBPyConnection, index: int, path: Path, plan: IngestPlan,
    counter: _RowCounter,
) -> int:
    """Stage a file streamed in chunks by :func:`ingest.readers.iter_chunks`; return its rows."""
    chunks = plan.chunks(path)
    first = next(chunks, None)
    if first is None:
        return 0
    rows = _stage_arrow(con, index, plan, first.table.schema, itertools.chain([first], chunks),
                        counter)
    log.debug("staged %s in chunks: %d rows", path, rows)
    return rows


def _stage_arrow(
    con: duckdb.DuckDBPyConnection,
    index: int,
    plan: IngestPlan,
    schema: pa.Schema,
    chunks: Iterator[Chunk],
    counter: _RowCounter | None = None,
) -> int:
    """Map and validate ``chunks`` (of source columns ``schema``) into ``staged``."""
    reader = pa.RecordBatchReader.from_batches(_with_row_columns(schema),
                                               _source_batches(chunks, counter))
    con.register("source", reader)
    try:
        sql = plan.transform(schema, "source", keep_raw=True)
        return _insert_staged(con, f"SELECT {index} AS _file, * FROM ({sql})")
    finally:
        con.unregister("source")


def _insert_staged(con: duckdb.DuckDBPyConnection, select: str) -> int:
    """Add the rows of ``select`` to the table ``staged`` (created by the first call)."""
    verb = "INSERT INTO staged" if has_staged(con) else "CREATE TABLE staged AS"
    return int(con.execute(f"{verb} {select}").fetchall()[0][0])


class _RowCounter:
    """Counts the rows streamed from one file and shows them on the progress display."""

    def __init__(self, show: ProgressDisplay, task: int) -> None:
        self.rows = 0
        self._show, self._task = show, task

    def add(self, n: int) -> None:
        self.rows += n
        self._show.update(self._task, info=f"{self.rows:,} rows")


def _source_batches(
    chunks: Iterator[Chunk], counter: _RowCounter | None
) -> Iterator[pa.RecordBatch]:
    """Chunks as record batches with their ``_line`` and ``_error`` columns."""
    for chunk in chunks:
        n = chunk.table.num_rows
        errors = chunk.errors if chunk.errors is not None else pa.nulls(n, pa.string())
        table = chunk.table.append_column("_line", chunk.lines).append_column("_error", errors)
        if counter is not None:
            counter.add(n)
        yield from table.combine_chunks().to_batches()


def _with_row_columns(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field("_line", pa.int64())).append(pa.field("_error", pa.string()))
