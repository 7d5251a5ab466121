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
  repeated or already stored ``event_id``) streams into a DuckDB staging table
  (:mod:`ingest.staging`: CSV files through the same reader, other formats as Arrow chunks;
  spilling to a hidden directory beyond its memory limit). Either way new day files are
  written in a hidden staging folder and moved into place (:mod:`ingest.store`) only after
  the whole input is read, deduplicated and the bad-row fraction is within bounds;
  ``quarantine.parquet`` (:mod:`ingest.quarantine`), the labels and the state file are each
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

import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingest.direct import DirectWrite, direct_candidates, write_clean_csv
from ingest.engine import connect
from ingest.files import write_parquet_atomic
from ingest.labels import LabelRows, load_labels
from ingest.mapping import Mapping, load_mapping
from ingest.plan import IngestPlan, source_plans
from ingest.progress import ProgressDisplay, progress_display
from ingest.quarantine import describe_reasons, first_bad_row, merge_quarantine, quarantine_rows
from ingest.readers import WRONG_COLUMN_COUNT, InputError, file_checksum, resolve_inputs
from ingest.sql import ident, literal
from ingest.staging import StagedFiles, has_staged, number_repeating_files, stage
from ingest.state import IngestState, file_facts
from ingest.store import (
    LABELS_FILE,
    QUARANTINE_FILE,
    count_events,
    event_files,
    move_days,
    repeats_event_ids,
    repeats_or_known_ids,
    store_events,
)
from ingest.validate import (
    COMMA_DECIMAL_PATTERN,
    EPOCH_FORMATS,
    REASON_AMOUNT,
    REASON_IP,
    REASON_TS_FUTURE,
    REASON_TS_ZERO,
    format_counts,
    ts_before_reason,
    ts_reasons,
)

log = logging.getLogger(__name__)
#: Said by every ingest whose mapping gives the rows their times from their lines.
ROW_ORDER_WARNING = (
    "the logs have no times (timestamps: {missing: row_order}): each row's time is its line "
    "number in hours after 1970-01-01, so time features and lockstep mean file order, not "
    "time; validate on a random hold-out with validation.out_of_time_days=0"
)


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
    labels_skipped: int = 0
    labels_skipped_note: str = ""
    seconds: float = 0.0
    events_dir: str = ""
    quarantine_path: str | None = None
    #: What the ingest warned of (logged as warnings too): several currencies summed as one.
    warnings: list[str] = field(default_factory=list)

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
            text += (f" Quarantine reasons: {describe_reasons(self.reasons)}; rows kept in "
                     f"{self.quarantine_path}.")
        text += f" {self.events_dir} now holds {self.events_total:,} events."
        if self.labels is not None:
            text += f" Labels: {self.labels:,} accounts, {self.label_positives:,} labelled abusive"
            text += f"; {self.labels_skipped_note}." if self.labels_skipped_note else "."
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
    args = check_ingest_arguments(inputs, mapping, events_dir, max_bad_fraction, quarantine_path)
    mapping, files, events_dir, quarantine = (args.mapping, args.files, args.events_dir,
                                              args.quarantine)
    state = IngestState.load(events_dir)
    plans = source_plans(mapping, files, stored=state.sources())
    state.add_schema(mapping)
    summary = IngestSummary(events_dir=str(events_dir))
    if mapping.row_order_times:
        log.warning(ROW_ORDER_WARNING)

    with progress_display(progress, unit="bytes") as show:
        new, new_plans, skipped = _new_files(files, plans, state, show)
        if mapping.row_order_times and new and len(new) + len(state.files) > 1:
            raise InputError(
                f"{mapping.path}: timestamps.missing: row_order times the lines of one file, and "
                f"this store would hold {len(new) + len(state.files)} files: line n of each "
                "would get the same time (identical rows there would be taken for one event, "
                "and the rest would look simultaneous). Join the logs into one file, or give "
                "them times (columns.ts)."
            )
        summary.files_new, summary.files_skipped = len(new), len(skipped)
        log.debug("%d new files, %d already ingested", len(new), len(skipped))
        for (path, _), plan in zip(new, new_plans, strict=True):
            plan.check_columns(path)
        label_rows = load_labels(labels, mapping) if labels is not None else None
        label_table = label_rows.table if label_rows is not None else None

        events_dir.mkdir(parents=True, exist_ok=True)
        staging = events_dir / f".staging-{uuid.uuid4().hex}"
        con = connect(staging / "spill")
        try:
            facts, dirty = _ingest_direct(con, new, new_plans, staging, events_dir, show,
                                          summary)
            if facts is None:
                facts = _ingest_staged(con, new, new_plans, staging, events_dir, show, summary,
                                       numbered=dirty, max_bad_fraction=max_bad_fraction,
                                       quarantine=quarantine)
            if quarantine.is_file():
                summary.quarantine_path = str(quarantine)
            if label_table is not None:
                write_parquet_atomic(label_table, events_dir / LABELS_FILE)
            for (_, key), plan in zip(new, new_plans, strict=True):
                if plan.source is not None:
                    facts[key]["source"] = plan.source.name
            state.files.update(facts)
            state.save(events_dir)
        finally:
            con.close()
            shutil.rmtree(staging, ignore_errors=True)

    if not summary.balanced:
        raise RuntimeError(f"row accounting does not balance, which is a bug: {summary}")
    summary.events_total = count_events(events_dir)
    summary.warnings += currency_warnings(mapping, events_dir)
    for warning in summary.warnings:
        log.warning("%s", warning)
    if label_rows is not None:
        _count_labels(summary, label_rows)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass(frozen=True)
