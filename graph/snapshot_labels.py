"""The snapshot's labels: the canonical labels given to a build, kept for what is in the graph.

Account labels come from a DataFrame, a labels file (read with the mapping's labels section)
or, by default, the events directory's own labels; only those of accounts in the snapshot are
kept (``labels.parquet``), in their given order, and ``labels_without_events`` in the manifest
counts the others.

Event labels (``event_labels.parquet``: ``event_id, account_id, ts, label, known_at``) are
matched to the snapshot's events by ``event_id``; entity labels (``entity_labels.parquet``:
``node_type, entity_id, label, known_at``) to its nodes of that type by id. The manifest's
``event_labels`` / ``entity_labels`` entries give the file, the rows kept, the positives, and
``unmatched``: the labels naming no event or entity of the snapshot (never dropped silently).
A snapshot built without such labels has neither file nor entry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
import pyarrow as pa

from graph.snapshot import ACCOUNT
from ingest.event_labels import (
    ENTITY_LABELS_SCHEMA,
    EVENT_LABELS_SCHEMA,
    LevelLabelRows,
    load_entity_labels,
    load_event_labels,
)
from ingest.labels import LabelsError, read_labels
from ingest.mapping import Mapping
from ingest.sql import ident, literal
from ingest.store import LABELS_FILE

#: The snapshot's matched event labels and entity labels.
EVENT_LABELS_FILE = "event_labels.parquet"
ENTITY_LABELS_FILE = "entity_labels.parquet"


def snapshot_labels(
    events_dir: Path,
    labels: str | os.PathLike[str] | pd.DataFrame | None,
    mapping: Mapping | None,
) -> pd.DataFrame | None:
    """The labels for a snapshot of ``events_dir``, as ``account_id, label, ts`` (or ``None``).

    ``labels`` is a canonical table (``account_id, label[, ts]``) or a labels file read with
    ``mapping``; default: ``events_dir/labels.parquet`` when present. A missing ``ts`` is null.
    """
    if isinstance(labels, pd.DataFrame):
        table = labels.copy()
    elif labels is not None:
        table = read_labels(labels, mapping).to_pandas()
    elif (events_dir / LABELS_FILE).is_file():
        table = pd.read_parquet(events_dir / LABELS_FILE)
    else:
        return None
    if "ts" not in table.columns:
        table["ts"] = pd.Series(pd.NaT, index=table.index, dtype="datetime64[us, UTC]")
    table["account_id"] = table["account_id"].astype(str)
    table["label"] = table["label"].astype("int8")
    return table[["account_id", "label", "ts"]]


def copy_known_labels(
    con: duckdb.DuckDBPyConnection, table: pd.DataFrame, target: Path, meta: dict[str, Any]
) -> tuple[int, int]:
    """Write the labels of accounts in the graph to ``labels.parquet``, in their given order;
    return (labels kept, positives) and count the others in ``meta``.

    ``target`` is the snapshot directory being filled, whose ``Account`` nodes are written.
    """
    con.register("labels_given", table.assign(_position=range(len(table))))
    accounts = literal(str(target / "nodes" / f"{ACCOUNT}.parquet"))
    con.execute(
        "CREATE TEMP TABLE labels_kept AS SELECT * FROM labels_given "
        f"WHERE account_id IN (SELECT id FROM read_parquet({accounts}))"
    )
    kept, positives = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE label = 1) FROM labels_kept"
    ).fetchall()[0]
    meta["labels_without_events"] = len(table) - int(kept)
    con.execute(
        "COPY (SELECT * EXCLUDE (_position) FROM labels_kept ORDER BY _position) TO "
        f"{literal(str(target / 'labels.parquet'))} (FORMAT parquet)"
    )
    con.unregister("labels_given")
    return int(kept), int(positives)


def level_labels(
    labels: str | os.PathLike[str] | pa.Table | pd.DataFrame | None,
    mapping: Mapping | None,
    level: Literal["event", "entity"],
) -> tuple[pa.Table, int] | None:
    """Canonical event or entity labels and the count of rows skipped (or ``None``).

    ``labels`` is a canonical table (:data:`ingest.event_labels.EVENT_LABELS_SCHEMA` or
    ``ENTITY_LABELS_SCHEMA``; a missing ``known_at`` is null) or a file read with ``mapping``.
    """
    if labels is None:
        return None
    schema = EVENT_LABELS_SCHEMA if level == "event" else ENTITY_LABELS_SCHEMA
    if isinstance(labels, pa.Table | pd.DataFrame):
        table = labels if isinstance(labels, pa.Table) else pa.Table.from_pandas(
            labels, preserve_index=False)
        if "known_at" not in table.column_names:
            table = table.append_column("known_at", pa.nulls(len(table), schema.field(
                "known_at").type))
        return table.select(schema.names).cast(schema), 0
    rows: LevelLabelRows = (load_event_labels if level == "event" else load_entity_labels)(
        labels, mapping)
    return rows.table, rows.skipped


def copy_known_event_labels(
    con: duckdb.DuckDBPyConnection,
    labels: tuple[pa.Table, int],
    target: Path,
    meta: dict[str, Any],
) -> None:
    """Write the event labels of events in the view ``events`` to ``event_labels.parquet``
    (with each event's account and time, sorted by ``event_id``); describe them in ``meta``.

    Raises
    ------
    LabelsError
        When labels were given and none names an event of the snapshot.
    """
    table, skipped = labels
    con.register("event_labels_given", table)
    con.execute(
        "CREATE TEMP TABLE event_labels_kept AS SELECT l.event_id, e.account_id, e.ts, l.label, "
        "l.known_at FROM event_labels_given l JOIN (SELECT event_id, min(account_id) AS "
        "account_id, min(ts) AS ts FROM events WHERE event_id IN (SELECT event_id FROM "
        "event_labels_given) GROUP BY event_id) e USING (event_id)"
    )
    kept, positives = _counts(con, "event_labels_kept")
    if len(table) and not kept:
        example = table.column("event_id")[0].as_py()
        raise LabelsError(
            f"none of the {len(table):,} event labels names an event of the logs (e.g. "
            f"event_id {example!r}); events whose logs have no event id get one derived from "
            "their content, so map the logs' event id column as 'columns: {event_id: "
            "<column>}' in the mapping, and label events by that id"
        )
    _copy(con, "event_labels_kept", "event_id", target / EVENT_LABELS_FILE)
    meta["event_labels"] = _facts(EVENT_LABELS_FILE, kept, positives, len(table) - kept,
                                  skipped)


def copy_known_entity_labels(
    con: duckdb.DuckDBPyConnection,
    labels: tuple[pa.Table, int],
    target: Path,
    meta: dict[str, Any],
) -> None:
    """Write the entity labels of nodes in the snapshot at ``target`` (matched by node type and
    id) to ``entity_labels.parquet``, sorted by ``node_type, entity_id``; describe them in
    ``meta``, with the unmatched labels of each node type under ``unmatched_by_type``."""
    table, skipped = labels
    con.register("entity_labels_given", table)
    present = [t for t in dict.fromkeys(table.column("node_type").to_pylist())
               if (target / "nodes" / f"{t}.parquet").is_file()]
    nodes = " UNION ALL ".join(
        f"SELECT {literal(t)} AS node_type, id AS entity_id FROM "
        f"read_parquet({literal(str(target / 'nodes' / f'{t}.parquet'))})" for t in present
    ) or "SELECT NULL::VARCHAR AS node_type, NULL::VARCHAR AS entity_id WHERE false"
    con.execute(
        "CREATE TEMP TABLE entity_labels_kept AS SELECT l.* FROM entity_labels_given l "
        f"SEMI JOIN ({nodes}) n ON l.node_type = n.node_type AND l.entity_id = n.entity_id"
    )
    kept, positives = _counts(con, "entity_labels_kept")
    unmatched = dict(con.execute(
        "SELECT node_type, count(*) FROM entity_labels_given l ANTI JOIN entity_labels_kept k "
        "USING (node_type, entity_id) GROUP BY node_type ORDER BY node_type"
    ).fetchall())
    _copy(con, "entity_labels_kept", "node_type, entity_id", target / ENTITY_LABELS_FILE)
    meta["entity_labels"] = {
        **_facts(ENTITY_LABELS_FILE, kept, positives, len(table) - kept, skipped),
        "unmatched_by_type": {t: int(n) for t, n in unmatched.items()},
    }


def _counts(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int]:
    kept, positives = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE label = 1) FROM {ident(table)}"
    ).fetchall()[0]
    return int(kept), int(positives)


def _copy(con: duckdb.DuckDBPyConnection, table: str, order: str, path: Path) -> None:
    con.execute(f"COPY (SELECT * FROM {ident(table)} ORDER BY {order}) TO "
                f"{literal(str(path))} (FORMAT parquet)")


def _facts(file: str, kept: int, positives: int, unmatched: int, skipped: int) -> dict[str, Any]:
    return {"file": file, "count": kept, "positives": positives, "unmatched": unmatched,
            "skipped": skipped}
