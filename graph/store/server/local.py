"""A local Neo4j Community server assembled from Maven Central jars.

There is no Docker engine or tarball here, but every jar of Neo4j Community is on Maven Central.
:class:`LocalNeo4j` resolves them with Maven, writes a minimal ``neo4j.conf`` (bound to 127.0.0.1,
authentication on), generates a strong password into a file only the user can read, and runs the
server as a plain ``java`` process that it can start, stop with a clean SIGTERM and report on.

Layout of a server home::

    <home>/lib/*.jar           runtime jars (GPL-3, downloaded at install time, never committed)
    <home>/conf/neo4j.conf
    <home>/server.json         ports, memory and data directory chosen at install time
    <home>/password            the ``neo4j`` user's password, mode 0600
    <home>/logs/console.log    the server's own output
    <home>/cds/*.jsa           class-data-sharing archives of the server and import-tool JVMs
                               (see :class:`ClassArchive`; in the home that owns the jars)
    <home>/run/class-archive.json  the archive a running server writes when it exits, if any
    <data>/abusenet.pid        pid of the running server; kept in the data directory so that two
                               servers can never open the same store
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ingest.files import write_text_atomic

NEO4J_VERSION = "5.26.30"
BROWSER_VERSION = "5.24.0"
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_ENTRY_POINT = "org.neo4j.server.startup.Neo4jAdminCommand"
#: Jars the import tool's Parquet input needs (Hadoop's configuration classes) that Neo4j's
#: Maven dependencies leave out (it excludes all of hadoop-common's own dependencies).
PARQUET_IMPORT_JARS = (
    "com.fasterxml.woodstox:woodstox-core:5.4.0",
    "org.codehaus.woodstox:stax2-api:4.2.1",
    "org.apache.commons:commons-collections4:4.4",
    "org.apache.hadoop.thirdparty:hadoop-shaded-guava:1.5.0",
)

#: Exit codes of the server process, from Neo4j's sources.
EXIT_REASONS = {
    1: "the server failed to start (an invalid setting or a busy HTTP port; see the log below)",
    2: "a database failed to start (another process may hold the store, or it is damaged)",
    3: "the configuration is invalid",
}

JVM_FLAGS = (
    "-XX:+UseG1GC",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-Dfile.encoding=UTF-8",
)
#: The server's garbage collection on top of :data:`JVM_FLAGS`. G1 otherwise sizes the young
#: generation for short pauses: on a busy machine a driver load's 10k-row transactions then ran
#: ~80 young collections per 100k accounts that copied the live transaction state each time
#: (about 10 CPU s of ~60). Half the heap as young generation: 8 collections, ~1.5 CPU s. On a
#: quiet machine the load's CPU hardly changes (G1 grows the young generation itself). A
#: metaspace start of 256 MB skips the early collections Cypher's generated classes trigger.
SERVER_JVM_FLAGS = ("-XX:NewRatio=1", "-XX:MetaspaceSize=256m")


class ClassArchive:
    """An AppCDS archive of the classes one kind of JVM (the server, the import tool) loads.

    A JVM started with :meth:`jvm_flags` maps the archived classes, already parsed and verified,
    instead of reading them from 200-odd jars: a server start costs about 4 CPU s less (classes
    of the signed eclipse-collections jars are never archived). Without an archive the flags
    make the JVM write one when it exits, to a temporary file that :meth:`commit` moves into
    place once the JVM has exited; until then, and whenever the JVM finds the archive does not
    match (it checks itself, and then runs without it), nothing is lost but start-up time.

    The file name carries a digest of the Java binary and of the jars on the class path (names,
    sizes, modification times), so a new Java or new jars make a new archive; :meth:`commit`
    removes the ones it replaces. Archives live in ``<home>/cds`` of the home that owns the
    jars, so servers that share them (``install(jars_from=...)``) share the archives too.
    """

    def __init__(self, role: str, java: str, jar_dirs: Iterable[Path]) -> None:
        dirs = [d.resolve() for d in jar_dirs]
        binary = Path(java).resolve()
        digest = hashlib.sha256(f"{binary}|{binary.stat().st_mtime_ns}".encode())
        for directory in dirs:
            for jar in sorted(directory.glob("*.jar")):
                info = jar.stat()
                digest.update(f"{jar.name}|{info.st_size}|{info.st_mtime_ns}\n".encode())
        self.role = role
        self.path = dirs[-1].parent / "cds" / f"{role}-{digest.hexdigest()[:16]}.jsa"

    def jvm_flags(self) -> tuple[list[str], Path | None]:
        """The JVM flags, and the file the JVM will write the archive to (``None``: it reads it)."""
        if self.path.is_file():
            return [f"-XX:SharedArchiveFile={self.path}"], None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pending = self.path.with_name(f".{self.path.stem}.{secrets.token_hex(6)}.partial")
        # -Xlog:cds=off: the JVM would print a line per class it cannot archive (about 1,300).
        return [f"-XX:ArchiveClassesAtExit={pending}", "-Xlog:cds=off"], pending

    def commit(self, pending: Path | None) -> None:
        """Move the archive a JVM wrote at exit into place (and drop the ones it replaces).

        Call only after that JVM has exited normally; a missing ``pending`` file is no error.
        """
        if pending is None:
            return
        if not pending.is_file() or pending.stat().st_size == 0:
            pending.unlink(missing_ok=True)
            return
        os.replace(pending, self.path)
        for stale in self.path.parent.glob(f"{self.role}-*.jsa"):
            if stale != self.path:
                stale.unlink(missing_ok=True)


class Neo4jServerError(RuntimeError):
    """The local server could not be installed, started or stopped; the message says why."""


@dataclass(frozen=True)
class ServerStatus:
    """What :meth:`LocalNeo4j.status` found.

    ``state`` is ``"running"``, ``"stopped"``, ``"stale"`` (a pid file whose process is gone,
    e.g. after a crash or ``kill -9``) or ``"not installed"``.
    """

    state: str
    pid: int | None
    bolt_uri: str | None
    browser_url: str | None
    data_dir: Path | None

    @property
    def running(self) -> bool:
        """Whether a live server process owns the data directory."""
        return self.state == "running"


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
        return self.settings_path.is_file() and any((self.home / "lib").glob("neo4j-kernel-*.jar"))

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
        """Download the jars (once; with :data:`PARQUET_IMPORT_JARS`, which the bulk import
        needs), write the config and set the initial password (once).

        Safe to run again: jars already present are kept, and the password is only generated
        before the store is first created. Changing ports or memory on a re-install rewrites the
        config. ``jars_from`` names another installed home whose jars are shared (linked, not
        copied), which makes throwaway servers for tests cheap. Returns the settings written to
        ``server.json``.
        """
        java = find_java()
        mvn = shutil.which("mvn")
        lib = self.home / "lib"
        if jars_from is not None and not lib.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            lib.symlink_to(LocalNeo4j(jars_from).home / "lib", target_is_directory=True)
        if not any(lib.glob(f"neo4j-kernel-{NEO4J_VERSION}.jar")):
            if mvn is None:
                raise Neo4jServerError(
                    "Maven (`mvn`) is not on PATH; it resolves the Neo4j jars from Maven Central. "
                    "Install it (apt-get install maven) and retry."
                )
            self._fetch_jars(mvn, lib, browser=browser, maven_repo=maven_repo, quiet=quiet)
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
        self._write_conf(settings)
        write_text_atomic(self.settings_path, json.dumps(settings, indent=2))
        if not self.password_path.is_file():
            write_text_atomic(self.password_path, generate_password(), mode=0o600)
        if not (data / "dbms").exists():
            self._admin(java, ["dbms", "set-initial-password", self.read_password()])
        return settings

    def _fetch_jars(
        self,
        mvn: str,
        lib: Path,
        *,
        browser: bool,
        maven_repo: str | os.PathLike[str] | None,
        quiet: bool,
    ) -> None:
        pom = resources.files("graph.store.server") / "neo4j-pom.xml"
        staging = lib.with_name("lib.partial")
        shutil.rmtree(staging, ignore_errors=True)
        base = [mvn, "-B", "-f", str(pom), "dependency:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
                f"-Dneo4j.version={NEO4J_VERSION}", f"-Dbrowser.version={BROWSER_VERSION}"]
        if quiet:
            base.insert(1, "-q")
        if maven_repo:
            base.append(f"-Dmaven.repo.local={maven_repo}")
        attempts = [[*base, "-Pbrowser"], base] if browser else [base]
        for cmd in attempts:
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode == 0:
                break
        else:
            tail = (done.stdout + done.stderr)[-2000:]
            raise Neo4jServerError(
                f"Maven could not resolve org.neo4j:neo4j:{NEO4J_VERSION} from Maven Central "
                f"(exit {done.returncode}). Check network access to repo.maven.apache.org.\n{tail}"
            )
        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)

    def ensure_parquet_import_jars(
        self, *, maven_repo: str | os.PathLike[str] | None = None
    ) -> None:
        """Add the :data:`PARQUET_IMPORT_JARS` missing from ``lib`` (once; fetched with Maven).

        ``neo4j-admin database import --input-type=parquet`` fails without them. Each jar is
        fetched into a staging directory and moved into ``lib`` whole, so a server or import
        starting meanwhile never sees a partial jar.

        Raises
        ------
        Neo4jServerError
            When Maven is missing or cannot fetch a jar.
        """
        lib = self.home / "lib"
        missing = [a for a in PARQUET_IMPORT_JARS
                   if not any(lib.glob("{}-{}.jar".format(*a.split(":")[1:])))]
        if not missing:
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise Neo4jServerError(
                "Maven (`mvn`) is not on PATH; it fetches the jars the Parquet import needs "
                f"({', '.join(missing)}). Install it (apt-get install maven) and retry."
            )
        # Staged inside lib (same file system, so the move is atomic; lib/* skips folders).
        staging = Path(tempfile.mkdtemp(prefix=".parquet-jars-", dir=lib))
        try:
            for artifact in missing:
                cmd = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={artifact}",
                       f"-DoutputDirectory={staging}"]
                if maven_repo:
                    cmd.append(f"-Dmaven.repo.local={maven_repo}")
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0:
                    raise Neo4jServerError(
                        f"Maven could not fetch {artifact} (exit {done.returncode}), which the "
                        f"Parquet import needs.\n{(done.stdout + done.stderr)[-2000:]}"
                    )
            for jar in staging.glob("*.jar"):
                os.replace(jar, lib / jar.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _write_conf(self, settings: dict[str, Any]) -> None:
        h = self.home
        conf = {
            "server.directories.data": settings["data_dir"],
            "server.directories.logs": h / "logs",
            "server.directories.run": h / "run",
            "server.directories.plugins": h / "plugins",
            "server.directories.import": h / "import",
            "server.default_listen_address": "127.0.0.1",
            "server.default_advertised_address": "127.0.0.1",
            "server.bolt.listen_address": f"127.0.0.1:{settings['bolt_port']}",
            "server.http.listen_address": f"127.0.0.1:{settings['http_port']}",
            "server.https.enabled": "false",
            "dbms.security.auth_enabled": "true",
            "server.memory.pagecache.size": settings["pagecache"],
            "dbms.usage_report.enabled": "false",
            "db.shutdown_transaction_end_timeout": "2s",
            # Bolt's two Netty event loop groups otherwise wait out a 5 s quiet period each on
            # shutdown: a stop took about 11 s instead of about 1.5 s (the bulk import stops the
            # server; tests and benchmarks stop theirs).
            "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
        }
        text = "".join(f"{k}={v}\n" for k, v in conf.items())
        write_text_atomic(h / "conf" / "neo4j.conf", text)

    def _admin(self, java: str, args: list[str]) -> None:
        env = {**os.environ, "NEO4J_HOME": str(self.home), "NEO4J_CONF": str(self.home / "conf")}
        cmd = [java, "-cp", str(self.home / "lib" / "*"), ADMIN_ENTRY_POINT, *args]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            # The command line may hold the password: report the subcommand only.
            raise Neo4jServerError(
                f"neo4j-admin {args[0]} {args[1]} failed (exit {done.returncode}): "
                f"{_redact(done.stderr or done.stdout, self)[-1500:]}"
            )

    # -- run -----------------------------------------------------------------------------------
    def status(self) -> ServerStatus:
        """Tell the truth about the server: running, stopped, stale pid, or not installed."""
        if not self.is_installed():
            return ServerStatus("not installed", None, None, None, None)
        s = self.read_settings()
        uri, browser = s["uri"], self.browser_url()
        data = Path(s["data_dir"])
        pid = _read_pid(self._pid_path())
        if pid is None:
            return ServerStatus("stopped", None, uri, browser, data)
        if _is_neo4j_process(pid):
            return ServerStatus("running", pid, uri, browser, data)
        return ServerStatus("stale", pid, uri, browser, data)

    def start(self, *, timeout: float = 180.0) -> ServerStatus:
        """Start the server and return once Bolt answers a query.

        Raises :class:`Neo4jServerError` when it is already running on this data directory, a
        port is taken, or the process exits early (with the reason from its exit code and log).
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
        for port in (s["bolt_port"], s["http_port"]):
            # A killed server may hold its sockets for a moment while its threads die.
            if not _wait_port_free(port, 10.0 if current.state == "stale" else 0.0):
                raise Neo4jServerError(
                    f"port {port} on 127.0.0.1 is already in use; reinstall with other ports "
                    "(`abusenet neo4j install --bolt-port ... --http-port ...`)"
                )
        java = find_java()
        h = self.home
        archive = ClassArchive("server", java, [h / "plugins", h / "lib"])
        self._forget_pending_archive()
        archive_flags, pending = archive.jvm_flags()
        cmd = [
            java, f"-Xms{s['heap']}", f"-Xmx{s['heap']}", *JVM_FLAGS, *SERVER_JVM_FLAGS,
            *archive_flags,
            # The jars by their real path: a class archive matches only the class path it was
            # written with, and homes that share jars link to the same lib.
            "-cp", f"{h / 'plugins'}/*:{h / 'conf'}/*:{(h / 'lib').resolve()}/*",
            ENTRY_POINT, f"--home-dir={h}", f"--config-dir={h / 'conf'}", "--console-mode",
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- abusenet: starting at {time.strftime('%FT%T%z')}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, "NEO4J_HOME": str(h)},
            )
        write_text_atomic(self._pid_path(), str(self._process.pid))
        if pending is not None:
            write_text_atomic(self._archive_note_path(),
                          json.dumps({"pending": str(pending), "java": java}))
        self._wait_until_ready(s, timeout)
        return self.status()

    def _wait_until_ready(self, s: dict[str, Any], timeout: float) -> None:
        import neo4j

        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                self._pid_path().unlink(missing_ok=True)
                reason = EXIT_REASONS.get(code, "see the log below")
                raise Neo4jServerError(
                    f"Neo4j exited during start-up with code {code}: {reason}. "
                    f"Last lines of {self.log_path}:\n{self._log_tail()}"
                )
            if not _port_free(s["bolt_port"]):
                try:
                    with neo4j.GraphDatabase.driver(
                        s["uri"], auth=("neo4j", self.read_password())
                    ) as driver:
                        driver.execute_query("RETURN 1")
                    return
                except neo4j.exceptions.ServiceUnavailable:
                    pass
            # Short: once the port opens, the first query waits inside the server until it
            # is ready, so a poll costs little, and a long sleep was up to 0.5 s of each start.
            time.sleep(0.1)
        self.stop()
        raise Neo4jServerError(
            f"Neo4j did not answer on {s['uri']} within {timeout:.0f}s; it was stopped. "
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
        deadline = time.monotonic() + timeout
        code: int | None = None
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == current.pid:
                code = self._process.poll()
                if code is not None:
                    break
            elif not _pid_alive(current.pid):
                break
            time.sleep(0.2)
        else:
            raise Neo4jServerError(
                f"Neo4j (pid {current.pid}) did not stop within {timeout:.0f}s after SIGTERM; "
                f"see {self.log_path}"
            )
        self._pid_path().unlink(missing_ok=True)
        self._process = None
        self._commit_pending_archive()
        return code

    def _archive_note_path(self) -> Path:
        return self.home / "run" / "class-archive.json"

    def _commit_pending_archive(self) -> None:
        """Put in place the class archive the server just wrote as it exited, if it wrote one."""
        note = self._archive_note_path()
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            pending = json.loads(note.read_text())
            archive = ClassArchive("server", pending["java"], [self.home / "plugins",
                                                              self.home / "lib"])
            archive.commit(Path(pending["pending"]))
        note.unlink(missing_ok=True)

    def _forget_pending_archive(self) -> None:
        """Drop what a server that did not stop cleanly (killed, crashed) may have half written."""
        note = self._archive_note_path()
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            Path(json.loads(note.read_text())["pending"]).unlink(missing_ok=True)
        note.unlink(missing_ok=True)

    def _log_tail(self, lines: int = 15) -> str:
        if not self.log_path.is_file():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return _redact("\n".join(text), self)


def generate_password() -> str:
    """A random 32-character password that neo4j-admin accepts.

    ``token_urlsafe`` may start with ``-``, which neo4j-admin's argument parser would take for an
    option; such draws are rejected.
    """
    while True:
        password = secrets.token_urlsafe(24)
        if password[0].isalnum():
            return password


def find_java() -> str:
    """The ``java`` binary to run Neo4j with (``JAVA_HOME`` first), checked to be Java 17+."""
    java_home = os.environ.get("JAVA_HOME")
    return _checked_java(str(Path(java_home) / "bin" / "java") if java_home
                         else shutil.which("java"))


@functools.lru_cache(maxsize=8)
def _checked_java(java: str | None) -> str:
    # Cached: ``java -version`` starts a JVM (0.1-0.3 s), and every start and import asks.
    if not java or not Path(java).exists():
        raise Neo4jServerError(
            "Java was not found; Neo4j 5.26 needs Java 17 or 21 "
            "(apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    if match is None or int(match.group(1)) < 17:
        raise Neo4jServerError(f"Neo4j 5.26 needs Java 17 or 21; {java} reports: {out.strip()}")
    return java


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _is_neo4j_process(pid: int) -> bool:
    """Whether ``pid`` is alive and is a Neo4j server (not a recycled pid of something else)."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True
    return ENTRY_POINT in cmdline


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_port_free(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _port_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _redact(text: str, server: LocalNeo4j) -> str:
    with contextlib.suppress(OSError):
        password = server.read_password()
        if password:
            text = text.replace(password, "********")
    return text


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for tests and throwaway servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
