"""Clean CSV files straight to day files: the ingest's fast path, with no staging table.

Most runs read CSV files without a single bad row or repeated ``event_id``. For them,
:func:`write_clean_csv` maps, validates and writes each file to day-partitioned Parquet in one
parallel DuckDB statement per file (no table of staged rows is built, spilled and read back).
Bad rows are not kept: their day is null, so DuckDB puts them in a partition of their own,
whose size tells the run how many there were without a second pass over the file. Whenever
anything is not clean (a bad or rejected row, a repeated ``event_id``, an id already stored)
the caller throws the output away and stages the files as before (:mod:`ingest.staging`),
which quarantines and deduplicates with file and line numbers; so the fast path changes no
result, only the cost.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from ingest.engine import DAY_FILE_PARQUET_OPTIONS
from ingest.plan import IngestPlan
from ingest.readers import file_format
from ingest.sql import ident, literal

log = logging.getLogger(__name__)

#: Most new files the fast path takes: each is written by its own statement, with one file per
#: day and thread, so more files would scatter the events over many small Parquet files.
MAX_FILES = 8
#: The folder DuckDB writes the null partition to: that of the bad rows (their day is null),
#: thrown away once counted.
_BAD = "day=__HIVE_DEFAULT_PARTITION__"


@dataclass
class DirectWrite:
    """What :func:`write_clean_csv` wrote.

    Attributes
    ----------
    rows
        Rows read per file (in the order of the files given), bad rows included.
    dirty
        Indices of the files with a bad or rejected row (they need the staged path).
    """

    rows: list[int] = field(default_factory=list)
    dirty: set[int] = field(default_factory=set)

    @property
    def clean(self) -> bool:
        """Whether no file has a bad or rejected row."""
        return not self.dirty


def direct_candidates(files: list[Path]) -> bool:
    """Whether ``files`` suit the fast path: a few CSV files DuckDB's reader can read."""
    return 0 < len(files) <= MAX_FILES and all(file_format(p) == "csv" for p in files)


def write_clean_csv(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    plan: IngestPlan,
    out: Path,
    run: str,
) -> DirectWrite | None:
    """Write the good rows of the CSV ``files`` under ``out/day=YYYY-MM-DD/``.

    Returns ``None`` when a file is not one DuckDB's CSV reader reads (the caller stages it
    instead). Bad rows and rows DuckDB rejects are counted, not written: their files are
    listed in :attr:`DirectWrite.dirty` and ``out`` then holds only part of the input.
    ``plan`` says how to read and map the files, ``run`` names the written files.
    """
    result = DirectWrite()
    select = ", ".join(ident(c) for c in plan.event_columns)
    for index, path in enumerate(files):
        rejects, view = f"_direct_rejects_{index}", f"direct_source_{index}"
        names = plan.csv_view(con, path, view, rejects=rejects, numbered=False)
        if names is None:
            log.debug("%s: a compression DuckDB cannot read; no fast path", path)
            return None
        rows = plan.csv_transform(names, view)
        # The UTC day by arithmetic: CAST(ts AS DATE) goes through the time zone library.
        day = "DATE '1970-01-01' + CAST(floor(epoch_us(ts) / 86400e6) AS INTEGER)"
        written = con.execute(
            f"COPY (SELECT {select}, CASE WHEN _reason IS NULL THEN {day} END AS day "
            f"FROM ({rows})) TO {literal(str(out))} "
            f"(FORMAT parquet, PARTITION_BY (day), APPEND, "
            f"FILENAME_PATTERN 'part-{run}-{index}-{{uuid}}', {DAY_FILE_PARQUET_OPTIONS})"
        ).fetchall()[0][0]
        con.execute(f"DROP VIEW {ident(view)}")
        rejected = plan.rejected_rows(con, rejects, path, names)
        bad = _drop_bad_rows(out)
        result.rows.append(int(written) + (rejected.table.num_rows if rejected else 0))
        if bad or rejected is not None:
            log.debug("%s: %d bad and %d rejected rows", path, bad,
                      rejected.table.num_rows if rejected else 0)
            result.dirty.add(index)
    return result


def _drop_bad_rows(out: Path) -> int:
    """Delete the bad rows' partition under ``out``; return how many rows it held."""
    folder = out / _BAD
    if not folder.is_dir():
        return 0
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*.parquet"))
    shutil.rmtree(folder)
    return rows