class IngestArguments:
    """The arguments of an ingest run, checked and resolved (:func:`check_ingest_arguments`)."""

    mapping: Mapping
    files: list[Path]
    events_dir: Path
    quarantine: Path


def check_ingest_arguments(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    mapping: Mapping | str | os.PathLike[str],
    events_dir: str | os.PathLike[str],
    max_bad_fraction: float,
    quarantine_path: str | os.PathLike[str] | None,
) -> IngestArguments:
    """Check and resolve the arguments every ingest engine starts from.

    Parameters
    ----------
    inputs, mapping, events_dir, max_bad_fraction, quarantine_path
        As for :func:`ingest_logs`.

    Returns
    -------
    IngestArguments
        The loaded mapping, the input files, and the events and quarantine paths (default
        ``events_dir/quarantine.parquet``).

    Raises
    ------
    ingest.mapping.MappingError
        The mapping file is not valid.
    ValueError
        ``max_bad_fraction`` is outside [0, 1].
    ingest.readers.InputError
        An input matches no file.
    """
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    if not 0.0 <= max_bad_fraction <= 1.0:
        raise ValueError(f"max_bad_fraction must be within [0, 1], got {max_bad_fraction}")
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    events_dir = Path(events_dir)
    quarantine = Path(quarantine_path) if quarantine_path else events_dir / QUARANTINE_FILE
    return IngestArguments(mapping=mapping, files=resolve_inputs(inputs), events_dir=events_dir,
                           quarantine=quarantine)


def _count_labels(summary: IngestSummary, rows: LabelRows) -> None:
    summary.labels = rows.table.num_rows
    summary.label_positives = int(pc.sum(rows.table.column("label")).as_py() or 0)
    summary.labels_skipped = rows.without_label + rows.without_account
    summary.labels_skipped_note = rows.describe_skipped()


def _new_files(
    files: list[Path], plans: list[IngestPlan], state: IngestState, show: ProgressDisplay
) -> tuple[list[tuple[Path, str]], list[IngestPlan], list[Path]]:
    """Split ``files`` (read by ``plans``, one each) into new files with their state key
    (checksum and plan fingerprint), their plans, and the already ingested files."""
    new: list[tuple[Path, str]] = []
    new_plans: list[IngestPlan] = []
    skipped: list[Path] = []
    seen: set[str] = set()
    task = show.add("checksums", total=sum(p.stat().st_size for p in files))
    for path, plan in zip(files, plans, strict=True):
        checksum = file_checksum(path)
        key = f"{checksum}:{plan.fingerprint}"
        show.advance(task, path.stat().st_size)
        if key in state.files or key in seen:
            skipped.append(path)
        else:
            _check_same_source(path, checksum, plan, state)
            seen.add(key)
            new.append((path, key))
            new_plans.append(plan)
    return new, new_plans, skipped


