"""The k-hop neighbourhood of some accounts, from Neo4j or from a snapshot, as graph tables.

Both sources give the same result: a small :class:`~graph.snapshot.Snapshot` holding every node
within ``k`` hops of the seed accounts (walking every relationship in either direction, except
ring membership) and every relationship among those nodes. Node rows are sorted by id and feature
columns by name, so the two sources line up row for row. :func:`gnn.data.subgraph.extract_subgraph`
turns the tables into a ``HeteroData`` for the model.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graph.snapshot import (
    ACCOUNT,
    EDGE_COLUMNS,
    NODE_KEY_COLUMNS,
    RelationSpec,
    Snapshot,
    read_snapshot,
    relation_specs,
)
from graph.store.graphs import GRAPH, resolve_graph
from graph.store.names import MEMBER_OF, RING, node_label, rel_type
from graph.store.runner import QueryRunner
from graph.store.tables import HASH, LABEL

Source = Snapshot | QueryRunner | str | os.PathLike[str]
#: Node properties the store adds that are not snapshot features.
STORE_PROPERTIES = frozenset({GRAPH, HASH, LABEL, "risk_score", "model_version", "scored_at"})


def extract_subsnapshot(source: Source, account_ids: Iterable[str], k: int = 2, *,
                        graph: str | None = None) -> Snapshot:
    """The k-hop neighbourhood of ``account_ids`` as a :class:`~graph.snapshot.Snapshot`.

    Parameters
    ----------
    source
        A store (:func:`graph.store.connect`), a :class:`~graph.snapshot.Snapshot`, or a
        snapshot directory.
    account_ids
        The seed accounts; ids absent from the source are ignored.
    k
        Hops to walk from the seeds (``Account -> Device`` is one hop).
    graph
        The graph of the store to walk (:mod:`graph.store.graphs`); default: the only one.
        Ignored for a snapshot.

    Raises
    ------
    graph.store.graphs.GraphNameError
        When a store holds no graph called ``graph``, or ``graph`` is ``None`` and the store
        holds none or several.
    """
    if k < 0:
        raise ValueError(f"k must be 0 or more, not {k}")
    seeds = sorted({str(a) for a in account_ids})
    if isinstance(source, str | os.PathLike):
        source = read_snapshot(Path(source))
    if isinstance(source, Snapshot):
        return _tidy(_from_snapshot(source, seeds, k))
    return _tidy(_from_store(source, seeds, k, resolve_graph(source, graph)))


def _from_snapshot(snapshot: Snapshot, seeds: list[str], k: int) -> Snapshot:
    index = {t: pd.Index(df["id"].astype(str)) for t, df in snapshot.nodes.items()}
    ends = {
        name: (index[spec.src_type].get_indexer(snapshot.edges[name]["src"].astype(str)),
               index[spec.dst_type].get_indexer(snapshot.edges[name]["dst"].astype(str)))
        for name, spec in snapshot.relations.items()
        if spec.src_type in index and spec.dst_type in index
    }
    reached = {t: np.zeros(len(i), dtype=bool) for t, i in index.items()}
    if ACCOUNT in index:
        rows = index[ACCOUNT].get_indexer(seeds)
        reached[ACCOUNT][rows[rows >= 0]] = True
    frontier = {t: r.copy() for t, r in reached.items()}
    for _ in range(k):
        found = {t: np.zeros_like(r) for t, r in reached.items()}
        for name, (src, dst) in ends.items():
            spec = snapshot.relations[name]
            valid = (src >= 0) & (dst >= 0)
            src, dst = src[valid], dst[valid]
            found[spec.dst_type][dst[frontier[spec.src_type][src]]] = True
            found[spec.src_type][src[frontier[spec.dst_type][dst]]] = True
        frontier = {t: found[t] & ~reached[t] for t in reached}
        for t in reached:
            reached[t] |= frontier[t]
    nodes = {t: snapshot.nodes[t][reached[t]] for t in snapshot.nodes}
    edges = {}
    for name, spec in snapshot.relations.items():
        if name not in ends:
            continue
        src, dst = ends[name]
        keep = np.zeros(len(src), dtype=bool)
        valid = (src >= 0) & (dst >= 0)
        keep[valid] = reached[spec.src_type][src[valid]] & reached[spec.dst_type][dst[valid]]
        edges[name] = snapshot.edges[name][keep]
    labels = snapshot.labels
    if labels is not None:
        labels = labels[labels["account_id"].astype(str).isin(nodes[ACCOUNT]["id"].astype(str))]
    relations = {name: snapshot.relations[name] for name in edges}
    return Snapshot(nodes=nodes, edges=edges, relations=relations, labels=labels)


def _from_store(runner: QueryRunner, seeds: list[str], k: int, graph: str) -> Snapshot:
    reached: dict[str, set[str]] = {ACCOUNT: set()}
    found = runner.read(
        "UNWIND $ids AS id MATCH (a:Account {graph: $graph, id: id}) RETURN a.id AS id",
        {"ids": seeds, "graph": graph})
    reached[ACCOUNT].update(found.column("id"))
    frontier = {ACCOUNT: set(reached[ACCOUNT])}
    for _ in range(k):
        step: dict[str, set[str]] = {}
        for label, ids in frontier.items():
            if not ids:
                continue
            rows = runner.read(
                f"UNWIND $ids AS id MATCH (n:`{node_label(label)}` {{graph: $graph, id: id}})"
                f"-[:!{MEMBER_OF}]-(m) WHERE NOT m:{RING} "
                "RETURN DISTINCT labels(m)[0] AS label, m.id AS id",
                {"ids": sorted(ids), "graph": graph},
            )
            for next_label, next_id in rows.records:
                step.setdefault(node_label(next_label), set()).add(next_id)
        frontier = {t: ids - reached.get(t, set()) for t, ids in step.items()}
        for t, ids in frontier.items():
            reached.setdefault(t, set()).update(ids)
    nodes, labels = {}, None
    for label, ids in reached.items():
        rows = runner.read(
            f"UNWIND $ids AS id MATCH (n:`{node_label(label)}` {{graph: $graph, id: id}}) "
            "RETURN properties(n) AS props",
            {"ids": sorted(ids), "graph": graph},
        )
        props = [_native_props(p) for p in rows.column("props")]
        table = pd.DataFrame(props, columns=sorted({c for p in props for c in p} | {"id"}))
        if label == ACCOUNT and LABEL in table.columns:
            known = table[table[LABEL].notna()]
            labels = pd.DataFrame({"account_id": known["id"],
                                   "label": known[LABEL].astype("int8")})
        nodes[label] = table.drop(columns=[c for c in STORE_PROPERTIES if c in table.columns])
    edges, relations = _store_edges(runner, reached, graph)
    return Snapshot(nodes=nodes, edges=edges, relations=relations, labels=labels)


def _store_edges(
    runner: QueryRunner, reached: dict[str, set[str]], graph: str
) -> tuple[dict[str, pd.DataFrame], dict[str, RelationSpec]]:
    records: dict[str, list[dict[str, Any]]] = {}
    relations: dict[str, RelationSpec] = {}
    for label, ids in reached.items():
        rows = runner.read(
            f"UNWIND $ids AS id MATCH (a:`{node_label(label)}` {{graph: $graph, id: id}})"
            f"-[r:!{MEMBER_OF}]->(b) WHERE NOT b:{RING} "
            "RETURN a.id AS src, type(r) AS type, labels(b)[0] AS dst_label, b.id AS dst, "
            "properties(r) AS props",
            {"ids": sorted(ids), "graph": graph},
        )
        for src, rtype, dst_label, dst, props in rows.records:
            if dst not in reached.get(dst_label, ()):
                continue
            name = rel_type(rtype)
            relations.setdefault(name, RelationSpec(name, label, node_label(dst_label)))
            row = {"src": src, "dst": dst, **_native_props(props)}
            row.pop(HASH, None)
            row.pop(GRAPH, None)
            records.setdefault(name, []).append(row)
    edges = {name: pd.DataFrame(rows) for name, rows in records.items()}
    return edges, relations


def _native_props(props: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.to_native() if callable(getattr(value, "to_native", None)) else value
        for key, value in props.items()
    }


def _tidy(snapshot: Snapshot) -> Snapshot:
    """Rows sorted by id (edges by endpoints), features sorted by name, timestamps in UTC.

    Every built-in node type and relation is present, empty when the neighbourhood has none, so
    a model built for the whole graph finds all the types it expects.
    """
    relations = {**relation_specs(), **snapshot.relations}
    node_types = {t for spec in relations.values() for t in (spec.src_type, spec.dst_type)}
    node_types |= set(snapshot.nodes)
    empty_nodes = pd.DataFrame({c: pd.Series(dtype=str) for c in NODE_KEY_COLUMNS})
    empty_edges = pd.DataFrame({c: pd.Series(dtype=str) for c in EDGE_COLUMNS})
    snapshot = Snapshot(
        nodes={t: snapshot.nodes.get(t, empty_nodes) for t in sorted(node_types)},
        edges={r: snapshot.edges.get(r, empty_edges) for r in relations},
        relations=relations, labels=snapshot.labels,
    )
    nodes = {}
    for node_type, table in snapshot.nodes.items():
        table = table.copy()
        table["id"] = table["id"].astype(str)
        features = sorted(c for c in table.columns if c not in NODE_KEY_COLUMNS)
        keys = [c for c in NODE_KEY_COLUMNS if c in table.columns]
        table = _utc(table[keys + features])
        nodes[node_type] = table.sort_values("id", kind="stable").reset_index(drop=True)
    edges = {}
    for name, table in snapshot.edges.items():
        extra = sorted(c for c in table.columns if c not in EDGE_COLUMNS)
        table = _utc(table.reindex(columns=[*EDGE_COLUMNS, *extra]))
        edges[name] = table.sort_values(["src", "dst"], kind="stable").reset_index(drop=True)
    labels = snapshot.labels
    if labels is not None:
        labels = labels.sort_values("account_id", kind="stable").reset_index(drop=True)
    return Snapshot(nodes=nodes, edges=edges, relations=relations, labels=labels)


def _utc(table: pd.DataFrame) -> pd.DataFrame:
    for column in ("first_ts", "last_ts"):
        if column in table.columns:
            table[column] = pd.to_datetime(table[column], utc=True).dt.as_unit("us")
    return table
