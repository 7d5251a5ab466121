"""The snapshot edges that new events create, for a graph kept current event by event.

A snapshot holds one edge per distinct (account, entity) pair of a relation
(:func:`graph.snapshot_sql.pairs_sql`); edges only ever appear. :func:`new_edges` names the
pairs some events imply, so a service keeping a graph current adds those (the ones already
there are kept once). The node rows those events change come from
:mod:`graph.live_features`.
"""

from __future__ import annotations

import numpy as np
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


def new_edge_rows(events: pa.Table, relations: list[RelationSource], accounts: np.ndarray,
                  entities: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`new_edges` as node rows, in the same order: relation -> (account rows, entity
    rows) of its distinct pairs; ``accounts``: each event's account row, ``entities``:
    relation name -> each event's entity row (a relation left out is left out)."""
    names = events.column("account_id").to_pylist()
    edges = {}
    for rel in relations:
        if rel.column not in events.column_names or rel.name not in entities:
            continue
        first: dict[tuple, int] = {}
        for k, pair in enumerate(zip(names, events.column(rel.column).to_pylist(),
                                     strict=True)):
            if pair[1] is not None:
                first.setdefault(pair, k)
        at = np.array([first[pair] for pair in sorted(first)], dtype=np.int64)
        edges[rel.name] = (accounts[at].astype(np.int64), entities[rel.name][at].astype(np.int64))
    return edges
