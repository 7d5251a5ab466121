"""The query audit log: one JSON line per ``abusenet query``, appended under the project home.

The log is ``<home>/audit/queries.jsonl`` (``$ABUSENET_HOME``, default ``.abusenet``; see
:func:`graph.store.connection.state_dir`). Each line is one JSON object: ``time`` (UTC, ISO-8601,
when the query started), ``user`` (the operating-system account), ``analyst``, ``case``,
``query``, ``params`` (as given), ``graph``, ``rows``, ``truncated``, ``seconds``, ``status``
(``ok`` or ``error``) and ``error`` (the message shown, else ``null``). The file is opened with
``O_APPEND`` and each line goes out in one ``write``, so concurrent queries never interleave
within a line and nothing earlier is ever rewritten. No connection details are recorded, and an
error message has any ``user:password@`` in a URI redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from abusenet.append_log import append_json_line, os_user
from graph.store.connection import redact_uri, state_dir

#: The log's place under the project home.
AUDIT_FILE = Path("audit") / "queries.jsonl"


def audit_path() -> Path:
    """Where ``abusenet query`` appends its audit lines: ``<home>/audit/queries.jsonl``."""
    return state_dir() / AUDIT_FILE


def query_record(
    *,
    started: datetime,
    query: str,
    params: Mapping[str, Any],
    analyst: str | None,
    case: str | None,
    graph: str | None,
    rows: int,
    truncated: bool,
    seconds: float,
    error: str | None,
) -> dict[str, Any]:
    """One audit line's fields for a query that started at ``started`` (UTC).

    ``error`` is the message the analyst saw (``None`` when the query succeeded); a URI's
    password in it is redacted.
    """
    return {
        "time": started.astimezone(UTC).isoformat(),
        "user": os_user(),
        "analyst": analyst,
        "case": case,
        "query": query,
        "params": dict(params),
        "graph": graph,
        "rows": rows,
        "truncated": truncated,
        "seconds": round(seconds, 3),
        "status": "error" if error else "ok",
        "error": redact_uri(error) if error else None,
    }


def append_audit(record: Mapping[str, Any], path: Path | None = None) -> Path:
    """Append ``record`` as one JSON line to the audit log (``path``, default :func:`audit_path`).

    Written by :func:`abusenet.append_log.append_json_line` (created 0600, ``O_APPEND``, one
    ``write`` per line).

    Returns
    -------
    pathlib.Path
        The log's path.

    Raises
    ------
    OSError
        When the log cannot be written, or the line was written only in part (the message
        names the file).
    """
    return append_json_line(record, audit_path() if path is None else path)
