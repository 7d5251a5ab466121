"""The snapshot's node and edge rows of some accounts and entities, recomputed from events.

A service that keeps a graph current does not rebuild the whole snapshot when a few events
arrive: it recomputes only the rows those events touch. :func:`recompute_rows` runs the very SQL
of :mod:`graph.snapshot_sql` over the events that decide those rows (every event by or to an
affected account, every event of an affected entity), so each returned row equals the row a
full build (:mod:`graph.build`) would write for the same events.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa

from graph.snapshot import ACCOUNT
from graph.snapshot_sql import (
    RelationSource,
    account_nodes_sql,
    edge_sql,
    entity_nodes_sql,
    pairs_sql,
)
from ingest.sql import ident


@dataclass(frozen=True)
class Touched:
    """What some events touch: account ids, and entity ids per node type."""

    accounts: frozenset[str]
    entities: dict[str, frozenset[str]]


def touched_by(events: pa.Table, relations: list[RelationSource]) -> Touched:
    """The accounts (actors and counterparties) and entities named by ``events``."""
    accounts = set(events.column("account_id").drop_null().to_pylist())
    entities: dict[str, set[str]] = {}
    for rel in relations:
        if rel.column not in events.column_names:
            continue
        values = set(events.column(rel.column).drop_null().to_pylist())
        if rel.node_type == ACCOUNT:
            accounts |= values
        else:
            entities.setdefault(rel.node_type, set()).update(values)
    return Touched(frozenset(accounts), {t: frozenset(v) for t, v in entities.items()})


def recompute_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    touched: Touched,
    event_types: list[str],
    relations: list[RelationSource],
    float_attributes: list[str],
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Node rows of the touched accounts and entities, and the edges out of touched accounts.

    Parameters
    ----------
    con
        A DuckDB connection holding every event in the table ``table``.
    table
        The events table (canonical columns).
    touched
        The accounts and entities whose rows to recompute (:func:`touched_by`).
    event_types
        The snapshot's frequent event types, in its order (its ``event_type_features`` keys):
        the same per-type features as the snapshot the model was trained on.
    relations, float_attributes
        As for :func:`graph.snapshot_sql.account_nodes_sql`.

    Returns
    -------
    tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]
        Node type -> the recomputed rows (as :mod:`graph.build` writes them), and relation ->
        every edge whose source is a touched account.
    """
    con.register("_touched_accounts", pa.table({"id": pa.array(sorted(touched.accounts),
                                                              pa.string())}))
    registered = ["_touched_accounts"]
    keep = ["account_id IN (SELECT id FROM _touched_accounts)"]
    if any(r.column == "counterparty_id" for r in relations):
        keep.append("counterparty_id IN (SELECT id FROM _touched_accounts)")
    for rel in relations:
        ids = touched.entities.get(rel.node_type)
        if rel.node_type != ACCOUNT and ids:
            name = f"_touched_{rel.node_type}"
            con.register(name, pa.table({"id": pa.array(sorted(ids), pa.string())}))
            registered.append(name)
            keep.append(f"{ident(rel.column)} IN (SELECT id FROM {ident(name)})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE events AS SELECT * FROM {ident(table)} "
                f"WHERE {' OR '.join(keep)}")
    nodes: dict[str, pd.DataFrame] = {}
    edges: dict[str, pd.DataFrame] = {}
    try:
        for rel in relations:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {ident('pairs_' + rel.name)} AS "
                        f"{pairs_sql(rel, float_attributes)}")
        for rel in relations:
            if rel.node_type == ACCOUNT:
                continue
            ids = touched.entities.get(rel.node_type, frozenset())
            rows = con.sql(entity_nodes_sql(rel, event_types)).df()
            nodes[rel.node_type] = rows[rows["id"].isin(ids)].reset_index(drop=True)
        rows = con.sql(account_nodes_sql(event_types, relations, float_attributes)).df()
        nodes[ACCOUNT] = rows[rows["id"].isin(touched.accounts)].reset_index(drop=True)
        for rel in relations:
            rows = con.sql(edge_sql(rel)).df()
            edges[rel.name] = rows[rows["src"].isin(touched.accounts)].reset_index(drop=True)
    finally:
        for rel in relations:
            con.execute(f"DROP TABLE IF EXISTS {ident('pairs_' + rel.name)}")
        con.execute("DROP TABLE IF EXISTS events")
        for name in registered:
            con.unregister(name)
    return nodes, edges
