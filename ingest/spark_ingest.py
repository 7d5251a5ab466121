"""The Spark engine's ingest: CSV logs -> validated, deduplicated, day-partitioned events.

:func:`ingest_logs_spark` keeps the promises of :func:`ingest.run.ingest_logs` (rows in =
accepted + quarantined + duplicates; already ingested files skipped; ``event_id`` unique across
runs; nothing written when too many rows are bad) with every row handled by Spark executors:

* each CSV file is read as lines, each with its position (partition, row in it), which
  orders like the line number; only when a file has bad rows are its lines counted per
  partition to turn their positions into the line numbers the quarantine names; the lines
  are split with ``from_csv``; a row with more or fewer fields than the header is rejected
  with ``wrong number of columns`` (the fields of the lines ``from_csv`` flags are counted
  again, quote-aware; the others it split into the header's count);
* the rows are mapped and validated by the DuckDB engine's own query
  (:func:`ingest.validate.transform_sql`, transpiled by :mod:`ingest.spark_sql`);
* one job reads, validates and writes every row, shuffled by UTC day once: the good rows
  whose ``event_id`` is not stored yet as day files, the bad ones in a partition of their
  own; the rows per file are that job's observed metrics, the bad rows per file and reason
  are read back from their partition, the events written from the Parquet footers;
* the written ids are checked for repeats (their 64-bit hashes); only when one repeats are
  the files read and validated again and the good rows written with the first row of each
  ``event_id`` (by file, then line);
* the day files are moved into place (:func:`ingest.store.move_days`); the quarantine is
  rewritten by one executor.

Only counts (rows per file and per reason) and the first bad row reach the driver.

Limits: CSV/TSV only (optionally gzip), one record per line (no line breaks inside quoted
fields). Timestamps Spark cannot cast (``1/1/15``) are ``unparseable ts`` rather than DuckDB's
``ambiguous ts``; an ``event_id`` derived from content hashes amounts as Spark prints them, so
it differs from DuckDB's for amounts such as ``1e20``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from ingest.files import write_parquet_atomic
from ingest.labels import load_labels
from ingest.mapping import Mapping
from ingest.plan import IngestPlan
from ingest.quarantine import describe_reasons
from ingest.readers import (
    WRONG_COLUMN_COUNT,
    InputError,
    file_checksum,
    file_format,
    source_columns,
)
from ingest.run import IngestSummary, TooManyBadRows, check_ingest_arguments
from ingest.spark_files import write_single_parquet
from ingest.spark_session import session_conf, spark_session
from ingest.spark_sql import run_sql
from ingest.state import IngestState, file_facts
from ingest.store import LABELS_FILE, count_events, event_files, move_days

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Observation, SparkSession

log = logging.getLogger(__name__)

#: The only event column written with a Parquet dictionary: a handful of values. The others
#: are written plain: nearly every id, time and amount of a day is new, so the writer only
#: hashed them until the dictionary outgrew its page (3M events: 13.1 -> 11.7 JVM CPU s to
#: write event_id, ts and amount plain, files +13 %; benchmarks/README.md, session 12); the
#: other ids too, session 17 (1M events, loaded, the day files' write job, executor CPU s:
#: 3.2 / 3.0 -> 2.2 / 3.0, all columns plain 2.2 / 2.4, against 2.9-3.3 with dictionaries in
#: 6 runs; files 27 -> 35 MB; reading them back cost the same: 1.87 / 1.95 / 1.91 -> 1.85 /
#: 1.79 / 2.04 s for the four pairs aggregates).
_DICTIONARY_COLUMN = "event_type"

#: The folder Spark writes the rows of a null ``day`` to: the bad rows, written with the good
#: ones (the day stays a date, whose sort before the write compares 4 bytes, not a string).
_BAD_DAYS = "day=__HIVE_DEFAULT_PARTITION__"

#: Hash buckets per shuffle partition of the day shuffle before the write. With one bucket per
#: shuffle partition, 30 days fell 2 to 6 to a task (10M events: the last, largest write task
#: ran 3.5 s with the other core idle, ~3 s of a 12 s stage); with 8x the buckets most days
#: have a bucket of their own, and adaptive execution merges the empty and small ones into
#: tasks (64 buckets as 64 tasks cost 1M events ~1.5 JVM CPU s more).
_DAY_BUCKETS_PER_PARTITION = 8

#: Bits of a line's position below its partition (``monotonically_increasing_id``).
_ROW_BITS = 33


def ingest_logs_spark(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    mapping: Mapping | str | os.PathLike[str],
    events_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | None = None,
    max_bad_fraction: float = 0.01,
    quarantine_path: str | os.PathLike[str] | None = None,
    spark: SparkSession | None = None,
) -> IngestSummary:
    """Ingest CSV log files into ``events_dir`` on Spark; same contract as
    :func:`ingest.run.ingest_logs`.

    Parameters
    ----------
    inputs, mapping, events_dir, labels, max_bad_fraction, quarantine_path
        As for :func:`ingest.run.ingest_logs` (paths every executor can read).
    spark
        The session to use; default: :func:`ingest.spark_session.spark_session`.

    Returns
    -------
    IngestSummary
        Row and file counts of this run.

    Raises
    ------
    ingest.mapping.MappingError
        A mapped column is missing from a file (before any work is done).
    ingest.readers.InputError
        An input matches no file, or a file is not CSV.
    TooManyBadRows
        Too many rows failed validation (nothing was written).
    """
    started = time.perf_counter()
    args = check_ingest_arguments(inputs, mapping, events_dir, max_bad_fraction, quarantine_path)
    mapping, events_dir, quarantine = args.mapping, args.events_dir, args.quarantine
    if mapping.sources:
        raise InputError(f"{mapping.path}: 'sources:' (several schemas in one run) is read by "
                         "the DuckDB engine only; use --engine duckdb for it")
    if mapping.row_order_times:  # its rows are numbered by position, not line, in the SQL
        raise InputError(f"{mapping.path}: timestamps.missing: row_order gives rows their "
                         "times from their line numbers; use --engine duckdb for it")
    if mapping.timezone is not None:
        raise InputError(f"{mapping.path}: timezone is read by the DuckDB engine only; use "
                         "--engine duckdb for it")
    if mapping.decimal_mark == ",":
        raise InputError(f"{mapping.path}: decimal_mark is read by the DuckDB engine only; use "
                         "--engine duckdb for it")
    if mapping.attribute_values:
        raise InputError(f"{mapping.path}: attributes.{next(iter(mapping.attribute_values))}: "
                         "values: (text -> number) is read by the DuckDB engine only; use "
                         "--engine duckdb for it")
    state = IngestState.load(events_dir)
    state.add_schema(mapping)
    plan = IngestPlan.of(mapping)
    summary = IngestSummary(events_dir=str(events_dir))

    new, skipped = _new_files(args.files, state, plan.fingerprint)
    summary.files_new, summary.files_skipped = len(new), len(skipped)
    for path, _ in new:
        if file_format(path) != "csv":
            raise InputError(f"{path}: the Spark engine reads CSV/TSV logs only, not "
                             f"{file_format(path)}; use --engine duckdb for it")
        plan.check_columns(path)
    label_rows = load_labels(labels, mapping) if labels is not None else None

    events_dir.mkdir(parents=True, exist_ok=True)
    staging = events_dir / f".staging-{uuid.uuid4().hex}"
    if new:
        spark = spark or spark_session()
        try:
            rows = _ingest_new(spark, new, plan, staging, events_dir, quarantine, summary,
                               max_bad_fraction)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for (path, key), (n, bad) in zip(new, rows, strict=True):
            state.files[key] = {**file_facts(path, n), "quarantined": bad}
    if quarantine.is_file():
        summary.quarantine_path = str(quarantine)
    if label_rows is not None:
        write_parquet_atomic(label_rows.table, events_dir / LABELS_FILE)
        summary.labels = label_rows.table.num_rows
        summary.label_positives = sum(label_rows.table.column("label").to_pylist())
        summary.labels_skipped = label_rows.without_label + label_rows.without_account
        summary.labels_skipped_note = label_rows.describe_skipped()
    state.save(events_dir)
    if not summary.balanced:
        raise RuntimeError(f"row accounting does not balance, which is a bug: {summary}")
    summary.events_total = count_events(events_dir)
    summary.seconds = time.perf_counter() - started
    return summary


def _new_files(files: list[Path], state: IngestState, fingerprint: str
               ) -> tuple[list[tuple[Path, str]], list[Path]]:
    """Split ``files`` into (new files with their state key, already ingested files)."""
    new: list[tuple[Path, str]] = []
    skipped: list[Path] = []
    for path in files:
        key = f"{file_checksum(path)}:{fingerprint}"
        if key in state.files or key in {k for _, k in new}:
            skipped.append(path)
        else:
            new.append((path, key))
    return new, skipped


def _ingest_new(spark: SparkSession, new: list[tuple[Path, str]], plan: IngestPlan,
                staging: Path, events_dir: Path, quarantine: Path, summary: IngestSummary,
                max_bad_fraction: float) -> list[tuple[int, int]]:
    """Ingest the ``new`` files through ``staging``: one job reads, validates and writes every
    row (:func:`_write_rows`); the counts come from that job's observed metrics and the
    written files; the day files move into ``events_dir`` and the bad rows into
    ``quarantine``. Fill ``summary``'s counts; return (rows, bad) per file.

    The good rows are deduplicated only when their written ids repeat (then the files are
    read and validated once more, and written again with the first row of each id)."""
    staged, seen, lines = _stage(spark, new, plan)
    out = staging / "rows"
    _write_rows(spark, staged, plan, out, events_dir, dedup=False)
    bad_dir = staging / "bad"
    written_bad = out / _BAD_DAYS
    bad = None
    if written_bad.is_dir():
        os.replace(written_bad, bad_dir)
        bad = _bad_rows(spark, bad_dir, lines)
    rows = _count([o.get["rows"] for o in seen], bad, summary)
    _check_bad_fraction(bad, summary, max_bad_fraction, new)
    if _repeats_ids(spark, list(out.glob("day=*/*.parquet"))):
        shutil.rmtree(out)
        _write_rows(spark, _stage(spark, new, plan)[0], plan, out, events_dir, dedup=True)
    written = list(out.glob("day=*/*.parquet"))
    summary.accepted = sum(pq.ParquetFile(p).metadata.num_rows for p in written)
    summary.duplicates = summary.rows_in - summary.quarantined - summary.accepted
    move_days(out, events_dir)
    log.debug("spark stored %d new events in %d files", summary.accepted, len(written))
    if bad is not None:
        _write_quarantine(spark, bad, new, plan, quarantine)
    return rows


def _stage(spark: SparkSession, new: list[tuple[Path, str]], plan: IngestPlan
           ) -> tuple[DataFrame, list[Observation], list[_Lines]]:
    """Every row of the new files, mapped and validated: the canonical columns, ``_reason``,
    ``_raw`` (bad rows), ``_file`` (index in ``new``) and ``_line`` (the line's position,
    :class:`_Lines`); per file an observation of its row count (``rows``), filled by the
    first job that reads the rows, and its :class:`_Lines`."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    frames, seen, files = [], [], []
    for index, (path, _) in enumerate(new):
        names = source_columns(path, header=plan.header, delimiter=plan.delimiter)
        view = f"source_{index}"
        files.append(_Lines(spark, path))
        _csv_rows(files[-1].frame, path, names, plan).createOrReplaceTempView(view)
        sql = plan.csv_transform(names, view, keep_raw=True)
        seen.append(Observation())
        frames.append(run_sql(spark, f"SELECT {index} AS _file, * FROM ({sql})")
                      .observe(seen[-1], F.count(F.lit(1)).alias("rows")))
    staged = frames[0]
    for frame in frames[1:]:
        staged = staged.unionByName(frame)
    return staged, seen, files


