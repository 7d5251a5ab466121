"""The snapshot's labels: the canonical labels given to a build, kept for accounts in the graph.

Labels come from a DataFrame, a labels file (read with the mapping's labels section) or, by
default, the events directory's own labels; only those of accounts in the snapshot are kept, in
their given order, and ``labels_without_events`` in the manifest counts the others.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from graph.snapshot import ACCOUNT
from ingest.labels import read_labels
from ingest.mapping import Mapping
from ingest.sql import literal
from ingest.store import LABELS_FILE


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
