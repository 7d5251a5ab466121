"""The Spark engine's ingest: CSV logs -> validated, deduplicated, day-partitioned events.

:func:`ingest_logs_spark` keeps the promises of :func:`ingest.run.ingest_logs` (rows in =
accepted + quarantined + duplicates; already ingested files skipped; ``event_id`` unique across
runs; nothing written when too many rows are bad) with every row handled by Spark executors:

* each CSV file is read as lines numbered on the executors (the quarantine names the line)
  and split with ``from_csv``; a row with more or fewer fields than the header is rejected
  with ``wrong number of columns`` (the fields of the lines ``from_csv`` flags are counted
  again, quote-aware; the others it split into the header's count);
* the rows are mapped and validated by the DuckDB engine's own query
  (:func:`ingest.validate.transform_sql`, transpiled by :mod:`ingest.spark_sql`);
* new events are deduplicated by ``event_id`` (the first by file, then line, by a window only
  when the batch's id hashes are not all distinct; ids already stored are dropped) and
  written partitioned by UTC day by the executors, then moved into
  place (:func:`ingest.store.move_days`); the quarantine is rewritten by one executor.

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
from ingest.spark_session import spark_session
from ingest.spark_sql import run_sql
from ingest.state import IngestState, file_facts
from ingest.store import LABELS_FILE, count_events, event_files, move_days

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

#: Event columns written without a Parquet dictionary: nearly every value is new (ids, times,
#: amounts), so the writer only hashed them until the dictionary outgrew its page and fell
#: back to plain encoding (3M events: 13.1 -> 11.7 JVM CPU s to write, files +13 %;
#: benchmarks/README.md, session 12).
_PLAIN_COLUMNS = ("event_id", "ts", "amount")


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
        staged = _stage(spark, new, plan).persist()
        try:
            rows = _count(staged, summary, len(new))
            _check_bad_fraction(staged, summary, max_bad_fraction, new)
            if summary.rows_in > summary.quarantined:
                summary.accepted = _store(spark, staged, plan, staging, events_dir)
                summary.duplicates = summary.rows_in - summary.quarantined - summary.accepted
            if summary.quarantined:
                _write_quarantine(spark, staged, new, plan, quarantine)
        finally:
            staged.unpersist()
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


def _stage(spark: SparkSession, new: list[tuple[Path, str]], plan: IngestPlan) -> DataFrame:
    """Every row of the new files, mapped and validated: the canonical columns, ``_reason``,
    ``_raw`` (bad rows), ``_file`` (index in ``new``) and ``_line``."""
    frames = []
    for index, (path, _) in enumerate(new):
        names = source_columns(path, header=plan.header, delimiter=plan.delimiter)
        view = f"source_{index}"
        _csv_rows(spark, path, names, plan).createOrReplaceTempView(view)
        sql = plan.csv_transform(names, view, keep_raw=True)
        frames.append(run_sql(spark, f"SELECT {index} AS _file, * FROM ({sql})"))
    staged = frames[0]
    for frame in frames[1:]:
        staged = staged.unionByName(frame)
    return staged


def _csv_rows(spark: SparkSession, path: Path, names: list[str], plan: IngestPlan) -> DataFrame:
    """The CSV file ``path`` as text columns ``names`` (empty or missing fields null), ``_line``
    (1-based line number) and ``_error`` (``wrong number of columns`` for a short or long
    row)."""
    from pyspark.sql import functions as F

    delimiter = plan.delimiter or ("\t" if ".tsv" in [s.lower() for s in path.suffixes]
                                   else ",")
    frame = _numbered_lines(spark, path)
    if plan.header is None:
        frame = frame.where("index > 0")
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
        (F.col("index") + 1).alias("_line"),
        F.when(wrong, F.lit(WRONG_COLUMN_COUNT)).alias("_error"),
    )


def _numbered_lines(spark: SparkSession, path: Path) -> DataFrame:
    """The lines of ``path`` as ``text`` and ``index`` (0-based, in file order), numbered on
    the executors: ``monotonically_increasing_id`` is (partition << 33) + row in partition, so
    each partition's offset is the count of rows before it (one small count per partition
    reaches the driver)."""
    from pyspark.sql import functions as F

    lines = spark.read.text(str(path.resolve())).withColumn(
        "_id", F.monotonically_increasing_id()).withColumnRenamed("value", "text")
    part = F.shiftright("_id", 33)
    counts = sorted(lines.groupBy(part.alias("p")).count().collect())
    offsets, total = [], 0
    for p, n in counts:
        offsets += [F.lit(p), F.lit(total)]
        total += n
    start = F.create_map(*offsets)[part] if offsets else F.lit(0)
    return lines.select("text", (start + F.col("_id") - F.shiftleft(part, 33)).alias("index"))


def _count(staged: DataFrame, summary: IngestSummary, n_files: int) -> list[tuple[int, int]]:
    """Count rows in, quarantined and reasons into ``summary``; return (rows, bad) per file."""
    rows = [(0, 0)] * n_files
    reasons: dict[str, int] = {}
    for file, reason, n in staged.groupBy("_file", "_reason").count().collect():
        total, bad = rows[file]
        rows[file] = (total + n, bad + (n if reason is not None else 0))
        if reason is not None:
            reasons[reason] = reasons.get(reason, 0) + n
    summary.rows_in = sum(n for n, _ in rows)
    summary.quarantined = sum(bad for _, bad in rows)
    summary.reasons = reasons
    return rows


def _check_bad_fraction(staged: DataFrame, summary: IngestSummary, limit: float,
                        new: list[tuple[Path, str]]) -> None:
    """Raise :class:`TooManyBadRows` when more than ``limit`` of the rows in are bad."""
    if not summary.rows_in or summary.quarantined <= limit * summary.rows_in:
        return
    first = (staged.where("_reason IS NOT NULL").orderBy("_file", "_line")
             .select("_file", "_line", "_reason").first())
    raise TooManyBadRows(
        f"{summary.quarantined:,} of {summary.rows_in:,} rows "
        f"({summary.quarantined / summary.rows_in:.1%}) failed validation, more than the "
        f"allowed {limit:.1%} (max_bad_fraction); most common: "
        f"{describe_reasons(summary.reasons, most=3)}; first at {new[first[0]][0]}, line "
        f"{first[1]} ({first[2]}). Nothing was written. Check the mapping (columns, "
        "timestamp_format) against the data, or fix the data."
    )


def _store(spark: SparkSession, staged: DataFrame, plan: IngestPlan, staging: Path,
           events_dir: Path) -> int:
    """Write the good rows, deduplicated, by day under ``staging``; move them into
    ``events_dir``; return how many were written."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    fresh = staged.where("_reason IS NULL")
    # The first row of each event_id (by file, then line); no shuffle of the rows for it
    # when the batch repeats none.
    if _repeats_ids(spark, fresh):
        first = Window.partitionBy("event_id").orderBy("_file", "_line")
        fresh = fresh.withColumn("_rank", F.row_number().over(first)).where("_rank = 1")
    stored = event_files(events_dir)
    if stored:
        known = spark.read.parquet(*(str(p.resolve()) for p in stored)).select("event_id")
        fresh = fresh.join(known, "event_id", "left_anti")
    fresh = fresh.withColumn("day", F.to_date("ts"))
    out = staging / "events"
    writer = (fresh.select(*(F.col(f"`{c}`") for c in plan.event_columns), "day")
              .repartition("day").write.partitionBy("day"))
    for column in _PLAIN_COLUMNS:
        writer = writer.option(f"parquet.enable.dictionary#{column}", "false")
    writer.parquet(str(out))
    written = list(out.glob("day=*/*.parquet"))
    count = sum(pq.ParquetFile(p).metadata.num_rows for p in written)
    move_days(out, events_dir)
    log.debug("spark stored %d new events in %d files", count, len(written))
    return count


