"""The snapshot edges that new events create, for a graph kept current event by event.

A snapshot holds one edge per distinct (account, entity) pair of a relation
(:func:`graph.snapshot_sql.pairs_sql`); edges only ever appear. :func:`new_edges` names the
pairs some events imply, so a service keeping a graph current adds those (the ones already
there are kept once). The node rows those events change come from
:mod:`graph.live_features`.
"""

from __future__ import annotations

import pyarrow as pa

from graph.snapshot_sql import RelationSource


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
