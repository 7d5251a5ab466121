"""Changes a live service makes to a loaded graph: nodes, relationships and scores, merged in.

A service that keeps a graph current event by event (``abusenet serve``) collects what its
events changed in a :class:`LiveChange`: nodes by label and id with the properties to set,
relationships by ``(source label, type, target label)`` and endpoint ids. Changes coalesce
(:meth:`LiveChange.update`: the later properties win), so a backlog holds each node and
relationship once however many events touched it. :func:`write_live_change` writes one change
in one managed transaction with ``MERGE`` only, so a retried or repeated write leaves the same
graph. Every statement is confined to one named graph (:mod:`graph.store.graphs`), labels
and types are checked names and every value (property maps included) is a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from graph.store.names import node_label, rel_type
from graph.store.runner import Params, QueryRunner

#: Rows per ``UNWIND`` statement (one transaction holds all of a change's statements).
STATEMENT_ROWS = 5_000

RelKey = tuple[str, str, str]


@dataclass
class LiveChange:
    """Nodes and relationships to merge into a graph.

    ``nodes[label][id]`` holds the properties to set on that node; ``rels[(src_label, type,
    dst_label)][(src_id, dst_id)]`` those to set on that relationship (``{}``: just make sure it
    exists). A property set to ``None`` is removed.
    """

    nodes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    rels: dict[RelKey, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)

    def add_node(self, label: str, node_id: str, properties: Mapping[str, Any] | None = None
                 ) -> None:
        """Merge node ``label``/``node_id`` with ``properties`` (later values win)."""
        self.nodes.setdefault(label, {}).setdefault(str(node_id), {}).update(properties or {})

    def add_rel(self, src_label: str, rel: str, dst_label: str, src: str, dst: str,
                properties: Mapping[str, Any] | None = None) -> None:
        """Merge the ``rel`` relationship from ``src`` to ``dst`` (both nodes must be in the
        graph or in this change)."""
        pairs = self.rels.setdefault((src_label, rel, dst_label), {})
        pairs.setdefault((str(src), str(dst)), {}).update(properties or {})

    def update(self, other: LiveChange) -> None:
        """Fold ``other`` (newer) into this change."""
        for label, nodes in other.nodes.items():
            for node_id, properties in nodes.items():
                self.add_node(label, node_id, properties)
        for (src_label, rel, dst_label), pairs in other.rels.items():
            for (src, dst), properties in pairs.items():
                self.add_rel(src_label, rel, dst_label, src, dst, properties)

    def __len__(self) -> int:
        """Rows to write: nodes plus relationships."""
        return (sum(len(n) for n in self.nodes.values())
                + sum(len(p) for p in self.rels.values()))


def live_change_statements(change: LiveChange, graph: str) -> list[tuple[str, Params]]:
    """The ``MERGE`` statements writing ``change`` into ``graph``: nodes first, then
    relationships, at most :data:`STATEMENT_ROWS` rows each.

    Raises
    ------
    graph.store.names.UnsafeNameError
        When a label or relationship type is not a safe name (property keys travel inside
        parameter maps, so any key is safe).
    """
    statements: list[tuple[str, Params]] = []
    for label, nodes in change.nodes.items():
        query = (f"UNWIND $rows AS row MERGE (n:`{node_label(label)}` "
                 "{graph: $graph, id: row.id}) SET n += row.props")
        rows = [{"id": node_id, "props": _properties(props)} for node_id, props in nodes.items()]
        statements += [(query, {"rows": chunk, "graph": graph}) for chunk in _chunks(rows)]
    for (src_label, rel, dst_label), pairs in change.rels.items():
        query = (
            f"UNWIND $rows AS row "
            f"MATCH (a:`{node_label(src_label)}` {{graph: $graph, id: row.src}}) "
            f"MATCH (b:`{node_label(dst_label)}` {{graph: $graph, id: row.dst}}) "
            f"MERGE (a)-[r:`{rel_type(rel)}`]->(b) SET r.graph = $graph, r += row.props"
        )
        rows = [{"src": src, "dst": dst, "props": _properties(props)}
                for (src, dst), props in pairs.items()]
        statements += [(query, {"rows": chunk, "graph": graph}) for chunk in _chunks(rows)]
    return statements


def write_live_change(store: QueryRunner, change: LiveChange, graph: str) -> int:
    """Write ``change`` into ``graph`` in one managed transaction; return the rows written.

    Idempotent: every statement is a ``MERGE``, so the driver's retry of a failed attempt, or
    writing the same change again, leaves the same graph.
    """
    statements = live_change_statements(change, graph)
    if statements:
        store.write(statements)
    return len(change)


def _properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """``properties`` with values the driver can send (numpy scalars as Python numbers, NaN
    and infinities as ``None``)."""
    return {str(k): _value(v) for k, v in properties.items()}


def _value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bool, int, float, str, datetime)) or value is None:
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_value(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__} as a Neo4j property: {value!r}")


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), STATEMENT_ROWS):
        yield rows[start:start + STATEMENT_ROWS]
