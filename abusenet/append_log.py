"""Append-only JSON-lines files (the query audit log, the decisions file): one ``write`` per
line, ``O_APPEND``, created 0600; and the operating-system user recorded in their lines."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def os_user() -> str:
    """The operating-system account running the command (its uid when it has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return str(os.getuid())


def append_json_line(record: Mapping[str, Any], path: Path, *, sync: bool = False) -> Path:
    """Append ``record`` as one JSON line to ``path`` (and its folder, when missing).

    The file (mode 0600 when created) is opened with ``O_APPEND`` and the line written in one
    ``write``, so concurrent writers never interleave within a line and nothing earlier is ever
    rewritten. With ``sync`` the file is flushed to disk before the call returns.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OSError
        When ``path`` cannot be written, or the line was written only in part; the message
        names ``path``.
    """
    line = (json.dumps(dict(record), default=str, ensure_ascii=False) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        written = os.write(fd, line)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if written != len(line):
        raise OSError(f"{path} took {written} of {len(line)} bytes of a line")
    return path
