"""Logs -> validated, deduplicated canonical events, partitioned by day; incremental.

:func:`ingest_logs` is the whole ingest stage. Its promises:

* **Nothing is lost without a trace**: rows in = accepted + quarantined + duplicates, checked on
  every run and reported by :class:`IngestSummary`.
* **Schema problems stop before any work**: every new file's columns are checked against the
  mapping (and the labels file against its section) before a row is read.
* **Incremental and idempotent**: files whose content (SHA-256) was already ingested with the
  same mapping are skipped; events are deduplicated by ``event_id`` against each other and
  against the events already stored, so re-running changes nothing.
* **Atomic**: rows are staged in a hidden directory and moved into place only after the whole
  input is read and the bad-row fraction is within bounds; ``quarantine.parquet``, the labels
  and the state file are each replaced by a rename.

Layout of an events directory::

    day=YYYY-MM-DD/part-*.parquet   canonical events (ingest.validate.event_schema), UTC days
    labels.parquet                  canonical labels, when a labels file was given
    quarantine.parquet              rejected rows (default place), all runs together
    _ingest_state.json              ingested file checksums, entity types, attributes
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.engine import connect
from ingest.labels import read_labels
from ingest.mapping import Mapping, check_source_columns, load_mapping
from ingest.readers import file_checksum, iter_chunks, resolve_inputs, source_columns
from ingest.sql import literal
from ingest.state import IngestState
from ingest.validate import event_schema, transform_chunk, transform_sql

EVENTS_GLOB = "day=*/*.parquet"
LABELS_FILE = "labels.parquet"
QUARANTINE_FILE = "quarantine.parquet"
#: Bits of the per-run row sequence number given to the line; the file index takes the rest.
_LINE_BITS = 40


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
        staging.mkdir()
        try:
            per_file = _stage(new, mapping, staging, show, summary)
            _check_bad_fraction(summary, max_bad_fraction, staging)
            if summary.rows_in > summary.quarantined:
                written = _store_events(staging, events_dir)
                summary.accepted = written
                summary.duplicates = summary.rows_in - summary.quarantined - written
            if summary.quarantined:
                _merge_quarantine(staging / QUARANTINE_FILE, quarantine)
            if quarantine.is_file():
                summary.quarantine_path = str(quarantine)
            if label_table is not None:
                _write_parquet_atomic(label_table, events_dir / LABELS_FILE)
            state.files.update(per_file)
            state.save(events_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    if not summary.balanced:
        raise RuntimeError(f"row accounting does not balance, which is a bug: {summary}")
    summary.events_total = count_events(events_dir)
    if label_table is not None:
        summary.labels = label_table.num_rows
        summary.label_positives = int(pc.sum(label_table.column("label")).as_py() or 0)
    summary.seconds = time.perf_counter() - started
    return summary


def event_files(events_dir: str | os.PathLike[str]) -> list[Path]:
    """The canonical event Parquet files under ``events_dir``, sorted."""
    return sorted(Path(events_dir).glob(EVENTS_GLOB))


def count_events(events_dir: str | os.PathLike[str]) -> int:
    """Number of stored events, from Parquet footers (no data read)."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in event_files(events_dir))


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


