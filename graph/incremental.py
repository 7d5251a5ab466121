"""The snapshot's node and edge rows of some accounts and entities, recomputed from events.

A service that keeps a graph current does not rebuild the whole snapshot when a few events
arrive: it recomputes only the node rows those events touch. :func:`recompute_nodes` runs the
very SQL of :mod:`graph.snapshot_sql` over the events that decide those rows (every event by or
to an affected account, every event of an affected entity), so each returned row equals the row
a full build (:mod:`graph.build`) would write for the same events. Edges only ever appear (one
per distinct account-entity pair): :func:`new_edges` names those the new events imply.
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


def recompute_nodes(
    con: duckdb.DuckDBPyConnection,
    table: str,
    touched: Touched,
    event_types: list[str],
    relations: list[RelationSource],
    float_attributes: list[str],
) -> dict[str, pd.DataFrame]:
    """Node rows of the touched accounts and entities, each from only the events that decide it.

    One pass over ``table`` keeps the events of every touched node; an account's row is then
    aggregated from the events by or to the touched accounts, an entity type's rows from the
    events naming its touched entities (not from the union: a busy device's events do not
    make its accounts' rows recomputed for nothing).

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
    dict[str, pd.DataFrame]
        Node type -> the recomputed rows (as :mod:`graph.build` writes them); a type without
        touched nodes is absent.
    """
    registered: list[str] = []

    def ids_table(name: str, ids: frozenset[str]) -> str:
        con.register(name, pa.table({"id": pa.array(sorted(ids), pa.string())}))
        registered.append(name)
        return f"(SELECT id FROM {ident(name)})"

    by_account = [f"account_id IN {ids_table('_touched_accounts', touched.accounts)}"]
    if any(r.column == "counterparty_id" for r in relations):
        by_account.append("counterparty_id IN (SELECT id FROM _touched_accounts)")
    by_entity = {}
    for rel in relations:
        ids = touched.entities.get(rel.node_type)
        if rel.node_type != ACCOUNT and ids:
            by_entity[rel.name] = (f"{ident(rel.column)} IN "
                                   f"{ids_table('_touched_' + rel.node_type, ids)}")
    keep = [*by_account, *by_entity.values()]
    nodes: dict[str, pd.DataFrame] = {}
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _touched_events AS SELECT * FROM "
                    f"{ident(table)} WHERE {' OR '.join(keep)}")
        for rel in relations:
            if rel.name in by_entity:
                rows = _query(con, by_entity[rel.name], [rel], float_attributes,
                              entity_nodes_sql(rel, event_types))
                ids = touched.entities[rel.node_type]
                nodes[rel.node_type] = rows[rows["id"].isin(ids)].reset_index(drop=True)
        if touched.accounts:
            rows = _query(con, " OR ".join(by_account), relations, float_attributes,
                          account_nodes_sql(event_types, relations, float_attributes))
            nodes[ACCOUNT] = rows[rows["id"].isin(touched.accounts)].reset_index(drop=True)
    finally:
        con.execute("DROP TABLE IF EXISTS _touched_events")
        for name in registered:
            con.unregister(name)
    return nodes


def new_edges(events: pa.Table, relations: list[RelationSource]) -> dict[str, list[tuple]]:
    """Relation -> the distinct ``(account, entity)`` pairs ``events`` name: the snapshot's
    edges (:func:`graph.snapshot_sql.pairs_sql`) that these events create or extend."""
    accounts = events.column("account_id").to_pylist()
    edges = {}
    for rel in relations:
        if rel.column not in events.column_names:
            continue
        pairs = zip(accounts, events.column(rel.column).to_pylist(), strict=True)
        edges[rel.name] = sorted({(a, e) for a, e in pairs if e is not None})
    return edges


def _query(con: duckdb.DuckDBPyConnection, where: str, relations: list[RelationSource],
           float_attributes: list[str], query: str) -> pd.DataFrame:
    """``query`` (snapshot SQL over ``events`` and ``pairs_<REL>``) run with ``events`` bound to
    the touched events matching ``where`` and the pairs of ``relations`` built from them, all as
    one statement's common table expressions (no temporary tables to create and drop)."""
    ctes = [f"events AS (SELECT * FROM _touched_events WHERE {where})"]
    ctes += [f"{ident('pairs_' + rel.name)} AS ({pairs_sql(rel, float_attributes)})"
             for rel in relations]
    return con.sql(f"WITH {', '.join(ctes)} SELECT * FROM ({query})").df()
