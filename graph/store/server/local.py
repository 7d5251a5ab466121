"""A local Neo4j Community server assembled from Maven Central jars.

There is no Docker engine or tarball here, but every jar of Neo4j Community is on Maven Central.
:class:`LocalNeo4j` installs them (:mod:`~graph.store.server.install`: the jars, a minimal
``neo4j.conf`` bound to 127.0.0.1 with authentication on, a strong password in a file only the
user can read) and runs the server as a plain ``java`` process (:mod:`~graph.store.server.jvm`)
that it can start, stop with a clean SIGTERM and report on (:mod:`~graph.store.server.process`).

Layout of a server home::

    <home>/lib/*.jar           runtime jars (GPL-3, downloaded at install time, never committed)
    <home>/conf/neo4j.conf
    <home>/server.json         ports, memory and data directory chosen at install time
    <home>/password            the ``neo4j`` user's password, mode 0600
    <home>/logs/console.log    the server's own output
    <home>/cds/*.jsa           class-data-sharing archives of the server and import-tool JVMs
                               (see :class:`~graph.store.server.jvm.ClassArchive`; in the home
                               that owns the jars)
    <home>/run/class-archive.json  the archive a running server writes when it exits, if any
    <data>/abusenet.pid        pid of the running server; kept in the data directory so that two
                               servers can never open the same store
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from graph.store.server import process
from graph.store.server.errors import Neo4jServerError
from graph.store.server.install import (
    NEO4J_VERSION,
    fetch_neo4j_jars,
    fetch_parquet_import_jars,
    generate_password,
    has_neo4j_jars,
    set_initial_password,
    write_conf,
)
from graph.store.server.jvm import (
    ClassArchive,
    commit_noted_archive,
    find_java,
    forget_noted_archive,
    note_pending_archive,
)
from graph.store.server.process import ServerStatus
from ingest.files import write_text_atomic

#: Free disk space a start needs on the data directory's file system: Neo4j preallocates a
#: 256 MiB transaction log for each of its two databases (``system`` and ``neo4j``) and
#: then writes the store, so with less it dies part-way with errors that do not say why.
MIN_FREE_DISK_BYTES = 1 << 30

logger = logging.getLogger(__name__)


class LocalNeo4j:
    """Install, start, stop and inspect one local Neo4j server.

    Parameters
    ----------
    home
        The server's home directory (jars, config, password, logs).

    The server's settings (ports, memory, data directory) are fixed by :meth:`install` and stored
    in ``<home>/server.json``; every later call reads them from there.
    """

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home).resolve()
        self._process: subprocess.Popen[bytes] | None = None

    # -- paths ---------------------------------------------------------------------------------
    @property
    def settings_path(self) -> Path:
        return self.home / "server.json"

    @property
    def password_path(self) -> Path:
        return self.home / "password"

    @property
    def log_path(self) -> Path:
        return self.home / "logs" / "console.log"

    def is_installed(self) -> bool:
        """Whether :meth:`install` has completed for this home."""
        return self.settings_path.is_file() and has_neo4j_jars(self.home / "lib")

    def read_settings(self) -> dict[str, Any]:
        """The install-time settings: ``uri``, ports, memory, ``data_dir``, ``version``."""
        if not self.settings_path.is_file():
            raise Neo4jServerError(
                f"no local Neo4j is installed in {self.home}; run `abusenet neo4j install` first"
            )
        return json.loads(self.settings_path.read_text())

    def read_password(self) -> str:
        """The ``neo4j`` user's password generated at install time."""
        return self.password_path.read_text().strip()

    def browser_url(self) -> str:
        """The address of Neo4j Browser on this server (from the install-time HTTP port)."""
        return f"http://127.0.0.1:{self.read_settings()['http_port']}/browser/"

    def _data_dir(self) -> Path:
        return Path(self.read_settings()["data_dir"])

    def _pid_path(self) -> Path:
        return self._data_dir() / "abusenet.pid"

    def _archive_note_path(self) -> Path:
        return self.home / "run" / "class-archive.json"

    def _jar_dirs(self) -> list[Path]:
        return [self.home / "plugins", self.home / "lib"]

    def _secret(self) -> str | None:
        """The password, to redact from output; ``None`` before there is one."""
        with contextlib.suppress(OSError):
            return self.read_password()
        return None

    # -- install -------------------------------------------------------------------------------
    def install(
        self,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        bolt_port: int = 7687,
        http_port: int = 7474,
        heap: str = "1g",
        pagecache: str = "512m",
        browser: bool = True,
        maven_repo: str | os.PathLike[str] | None = None,
        jars_from: str | os.PathLike[str] | None = None,
        quiet: bool = True,
    ) -> dict[str, Any]:
        """Download the jars (once; with :data:`~graph.store.server.install.PARQUET_IMPORT_JARS`,
        which the bulk import needs), write the config and set the initial password (once).

        Safe to run again: jars already present are kept, and the password is only generated
        before the store is first created. Changing ports or memory on a re-install rewrites the
        config. ``jars_from`` names another installed home whose jars are shared (linked, not
        copied), which makes throwaway servers for tests cheap. Returns the settings written to
        ``server.json``.
        """
        java = find_java()
        lib = self.home / "lib"
        if jars_from is not None and not lib.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            lib.symlink_to(LocalNeo4j(jars_from).home / "lib", target_is_directory=True)
        if not has_neo4j_jars(lib, NEO4J_VERSION):
            fetch_neo4j_jars(lib, browser=browser, maven_repo=maven_repo, quiet=quiet)
        self.ensure_parquet_import_jars(maven_repo=maven_repo)
        data = Path(data_dir).resolve() if data_dir else self.home / "data"
        for sub in ("conf", "logs", "run", "plugins", "import"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        settings = {
            "version": NEO4J_VERSION,
            "uri": f"bolt://127.0.0.1:{bolt_port}",
            "bolt_port": bolt_port,
            "http_port": http_port,
            "heap": heap,
            "pagecache": pagecache,
            "data_dir": str(data),
        }
        write_conf(self.home, settings)
        write_text_atomic(self.settings_path, json.dumps(settings, indent=2))
        if not self.password_path.is_file():
            write_text_atomic(self.password_path, generate_password(), mode=0o600)
            logger.info("generated the neo4j user's password into %s", self.password_path)
        if not (data / "dbms").exists():
            set_initial_password(self.home, java, self.read_password())
        return settings

    def ensure_parquet_import_jars(
        self, *, maven_repo: str | os.PathLike[str] | None = None
    ) -> None:
        """Add the Parquet import's jars missing from this home's ``lib`` (see
        :func:`graph.store.server.install.fetch_parquet_import_jars`)."""
        fetch_parquet_import_jars(self.home / "lib", maven_repo=maven_repo)

    # -- run -----------------------------------------------------------------------------------
    def status(self) -> ServerStatus:
        """Tell the truth about the server: running, stopped, stale pid, or not installed."""
        if not self.is_installed():
            return ServerStatus("not installed", None, None, None, None)
        s = self.read_settings()
        uri, browser = s["uri"], self.browser_url()
        data = Path(s["data_dir"])
        pid = process.read_pid(self._pid_path())
        if pid is None:
            return ServerStatus("stopped", None, uri, browser, data)
        if process.is_neo4j_process(pid):
            return ServerStatus("running", pid, uri, browser, data)
        return ServerStatus("stale", pid, uri, browser, data)

    def start(self, *, timeout: float = 180.0) -> ServerStatus:
        """Start the server and return once Bolt answers a query.

        Raises :class:`~graph.store.server.errors.Neo4jServerError` when it is already running
        on this data directory, a port is taken, or the process exits early (with the reason
        from its exit code and log).
        """
        current = self.status()
        if current.state == "not installed":
            raise Neo4jServerError(
                f"no local Neo4j is installed in {self.home}; run `abusenet neo4j install` first"
            )
        if current.running:
            raise Neo4jServerError(
                f"a Neo4j server (pid {current.pid}) is already running on {current.data_dir}; "
                "two servers must never open the same store. Use it, or "
                "`abusenet neo4j stop` first."
            )
        if current.state == "stale":
            self._pid_path().unlink(missing_ok=True)
        s = self.read_settings()
        _check_free_disk(Path(s["data_dir"]))
        for port in (s["bolt_port"], s["http_port"]):
            # A killed server may hold its sockets for a moment while its threads die.
            if not process.wait_port_free(port, 10.0 if current.state == "stale" else 0.0):
                raise Neo4jServerError(
                    f"port {port} on 127.0.0.1 is already in use; reinstall with other ports "
                    "(`abusenet neo4j install --bolt-port ... --http-port ...`)"
                )
        java = find_java()
        archive = ClassArchive("server", java, self._jar_dirs())
        forget_noted_archive(self._archive_note_path())
        archive_flags, pending = archive.jvm_flags()
        cmd = process.server_command(java, self.home, s["heap"], archive_flags)
        self._process = process.launch(cmd, home=self.home, log_path=self.log_path)
        write_text_atomic(self._pid_path(), str(self._process.pid))
        if pending is not None:
            note_pending_archive(self._archive_note_path(), pending, java)
        self._wait_until_ready(s, timeout)
        logger.info("Neo4j started (pid %d) on %s", self._process.pid, s["uri"])
        return self.status()

    def _wait_until_ready(self, s: dict[str, Any], timeout: float) -> None:
        assert self._process is not None
        try:
            code = process.wait_until_ready(self._process, uri=s["uri"], bolt_port=s["bolt_port"],
                                            password=self.read_password(), timeout=timeout)
        except TimeoutError:
            self.stop()
            raise Neo4jServerError(
                f"Neo4j did not answer on {s['uri']} within {timeout:.0f}s; it was stopped. "
                f"Last lines of {self.log_path}:\n{self._log_tail()}"
            ) from None
        if code is not None:
            self._pid_path().unlink(missing_ok=True)
            reason = process.EXIT_REASONS.get(code, "see the log below")
            raise Neo4jServerError(
                f"Neo4j exited during start-up with code {code}: {reason}. "
                f"Last lines of {self.log_path}:\n{self._log_tail()}"
            )

    def stop(self, *, timeout: float = 120.0) -> int | None:
        """Shut the server down cleanly with SIGTERM and wait until it has exited.

        Returns the process exit code when this object started the server, else ``None``.
        A server that is not running is not an error. Raises when it does not exit in time.
        """
        current = self.status()
        if current.state == "stale":
            self._pid_path().unlink(missing_ok=True)
        if not current.running:
            return None
        assert current.pid is not None
        os.kill(current.pid, signal.SIGTERM)
        try:
            code = process.wait_for_exit(current.pid, self._process, timeout)
        except TimeoutError:
            raise Neo4jServerError(
                f"Neo4j (pid {current.pid}) did not stop within {timeout:.0f}s after SIGTERM; "
                f"see {self.log_path}"
            ) from None
        self._pid_path().unlink(missing_ok=True)
        self._process = None
        logger.info("Neo4j (pid %d) stopped with exit code %s", current.pid, code)
        commit_noted_archive(self._archive_note_path(), "server", self._jar_dirs())
        return code

    def rotate_password(self) -> None:
        """Give the ``neo4j`` user a new random password on the running server, and keep it.

        The new password is first written to ``<home>/password.new`` (mode 0600), then set with
        ``ALTER CURRENT USER SET PASSWORD``, then moved over ``<home>/password``: whatever
        fails, one of the two files holds the password the server has. Clients holding the old
        password (a running ``abusenet`` command, an open Neo4j Browser) must log in again.

        Raises
        ------
        Neo4jServerError
            When the server is not running, or refuses the change (the old password stays).
        """
        import neo4j

        current = self.status()
        if not current.running:
            raise Neo4jServerError(
                f"Neo4j is {current.state} in {self.home}; the password is changed on a running "
                "server: `abusenet neo4j start` first"
            )
        old, new = self.read_password(), generate_password()
        pending = self.home / "password.new"
        write_text_atomic(pending, new, mode=0o600)
        try:
            with neo4j.GraphDatabase.driver(self.read_settings()["uri"],
                                            auth=("neo4j", old)) as driver:
                driver.execute_query("ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                                     old=old, new=new, database_="system")
        except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError) as err:
            pending.unlink(missing_ok=True)
            reason = err.code if isinstance(err, neo4j.exceptions.Neo4jError) else "unreachable"
            raise Neo4jServerError(
                f"Neo4j refused the new password ({reason}); the old one in "
                f"{self.password_path} still holds"
            ) from None
        os.replace(pending, self.password_path)
        logger.info("the neo4j user's password was changed; the new one is in %s",
                    self.password_path)

    def _log_tail(self, lines: int = 15) -> str:
        return process.log_tail(self.log_path, secret=self._secret(), lines=lines)


def _check_free_disk(data_dir: Path) -> None:
    """Refuse to start when the data directory's file system has under
    :data:`MIN_FREE_DISK_BYTES` free, naming the directory and both figures."""
    probe = data_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < MIN_FREE_DISK_BYTES:
        raise Neo4jServerError(
            f"only {free / 2**20:.0f} MiB are free on the disk holding {data_dir}; Neo4j needs "
            f"at least {MIN_FREE_DISK_BYTES / 2**20:.0f} MiB to start (it preallocates a 256 MiB "
            "transaction log for each of its two databases). Free some space and start again."
        )
