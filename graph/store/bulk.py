"""First loads of big snapshots: snapshot -> CSV import files -> ``neo4j-admin database import``.

The import tool writes a store directly, an order of magnitude faster than transactions, but only
into a database that is offline, and it replaces that database. So the bulk path works only on a
local server abusenet manages (:class:`~abusenet.neo4j_server.LocalNeo4j`), only into an empty
database, and stops the server for the import and starts it again after. The files hold the same
properties as the driver path (:mod:`graph.store.tables`), ``content_hash`` included, so later
updates through the driver stay incremental and both paths give the same graph.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from graph.snapshot import Snapshot
from graph.store.load import LoadSummary
from graph.store.runner import Neo4jStore, QueryRunner
from graph.store.schema import ensure_schema
from graph.store.tables import HASH, NodeTable, RelTable, node_tables, positions, rel_tables

#: The class behind ``neo4j-admin``, run in this JVM (``Neo4jAdminCommand`` forks one more).
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
#: Import files written at once.
WRITER_THREADS = min(4, os.cpu_count() or 1)


class BulkImportError(RuntimeError):
    """The bulk import cannot run here or failed; the message says why and what to do."""


@dataclass(frozen=True)
class ImportFile:
    """One ``--nodes`` or ``--relationships`` argument: a header file and a data file."""

    kind: str  # "nodes" or "relationships"
    name: str  # label or relationship type
    header: Path
    data: Path
    rows: int

    def argument(self) -> str:
        """The neo4j-admin option for this file."""
        return f"--{self.kind}={self.name}={self.header},{self.data}"


def write_import_files(snapshot: Snapshot, directory: str | os.PathLike[str]) -> list[ImportFile]:
    """Write the CSV header and data files of ``snapshot`` for ``neo4j-admin database import``.

    Every node gets a number: its store id (``--id-type=actual``), counted through the node
    tables in order. Relationship files name their endpoints by these numbers, so the import
    tool maps no string ids (its slowest step for string keys) and parses only integers there;
    the node's own ``id`` is an ordinary string property. Strings are quoted with inner quotes
    doubled, missing values are empty fields (no property), timestamps ISO-8601 UTC with
    microseconds.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    numbers: dict[str, tuple[int, pa.Array]] = {}

    def node_file(table: NodeTable, first: int) -> ImportFile:
        header = [":ID", "id:string"] + _typed(table.frame, [*table.properties, HASH])
        frame = table.frame[["id", *table.properties, HASH]]
        frame.insert(0, "node", np.arange(first, first + len(frame), dtype=np.int64))
        return _write(out, "nodes", table.label, header, frame)

    def rel_file(table: RelTable) -> ImportFile:
        header = [":START_ID", ":END_ID"] + _typed(table.frame, [*table.properties, HASH])
        frame = table.frame[[*table.properties, HASH]]
        frame.insert(0, "end", _node_numbers(numbers[table.dst_label], table.frame["dst"]))
        frame.insert(0, "start", _node_numbers(numbers[table.src_label], table.frame["src"]))
        return _write(out, "relationships", table.rel_type, header, frame)

    # Files are written in parallel (Arrow and numpy release the GIL); node files while the
    # relationship tables are built.
    with ThreadPoolExecutor(WRITER_THREADS) as pool:
        futures = []
        first = 0
        for table in node_tables(snapshot):
            numbers[table.label] = (first, pa.array(table.frame["id"], type=pa.string()))
            futures.append(pool.submit(node_file, table, first))
            first += len(table.frame)
        futures += [pool.submit(rel_file, table) for table in rel_tables(snapshot)]
        return [f.result() for f in futures]


def _node_numbers(numbering: tuple[int, pa.Array], ids: pd.Series) -> np.ndarray:
    """The store ids of ``ids`` (all present: :func:`rel_tables` drops dangling ones)."""
    first, keys = numbering
    return first + positions(ids, keys)


def import_command(store: Neo4jStore, files: list[ImportFile], multiline: bool) -> list[str]:
    """The ``neo4j-admin database import full`` command line for ``files`` into the store's db."""
    from abusenet.neo4j_server import JVM_FLAGS, find_java

    assert store.server is not None
    return [
        # The admin tool itself: neo4j-admin's launcher would start a second JVM to run it.
        find_java(), *JVM_FLAGS, "-cp", str(store.server.home / "lib" / "*"), ADMIN_TOOL,
        "database", "import", "full", store.database,
        *(f.argument() for f in files),
        "--overwrite-destination=true", f"--multiline-fields={str(multiline).lower()}",
        "--skip-bad-relationships=false", "--skip-duplicate-nodes=false",
        "--id-type=actual", "--trim-strings=false",
        # Without it the tool writes import.report into the caller's working directory.
        f"--report-file={store.server.home / 'logs' / 'import.report'}",
    ]


