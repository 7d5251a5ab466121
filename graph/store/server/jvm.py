"""The Java side of the local server: which ``java``, its flags, and class-data-sharing archives.

The server and the bulk import tool both run as plain ``java`` processes; both take
:data:`JVM_FLAGS`, the server also :data:`SERVER_JVM_FLAGS`, and both map a :class:`ClassArchive`
of the classes they load.
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
import subprocess
from collections.abc import Iterable
from pathlib import Path

from graph.store.server.errors import Neo4jServerError
from ingest.files import write_text_atomic

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


def note_pending_archive(note: Path, pending: Path, java: str) -> None:
    """Record that a long-running JVM will write ``pending`` when it exits (see below)."""
    write_text_atomic(note, json.dumps({"pending": str(pending), "java": java}))


def commit_noted_archive(note: Path, role: str, jar_dirs: Iterable[Path]) -> None:
    """Put in place the archive a long-running JVM wrote as it exited, as ``note`` records.

    ``note`` is what :func:`note_pending_archive` wrote when that JVM started without an
    archive; it is removed here whatever happens.
    """
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        pending = json.loads(note.read_text())
        ClassArchive(role, pending["java"], jar_dirs).commit(Path(pending["pending"]))
    note.unlink(missing_ok=True)


def forget_noted_archive(note: Path) -> None:
    """Drop what a JVM that did not exit cleanly (killed, crashed) may have half written."""
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        Path(json.loads(note.read_text())["pending"]).unlink(missing_ok=True)
    note.unlink(missing_ok=True)
