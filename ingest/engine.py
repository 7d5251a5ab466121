"""The DuckDB connection the ingest and graph stages share: UTC, all cores, bounded memory."""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from ingest.sql import literal

#: DuckDB's memory limit unless ``ABUSENET_DUCKDB_MEMORY`` says otherwise (e.g. ``4GB``);
#: beyond it DuckDB spills to its temporary directory, so large inputs run in bounded memory.
DEFAULT_MEMORY_LIMIT = "2GB"
#: Rows a partitioned write buffers per partition before writing them (DuckDB's row group size).
PARTITION_FLUSH_ROWS = 122_880
#: Parquet options of the day files: a column chunk gets a dictionary only while it holds at
#: most 1,000 distinct values (``event_type`` and other small vocabularies), so ids, which are
#: mostly unique, are written plain without first building a dictionary that would be thrown
#: away, while the snapshot's per-event-type counts compare dictionary codes (measured at 3M
#: events: the write costs the same as with no string dictionaries, the snapshot ~5% less).
DAY_FILE_PARQUET_OPTIONS = "DICTIONARY_SIZE_LIMIT 1000"
_UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def connect(
    temp_dir: str | os.PathLike[str] | None = None,
    *,
    keep_order: bool = False,
    memory_share: float = 1.0,
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection set up for out-of-core work.

    Parameters
    ----------
    temp_dir
        Where DuckDB may spill intermediate results; it is created when needed.
    keep_order
        Keep rows in input order in results without ``ORDER BY`` (slower for large writes).
    memory_share
        Fraction of the memory limit this connection may use (a stage that also holds large
        results in Python takes less).
    threads
        DuckDB's worker threads; None: one per core. A parallel ``sum`` / ``avg`` over doubles
        adds its rows in scheduling order, so two runs can differ in the last bits; one thread
        gives the same bits every time.

    Returns
    -------
    duckdb.DuckDBPyConnection
        A connection with ``TimeZone = 'UTC'``, ``threads`` threads, a memory limit of
        ``memory_share`` times ``ABUSENET_DUCKDB_MEMORY`` (or :data:`DEFAULT_MEMORY_LIMIT`)
        and partitioned writes that flush every :data:`PARTITION_FLUSH_ROWS` rows.
    """
    con = duckdb.connect(config={"threads": threads or os.cpu_count() or 1})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    set_memory_limit(con, int(memory_limit() * memory_share))
    con.execute(f"SET preserve_insertion_order = {literal(keep_order)}")
    # Partitioned writes (the day files) flush a partition every row group instead of every
    # 524,288 rows: with 30 days that default buffers up to 15M rows, which spills at 30M events.
    con.execute(f"SET partitioned_write_flush_threshold = {PARTITION_FLUSH_ROWS}")
    if temp_dir is not None:
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {literal(Path(temp_dir).as_posix())}")
    return con


def memory_limit() -> int:
    """The memory budget in bytes: ``ABUSENET_DUCKDB_MEMORY`` or :data:`DEFAULT_MEMORY_LIMIT`."""
    return memory_bytes(os.environ.get("ABUSENET_DUCKDB_MEMORY", DEFAULT_MEMORY_LIMIT))


def set_memory_limit(con: duckdb.DuckDBPyConnection, size: int) -> None:
    """Set ``con``'s memory limit to ``size`` bytes (DuckDB spills what does not fit)."""
    con.execute(f"SET memory_limit = '{size >> 20}MiB'")


def memory_bytes(size: str) -> int:
    """``"2GB"`` -> 2_000_000_000, ``"512MiB"`` -> 536_870_912 (DuckDB's size notation)."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", size)
    if not match or match.group(2).upper() not in _UNITS:
        raise ValueError(f"ABUSENET_DUCKDB_MEMORY: cannot read size {size!r} (use e.g. 2GB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])