def _csv_rows(lines: DataFrame, path: Path, names: list[str], plan: IngestPlan) -> DataFrame:
    """The CSV file ``path``, whose ``lines`` (:attr:`_Lines.frame`) are given, as text
    columns ``names`` (empty or missing fields null), ``_line`` (the line's position) and
    ``_error`` (``wrong number of columns`` for a short or long row)."""
    from pyspark.sql import functions as F

    delimiter = plan.delimiter or ("\t" if ".tsv" in [s.lower() for s in path.suffixes]
                                   else ",")
    frame = lines
    if plan.header is None:
        frame = frame.where("position > 0")
    frame = frame.where("trim(text) <> ''")
    # The parser names the lines whose field count differs from the header's in a column of
    # its own (a name no source column has); only those lines are counted below.
    flag = next(f"_unparsed{'_' * k}" for k in range(len(names) + 1)
                if f"_unparsed{'_' * k}" not in names)
    schema = ", ".join(f"`{n.replace('`', '``')}` STRING" for n in [*names, flag])
    parsed = F.from_csv("text", schema, {"sep": delimiter, "escape": '"',
                                         "columnNameOfCorruptRecord": flag})
    # Fields of a flagged line = delimiters outside quoted text + 1; the regular expression
    # that drops quoted text only runs on flagged lines with a quote (one CASE, so Spark's
    # common-subexpression elimination cannot hoist it out for every line).
    def count_fields(text: Column) -> Column:
        return F.length(text) - F.length(F.replace(text, F.lit(delimiter))) + 1

    fields = (F.when(parsed[flag].isNull(), F.lit(len(names)))
              .when(F.instr("text", '"') == 0, count_fields(F.col("text")))
              .otherwise(count_fields(F.regexp_replace("text", '"([^"]|"")*"', ""))))
    wrong = fields != len(names)
    # A rejected row keeps its empty fields as '' (as the DuckDB engine's quarantine does).
    return frame.select(
        *(F.when(wrong & (fields > i), F.coalesce(parsed[n], F.lit(""))).otherwise(parsed[n])
          .alias(n) for i, n in enumerate(names)),
        F.col("position").alias("_line"),
        F.when(wrong, F.lit(WRONG_COLUMN_COUNT)).alias("_error"),
    )