def _check_same_source(path: Path, checksum: str, plan: IngestPlan, state: IngestState) -> None:
    """Refuse a file the store already holds as another source (or without one): read again
    under another source's name its events would get new ids (``<source>:<id>``), which the
    ``event_id`` deduplication cannot match with the stored ones, and be stored twice."""
    name = plan.source.name if plan.source is not None else None
    for before in state.sources_of(checksum):
        if before != name:
            was = f"source {before!r}" if before else "a one-source mapping"
            now = f"source {name!r}" if name else "a one-source mapping"
            raise InputError(
                f"{path} is already in this events directory as {was}; read again as {now}, its "
                "events would be stored a second time under other ids. Keep the source's name "
                "(the file is then skipped), or ingest into a new events directory")


def _ingest_direct(
    con: duckdb.DuckDBPyConnection,
    new: list[tuple[Path, str]],
    plans: list[IngestPlan],
    staging: Path,
    events_dir: Path,
    show: ProgressDisplay,
    summary: IngestSummary,
) -> tuple[dict[str, dict[str, object]] | None, set[int]]:
    """Ingest clean CSV files without staging them (:mod:`ingest.direct`).

    Returns (the per-file facts, ``set()``) when done; (``None``, indices of the files found
    with bad rows) when the files must be staged instead: not a few CSV files, a bad or
    rejected row, an ``event_id`` repeated within the run or already stored.
    """
    paths = [p for p, _ in new]
    if not direct_candidates(paths):
        log.debug("staged path: the %d new files are not a few CSV files", len(paths))
        return None, set()
    size = sum(p.stat().st_size for p in paths)
    task = show.add("reading", total=size)
    show.describe(task, "reading " + ", ".join(p.name for p in paths))
    out = staging / "events"
    result = _write_clean(con, paths, plans, out)
    if result is None:
        why = "a compression DuckDB's CSV reader cannot read"
    elif not result.clean:
        why = f"bad or rejected rows in {len(result.dirty)} of {len(paths)} files"
    elif repeats_or_known_ids(con, out, events_dir):
        why = "an event_id repeated within the run or already stored"
    else:
        why = None
    if why is not None:
        log.debug("staged path after the direct one: %s", why)
        shutil.rmtree(out, ignore_errors=True)
        return None, result.dirty if result is not None else set()
    show.advance(task, size)
    move_days(out, events_dir)
    summary.rows_in = summary.accepted = sum(result.rows)
    log.debug("direct path: %d rows of %d clean CSV files stored", summary.rows_in, len(paths))
    return {key: file_facts(path, rows) for (path, key), rows in zip(new, result.rows,
                                                                    strict=True)}, set()


def _write_clean(
    con: duckdb.DuckDBPyConnection, paths: list[Path], plans: list[IngestPlan], out: Path
) -> DirectWrite | None:
    """:func:`ingest.direct.write_clean_csv` for each source's files (all files at once
    without ``sources:``), into ``out``; rows and dirty files by index into ``paths``."""
    run = uuid.uuid4().hex[:12]
    rows = [0] * len(paths)
    dirty: set[int] = set()
    for k, (plan, indices) in enumerate(_source_groups(plans)):
        part = write_clean_csv(con, [paths[i] for i in indices], plan, out,
                               run if k == 0 else f"{run}-{k}")
        if part is None:
            return None
        for i, n in zip(indices, part.rows, strict=True):
            rows[i] = n
        dirty |= {indices[i] for i in part.dirty}
    return DirectWrite(rows=rows, dirty=dirty)


def _ingest_staged(
    con: duckdb.DuckDBPyConnection,
    new: list[tuple[Path, str]],
    plans: list[IngestPlan],
    staging: Path,
    events_dir: Path,
    show: ProgressDisplay,
    summary: IngestSummary,
    *,
    numbered: set[int],
    max_bad_fraction: float,
    quarantine: Path,
) -> dict[str, dict[str, object]]:
    """Ingest the new files through the staging table (:mod:`ingest.staging`); count their
    rows into ``summary`` and return the per-file facts.

    Raises :class:`TooManyBadRows` (before anything is written) when more than
    ``max_bad_fraction`` of the rows are bad (of each source's rows, with ``sources:``);
    otherwise stores the new events and adds the bad rows to the ``quarantine`` file (with
    ``sources:``, a ``source`` column and each source's own columns).
    """
    staged = stage(con, new, plans, show, numbered=numbered)
    summary.rows_in, summary.quarantined = staged.rows_in, staged.quarantined
    groups = _source_groups(plans)
    if len(groups) == 1 and plans[0].source is None:
        summary.reasons = staged.reasons
    repeated = has_staged(con) and repeats_event_ids(con)
    if repeated:
        number_repeating_files(con, new, plans)
    bad: list[pa.Table] = []
    label = _source_label([p for p, _ in groups])
    rows = has_staged(con)
    for plan, indices in groups:
        with _staged_of(con, indices, whole=len(groups) == 1 or not rows):
            part = _source_summary(con, plan, indices, new, staged, summary, rows=rows)
            _check_bad_fraction(con, part, max_bad_fraction, new, plan)
            if part.quarantined:
                table = quarantine_rows(con, [p for p, _ in new], plan.source_columns)
                bad.append(table if plan.source is None else table.add_column(
                    0, label, pa.array([plan.source.name] * table.num_rows, pa.string())))
    # built before the events move in, so that nothing can fail between the two writes
    rejected = pa.concat_tables(bad, promote_options="permissive") if bad else None
    if summary.rows_in > summary.quarantined:
        written = store_events(con, staging, events_dir, plans[0].event_columns,
                               repeated=repeated)
        summary.accepted = written
        summary.duplicates = summary.rows_in - summary.quarantined - written
    if rejected is not None:
        merge_quarantine(rejected, quarantine)
    return staged.facts


