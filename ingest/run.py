"""Logs -> validated, deduplicated canonical events, partitioned by day; incremental.

:func:`ingest_logs` is the whole ingest stage. Its promises:

* **Nothing is lost without a trace**: rows in = accepted + quarantined + duplicates, checked on
  every run and reported by :class:`IngestSummary`.
* **Schema problems stop before any work**: every new file's columns are checked against the
  mapping (and the labels file against its section) before a row is read.
* **Incremental and idempotent**: files whose content (SHA-256) was already ingested with the
  same mapping are skipped; events are deduplicated by ``event_id`` against each other and
  against the events already stored (on any day), so re-running changes nothing.
* **Atomic**: a few clean CSV files are written straight to new day files by DuckDB's
  parallel CSV reader (:mod:`ingest.direct`); anything else (other formats, a bad row, a
  repeated or already stored ``event_id``) streams into a DuckDB staging table (CSV files
  through the same reader, other formats as Arrow chunks; spilling to a hidden directory
  beyond its memory limit). Either way new day files are written in a hidden staging folder
  and moved into place only after the whole input is read, deduplicated and the bad-row
  fraction is within bounds; ``quarantine.parquet``, the labels and the state file are each
  replaced by a rename.
* **Bounded memory**: readers yield fixed-size chunks and DuckDB spills beyond
  ``ABUSENET_DUCKDB_MEMORY`` (default 2GB), so memory does not grow with the input.

Layout of an events directory::

    day=YYYY-MM-DD/part-*.parquet   canonical events (ingest.validate.event_schema), UTC days
    labels.parquet                  canonical labels, when a labels file was given
    quarantine.parquet              rejected rows (default place), all runs together
    _ingest_state.json              ingested file checksums, entity types, attributes
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.direct import direct_candidates, write_clean_csv
from ingest.engine import DAY_FILE_PARQUET_OPTIONS, connect
from ingest.files import write_parquet_atomic
from ingest.labels import read_labels
from ingest.mapping import Mapping, check_source_columns, load_mapping
from ingest.readers import (
    Chunk,
    csv_source_view,
    file_checksum,
    file_format,
    iter_chunks,
    rejected_csv_rows,
    resolve_inputs,
    source_columns,
)
from ingest.sql import ident, literal
from ingest.state import IngestState
from ingest.store import EVENTS_GLOB, LABELS_FILE, QUARANTINE_FILE, count_events, event_files
from ingest.validate import event_schema, transform_sql


class TooManyBadRows(ValueError):
    """More rows failed validation than ``max_bad_fraction`` allows; nothing was written."""


@dataclass
class IngestSummary:
    """What one :func:`ingest_logs` call did.

    ``rows_in == accepted + quarantined + duplicates`` always holds (``balanced``).
    """

    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    files_new: int = 0
    files_skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    events_total: int = 0
    labels: int | None = None
    label_positives: int | None = None
    seconds: float = 0.0
    events_dir: str = ""
    quarantine_path: str | None = None

    @property
    def balanced(self) -> bool:
        """Whether every input row is accounted for."""
        return self.rows_in == self.accepted + self.quarantined + self.duplicates

    def __str__(self) -> str:
        files = f"{self.files_new} new file{'s' if self.files_new != 1 else ''}"
        if self.files_skipped:
            files += f" ({self.files_skipped} already ingested, skipped)"
        text = (
            f"Ingested {files}: {self.rows_in:,} rows in = {self.accepted:,} accepted + "
            f"{self.quarantined:,} quarantined + {self.duplicates:,} duplicates removed."
        )
        if self.reasons:
            why = ", ".join(f"{r} {n:,}" for r, n in sorted(self.reasons.items(), key=_by_count))
            text += f" Quarantine reasons: {why}; rows kept in {self.quarantine_path}."
        text += f" {self.events_dir} now holds {self.events_total:,} events."
        if self.labels is not None:
            text += f" Labels: {self.labels:,} accounts, {self.label_positives:,} labelled abusive."
        rate = self.rows_in / self.seconds if self.seconds > 0 else 0.0
        text += f" Took {self.seconds:.1f} s ({rate:,.0f} rows/s)."
        return text


def ingest_logs(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    mapping: Mapping | str | os.PathLike[str],
    events_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | None = None,
    max_bad_fraction: float = 0.01,
    quarantine_path: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> IngestSummary:
    """Ingest log files into the canonical events directory ``events_dir``.

    Parameters
    ----------
    inputs
        Files, directories or glob patterns (CSV/TSV, Parquet, JSON lines; optionally gzip).
    mapping
        A :class:`~ingest.mapping.Mapping` or the path of a mapping YAML.
    events_dir
        Where the canonical events live; created when missing, appended to otherwise.
    labels
        Optional labels file; converted with the mapping's ``labels`` section and written to
        ``events_dir/labels.parquet`` (replacing earlier labels).
    max_bad_fraction
        Largest fraction of this run's rows that may be quarantined; above it nothing is
        written and :class:`TooManyBadRows` is raised.
    quarantine_path
        Where rejected rows go (default ``events_dir/quarantine.parquet``); rows of later runs
        are added to those of earlier ones. Not created when no row was ever rejected.
    progress
        Show a progress display on stderr.

    Returns
    -------
    IngestSummary
        Row and file counts of this run; ``str()`` gives a one-paragraph summary.

    Raises
    ------
    ingest.mapping.MappingError
        A mapped column is missing from a file (before any work is done).
    ingest.readers.InputError
        An input matches no file or a file cannot be read.
    TooManyBadRows
        Too many rows failed validation.

    Examples
    --------
    >>> mapping = "configs/mappings/amlsim.yaml"
    >>> summary = ingest_logs("logs/", mapping, "out/events")  # doctest: +SKIP
    >>> print(summary)  # doctest: +SKIP
    """
    started = time.perf_counter()
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    if not 0.0 <= max_bad_fraction <= 1.0:
        raise ValueError(f"max_bad_fraction must be within [0, 1], got {max_bad_fraction}")
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    events_dir = Path(events_dir)
    quarantine = Path(quarantine_path) if quarantine_path else events_dir / QUARANTINE_FILE
    files = resolve_inputs(inputs)
    state = IngestState.load(events_dir)
    state.add_schema(mapping)
    summary = IngestSummary(events_dir=str(events_dir))

    with _progress(progress) as show:
        new, skipped = _new_files(files, state, mapping.fingerprint(), show)
        summary.files_new, summary.files_skipped = len(new), len(skipped)
        for path, _ in new:
            found = source_columns(path, header=mapping.header, delimiter=mapping.delimiter)
            check_source_columns(mapping, found, str(path))
        label_table = read_labels(labels, mapping) if labels is not None else None

        events_dir.mkdir(parents=True, exist_ok=True)
        staging = events_dir / f".staging-{uuid.uuid4().hex}"
        con = connect(staging / "spill")
        try:
            per_file, dirty = _ingest_direct(con, new, mapping, staging, events_dir, show,
                                             summary)
            if per_file is None:
                per_file = _stage(con, new, mapping, show, summary, numbered=dirty)
                repeated = _has_staged(con) and _repeats_event_ids(con)
                if repeated:
                    _number_repeating_files(con, new, mapping)
                _check_bad_fraction(con, summary, max_bad_fraction, new)
                if summary.rows_in > summary.quarantined:
                    written = _store_events(con, staging, events_dir,
                                            event_schema(mapping).names, repeated=repeated)
                    summary.accepted = written
                    summary.duplicates = summary.rows_in - summary.quarantined - written
                if summary.quarantined:
                    _merge_quarantine(_quarantine_rows(con, new, mapping), quarantine)
            if quarantine.is_file():
                summary.quarantine_path = str(quarantine)
            if label_table is not None:
                write_parquet_atomic(label_table, events_dir / LABELS_FILE)
            state.files.update(per_file)
            state.save(events_dir)
        finally:
            con.close()
            shutil.rmtree(staging, ignore_errors=True)

    if not summary.balanced:
        raise RuntimeError(f"row accounting does not balance, which is a bug: {summary}")
    summary.events_total = count_events(events_dir)
    if label_table is not None:
        summary.labels = label_table.num_rows
        summary.label_positives = int(pc.sum(label_table.column("label")).as_py() or 0)
    summary.seconds = time.perf_counter() - started
    return summary


def _new_files(
    files: list[Path], state: IngestState, fingerprint: str, show: _Progress
) -> tuple[list[tuple[Path, str]], list[Path]]:
    """Split ``files`` into (new files with their state key, already ingested files)."""
    new: list[tuple[Path, str]] = []
    skipped: list[Path] = []
    seen: set[str] = set()
    task = show.add("checksums", total=sum(p.stat().st_size for p in files))
    for path in files:
        key = f"{file_checksum(path)}:{fingerprint}"
        show.advance(task, path.stat().st_size)
        if key in state.files or key in seen:
            skipped.append(path)
        else:
            seen.add(key)
            new.append((path, key))
    return new, skipped


def _ingest_direct(
    con: duckdb.DuckDBPyConnection,
    new: list[tuple[Path, str]],
    mapping: Mapping,
    staging: Path,
    events_dir: Path,
    show: _Progress,
    summary: IngestSummary,
) -> tuple[dict[str, dict[str, object]] | None, set[int]]:
    """Ingest clean CSV files without staging them (:mod:`ingest.direct`).

    Returns (the per-file facts, ``set()``) when done; (``None``, indices of the files found
    with bad rows) when the files must be staged instead: not a few CSV files, a bad or
    rejected row, an ``event_id`` repeated within the run or already stored.
    """
    paths = [p for p, _ in new]
    if not direct_candidates(paths):
        return None, set()
    size = sum(p.stat().st_size for p in paths)
    task = show.add("reading", total=size)
    show.describe(task, "reading " + ", ".join(p.name for p in paths))
    out = staging / "events"
    result = write_clean_csv(con, paths, mapping, event_schema(mapping).names, out,
                             uuid.uuid4().hex[:12])
    if result is None or not result.clean or _repeats_or_known_ids(con, out, events_dir):
        shutil.rmtree(out, ignore_errors=True)
        return None, result.dirty if result is not None else set()
    show.advance(task, size)
    _move_days(out, events_dir)
    summary.rows_in = summary.accepted = sum(result.rows)
    return {key: _file_facts(path, rows) for (path, key), rows in zip(new, result.rows,
                                                                     strict=True)}, set()


def _repeats_or_known_ids(
    con: duckdb.DuckDBPyConnection, out: Path, events_dir: Path
) -> bool:
    """Whether the events written under ``out`` repeat an ``event_id`` among themselves or
    one already stored in ``events_dir`` (only ``event_id`` columns are read)."""
    written = [str(p) for p in out.glob(EVENTS_GLOB)]
    if not written:
        return False
    fresh = f"read_parquet({literal(written)})"
    if _repeats_ids(con, fresh):
        return True
    stored = [str(p) for p in event_files(events_dir)]
    return bool(stored) and bool(con.execute(
        f"SELECT count(*) FROM read_parquet({literal(stored)}, union_by_name = true) "
        f"WHERE event_id IN (SELECT event_id FROM {fresh})"
    ).fetchall()[0][0])


def _file_facts(path: Path, rows: int) -> dict[str, object]:
    """The ingest state's entry for a new file (its quarantined rows are added later)."""
    return {"path": str(path), "rows_in": rows, "quarantined": 0,
            "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _stage(
    con: duckdb.DuckDBPyConnection,
    new: list[tuple[Path, str]],
    mapping: Mapping,
    show: _Progress,
    summary: IngestSummary,
    *,
    numbered: set[int],
) -> dict[str, dict[str, object]]:
    """Map and validate every new file into the DuckDB table ``staged``; count the rows.

    The chunks stream from the reader straight into DuckDB (which spills to disk beyond its
    memory limit), so rows never pile up in Python. ``staged`` holds the canonical columns,
    ``_reason`` (null for good rows), ``_file`` (index into ``new``), ``_line`` and the raw
    text of bad rows. CSV files whose index is in ``numbered`` (known to hold bad rows) are
    read in file order, numbered, at once.
    """
    task = show.add("reading", total=sum(p.stat().st_size for p, _ in new))
    per_file: dict[str, dict[str, object]] = {}
    for index, (path, key) in enumerate(new):
        show.describe(task, f"reading {path.name}")
        rows = _stage_csv(con, index, path, mapping, numbered=index in numbered)
        if rows is None:
            rows = _stage_chunks(con, index, path, mapping, _RowCounter(show, task, path.name))
        show.advance(task, path.stat().st_size)
        per_file[key] = _file_facts(path, rows)
        summary.rows_in += rows
    if not _has_staged(con):
        return per_file
    bad = con.execute(
        "SELECT _file, _reason, count(*) FROM staged WHERE _reason IS NOT NULL GROUP BY ALL"
    ).fetchall()
    reasons: Counter[str] = Counter()
    for index, reason, n in bad:
        reasons[reason] += n
        facts = per_file[new[index][1]]
        facts["quarantined"] = int(facts["quarantined"]) + n
    summary.quarantined = sum(reasons.values())
    summary.reasons = dict(reasons)
    return per_file