class _Lines:
    """The lines of a file as ``text`` and ``position`` (``monotonically_increasing_id``:
    (partition << 33) + row in partition; in file order, as the partitions are).

    A position orders like the line number; it becomes one (:func:`_line_numbers`) from the
    rows before its partition (:meth:`offsets`), counted by a job of its own only when the
    file has bad rows: the lines of a clean file are read once (the count read them once
    more: 10M events, 1.4 of the ingest's ~43 executor CPU s; the rows per partition
    observed by the ingest job itself, one maximum per partition, cost it more: 1M events,
    8 partitions, 0.4 CPU s).
    """

    def __init__(self, spark: SparkSession, path: Path) -> None:
        from pyspark.sql import functions as F

        self.frame = spark.read.text(str(path.resolve())).select(
            F.col("value").alias("text"), F.monotonically_increasing_id().alias("position"))
        self._offsets: list[int] | None = None

    def offsets(self) -> list[int]:
        """The rows before each partition, counted by a job (once)."""
        from pyspark.sql import functions as F

        if self._offsets is None:
            counts = dict(self.frame.groupBy(F.shiftright("position", _ROW_BITS))
                          .count().collect())
            rows = [counts.get(p, 0) for p in range(max(counts, default=-1) + 1)]
            self._offsets = [0, *accumulate(rows)][:-1]
        return self._offsets