def _source_label(plans: list[IngestPlan]) -> str:
    """The quarantine's column naming each rejected row's source: ``source``, or ``_source``
    (``__source``, ...) when a source has a column of that name."""
    taken = {"source_file", "line", "reason"} | {c for p in plans for c in p.source_columns}
    name = "source"
    while name in taken:
        name = f"_{name}"
    return name


def _source_groups(plans: list[IngestPlan]) -> list[tuple[IngestPlan, list[int]]]:
    """The plans of a run with the indices of the new files each reads, in first-file order."""
    groups: dict[int, tuple[IngestPlan, list[int]]] = {}
    for index, plan in enumerate(plans):
        groups.setdefault(id(plan), (plan, []))[1].append(index)
    return list(groups.values())


@contextmanager
def _staged_of(con: duckdb.DuckDBPyConnection, indices: list[int], *, whole: bool
               ) -> Iterator[None]:
    """Within the block, ``staged`` shows only the rows of the files ``indices`` (one source's,
    so the quarantine and the advice read its ``_raw`` by its columns); ``whole``: all rows
    are theirs, nothing to hide."""
    if whole:
        yield
        return
    con.execute("ALTER TABLE staged RENAME TO staged_all")
    try:
        con.execute("CREATE VIEW staged AS SELECT * FROM staged_all WHERE _file IN "
                    f"(SELECT unnest({literal(indices)}))")
        yield
    finally:
        con.execute("DROP VIEW IF EXISTS staged")
        con.execute("ALTER TABLE staged_all RENAME TO staged")


def _source_summary(
    con: duckdb.DuckDBPyConnection, plan: IngestPlan, indices: list[int],
    new: list[tuple[Path, str]], staged: StagedFiles, summary: IngestSummary, *, rows: bool,
) -> IngestSummary:
    """The rows in and bad rows of one source's files (the whole run's without ``sources:``);
    a source's reasons are added to ``summary``'s as ``<source>: <reason>``. ``rows``: whether
    any file had rows (the table ``staged`` exists)."""
    if plan.source is None:
        return summary
    rows_in = sum(int(staged.facts[new[i][1]]["rows_in"]) for i in indices)
    reasons = dict(con.execute(
        "SELECT _reason, count(*) FROM staged WHERE _reason IS NOT NULL GROUP BY ALL"
    ).fetchall()) if rows else {}
    summary.reasons |= {f"{plan.source.name}: {r}": n for r, n in reasons.items()}
    return IngestSummary(rows_in=rows_in, quarantined=sum(reasons.values()), reasons=reasons)


#: A text attribute whose name says it holds a currency: ``currency``, ``txn_currency``,
#: ``ccy``, ``cur_code`` (not ``current_page``).
CURRENCY_NAME = re.compile(r"(?i)currency|(^|_)(ccy|curr|cur)(_|$)")


