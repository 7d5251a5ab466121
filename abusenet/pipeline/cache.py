"""Stage results kept between runs, keyed by a fingerprint of everything a stage reads.

Each stage writes into ``<work>/<stage>/`` and, once that directory is complete and renamed into
place, records ``<work>/stages/<stage>.json`` with its fingerprint and a small JSON ``info``. A
later run computing the same fingerprint finds the record and skips the stage; a run that failed
part-way finds the records of the stages that finished and resumes after them.

Every fingerprint also covers the code the stage runs (:func:`code_fingerprint` of the stage's
code scope), so results made by other code are never reused, while editing, say, the model code
leaves the ingest and snapshot stages cached.

Input files are fingerprinted by path, size and modification time (not content: hashing
gigabytes of logs on every run would cost more than some stages). Editing a file in place
without changing its size and modification time is the one change this misses; ``--force``
reruns everything.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.files import replace_dir, write_text_atomic

#: Bump when a stage's outputs change meaning, so older caches are not reused.
CACHE_VERSION = 1


def fingerprint(*parts: Any) -> str:
    """SHA-256 (hex) of the JSON form of ``parts``; dict key order does not matter."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


#: The packages a run executes; the default code scope of a stage.
ALL_CODE: tuple[str, ...] = ("abusenet", "ingest", "graph", "gnn")


@functools.cache
def code_fingerprint(scope: tuple[str, ...] = ALL_CODE) -> str:
    """SHA-256 of the Python sources under ``scope``.

    Parameters
    ----------
    scope
        Packages or paths inside them, written with ``/`` from the package's parent
        (``"gnn"``, ``"graph/rings"``, ``"graph/snapshot.py"``), or glob patterns of files
        (``"graph/snapshot*.py"``: a module split later into more files stays covered).

    Raises
    ------
    ValueError
        When an entry names no existing package, directory or file, or a pattern matches none.
    """
    from importlib.util import find_spec

    digest = hashlib.sha256()
    for entry in sorted(set(scope)):
        package, _, rest = entry.partition("/")
        spec = find_spec(package)
        if spec is None or spec.origin is None:
            raise ValueError(f"code scope entry {entry!r}: no package {package!r}")
        top = Path(spec.origin).parent
        target = top / rest if rest else top
        if any(char in rest for char in "*?["):
            sources = sorted(p for p in top.glob(rest) if p.is_file() and p.suffix == ".py")
            if not sources:
                raise ValueError(f"code scope entry {entry!r}: no Python file matches")
        elif target.is_file():
            sources = [target]
        elif target.is_dir():
            sources = sorted(target.rglob("*.py"))
        else:
            raise ValueError(f"code scope entry {entry!r}: {target} does not exist")
        for source in sources:
            digest.update(str(source.relative_to(top.parent)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()


def files_fingerprint(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[str, int, int]]:
    """``(absolute path, size, mtime in ns)`` of every file under ``paths``, sorted.

    Directories are walked recursively; hidden files and directories are left out.
    """
    found: list[tuple[str, int, int]] = []
    for item in paths:
        path = Path(item).resolve()
        files = [path] if path.is_file() else [
            p for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        ]
        for file in files:
            stat = file.stat()
            found.append((str(file), stat.st_size, stat.st_mtime_ns))
    return sorted(found)


@dataclass(frozen=True)
class StageRecord:
    """What a finished stage left: its fingerprint, its JSON-serialisable ``info``, its wall
    seconds and its memory measurement (see :class:`abusenet.pipeline.runner.PeakMemory`)."""

    stage: str
    fingerprint: str
    info: dict[str, Any]
    seconds: float
    memory: dict[str, float] = field(default_factory=dict)


class StageCache:
    """The stage records and output directories under one work directory.

    Parameters
    ----------
    work_dir
        Where stage outputs (``<stage>/``) and records (``stages/<stage>.json``) live.
    """

    def __init__(self, work_dir: str | os.PathLike[str]) -> None:
        self.work_dir = Path(work_dir)

    def output_dir(self, stage: str) -> Path:
        """The directory holding ``stage``'s outputs."""
        return self.work_dir / stage

    def _record_path(self, stage: str) -> Path:
        return self.work_dir / "stages" / f"{stage}.json"

    def lookup(self, stage: str, key: str) -> StageRecord | None:
        """The record of ``stage`` if it was made with fingerprint ``key`` and its outputs exist."""
        path = self._record_path(stage)
        if not path.is_file() or not self.output_dir(stage).is_dir():
            return None
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if raw.get("fingerprint") != key:
            return None
        return StageRecord(stage, key, raw.get("info", {}), float(raw.get("seconds", 0.0)),
                           raw.get("memory", {}))

    def info(self, stage: str) -> dict[str, Any]:
        """The ``info`` recorded by ``stage``'s last successful run (empty when none)."""
        path = self._record_path(stage)
        if not path.is_file():
            return {}
        return json.loads(path.read_text()).get("info", {})

    def invalidate(self, stage: str) -> None:
        """Forget ``stage``'s record (its outputs are replaced by the next run of it)."""
        self._record_path(stage).unlink(missing_ok=True)

    @contextlib.contextmanager
    def building(self, stage: str) -> Iterator[Path]:
        """A fresh temporary directory that becomes ``stage``'s output directory on success.

        On an exception the temporary directory is removed and the previous outputs stay.
        """
        self.invalidate(stage)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{stage}.", dir=self.work_dir))
        try:
            yield tmp
            replace_dir(tmp, self.output_dir(stage))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def store(self, stage: str, key: str, info: dict[str, Any], seconds: float,
              memory: dict[str, float] | None = None) -> StageRecord:
        """Record that ``stage`` finished with fingerprint ``key`` in ``seconds`` using
        ``memory`` (MiB figures; empty when not measured)."""
        memory = dict(memory or {})
        record = {"stage": stage, "fingerprint": key, "info": info, "seconds": seconds,
                  "memory": memory}
        write_text_atomic(self._record_path(stage), json.dumps(record, indent=2, default=str))
        return StageRecord(stage, key, info, seconds, memory)