def bulk_load(store: QueryRunner, snapshot: Snapshot, *, progress: bool = True) -> LoadSummary:
    """Import ``snapshot`` into the store's empty database with the server stopped.

    Raises
    ------
    BulkImportError
        When the store has no local server to stop, the database is not empty, or the import
        tool fails (its output is in the message).
    """
    server = getattr(store, "server", None)
    if not isinstance(store, Neo4jStore) or server is None:
        raise BulkImportError(
            "bulk import needs the local Neo4j server that abusenet manages (it is stopped for "
            "the import); this store talks to a server abusenet does not manage. Load through "
            "the driver instead (mode='driver', or `abusenet load --no-bulk`)."
        )
    present = store.read("MATCH (n) RETURN count(n) AS n").single("n")
    if present:
        raise BulkImportError(
            f"bulk import replaces the whole database, and {store.database!r} already holds "
            f"{present} nodes; load into it through the driver instead (mode='driver', or "
            "`abusenet load --no-bulk`), which updates only what changed"
        )
    start = clock = time.perf_counter()
    summary = LoadSummary("bulk")
    workdir = Path(tempfile.mkdtemp(prefix="abusenet-import-"))
    store.close()
    try:
        # The server shuts down while the files are written: the two overlap.
        with ThreadPoolExecutor(1) as pool:
            stopping = pool.submit(server.stop)
            try:
                files = write_import_files(snapshot, workdir)
                multiline = _has_line_breaks(snapshot)
                clock = summary.add_time("files", clock)
            finally:
                stopping.result()
        clock = summary.add_time("stop", clock)
        _run_import(store, files, multiline, progress)
        clock = summary.add_time("import", clock)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        server.start()
        store.reconnect()
        clock = summary.add_time("start", clock)
    ensure_schema(store, [f.name for f in files if f.kind == "nodes"])
    summary.add_time("schema", clock)
    summary.written = {f.name: f.rows for f in files}
    summary.unchanged = {f.name: 0 for f in files}
    summary.relationship_types = tuple(f.name for f in files if f.kind == "relationships")
    summary.seconds = time.perf_counter() - start
    return summary


def _run_import(store: Neo4jStore, files: list[ImportFile], multiline: bool,
                progress: bool) -> None:
    assert store.server is not None
    home = store.server.home
    env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")}
    done = subprocess.run(
        import_command(store, files, multiline), env=env, text=True,
        stdout=None if progress else subprocess.PIPE, stderr=subprocess.PIPE,
    )
    if done.returncode != 0:
        raise BulkImportError(
            f"neo4j-admin database import failed (exit {done.returncode}); the database was "
            f"left as it was. Its output:\n{(done.stderr or done.stdout or '')[-2000:]}"
        )


def _typed(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    return [f"{c}:{_import_type(frame[c])}" for c in columns]


def _import_type(series: pd.Series) -> str:
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series):
        return "datetime"
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "long"
    if pd.api.types.is_float_dtype(series):
        return "double"
    return "string"


def _write(out: Path, kind: str, name: str, header: list[str], frame: pd.DataFrame) -> ImportFile:
    header_path = out / f"{kind}-{name}-header.csv"
    data_path = out / f"{kind}-{name}.csv"
    header_path.write_text(",".join(header) + "\n", encoding="utf-8")
    pcsv.write_csv(_csv_ready(frame), data_path, pcsv.WriteOptions(include_header=False))
    return ImportFile(kind, name, header_path, data_path, len(frame))


def _csv_ready(frame: pd.DataFrame) -> pa.Table:
    """Arrow table with timestamps as ISO strings and NaN as null (an absent property)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, column in enumerate(table.column_names):
        values = table.column(i)
        if pa.types.is_timestamp(values.type):
            table = table.set_column(i, column, _iso_utc(frame[column]))
        elif pa.types.is_floating(values.type):
            table = table.set_column(i, column, pc.if_else(pc.is_nan(values), None, values))
    return table


#: The two ASCII digits of 0..99.
_DIGIT_PAIRS = np.array([[48 + i // 10, 48 + i % 10] for i in range(100)], dtype=np.uint8)


def _iso_utc(series: pd.Series) -> pa.Array:
    """``2024-01-02T03:04:05.123456Z`` per timestamp (null for a missing one).

    The text is assembled two digits at a time in a byte matrix (faster than numpy's
    ``datetime_as_string``, and several times faster than Arrow's cast or ``strftime``); years
    outside 0-9999 fall back to ``datetime_as_string``.
    """
    stamps = pd.to_datetime(series, utc=True).dt.tz_localize(None).to_numpy("datetime64[us]")
    missing = np.isnat(stamps)
    stamps = np.where(missing, np.datetime64(0, "us"), stamps)
    days = stamps.astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    year = years.astype(np.int64) + 1970
    if year.min(initial=1970) < 0 or year.max(initial=1970) > 9999:
        text = np.char.add(np.datetime_as_string(stamps, unit="us"), "Z").astype(np.bytes_)
    else:
        months = days.astype("datetime64[M]")
        micros = (stamps - days).astype(np.int64)
        seconds = (micros // 1_000_000).astype(np.int32)
        fraction = (micros % 1_000_000).astype(np.int32)
        pairs = (  # (value 0-99, offset, separator after it or "")
            (year // 100, 0, ""), (year % 100, 2, "-"),
            ((months - years).astype(np.int32) + 1, 5, "-"),
            ((days - months).astype(np.int32) + 1, 8, "T"), (seconds // 3600, 11, ":"),
            (seconds // 60 % 60, 14, ":"), (seconds % 60, 17, "."), (fraction // 10_000, 20, ""),
            (fraction // 100 % 100, 22, ""), (fraction % 100, 24, "Z"),
        )
        chars = np.empty((len(stamps), 27), dtype=np.uint8)
        for value, at, separator in pairs:
            chars[:, at:at + 2] = _DIGIT_PAIRS[value]
            if separator:
                chars[:, at + 2] = ord(separator)
        text = chars.view("S27").ravel()
    return pc.cast(pa.array(text, type=pa.binary(), mask=missing), pa.string())


def _has_line_breaks(snapshot: Snapshot) -> bool:
    """Whether any node id holds a line break (the import tool then needs ``--multiline-fields``).

    Relationship files hold no ids, only node numbers.
    """
    columns = [t["id"] for t in snapshot.nodes.values()]
    return any(c.astype(str).str.contains(r"[\r\n]", regex=True).any() for c in columns)