def _stage_csv(
    con: duckdb.DuckDBPyConnection, index: int, path: Path, mapping: Mapping, *, numbered: bool
) -> int | None:
    """Stage a CSV file through DuckDB's parallel CSV reader; return its row count.

    ``None`` when the file is not a CSV file DuckDB can read (the caller streams it instead).
    Unless ``numbered``, the file is read first on every core without line numbers; only when
    a row is rejected or invalid (the quarantine names its line) is it staged again in file
    order, numbered.
    """
    if file_format(path) != "csv":
        return None
    rows = _scan_csv(con, index, path, mapping, numbered=numbered)
    if rows is None or _numbered_or_clean(con, index):
        return rows
    _unstage(con, index)
    return _scan_csv(con, index, path, mapping, numbered=True)


def _scan_csv(
    con: duckdb.DuckDBPyConnection, index: int, path: Path, mapping: Mapping, *, numbered: bool
) -> int | None:
    """Stage the CSV file ``path`` as file ``index``, ``numbered`` or not (see
    :func:`ingest.readers.csv_scan_sql`); return its row count, rejected rows included.

    Numbered, the rows DuckDB rejected are staged with their reason and the lines of the bad
    rows it accepted are corrected for the rejected lines before them; unnumbered, a rejected
    row makes the file staged again, numbered.
    """
    rejects = f"_rejects_{index}"
    names = csv_source_view(con, path, "source", header=mapping.header,
                            delimiter=mapping.delimiter, rejects=rejects, numbered=numbered)
    if names is None:
        return None
    text = pa.schema([(c, pa.string()) for c in names])
    sql = transform_sql(mapping, text, table="source", keep_raw=True)
    # Row numbers follow the file order only while DuckDB keeps it.
    con.execute(f"SET preserve_insertion_order = {literal(numbered)}")
    try:
        rows = _insert_staged(con, f"SELECT {index} AS _file, * FROM ({sql})")
    finally:
        con.execute("SET preserve_insertion_order = false")
    con.execute("DROP VIEW source")
    rejected = rejected_csv_rows(con, rejects, path, names, mapping.source_columns(),
                                 mapping.delimiter)
    if rejected is None:
        return rows
    if not numbered:
        _unstage(con, index)
        return _scan_csv(con, index, path, mapping, numbered=True)
    skipped = literal(rejected.lines.to_pylist())
    first = 2 if mapping.header is None else 1
    # Only bad rows need their true line (good rows keep their order, which is all dedup uses).
    con.execute(
        f"UPDATE staged SET _line = _line + (SELECT count(*) FROM "
        f"(SELECT unnest({skipped}) AS line, generate_subscripts({skipped}, 1) AS i) "
        f"WHERE line - {first} - (i - 1) <= staged._line - {first}) "
        f"WHERE _file = {index} AND _reason IS NOT NULL"
    )
    return rows + _stage_arrow(con, index, mapping, rejected.table.schema, iter([rejected]))


