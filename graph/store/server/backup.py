"""Back up and restore the local server's database: ``neo4j-admin database dump`` and ``load``.

Neo4j Community dumps and loads a database only while the server is stopped, so both stop the
server when it runs and start it again afterwards (a stopped server stays stopped). A dump is
written under a temporary name next to its target and renamed at the end: a failed dump leaves
no half-written file, and an existing file is replaced only when asked (``force``). A restore
first checks that the file is a Neo4j dump (``load --info``), then moves the current database
aside and loads the dump; when the load fails the current database is moved back, untouched.

The dump holds one database (``neo4j`` unless told otherwise): its nodes, relationships,
properties, indexes and constraints. Users and passwords live in the ``system`` database and are
not part of it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from graph.store.server.errors import Neo4jServerError
from graph.store.server.jvm import JVM_FLAGS, find_java
from graph.store.server.local import LocalNeo4j

#: The class behind ``neo4j-admin``, run in this JVM.
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
#: The name ``neo4j-admin database dump`` gives its file in the target directory.
DUMP_SUFFIX = ".dump"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupResult:
    """What a dump or a restore did.

    Attributes
    ----------
    path
        The dump file written or read.
    database
        The database dumped or replaced.
    size
        The dump file's size in bytes.
    seconds
        Wall time, stop and restart of the server included.
    restarted
        Whether the server was running before and was started again.
    """

    path: Path
    database: str
    size: int
    seconds: float
    restarted: bool


def dump_database(server: LocalNeo4j, target: str | os.PathLike[str], *,
                  database: str = "neo4j", force: bool = False) -> BackupResult:
    """Dump ``database`` of the local ``server`` into the file ``target``.

    Parameters
    ----------
    server
        The installed local server; stopped for the dump when running, then started again.
    target
        The dump file to write. Its directory is created when missing.
    database
        The database to dump.
    force
        Replace ``target`` when it exists (otherwise that is an error, raised before the server
        is touched).

    Raises
    ------
    Neo4jServerError
        When the server is not installed, ``target`` exists without ``force`` or is a
        directory, or ``neo4j-admin`` fails (its output is in the message; ``target`` is left
        as it was).
    """
    started = time.perf_counter()
    path = Path(target).resolve()
    _require_installed(server)
    if path.is_dir():
        raise Neo4jServerError(f"cannot dump to {path}: it is a directory; name a file")
    if path.exists() and not force:
        raise Neo4jServerError(
            f"{path} already exists; choose another file or pass --force to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        with _server_stopped(server) as was_running:
            _admin(server, ["database", "dump", database, f"--to-path={work}"])
        os.replace(work / f"{database}{DUMP_SUFFIX}", path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = BackupResult(path, database, path.stat().st_size,
                          time.perf_counter() - started, was_running)
    logger.info("dumped database %r into %s (%d bytes) in %.1f s", database, path,
                result.size, result.seconds)
    return result


def restore_database(server: LocalNeo4j, source: str | os.PathLike[str], *,
                     database: str = "neo4j") -> BackupResult:
    """Replace ``database`` of the local ``server`` with the dump in ``source``.

    Parameters
    ----------
    server
        The installed local server; stopped for the load when running, then started again.
    source
        A file written by :func:`dump_database` (or ``neo4j-admin database dump``).
    database
        The database to replace.

    Raises
    ------
    Neo4jServerError
        When the server is not installed, ``source`` is missing, empty or not a Neo4j dump
        (checked before the server is touched), or the load fails; in that last case the
        database the server had is put back as it was.
    """
    started = time.perf_counter()
    path = Path(source).resolve()
    _require_installed(server)
    if not path.is_file():
        raise Neo4jServerError(f"cannot restore from {path}: no such file")
    if path.stat().st_size == 0:
        raise Neo4jServerError(f"cannot restore from {path}: the file is empty")
    try:
        _admin(server, ["database", "load", database, "--info", "--from-stdin"], stdin=path)
    except Neo4jServerError as err:
        raise Neo4jServerError(
            f"cannot restore from {path}: it is not a Neo4j database dump (or it is damaged); "
            f"the database was not touched. neo4j-admin said: {err}"
        ) from None
    data = Path(server.read_settings()["data_dir"])
    current = [data / "databases" / database, data / "transactions" / database]
    with _server_stopped(server) as was_running:
        aside = Path(tempfile.mkdtemp(prefix=f".restore-{database}-", dir=data))
        moved = _move_aside(current, aside)
        try:
            _admin(server, ["database", "load", database, "--from-stdin"], stdin=path)
        except Neo4jServerError as err:
            for directory in current:
                shutil.rmtree(directory, ignore_errors=True)
            for original, kept in moved:
                os.replace(kept, original)
            shutil.rmtree(aside, ignore_errors=True)
            raise Neo4jServerError(
                f"loading {path} into database {database!r} failed; the database was kept as "
                f"it was before. {err}"
            ) from None
        shutil.rmtree(aside, ignore_errors=True)
    result = BackupResult(path, database, path.stat().st_size,
                          time.perf_counter() - started, was_running)
    logger.info("restored database %r from %s in %.1f s", database, path, result.seconds)
    return result


def _require_installed(server: LocalNeo4j) -> None:
    if not server.is_installed():
        raise Neo4jServerError(
            f"no local Neo4j is installed in {server.home}; run `abusenet neo4j install` first"
        )


@contextlib.contextmanager
def _server_stopped(server: LocalNeo4j) -> Iterator[bool]:
    """Stop ``server`` when it runs; start it again afterwards, even when the body failed.

    Yields whether it was running.
    """
    was_running = server.status().running
    if was_running:
        logger.info("stopping Neo4j for neo4j-admin")
        server.stop()
    try:
        yield was_running
    finally:
        if was_running:
            logger.info("starting Neo4j again")
            server.start()


def _move_aside(directories: list[Path], aside: Path) -> list[tuple[Path, Path]]:
    """Rename each existing directory ``<data>/<kind>/<db>`` to ``aside/<kind>``; the
    ``(original, kept)`` pairs."""
    moved = []
    for directory in directories:
        if directory.exists():
            kept = aside / directory.parent.name
            os.replace(directory, kept)
            moved.append((directory, kept))
    return moved


def _admin(server: LocalNeo4j, args: list[str], *, stdin: Path | None = None) -> str:
    """Run ``neo4j-admin <args>`` for ``server``; its output, or :class:`Neo4jServerError`."""
    home = server.home
    env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")}
    command = [find_java(), *JVM_FLAGS, "-cp", str((home / "lib").resolve() / "*"),
               ADMIN_TOOL, *args]
    logger.debug("running neo4j-admin %s", " ".join(args))
    with contextlib.ExitStack() as stack:
        feed = stack.enter_context(stdin.open("rb")) if stdin is not None else subprocess.DEVNULL
        done = subprocess.run(command, env=env, stdin=feed, capture_output=True)
    output = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
    if done.returncode != 0:
        raise Neo4jServerError(
            f"neo4j-admin {' '.join(args[:2])} failed (exit {done.returncode}): "
            f"{output[-1500:] or 'no output'}"
        )
    return output