def _stage(
    new: list[tuple[Path, str]],
    mapping: Mapping,
    staging: Path,
    show: _Progress,
    summary: IngestSummary,
) -> dict[str, dict[str, object]]:
    """Read, map and validate every new file into ``staging``; fill the summary's row counts."""
    schema = event_schema(mapping).append(pa.field("_seq", pa.int64()))
    raw_columns = mapping.source_columns()
    quarantine_schema = pa.schema(
        [("source_file", pa.string()), ("line", pa.int64()), ("reason", pa.string())]
        + [(c, pa.string()) for c in raw_columns]
    )
    reasons: Counter[str] = Counter()
    per_file: dict[str, dict[str, object]] = {}
    con = connect(keep_order=True)
    task = show.add("reading", total=sum(p.stat().st_size for p, _ in new))
    accepted = pq.ParquetWriter(staging / "accepted.parquet", schema, compression="lz4")
    rejected: pq.ParquetWriter | None = None
    try:
        for index, (path, key) in enumerate(new):
            rows = bad = 0
            sql: str | None = None
            for chunk in iter_chunks(
                path, raw_columns, header=mapping.header, delimiter=mapping.delimiter
            ):
                sql = sql or transform_sql(mapping, chunk.table.schema)
                out = transform_chunk(con, chunk, sql)
                is_bad = pc.is_valid(out.column("_reason"))
                n_bad = pc.sum(is_bad).as_py() or 0
                good = out.filter(pc.invert(is_bad)) if n_bad else out
                seq = pc.add(good.column("_line"), index << _LINE_BITS)
                accepted.write_table(
                    good.drop_columns(["_reason", "_line"]).append_column("_seq", seq).cast(schema)
                )
                if n_bad:
                    rejected = rejected or pq.ParquetWriter(
                        staging / QUARANTINE_FILE, quarantine_schema
                    )
                    rejected.write_table(
                        _quarantine_rows(chunk.table, raw_columns, out, is_bad, path)
                    )
                    reasons.update(
                        dict(zip(*_value_counts(out.column("_reason").filter(is_bad)), strict=True))
                    )
                rows += out.num_rows
                bad += n_bad
                show.describe(task, f"reading {path.name}: {rows:,} rows")
            show.advance(task, path.stat().st_size)
            summary.rows_in += rows
            summary.quarantined += bad
            per_file[key] = {
                "path": str(path), "rows_in": rows, "quarantined": bad,
                "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
    finally:
        accepted.close()
        if rejected is not None:
            rejected.close()
        con.close()
    summary.reasons = dict(reasons)
    return per_file


def _quarantine_rows(
    source: pa.Table, raw_columns: list[str], out: pa.Table, is_bad: pa.Array, path: Path
) -> pa.Table:
    """The rejected rows: where they came from, why, and their original values as text."""
    raw = source.filter(is_bad)
    columns = {
        "source_file": pa.repeat(pa.scalar(str(path)), raw.num_rows),
        "line": out.column("_line").filter(is_bad),
        "reason": out.column("_reason").filter(is_bad),
    }
    for name in raw_columns:
        columns[name] = pc.cast(raw.column(name), pa.string())
    return pa.table(columns)


def _check_bad_fraction(summary: IngestSummary, limit: float, staging: Path) -> None:
    if not summary.rows_in or summary.quarantined <= limit * summary.rows_in:
        return
    first = pq.ParquetFile(staging / QUARANTINE_FILE).read_row_group(0).slice(0, 1).to_pylist()[0]
    reasons = ", ".join(
        f"{r} {n:,}" for r, n in sorted(summary.reasons.items(), key=_by_count)[:3]
    )
    raise TooManyBadRows(
        f"{summary.quarantined:,} of {summary.rows_in:,} rows "
        f"({summary.quarantined / summary.rows_in:.1%}) failed validation, more than the "
        f"allowed {limit:.1%} (--max-bad-fraction); most common: {reasons}; first at "
        f"{first['source_file']}, line {first['line']} ({first['reason']}). Nothing was "
        "written. Check the mapping (columns, timestamp_format) against the data, fix the data, "
        "or raise --max-bad-fraction."
    )


def _store_events(staging: Path, events_dir: Path) -> int:
    """Deduplicate the staged events against each other and the stored ones; move them in.

    Returns the number of events added. Among events sharing an ``event_id`` the first seen
    (by input file, then line) is kept; events already stored always win.
    """
    con = connect(staging / "spill")
    try:
        stored = [str(p) for p in event_files(events_dir)]
        old = (
            f"ANTI JOIN (SELECT DISTINCT event_id FROM read_parquet({literal(stored)}, "
            "union_by_name = true)) AS stored USING (event_id)"
            if stored else ""
        )
        out = staging / "events"
        run = uuid.uuid4().hex[:12]
        written = con.execute(
            f"""
            COPY (
                SELECT * EXCLUDE (_seq), strftime(ts, '%Y-%m-%d') AS day
                FROM read_parquet({literal(str(staging / 'accepted.parquet'))}) AS new {old}
                QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _seq) = 1
            ) TO {literal(str(out))}
            (FORMAT parquet, PARTITION_BY (day), FILENAME_PATTERN 'part-{run}-{{i}}')
            """
        ).fetchone()[0]
    finally:
        con.close()
    for day in sorted(out.glob("day=*")):
        target = events_dir / day.name
        if not target.exists():
            os.replace(day, target)
            continue
        for part in day.glob("*.parquet"):
            os.replace(part, target / part.name)
    return int(written)


def _merge_quarantine(new: Path, target: Path) -> None:
    """Add the rows of ``new`` to the quarantine file ``target`` (atomically)."""
    table = pq.read_table(new)
    if target.is_file():
        table = pa.concat_tables([pq.read_table(target), table], promote_options="permissive")
    _write_parquet_atomic(table, target)


def _write_parquet_atomic(table: pa.Table, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _value_counts(values: pa.ChunkedArray) -> tuple[list[str], list[int]]:
    counts = pc.value_counts(values.combine_chunks())
    return counts.field("values").to_pylist(), counts.field("counts").to_pylist()


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
