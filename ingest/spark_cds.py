"""A class-data-sharing archive for the local Spark JVM: its classes mapped, not loaded again.

A Spark driver loads ~20,000 classes at every start (parsing, verifying and linking them cost
~2.5 CPU s and ~160 MB of the JVM). Java 17 can write the classes a run loaded to a dynamic
archive when the JVM exits (``-XX:ArchiveClassesAtExit``) and map that archive at the next
start (``-XX:SharedArchiveFile``). :func:`archive_options` manages one archive per Java
runtime, Spark version and JVM options under the user's cache directory:

* no archive yet: the JVM is asked to write one at its exit, under a part name of its own;
* a later start renames a complete part into place (the JVM writes the archive's header
  last, so a part whose header carries the archive's magic number is whole), with its size in
  the name: an archive whose size differs (a damaged file, which would crash the JVM when
  mapped) is deleted, never used;
* an archive the JVM cannot use (another class path) is skipped by the JVM itself;
* other keys' parts unfinished after a day and their archives unused for 30 days are deleted.

The JVM's CDS messages are switched off (``-Xlog:cds*=off``), so neither writing nor a stale
archive prints anything; a start never depends on the archive.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import uuid
from pathlib import Path

#: The first four bytes of a complete dynamic archive of HotSpot (``CDS_DYNAMIC_ARCHIVE_MAGIC``,
#: little-endian): written last, with the header.
DYNAMIC_ARCHIVE_MAGIC = (0xF00BABA8).to_bytes(4, "little")
#: Given JVM options that choose the JVM's class sharing themselves: then no archive is added.
_OWN_SHARING = re.compile(r"-Xshare:|SharedArchiveFile|ArchiveClassesAtExit")
#: Part files whose writer has not finished after this many seconds are deleted (a JVM killed
#: while writing).
STALE_PART_SECONDS = 24 * 3600
#: Archives of other keys (another Java, Spark version or driver options) neither mapped nor
#: written for this many seconds are deleted (155-194 MB each; a mapped file's access time is
#: kept by the kernel, at most a day old under ``relatime``).
STALE_ARCHIVE_SECONDS = 30 * 24 * 3600
_QUIET = "-Xlog:cds*=off"


def cache_dir() -> Path:
    """Where the archives are kept: ``$XDG_CACHE_HOME/abusenet/spark-cds`` (default
    ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "abusenet" / "spark-cds"


def archive_key(spark_version: str, driver_options: str, *, memory: str = "",
                class_path: str = "") -> str:
    """A name for the archive of one Java runtime (the ``java`` Spark starts: ``$JAVA_HOME``'s,
    else the first on ``PATH``; its path, size and time), Spark version and the driver's JVM
    options, memory and extra class path (which decide whether the JVM can map it)."""
    java = (Path(os.environ["JAVA_HOME"]) / "bin" / "java" if os.environ.get("JAVA_HOME")
            else Path(shutil.which("java") or "java"))
    try:
        real = java.resolve()
        stat = real.stat()
        runtime = f"{real}:{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        runtime = str(java)
    facts = "\n".join([runtime, spark_version, driver_options, memory, class_path])
    return f"spark-{spark_version}-{hashlib.sha256(facts.encode()).hexdigest()[:16]}"


def archive_options(key: str, given_options: str, folder: Path | None = None) -> str:
    """The JVM options that use the archive ``key`` in ``folder`` (default :func:`cache_dir`):
    ``-XX:SharedArchiveFile`` when a whole one is there, else ``-XX:ArchiveClassesAtExit``
    to a new part; ``""`` when ``given_options`` choose the class sharing themselves or the
    folder cannot be written."""
    if _OWN_SHARING.search(given_options):
        return ""
    folder = folder or cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        archive = _usable_archive(folder, key)
    except OSError:
        return ""
    if archive is not None:
        return f"-XX:SharedArchiveFile={archive} {_QUIET}"
    part = folder / f"{key}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part"
    return f"-XX:ArchiveClassesAtExit={part} {_QUIET}"


def _usable_archive(folder: Path, key: str) -> Path | None:
    """The archive ``key`` in ``folder`` after promoting whole parts and deleting damaged
    archives, stale parts and all but one archive of the key; None when there is none."""
    now = time.time()
    for part in folder.glob(f"{key}.*.part"):
        try:
            if _is_whole(part):
                os.replace(part, folder / f"{key}-{part.stat().st_size}.jsa")
            elif now - part.stat().st_mtime > STALE_PART_SECONDS:
                part.unlink()
        except OSError:
            continue
    _drop_stale_other_keys(folder, key, now)
    found = None
    for archive in folder.glob(f"{key}-*.jsa"):
        size = archive.name[len(key) + 1:-len(".jsa")]
        try:
            if found is None and size.isdigit() and archive.stat().st_size == int(size):
                found = archive
            else:
                archive.unlink()
        except OSError:
            continue
    return found


def _drop_stale_other_keys(folder: Path, key: str, now: float) -> None:
    """Delete the parts of keys other than ``key`` in ``folder`` older than
    :data:`STALE_PART_SECONDS` and their archives neither read nor written for
    :data:`STALE_ARCHIVE_SECONDS`."""
    for path in folder.iterdir():
        name = path.name
        if name.startswith((f"{key}.", f"{key}-")):
            continue
        try:
            info = path.stat()
            if name.endswith(".part"):
                stale = now - info.st_mtime > STALE_PART_SECONDS
            elif name.endswith(".jsa"):
                stale = now - max(info.st_atime, info.st_mtime) > STALE_ARCHIVE_SECONDS
            else:
                continue
            if stale:
                path.unlink()
        except OSError:
            continue


def _is_whole(part: Path) -> bool:
    """Whether ``part`` starts with the magic number, which the JVM writes after the rest."""
    with part.open("rb") as f:
        return f.read(len(DYNAMIC_ARCHIVE_MAGIC)) == DYNAMIC_ARCHIVE_MAGIC
