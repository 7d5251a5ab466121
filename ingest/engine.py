"""The DuckDB connection the ingest and graph stages share: UTC, all cores, bounded memory."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from ingest.sql import literal

#: DuckDB's memory limit unless ``ABUSENET_DUCKDB_MEMORY`` says otherwise; beyond it DuckDB
#: spills to its temporary directory, so large inputs run in bounded memory.
DEFAULT_MEMORY_LIMIT = "2GB"


def connect(
    temp_dir: str | os.PathLike[str] | None = None, *, keep_order: bool = False
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection set up for out-of-core work.

    Parameters
    ----------
    temp_dir
        Where DuckDB may spill intermediate results; it is created when needed.
    keep_order
        Keep rows in input order in results without ``ORDER BY`` (slower for large writes).

    Returns
    -------
    duckdb.DuckDBPyConnection
        A connection with ``TimeZone = 'UTC'``, one thread per core, a memory limit
        (``ABUSENET_DUCKDB_MEMORY`` or :data:`DEFAULT_MEMORY_LIMIT`).
    """
    con = duckdb.connect(config={"threads": os.cpu_count() or 1})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    memory = os.environ.get("ABUSENET_DUCKDB_MEMORY", DEFAULT_MEMORY_LIMIT)
    con.execute(f"SET memory_limit = {literal(memory)}")
    con.execute(f"SET preserve_insertion_order = {literal(keep_order)}")
    if temp_dir is not None:
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {literal(Path(temp_dir).as_posix())}")
    return con