def currency_warnings(mapping: Mapping, events_dir: Path) -> list[str]:
    """A warning per text attribute named like a currency (:data:`CURRENCY_NAME`) that holds
    several values in the stored events: amounts are read as written, never converted, so
    JPY 10,000 and EUR 10,000 count alike in every amount feature and money-flow judgement."""
    names = [a for a, kind in mapping.attributes.items()
             if kind == "string" and CURRENCY_NAME.search(a)]
    files = [str(p) for p in event_files(events_dir)]
    warnings = []
    for name in names if files else []:
        con = duckdb.connect()
        try:
            values = [v for (v,) in con.execute(
                f"SELECT DISTINCT {ident(name)} FROM read_parquet($files, union_by_name = true) "
                f"WHERE {ident(name)} IS NOT NULL ORDER BY 1 LIMIT 6", {"files": files}
            ).fetchall()]
        finally:
            con.close()
        if len(values) > 1:
            shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
            warnings.append(
                f"attribute {name!r} holds several currencies ({shown}): amounts are taken as "
                "written and never converted, so every amount feature and money-flow judgement "
                "adds them as one currency; convert the amounts to one currency before the "
                "ingest")
    return warnings


def _check_bad_fraction(
    con: duckdb.DuckDBPyConnection,
    summary: IngestSummary,
    limit: float,
    new: list[tuple[Path, str]],
    plan: IngestPlan,
) -> None:
    """Raise :class:`TooManyBadRows` when more than ``limit`` of the rows in are bad."""
    if not summary.rows_in or summary.quarantined <= limit * summary.rows_in:
        return
    index, line, why = first_bad_row(con)
    raise TooManyBadRows(
        f"{plan.label}{summary.quarantined:,} of {summary.rows_in:,} rows "
        f"({summary.quarantined / summary.rows_in:.1%}) failed validation, more than the "
        f"allowed {limit:.1%} (max_bad_fraction); most common: "
        f"{describe_reasons(summary.reasons, most=3)}; first at "
        f"{new[index][0]}, line {line} ({why}). Nothing was written. "
        f"{value_examples(con, plan, summary.reasons)}"
        f"{timestamp_advice(con, plan, summary.reasons)}{encoding_advice(summary.reasons)}"
        f"{decimal_comma_advice(plan, summary.reasons, new[index][0])}"
        "Check the mapping (columns, timestamp_format) against the data, or fix the data."
    )


def decimal_comma_advice(plan: IngestPlan, reasons: dict[str, int], path: Path) -> str:
    """Why rows of a comma-delimited file read with ``decimal_mark: ","`` have the wrong
    number of columns: an unquoted ``1,5`` is two fields; empty when that is not the case."""
    delimiter = plan.delimiter or ("\t" if ".tsv" in [s.lower() for s in path.suffixes] else ",")
    if plan.mapping.decimal_mark != "," or delimiter != "," or not any(
            reason.endswith(WRONG_COLUMN_COUNT) for reason in reasons):
        return ""
    return ("The mapping says decimal_mark \",\" and the file is comma-delimited: a number "
            "written with a decimal comma (1,5) must be quoted (\"1,5\") there, or it splits "
            "into two fields; export the file delimited by ';' (as European Excel does) and say "
            "'delimiter: \";\"' in the mapping. ")


def encoding_advice(reasons: dict[str, int]) -> str:
    """How to convert a log that is not UTF-8, when rows were rejected for their encoding
    (``unreadable CSV row (invalid encoding)``); empty otherwise."""
    if not any("invalid encoding" in reason or "invalid unicode" in reason
               for reason in reasons):
        return ""
    return ("Rows that are not UTF-8 text were rejected: logs must be UTF-8, so convert the file "
            "from its encoding first, e.g. iconv -f CP1252 -t UTF-8 (CP1252 / Latin-1: Windows "
            "and Excel exports in Western Europe). ")


def value_examples(
    con: duckdb.DuckDBPyConnection, plan: IngestPlan, reasons: dict[str, int], most: int = 3
) -> str:
    """``"Failing amount values: '$1,234.50', '1.234,50 EUR'. "``: a few distinct source values
    of the column each value reason (an amount, an IP, a float attribute) blames, from the
    table ``staged``; empty when no such reason occurred."""
    mapping = plan.mapping
    blamed = {REASON_AMOUNT: mapping.columns.get("amount"), REASON_IP: mapping.columns.get("ip")}
    blamed |= {f"non-numeric {a}": a for a in mapping.attributes}
    parts = []
    for reason, column in blamed.items():
        if not reasons.get(reason) or column not in plan.source_columns:
            continue
        position = plan.source_columns.index(column) + 1
        values = [v for (v,) in con.execute(
            f"SELECT DISTINCT _raw[{position}] AS v FROM staged WHERE _reason = "
            f"{literal(reason)} AND _raw[{position}] IS NOT NULL ORDER BY v LIMIT {int(most)}"
        ).fetchall()]
        if values:
            parts.append(f"Failing {column} values ({reason}): {', '.join(map(repr, values))}. ")
            if mapping.decimal_mark != "," and any(
                    "," in v and re.fullmatch(COMMA_DECIMAL_PATTERN, v.strip()) for v in values):
                parts.append("They are written with a decimal comma: say 'decimal_mark: \",\"' "
                             "in the mapping. ")
    return "".join(parts)


