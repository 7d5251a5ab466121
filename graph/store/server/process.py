"""The local server as an operating-system process: launch, readiness, exit, pid files, ports.

Nothing here knows about installing; :class:`~graph.store.server.local.LocalNeo4j` composes
these pieces into start, stop and status.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from graph.store.server.jvm import JVM_FLAGS, SERVER_JVM_FLAGS

ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"

#: Exit codes of the server process, from Neo4j's sources.
EXIT_REASONS = {
    1: "the server failed to start (an invalid setting or a busy HTTP port; see the log below)",
    2: "a database failed to start (another process may hold the store, or it is damaged)",
    3: "the configuration is invalid",
}


@dataclass(frozen=True)
class ServerStatus:
    """What :meth:`~graph.store.server.local.LocalNeo4j.status` found.

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


def server_command(java: str, home: Path, heap: str, archive_flags: list[str]) -> list[str]:
    """The ``java`` command line that runs the server installed in ``home``."""
    return [
        java, f"-Xms{heap}", f"-Xmx{heap}", *JVM_FLAGS, *SERVER_JVM_FLAGS, *archive_flags,
        # The jars by their real path: a class archive matches only the class path it was
        # written with, and homes that share jars link to the same lib.
        "-cp", f"{home / 'plugins'}/*:{home / 'conf'}/*:{(home / 'lib').resolve()}/*",
        ENTRY_POINT, f"--home-dir={home}", f"--config-dir={home / 'conf'}", "--console-mode",
    ]


def launch(cmd: list[str], *, home: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session, its output appended to ``log_path`` after a marker."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n--- abusenet: starting at {time.strftime('%FT%T%z')}\n".encode())
        log.flush()
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "NEO4J_HOME": str(home)},
        )


def wait_until_ready(
    process: subprocess.Popen[bytes], *, uri: str, bolt_port: int, password: str,
    timeout: float,
) -> int | None:
    """Wait until the server answers a query on ``uri``.

    Returns ``None`` once it does, or the exit code when ``process`` exits first.

    Raises
    ------
    TimeoutError
        When neither happened within ``timeout`` seconds.
    """
    import neo4j

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            return code
        if not port_free(bolt_port):
            try:
                with neo4j.GraphDatabase.driver(uri, auth=("neo4j", password)) as driver:
                    driver.execute_query("RETURN 1")
                return None
            except neo4j.exceptions.ServiceUnavailable:
                pass
        # Short: once the port opens, the first query waits inside the server until it
        # is ready, so a poll costs little, and a long sleep was up to 0.5 s of each start.
        time.sleep(0.1)
    raise TimeoutError(f"no answer on {uri} within {timeout:.0f}s")


def wait_for_exit(
    pid: int, process: subprocess.Popen[bytes] | None, timeout: float
) -> int | None:
    """Wait until ``pid`` has exited; its exit code when ``process`` is that child, else ``None``.

    Raises
    ------
    TimeoutError
        When it is still alive after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.pid == pid:
            code = process.poll()
            if code is not None:
                return code
        elif not pid_alive(pid):
            return None
        time.sleep(0.2)
    raise TimeoutError(f"pid {pid} still alive after {timeout:.0f}s")


def read_pid(path: Path) -> int | None:
    """The pid in ``path``, or ``None`` when there is no such file or it holds no number."""
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
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


def is_neo4j_process(pid: int) -> bool:
    """Whether ``pid`` is alive and is a Neo4j server (not a recycled pid of something else)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True
    return ENTRY_POINT in cmdline


def port_free(port: int) -> bool:
    """Whether nothing listens on ``port`` of 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_port_free(port: int, timeout: float) -> bool:
    """Whether ``port`` is free, waiting up to ``timeout`` seconds for it to become so."""
    deadline = time.monotonic() + timeout
    while not port_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for tests and throwaway servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, *, secret: str | None, lines: int = 15) -> str:
    """The last ``lines`` lines of the log at ``path``, ``secret`` redacted."""
    if not path.is_file():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return redact("\n".join(text), secret)


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (when it is not empty) replaced."""
    return text.replace(secret, "********") if secret else text
