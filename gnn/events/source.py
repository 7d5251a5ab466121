"""Canonical events and event labels as DuckDB views, and the entity columns the events carry.

Events come from an events directory (the day files of :mod:`ingest.store`) or an in-memory
table; labels from a table ``event_id, label[, known_at]``. Which entity columns exist is read
from the data: the canonical ones present (``device_id``, ``ip``, ``payment_id``,
``counterparty_id``), the extra entity types recorded in the directory's ingest state, and, for
an in-memory table, any other string column named ``*_id`` (e.g. ``terminal_id``).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from ingest.sql import ident, literal
from ingest.state import IngestState
from ingest.store import event_files

#: Canonical entity columns, in this order when present.
CANONICAL_ENTITY_COLUMNS = ("device_id", "ip", "payment_id", "counterparty_id")
#: Columns an events table must have.
REQUIRED_EVENT_COLUMNS = ("event_id", "ts", "account_id")
#: Columns that are never entities.
_NOT_ENTITIES = ("event_id", "account_id", "event_type")

Events = str | os.PathLike[str] | pd.DataFrame | pa.Table
Labels = pd.DataFrame | pa.Table


def register_events(con: duckdb.DuckDBPyConnection, events: Events, name: str = "events") -> None:
    """Make ``events`` (an events directory or a table) the view ``name`` on ``con``.

    Raises
    ------
    FileNotFoundError
        If a directory holds no day files.
    ValueError
        If a required column (``event_id``, ``ts``, ``account_id``) is missing.
    """
    if isinstance(events, pd.DataFrame | pa.Table):
        con.register(f"{name}_input", events)
        source, where = f"{name}_input", "the events table"
    else:
        files = [str(p) for p in event_files(events)]
        if not files:
            raise FileNotFoundError(f"{events}: no event day files (day=*/*.parquet)")
        source = f"read_parquet({literal(files)}, union_by_name = true, hive_partitioning = false)"
        where = str(events)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(name)} AS SELECT * FROM {source}")
    columns = view_columns(con, name)
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"{where}: missing event column(s) {missing}; it has {sorted(columns)}")


def view_columns(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, str]:
    """Column name -> DuckDB type of the view or table ``name``."""
    rows = con.execute(f"DESCRIBE {ident(name)}").fetchall()
    return {row[0]: row[1] for row in rows}


def discover_entity_columns(
    con: duckdb.DuckDBPyConnection, events: Events, name: str = "events"
) -> list[str]:
    """The entity columns of the registered events view ``name``, found from the data.

    Parameters
    ----------
    con
        The connection holding the view.
    events
        What was registered: a directory (its ingest state names the extra entity columns)
        or a table (extra entities are its other string columns named ``*_id``).

    Returns
    -------
    list[str]
        Canonical entity columns present, then the extra ones, sorted; a column without any
        value is left out.
    """
    columns = view_columns(con, name)
    found = [c for c in CANONICAL_ENTITY_COLUMNS if c in columns]
    if isinstance(events, pd.DataFrame | pa.Table):
        extra = [
            c for c, kind in columns.items()
            if c.endswith("_id") and kind == "VARCHAR" and c not in (*found, *_NOT_ENTITIES)
        ]
    else:
        state = IngestState.load(Path(events))
        extra = [spec["column"] for spec in state.entities.values() if spec["column"] in columns]
    candidates = found + sorted(set(extra) - set(found))
    if not candidates:
        return []
    counts = con.execute(
        "SELECT " + ", ".join(f"count({ident(c)})" for c in candidates) + f" FROM {ident(name)}"
    ).fetchall()[0]
    return [c for c, n in zip(candidates, counts, strict=True) if n]


def register_labels(
    con: duckdb.DuckDBPyConnection,
    labels: Labels | None,
    *,
    default_delay_days: float,
    name: str = "event_labels",
    events: str = "events",
) -> None:
    """Make the view ``name``: ``event_id, label, known_at`` for labelled events of ``events``.

    A label without ``known_at`` is taken as known ``default_delay_days`` after its event.
    Without labels the view is empty.

    Raises
    ------
    ValueError
        If a column is missing, a label is not 0 or 1, or one event has two different labels
        (the event ids are named).
    """
    if labels is None:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {ident(name)} AS SELECT "
            "CAST(NULL AS VARCHAR) AS event_id, CAST(NULL AS INTEGER) AS label, "
            "CAST(NULL AS TIMESTAMPTZ) AS known_at WHERE false"
        )
        return
    con.register(f"{name}_input", labels)
    columns = view_columns(con, f"{name}_input")
    missing = [c for c in ("event_id", "label") if c not in columns]
    if missing:
        raise ValueError(f"event labels: missing column(s) {missing}; they have {sorted(columns)}")
    bad = con.execute(
        f"SELECT event_id, label FROM {name}_input WHERE label IS NULL OR label NOT IN (0, 1) "
        "LIMIT 5"
    ).fetchall()
    if bad:
        raise ValueError(f"event labels: labels must be 0 or 1; first offending rows {bad}")
    clash = con.execute(
        f"SELECT event_id FROM {name}_input GROUP BY event_id HAVING min(label) <> max(label) "
        "ORDER BY event_id LIMIT 10"
    ).fetchall()
    if clash:
        raise ValueError(
            f"event labels: contradictory labels for event_id(s) {[r[0] for r in clash]}"
        )
    known = "l.known_at" if "known_at" in columns else "NULL"
    delay = f"INTERVAL {literal(int(default_delay_days * 86400e6))} MICROSECOND"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {ident(name)} AS SELECT l.event_id, "
        "CAST(max(l.label) AS INTEGER) AS label, "
        f"CAST(coalesce(min(CAST({known} AS TIMESTAMPTZ)), min(e.ts) + {delay}) AS TIMESTAMPTZ)"
        f" AS known_at FROM {name}_input l JOIN {ident(events)} e USING (event_id) "
        "GROUP BY l.event_id"
    )