def _line_numbers(positions: Column, file: Column, offsets: list[list[int]]) -> Column:
    """The 1-based line numbers of the lines at ``positions`` of the files ``file`` (index in
    ``offsets``: each file's rows before each partition, :meth:`_Lines.offsets`)."""
    from pyspark.sql import functions as F

    part = F.shiftright(positions, _ROW_BITS)
    starts = F.array(*(F.array(*(F.lit(o).cast("bigint") for o in [*file_offsets, 0]))
                       for file_offsets in offsets))
    return (F.element_at(starts[file], part.cast("int") + 1) + positions
            - F.shiftleft(part, _ROW_BITS) + 1)


def _write_rows(spark: SparkSession, staged: DataFrame, plan: IngestPlan, out: Path,
                events_dir: Path, *, dedup: bool) -> None:
    """Write the rows of ``staged`` under ``out`` by the executors, in one job: the good ones
    whose ``event_id`` is not stored yet as event files by UTC day (``day=YYYY-MM-DD``, one
    file a day: the rows are shuffled by day once), the bad ones in a null ``day`` with
    their ``_file``, ``_line`` (a position), ``_reason`` and ``_raw`` packed as JSON in ``event_id``
    (:func:`_bad_rows` unpacks them). With ``dedup``, only the first good row of each
    ``event_id`` (by file, then line) is written, and no bad row."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = staged
    if dedup:
        first = Window.partitionBy("event_id").orderBy("_file", "_line")
        rows = (rows.where("_reason IS NULL")
                .withColumn("_rank", F.row_number().over(first)).where("_rank = 1"))
    stored = event_files(events_dir)
    if stored:
        known = (spark.read.parquet(*(str(p.resolve()) for p in stored))
                 .select(F.col("event_id").alias("_known")))
        rows = rows.join(known, (F.col("event_id") == F.col("_known"))
                         & F.col("_reason").isNull(), "left_anti")
    bad = F.col("_reason").isNotNull()
    packed = F.to_json(F.struct("_file", "_line", "_reason", "_raw"))
    columns = [F.when(bad, packed).otherwise(F.col(c)).alias(c) if c == "event_id"
               else F.col(f"`{c}`") for c in plan.event_columns]
    day = F.when(~bad, F.to_date("ts"))
    buckets = _DAY_BUCKETS_PER_PARTITION * int(spark.conf.get("spark.sql.shuffle.partitions"))
    writer = rows.select(*columns, day.alias("day")).repartition("day").write.partitionBy("day")
    with session_conf(spark, {"spark.sql.shuffle.partitions": str(buckets)}):
        writer.option("parquet.enable.dictionary", "false").option(
            f"parquet.enable.dictionary#{_DICTIONARY_COLUMN}", "true").parquet(str(out))


def _bad_rows(spark: SparkSession, folder: Path, lines: list[_Lines]) -> DataFrame:
    """The bad rows :func:`_write_rows` wrote into ``folder``: ``_file``, ``_line`` (the line
    number, from the position written and the rows before its partition: the ``lines`` of
    the files with bad rows are counted), ``_reason`` and ``_raw``."""
    from pyspark.sql import functions as F

    schema = "_file INT, _line BIGINT, _reason STRING, _raw ARRAY<STRING>"
    bad = (spark.read.parquet(str(folder.resolve()))
           .select(F.from_json("event_id", schema).alias("bad")).select("bad.*"))
    files = {row[0] for row in bad.select("_file").distinct().collect()}
    offsets = [file.offsets() if i in files else [] for i, file in enumerate(lines)]
    return bad.withColumn("_line", _line_numbers(F.col("_line"), F.col("_file"), offsets))


def _count(rows_in: list[int], bad: DataFrame | None, summary: IngestSummary
           ) -> list[tuple[int, int]]:
    """Count rows in, quarantined and reasons into ``summary`` from the rows of each file and
    the bad rows; return (rows, bad) per file."""
    quarantined = [0] * len(rows_in)
    reasons: dict[str, int] = {}
    if bad is not None:
        for file, reason, n in bad.groupBy("_file", "_reason").count().collect():
            quarantined[file] += n
            reasons[reason] = reasons.get(reason, 0) + n
    summary.rows_in = sum(rows_in)
    summary.quarantined = sum(quarantined)
    summary.reasons = reasons
    return list(zip(rows_in, quarantined, strict=True))


def _check_bad_fraction(bad: DataFrame | None, summary: IngestSummary, limit: float,
                        new: list[tuple[Path, str]]) -> None:
    """Raise :class:`TooManyBadRows` when more than ``limit`` of the rows in are bad."""
    if bad is None or summary.quarantined <= limit * summary.rows_in:
        return
    first = bad.orderBy("_file", "_line").select("_file", "_line", "_reason").first()
    raise TooManyBadRows(
        f"{summary.quarantined:,} of {summary.rows_in:,} rows "
        f"({summary.quarantined / summary.rows_in:.1%}) failed validation, more than the "
        f"allowed {limit:.1%} (max_bad_fraction); most common: "
        f"{describe_reasons(summary.reasons, most=3)}; first at {new[first[0]][0]}, line "
        f"{first[1]} ({first[2]}). Nothing was written. Check the mapping (columns, "
        "timestamp_format) against the data, or fix the data."
    )


def _repeats_ids(spark: SparkSession, files: list[Path]) -> bool:
    """Whether two rows of the event ``files`` may share an ``event_id``: distinct 64-bit
    hashes prove the ids distinct (as :func:`ingest.store.repeats_ids` does), shuffling 8 bytes
    a row instead of the rows; a repeat, or a hash collision (about n^2 / 2^65 likely),
    answers yes.

    The hashes are grouped after the shuffle only (no partial aggregation before it: nearly
    every hash is new, so a map-side table of them saved nothing; 1M events: 1.9 -> 1.2
    executor CPU s, benchmarks/README.md, session 12).
    """
    from pyspark.sql import functions as F

    if not files:
        return False
    repeated = (spark.read.parquet(*(str(p.resolve()) for p in files))
                .select(F.xxhash64("event_id").alias("h")).groupBy("h").count()
                .where("count > 1"))
    with session_conf(spark, {"spark.sql.execution.bypassPartialAggregation": "true"}):
        return not repeated.isEmpty()


def _write_quarantine(spark: SparkSession, bad: DataFrame, new: list[tuple[Path, str]],
                      plan: IngestPlan, target: Path) -> None:
    """Add the bad rows (file, line, reason, original values) to the quarantine file."""
    from pyspark.sql import functions as F

    files = F.array(*(F.lit(str(p)) for p, _ in new))
    bad = bad.orderBy("_file", "_line").select(
        files[F.col("_file")].alias("source_file"),
        F.col("_line").alias("line"),
        F.col("_reason").alias("reason"),
        *(F.col("_raw")[i].alias(name) for i, name in enumerate(plan.source_columns)),
    )
    if target.is_file():
        bad = spark.read.parquet(str(target.resolve())).unionByName(
            bad, allowMissingColumns=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_single_parquet(bad, target)
