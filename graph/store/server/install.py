"""Installing the local server: its jars from Maven Central, its config, its first password.

Every jar of Neo4j Community is on Maven Central: :func:`fetch_neo4j_jars` resolves them with
Maven from the bundled ``neo4j-pom.xml``, :func:`fetch_parquet_import_jars` adds the few the bulk
import's Parquet input needs, :func:`write_conf` writes a minimal ``neo4j.conf`` (bound to
127.0.0.1, authentication on), and :func:`set_initial_password` sets a password made by
:func:`generate_password` with ``neo4j-admin``.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from graph.store.server.errors import Neo4jServerError
from graph.store.server.process import redact
from ingest.files import write_text_atomic

NEO4J_VERSION = "5.26.30"
BROWSER_VERSION = "5.24.0"
ADMIN_ENTRY_POINT = "org.neo4j.server.startup.Neo4jAdminCommand"
#: Jars the import tool's Parquet input needs (Hadoop's configuration classes) that Neo4j's
#: Maven dependencies leave out (it excludes all of hadoop-common's own dependencies).
PARQUET_IMPORT_JARS = (
    "com.fasterxml.woodstox:woodstox-core:5.4.0",
    "org.codehaus.woodstox:stax2-api:4.2.1",
    "org.apache.commons:commons-collections4:4.4",
    "org.apache.hadoop.thirdparty:hadoop-shaded-guava:1.5.0",
)

logger = logging.getLogger(__name__)


def has_neo4j_jars(lib: Path, version: str = "*") -> bool:
    """Whether ``lib`` holds the Neo4j kernel jar (of ``version``; any version by default)."""
    return any(lib.glob(f"neo4j-kernel-{version}.jar"))


def fetch_neo4j_jars(
    lib: Path,
    *,
    browser: bool,
    maven_repo: str | os.PathLike[str] | None,
    quiet: bool,
) -> None:
    """Resolve the Neo4j Community runtime jars (and Neo4j Browser) with Maven into ``lib``.

    The jars land in a staging directory that replaces ``lib`` whole once Maven succeeded.
    Without the browser profile's artifact the jars are fetched without it.

    Raises
    ------
    Neo4jServerError
        When Maven is missing or cannot resolve the jars.
    """
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jServerError(
            "Maven (`mvn`) is not on PATH; it resolves the Neo4j jars from Maven Central. "
            "Install it (apt-get install maven) and retry."
        )
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
    logger.info("resolving the Neo4j %s jars with Maven into %s", NEO4J_VERSION, lib)
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


def fetch_parquet_import_jars(
    lib: Path, *, maven_repo: str | os.PathLike[str] | None = None
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
    logger.info("fetching the Parquet import's jars with Maven: %s", ", ".join(missing))
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


def write_conf(home: Path, settings: dict[str, Any]) -> None:
    """Write ``<home>/conf/neo4j.conf`` for the install-time ``settings`` (ports, memory, data)."""
    conf = {
        "server.directories.data": settings["data_dir"],
        "server.directories.logs": home / "logs",
        "server.directories.run": home / "run",
        "server.directories.plugins": home / "plugins",
        "server.directories.import": home / "import",
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
    write_text_atomic(home / "conf" / "neo4j.conf", text)


def generate_password() -> str:
    """A random 32-character password that neo4j-admin accepts.

    ``token_urlsafe`` may start with ``-``, which neo4j-admin's argument parser would take for an
    option; such draws are rejected.
    """
    while True:
        password = secrets.token_urlsafe(24)
        if password[0].isalnum():
            return password


def set_initial_password(home: Path, java: str, password: str) -> None:
    """Set the ``neo4j`` user's password before the store is first created (``neo4j-admin``)."""
    run_admin(home, java, ["dbms", "set-initial-password", password], secret=password)


def run_admin(home: Path, java: str, args: list[str], *, secret: str | None = None) -> None:
    """Run ``neo4j-admin <args>`` for the server in ``home``.

    Raises
    ------
    Neo4jServerError
        When it fails; the message names the subcommand only (the arguments may hold a
        password) and shows its output with ``secret`` redacted.
    """
    env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")}
    cmd = [java, "-cp", str(home / "lib" / "*"), ADMIN_ENTRY_POINT, *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise Neo4jServerError(
            f"neo4j-admin {args[0]} {args[1]} failed (exit {done.returncode}): "
            f"{redact(done.stderr or done.stdout, secret)[-1500:]}"
        )
