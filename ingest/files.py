"""Atomic file and directory writes, shared by every layer (the one place that writes in place).

A reader of any file abusenet writes sees the old content or the new one, never a mix: every write
goes to a temporary sibling that is renamed over the target. ``ingest`` is the lowest package, so
``graph``, ``gnn`` and ``abusenet`` use these too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_text_atomic(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` through a temporary sibling and a rename.

    Parameters
    ----------
    path
        The target file; its directory is created when missing.
    text
        The whole new content.
    mode
        The file's permission bits (e.g. ``0o600`` for a secret); by default those a plain
        ``open()`` would give under the current umask. A secret is never readable by others,
        not even for an instant: the temporary file is created with ``mode`` already.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet_atomic(table: pa.Table, target: Path) -> None:
    """Write ``table`` as the Parquet file ``target`` through a temporary sibling and a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_dir(new: Path, target: Path) -> None:
    """Move directory ``new`` to ``target``; an existing ``target`` is swapped out, then removed.

    Readers see the old directory or the new one, never a mix.
    """
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