def _repeats_ids(spark: SparkSession, rows: DataFrame) -> bool:
    """Whether two of ``rows`` may share an ``event_id``: distinct 64-bit hashes prove the ids
    distinct (as :func:`ingest.store.repeats_ids` does), shuffling 8 bytes a row instead of the
    rows; a repeat, or a hash collision (about n^2 / 2^65 likely), answers yes.

    The hashes are grouped after the shuffle only (no partial aggregation before it: nearly
    every hash is new, so a map-side table of them saved nothing; 1M events: 1.9 -> 1.2
    executor CPU s, benchmarks/README.md, session 12).
    """
    from pyspark.sql import functions as F

    repeated = (rows.select(F.xxhash64("event_id").alias("h")).groupBy("h").count()
                .where("count > 1"))
    key = "spark.sql.execution.bypassPartialAggregation"
    before = spark.conf.get(key, None)
    spark.conf.set(key, "true")
    try:
        return not repeated.isEmpty()
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _write_quarantine(spark: SparkSession, staged: DataFrame, new: list[tuple[Path, str]],
                      plan: IngestPlan, target: Path) -> None:
    """Add the bad rows (file, line, reason, original values) to the quarantine file."""
    from pyspark.sql import functions as F

    files = F.array(*(F.lit(str(p)) for p, _ in new))
    bad = staged.where("_reason IS NOT NULL").orderBy("_file", "_line").select(
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
