"""First loads of big snapshots: snapshot -> Parquet files -> ``neo4j-admin database import``.

The import tool writes a store directly, an order of magnitude faster than transactions, but only
into a database that is offline, and it replaces that database. So the bulk path works only on a
local server abusenet manages (:class:`~graph.store.server.local.LocalNeo4j`), only into an empty
database, and stops the server for the import and starts it again after. The files hold the same
properties as the driver path (:mod:`graph.store.tables`), ``content_hash`` included, so later
updates through the driver stay incremental and both paths give the same graph.

The files are Parquet (``--input-type=parquet``), not CSV: the import tool reads their native
integers, floats and UTC timestamps as they are, where from CSV it would parse every value from
text (ISO timestamps cost it about 1 us each, most of a CSV import). Columns carry no types in
their names: a typed name (``first_ts:datetime``) makes the tool print each value to text and
parse it back.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graph.snapshot import Snapshot
from graph.store.graphs import COMPLETE, fingerprint, finish_load, graph_name, start_load
from graph.store.load_summary import LoadSummary
from graph.store.runner import Neo4jStore, QueryRunner
from graph.store.schema import ensure_schema
from graph.store.server.errors import Neo4jServerError
from graph.store.server.jvm import JVM_FLAGS, ClassArchive, find_java
from graph.store.tables import (
    HASH,
    NodeTable,
    RelTable,
    is_temporal,
    node_tables,
    rel_tables,
)

if TYPE_CHECKING:
    from graph.store.server.local import LocalNeo4j

#: The class behind ``neo4j-admin``, run in this JVM (``Neo4jAdminCommand`` forks one more).
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
#: Import files written at once.
WRITER_THREADS = min(4, os.cpu_count() or 1)
#: Rows per Parquet row group. The import tool hands its threads one row group at a time, and
#: Arrow's default (1Mi rows) made each file of up to 1M rows a single piece of work: the
#: 1M-account file kept one thread busy after the other had run out of files.
ROW_GROUP_ROWS = 65_536

logger = logging.getLogger(__name__)


class BulkImportError(RuntimeError):
    """The bulk import cannot run here or failed; the message says why and what to do."""


@dataclass(frozen=True)
class ImportFile:
    """One ``--nodes`` or ``--relationships`` argument: a Parquet file."""

    kind: str  # "nodes" or "relationships"
    name: str  # label or relationship type
    data: Path
    rows: int
    #: The rows' content hashes, for the snapshot's fingerprint.
    hashes: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.empty(0))

    def argument(self) -> str:
        """The neo4j-admin option for this file."""
        return f"--{self.kind}={self.name}={self.data}"


def write_import_files(snapshot: Snapshot, directory: str | os.PathLike[str],
                       graph: str) -> list[ImportFile]:
    """Write the Parquet files of ``snapshot`` for ``neo4j-admin database import``.

    Every node and relationship gets ``graph`` (the graph's name, as on the driver path).

    Column names are the import tool's header entries: ``:ID`` (nodes) or ``:START_ID`` and
    ``:END_ID`` (relationships), then one column per property under its own name, untyped, so
    the tool takes the Parquet type: 64-bit integers, doubles, booleans, strings, and
    timestamps as microseconds adjusted to UTC (stored as ``DateTime`` in UTC, like the driver
    path's). A null is an absent property (NaN counts as null, as on the driver path).

    Every node gets a number: its store id (``--id-type=actual``), counted through the node
    tables in order. Relationship files name their endpoints by these numbers, so the import
    tool maps no string ids; the node's own ``id`` is an ordinary string property.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    first_number: dict[str, int] = {}

    def node_file(table: NodeTable, first: int) -> ImportFile:
        frame = table.frame[["id", *table.properties, HASH]]
        own = np.arange(first, first + len(frame), dtype=np.int64)
        return _write(out, "nodes", table.label, {":ID": own}, frame, graph)

    def rel_file(table: RelTable) -> ImportFile:
        ends = {":START_ID": first_number[table.src_label] + table.src_rows,
                ":END_ID": first_number[table.dst_label] + table.dst_rows}
        return _write(out, "relationships", table.rel_type, ends,
                      table.frame[[*table.properties, HASH]], graph)

    # Files are written in parallel (Arrow and numpy release the GIL); node files while the
    # relationship tables are built.
    with ThreadPoolExecutor(WRITER_THREADS) as pool:
        futures = []
        first = 0
        for table in node_tables(snapshot):
            first_number[table.label] = first
            futures.append(pool.submit(node_file, table, first))
            first += len(table.frame)
        futures += [pool.submit(rel_file, table) for table in rel_tables(snapshot)]
        return [f.result() for f in futures]


def import_command(store: Neo4jStore, files: list[ImportFile],
                   jvm_flags: Sequence[str] = ()) -> list[str]:
    """The ``neo4j-admin database import full`` command line for ``files`` into the store's db.

    ``jvm_flags`` go to the import tool's JVM (e.g. a class archive's, see :func:`_run_import`).
    """
    assert store.server is not None
    return [
        # The admin tool itself: neo4j-admin's launcher would start a second JVM to run it.
        find_java(), *JVM_FLAGS, *jvm_flags,
        "-cp", str(_lib(store.server) / "*"), ADMIN_TOOL,
        "database", "import", "full", store.database,
        *(f.argument() for f in files),
        "--input-type=parquet", "--overwrite-destination=true",
        "--skip-bad-relationships=false", "--skip-duplicate-nodes=false", "--id-type=actual",
        # Without it the tool writes import.report into the caller's working directory.
        f"--report-file={store.server.home / 'logs' / 'import.report'}",
    ]


def _lib(server: LocalNeo4j) -> Path:
    """The server's jars by their real path (a class archive matches only that class path)."""
    return (server.home / "lib").resolve()


def bulk_load(store: QueryRunner, snapshot: Snapshot, *, graph: str,
              progress: bool = True) -> LoadSummary:
    """Import ``snapshot`` as graph ``graph`` into the store's empty database, server stopped.

    The load is recorded as a complete ``LoadRun`` (:mod:`graph.store.graphs`) once the server
    is back with its schema: an import that fails leaves the database as it was.

    Raises
    ------
    BulkImportError
        When the store has no local server to stop, the database is not empty, the jars the
        Parquet input needs cannot be fetched, or the import tool fails (its output is in the
        message).
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
    graph_name(graph)
    _ensure_parquet_jars(server)
    start = clock = time.perf_counter()
    summary = LoadSummary("bulk", graph=graph)
    workdir = Path(tempfile.mkdtemp(prefix="abusenet-import-"))
    store.close()
    try:
        # The server shuts down while the files are written: the two overlap.
        with ThreadPoolExecutor(1) as pool:
            stopping = pool.submit(server.stop)
            try:
                files = write_import_files(snapshot, workdir, graph)
                clock = summary.add_time("files", clock)
            finally:
                stopping.result()
        clock = summary.add_time("stop", clock)
        _run_import(store, files, progress)
        clock = summary.add_time("import", clock)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        server.start()
        store.reconnect()
        clock = summary.add_time("start", clock)
    ensure_schema(store, [f.name for f in files if f.kind == "nodes"])
    summary.fingerprint = fingerprint(f.hashes for f in files)
    finish_load(store, start_load(store, graph, summary.fingerprint), COMPLETE)
    summary.add_time("schema", clock)
    summary.written = {f.name: f.rows for f in files}
    summary.unchanged = {f.name: 0 for f in files}
    summary.relationship_types = tuple(f.name for f in files if f.kind == "relationships")
    summary.seconds = time.perf_counter() - start
    return summary


def _ensure_parquet_jars(server: LocalNeo4j) -> None:
    try:
        server.ensure_parquet_import_jars()
    except Neo4jServerError as err:
        raise BulkImportError(
            f"{err}\nWithout these jars the import tool cannot read Parquet; load through the "
            "driver instead (mode='driver', or `abusenet load --no-bulk`)."
        ) from err


def _run_import(store: Neo4jStore, files: list[ImportFile], progress: bool) -> None:
    """Run the import tool; its JVM reads a class archive, or writes one the first time."""
    assert store.server is not None
    home = store.server.home
    archive = ClassArchive("import", find_java(), [_lib(store.server)])
    flags, pending = archive.jvm_flags()
    env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")}
    command = import_command(store, files, flags)
    logger.debug("running the import tool: %s", " ".join(command))
    try:
        done = subprocess.run(
            command, env=env, text=True,
            stdout=None if progress else subprocess.PIPE, stderr=subprocess.PIPE,
        )
        if done.returncode != 0:
            raise BulkImportError(
                f"neo4j-admin database import failed (exit {done.returncode}); the database was "
                f"left as it was. Its output:\n{(done.stderr or done.stdout or '')[-2000:]}"
            )
        archive.commit(pending)
    finally:
        if pending is not None:
            pending.unlink(missing_ok=True)


def _write(out: Path, kind: str, name: str, leading: dict[str, np.ndarray],
           frame: pd.DataFrame, graph: str) -> ImportFile:
    path = out / f"{kind}-{name}.parquet"
    columns = {key: pa.array(values) for key, values in leading.items()}
    columns["graph"] = pa.repeat(pa.scalar(graph, pa.string()), len(frame))
    columns |= {str(c): _parquet_column(frame[c]) for c in frame.columns}
    # Uncompressed, no dictionaries, no statistics: the file is read once, right away.
    pq.write_table(pa.table(columns), path, compression="none", use_dictionary=False,
                   write_statistics=False, row_group_size=ROW_GROUP_ROWS)
    return ImportFile(kind, name, path, len(frame), frame[HASH].to_numpy())


def _parquet_column(series: pd.Series) -> pa.Array:
    """``series`` as the Arrow type the import tool stores like the driver path does.

    Integers become 64-bit, floats doubles (NaN null), timestamps microseconds in UTC (cut
    like the driver path's), categories their values.
    """
    if is_temporal(series):
        micros = pd.to_datetime(series, utc=True).dt.tz_localize(None).to_numpy("datetime64[us]")
        return pa.array(micros, from_pandas=True).cast(pa.timestamp("us", tz="UTC"))
    values = pa.array(series, from_pandas=True)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_integer(values.type):
        return values.cast(pa.int64())
    if pa.types.is_floating(values.type):
        return values.cast(pa.float64())
    return values