def _range_advice(mapping: Mapping, plan: IngestPlan, examples: str) -> str:
    """Advice for times that were read but lie outside the mapping's plausible range."""
    latest = (f" to {plan.now + mapping.ts_max_future:%Y-%m-%d %H:%M} UTC (the run's start plus "
              "timestamps.max_future)" if mapping.ts_max_future is not None else " on")
    units = ", ".join(EPOCH_FORMATS)
    return (f"The failing values ({examples}, ...) were read as times, but outside the plausible "
            f"range, from {mapping.ts_min:%Y-%m-%d}{latest}. If they are right, widen "
            "'timestamps: {min: ..., max_future: ...}' in the mapping; if they are epoch numbers "
            f"in another unit, set timestamp_format to one of {units}. ")


def timestamp_advice(
    con: duckdb.DuckDBPyConnection, plan: IngestPlan, reasons: dict[str, int],
    sample: int = 1000,
) -> str:
    """What the run tried on the failing timestamps and the ``timestamp_format`` to set.

    Empty unless a reason blames the timestamp. Otherwise names the forms tried, then tries
    :data:`ingest.validate.COMMON_FORMATS` on up to ``sample`` distinct failing values of the
    table ``staged`` and suggests the format that parses most of them to a plausible time;
    when several parse as many, says that the samples cannot tell them apart (day / month
    order).
    """
    blamed = [r for r in ts_reasons(plan.mapping) if reasons.get(r)]
    if not blamed or plan.mapping.row_order_times:
        return ""
    mapping = plan.mapping
    tried = (f"timestamp_format {mapping.timestamp_format!r}" if mapping.timestamp_format
             else "ISO-8601 (a four-digit year first) and epoch seconds, milli-, micro- or "
             "nanoseconds")
    position = plan.source_columns.index(mapping.columns["ts"]) + 1
    values = [v for (v,) in con.execute(
        f"SELECT v FROM (SELECT DISTINCT _raw[{position}] AS v FROM staged "
        f"WHERE _reason IN (SELECT unnest({literal(blamed)})) AND _raw[{position}] IS NOT NULL) "
        f"ORDER BY hash(v) LIMIT {int(sample)}"
    ).fetchall()]
    text = f"The timestamps were read as {tried}. "
    if not values:
        return text
    examples = ", ".join(map(repr, sorted(values)[:3]))
    if blamed == [REASON_TS_ZERO]:
        return text + (f"The failing values ({examples}, ...) are epoch 0, 1970-01-01 00:00 UTC, "
                       "what exports write for a missing time: map the column that holds when "
                       "each event happened. ")
    if set(blamed) <= {REASON_TS_ZERO, ts_before_reason(mapping), REASON_TS_FUTURE}:
        return text + _range_advice(mapping, plan, examples)
    counts = format_counts(con, values, mapping, plan.now)
    if not counts:
        return (text + f"None of the common formats parses the {len(values):,} sampled failing "
                f"values ({examples}, ...) to a time from {mapping.ts_min:%Y-%m-%d} on; set "
                "timestamp_format in the mapping to the strftime format of the source's times. ")
    best = max(counts.values())
    top = [fmt for fmt, n in counts.items() if n == best]
    text += (f"Of {len(values):,} sampled failing values ({examples}, ...), timestamp_format "
             f"{top[0]!r} parses {best:,}")
    if len(top) > 1:
        others = " and ".join(repr(f) for f in top[1:])
        verb = "parse" if len(top) > 2 else "parses"
        return text + (f", but {others} {verb} as many: the samples cannot tell the order of "
                       "day and month apart. Set the one the source uses in the mapping, e.g. "
                       f"'timestamp_format: \"{top[0]}\"'. ")
    return text + f"; set it in the mapping: 'timestamp_format: \"{top[0]}\"'. "