def _numbered_or_clean(con: duckdb.DuckDBPyConnection, index: int) -> bool:
    """Whether every bad row of file ``index`` (if any) has its line number."""
    return not con.execute(
        f"SELECT count(*) FROM staged WHERE _file = {index} AND _reason IS NOT NULL "
        "AND _line IS NULL"
    ).fetchall()[0][0]


def _unstage(con: duckdb.DuckDBPyConnection, index: int) -> None:
    con.execute(f"DELETE FROM staged WHERE _file = {index}")


def _repeats_event_ids(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether two good staged rows share an ``event_id``."""
    return _repeats_ids(con, "(SELECT event_id FROM staged WHERE _reason IS NULL)")


def _repeats_ids(con: duckdb.DuckDBPyConnection, rows: str) -> bool:
    """Whether two of ``rows`` (a table expression with ``event_id``) share an ``event_id``.

    Distinct 64-bit hashes prove the ids distinct, at about a quarter less CPU than distinct
    strings (3M ids: 0.5 vs 0.7 s); only when two hashes meet (a repeat, or a collision,
    about n^2 / 2^65 likely) are the ids themselves compared. A distinct count costs about a
    third less than grouping with HAVING count(*) > 1.
    """
    def repeats(key: str) -> bool:
        return bool(con.execute(
            f"SELECT count(*) - count(DISTINCT {key}) FROM {rows}").fetchall()[0][0])

    return repeats("hash(event_id)") and repeats("event_id")


def _number_repeating_files(
    con: duckdb.DuckDBPyConnection, new: list[tuple[Path, str]], mapping: Mapping
) -> None:
    """Stage again, numbered, every unnumbered file that repeats an ``event_id`` within itself.

    Deduplication keeps the first occurrence by file, then line, so those files need lines.
    """
    files = con.execute(
        "SELECT DISTINCT _file FROM staged WHERE _reason IS NULL AND _line IS NULL "
        "GROUP BY _file, event_id HAVING count(*) > 1 ORDER BY _file"
    ).fetchall()
    for (index,) in files:
        _unstage(con, index)
        _scan_csv(con, index, new[index][0], mapping, numbered=True)


def _stage_chunks(
    con: duckdb.DuckDBPyConnection, index: int, path: Path, mapping: Mapping,
    counter: _RowCounter,
) -> int:
    """Stage a file streamed in chunks by :func:`ingest.readers.iter_chunks`; return its rows."""
    chunks = iter_chunks(path, mapping.source_columns(), header=mapping.header,
                         delimiter=mapping.delimiter)
    first = next(chunks, None)
    if first is None:
        return 0
    return _stage_arrow(con, index, mapping, first.table.schema,
                        itertools.chain([first], chunks), counter)


def _stage_arrow(
    con: duckdb.DuckDBPyConnection,
    index: int,
    mapping: Mapping,
    schema: pa.Schema,
    chunks: Iterator[Chunk],
    counter: _RowCounter | None = None,
) -> int:
    """Map and validate ``chunks`` (of source columns ``schema``) into ``staged``."""
    reader = pa.RecordBatchReader.from_batches(_with_row_columns(schema),
                                               _source_batches(chunks, counter))
    con.register("source", reader)
    try:
        sql = transform_sql(mapping, schema, table="source", keep_raw=True)
        return _insert_staged(con, f"SELECT {index} AS _file, * FROM ({sql})")
    finally:
        con.unregister("source")


def _insert_staged(con: duckdb.DuckDBPyConnection, select: str) -> int:
    """Add the rows of ``select`` to the table ``staged`` (created by the first call)."""
    verb = "INSERT INTO staged" if _has_staged(con) else "CREATE TABLE staged AS"
    return int(con.execute(f"{verb} {select}").fetchall()[0][0])


class _RowCounter:
    """Counts the rows streamed from one file and shows them on the progress display."""

    def __init__(self, show: _Progress, task: int, name: str) -> None:
        self.rows = 0
        self._show, self._task, self._name = show, task, name

    def add(self, n: int) -> None:
        self.rows += n
        self._show.describe(self._task, f"reading {self._name}: {self.rows:,} rows")


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


def _has_staged(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'staged'"
    ).fetchall()[0][0])


def _quarantine_rows(
    con: duckdb.DuckDBPyConnection, new: list[tuple[Path, str]], mapping: Mapping
) -> pa.Table:
    """The rejected rows: source file, line, reason and their original values as text."""
    files = literal([str(p) for p, _ in new])
    raw = ", ".join(
        f"_raw[{i + 1}] AS {ident(name)}" for i, name in enumerate(mapping.source_columns())
    )
    return con.sql(
        f"SELECT {files}[_file + 1] AS source_file, _line AS line, _reason AS reason, {raw} "
        "FROM staged WHERE _reason IS NOT NULL ORDER BY _file, _line"
    ).to_arrow_table()


def _check_bad_fraction(
    con: duckdb.DuckDBPyConnection,
    summary: IngestSummary,
    limit: float,
    new: list[tuple[Path, str]],
) -> None:
    if not summary.rows_in or summary.quarantined <= limit * summary.rows_in:
        return
    index, line, why = con.execute(
        "SELECT _file, _line, _reason FROM staged WHERE _reason IS NOT NULL "
        "ORDER BY _file, _line LIMIT 1"
    ).fetchall()[0]
    reasons = ", ".join(
        f"{r} {n:,}" for r, n in sorted(summary.reasons.items(), key=_by_count)[:3]
    )
    raise TooManyBadRows(
        f"{summary.quarantined:,} of {summary.rows_in:,} rows "
        f"({summary.quarantined / summary.rows_in:.1%}) failed validation, more than the "
        f"allowed {limit:.1%} (--max-bad-fraction); most common: {reasons}; first at "
        f"{new[index][0]}, line {line} ({why}). Nothing was written. Check the mapping "
        "(columns, timestamp_format) against the data, fix the data, or raise "
        "--max-bad-fraction."
    )


def _store_events(
    con: duckdb.DuckDBPyConnection, staging: Path, events_dir: Path, columns: list[str],
    *, repeated: bool,
) -> int:
    """Deduplicate the good staged rows, write them partitioned by day and move them in.

    Returns the number of events added. Among new events sharing an ``event_id`` the first
    (by input file, then line) is kept; an event whose ``event_id`` is already stored, on any
    day, is dropped. Only the ``event_id`` column of the stored events is scanned, against a
    hash table of this run's ids, so a daily run's memory follows the new events, not the
    history. ``repeated`` says whether new events share ids (:func:`_repeats_event_ids`).
    """
    con.execute(
        # The UTC day by arithmetic: CAST(ts AS DATE) goes through the time zone library.
        "CREATE TEMP VIEW fresh AS SELECT *, "
        "DATE '1970-01-01' + CAST(floor(epoch_us(ts) / 86400e6) AS INTEGER) AS day "
        "FROM staged WHERE _reason IS NULL"
    )
    stored = [str(p) for p in event_files(events_dir)]
    source = "fresh"
    if stored:
        con.execute(
            "CREATE TEMP TABLE known AS SELECT DISTINCT event_id FROM "
            f"read_parquet({literal(stored)}, union_by_name = true) "
            "WHERE event_id IN (SELECT event_id FROM fresh)"
        )
        source += " ANTI JOIN known USING (event_id)"
    if repeated:
        source += " QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _file, _line) = 1"
    out = staging / "events"
    run = uuid.uuid4().hex[:12]
    select = ", ".join(ident(c) for c in columns)
    written = con.execute(
        f"COPY (SELECT {select}, day FROM {source}) TO {literal(str(out))} "
        f"(FORMAT parquet, PARTITION_BY (day), FILENAME_PATTERN 'part-{run}-{{i}}', "
        f"{DAY_FILE_PARQUET_OPTIONS})"
    ).fetchall()[0][0]
    _move_days(out, events_dir)
    return int(written)


def _move_days(out: Path, events_dir: Path) -> None:
    """Move the day folders (or their files, where the day exists) from ``out`` into place."""
    for day in sorted(out.glob("day=*")):
        target = events_dir / day.name
        if not target.exists():
            os.replace(day, target)
            continue
        for part in day.glob("*.parquet"):
            os.replace(part, target / part.name)


def _merge_quarantine(table: pa.Table, target: Path) -> None:
    """Add the rows of ``table`` to the quarantine file ``target`` (atomically)."""
    if target.is_file():
        table = pa.concat_tables([pq.read_table(target), table], promote_options="permissive")
    write_parquet_atomic(table, target)


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


class _Progress:
    """A thin rich progress display, or a silent stand-in."""

    def __init__(self, progress: object | None) -> None:
        self._progress = progress

    def add(self, description: str, total: float) -> int:
        if self._progress is None:
            return 0
        return self._progress.add_task(description, total=total or None)

    def advance(self, task: int, amount: float) -> None:
        if self._progress is not None:
            self._progress.advance(task, amount)

    def describe(self, task: int, description: str) -> None:
        if self._progress is not None:
            self._progress.update(task, description=description)


@contextmanager
def _progress(enabled: bool) -> Iterator[_Progress]:
    if not enabled:
        yield _Progress(None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(), TimeElapsedColumn()
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield _Progress(bar)
