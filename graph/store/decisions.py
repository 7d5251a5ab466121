"""Investigators' decisions in the graph: ``(:Decision)-[:ABOUT]->(target)``, and their targets.

A decision is a node ``(:Decision {id, graph, decision, analyst, case, note, decided_at,
target_kind, target_type, target_id, members, os_user})`` keyed by ``(graph, id)`` like every
node abusenet writes, linked to what it is about: an ``Account``, a ``Ring``, an entity (any
other node label of the graph) or an ``Event``. A decision is immutable: writing one whose id is
already stored changes nothing, so a retry (or ``abusenet case sync``) is always safe.

Targets are checked before anything is written (:func:`find_target`): a ring's members are read
with it and stored in the decision, since a later run replaces rings (deleting a ring also
deletes its ``ABOUT`` link, never the decision). Graphs loaded from a snapshot hold no ``Event``
nodes (events are aggregated into relationships); a decision about an event of such a graph
cannot be checked and is stored without a link (:attr:`Target.linked` is ``False``).

Values (ids, analyst names, notes) only ever travel as parameters; the one label written into
query text passes :func:`graph.store.names.node_label`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graph.snapshot import ACCOUNT
from graph.store.graphs import LOAD_RUN
from graph.store.names import MEMBER_OF, RING, UnsafeNameError, node_label
from graph.store.runner import QueryRunner

#: The label of decision nodes and the type of their link to the target.
DECISION = "Decision"
ABOUT = "ABOUT"
#: The label of event nodes, for graphs that hold events as nodes.
EVENT = "Event"
#: Labels that are never entity types: the graph's own bookkeeping and the other target kinds.
NOT_ENTITIES = frozenset({ACCOUNT, RING, EVENT, DECISION, LOAD_RUN})

_SCHEMA = (
    f"CREATE CONSTRAINT decision_graph_id IF NOT EXISTS FOR (d:{DECISION}) "
    "REQUIRE (d.graph, d.id) IS UNIQUE"
)
_FIND = "MATCH (t:`{label}` {{graph: $graph, id: $id}}) RETURN count(t) AS found"
_RING_MEMBERS = (
    f"MATCH (a:{ACCOUNT})-[:{MEMBER_OF}]->(r:{RING} {{graph: $graph, id: $id}}) "
    "RETURN a.id AS member ORDER BY member"
)
_ANY_NODE = "MATCH (n:`{label}`) WHERE n.graph = $graph RETURN n.id AS id LIMIT 1"
_READ = (
    f"MATCH (d:{DECISION} {{graph: $graph}}) "
    f"OPTIONAL MATCH (d)-[:{ABOUT}]->(t) "
    "RETURN properties(d) AS decision, t IS NOT NULL AS linked ORDER BY d.decided_at, d.id"
)


class MissingTargetError(LookupError):
    """The node a decision would be about is not in the graph; the message names it."""


class EntityTypeError(ValueError):
    """An entity type that is not a node label of the graph; the message lists the types."""


@dataclass(frozen=True)
class Target:
    """A decision's target as found in the graph.

    Attributes
    ----------
    label
        Its node label (``Account``, ``Ring``, ``Event`` or an entity type).
    id
        Its id in the graph.
    members
        A ring's member account ids, sorted; ``None`` for other targets.
    linked
        ``False`` only for an event of a graph that holds no ``Event`` nodes (not checkable).
    """

    label: str
    id: str
    members: tuple[str, ...] | None = None
    linked: bool = True


@dataclass(frozen=True)
class DecisionWrite:
    """What :func:`write_decisions` did: decisions newly stored, and those linked to a target."""

    created: int
    linked: int


def ensure_decision_schema(store: QueryRunner) -> None:
    """Create the ``(graph, id)`` uniqueness constraint of ``Decision`` nodes (idempotent)."""
    store.write([(_SCHEMA, {})])


def entity_types(store: QueryRunner, graph: str) -> list[str]:
    """The entity types of ``graph``: its node labels other than :data:`NOT_ENTITIES`, sorted."""
    labels = []
    for name in store.read("CALL db.labels() YIELD label RETURN label").column("label"):
        if name in NOT_ENTITIES:
            continue
        try:
            label = node_label(name)
        except UnsafeNameError:
            continue  # not written by abusenet, so not a type of its graphs
        if store.read(_ANY_NODE.format(label=label), {"graph": graph}).records:
            labels.append(label)
    return sorted(labels)


def find_target(store: QueryRunner, graph: str, label: str, target_id: str) -> Target:
    """Look up the node a decision is about, with a ring's members.

    Parameters
    ----------
    store
        The store.
    graph
        The graph (already checked, see :func:`graph.store.graphs.resolve_graph`).
    label
        ``Account``, ``Ring``, ``Event`` or an entity type.
    target_id
        The node's id.

    Raises
    ------
    EntityTypeError
        If ``label`` is an entity type that ``graph`` does not hold (the message lists those
        it does).
    MissingTargetError
        If there is no such node in ``graph``.
    """
    if label not in (ACCOUNT, RING, EVENT):
        types = entity_types(store, graph)
        if label not in types:
            hint = next((t for t in types if t.lower() == label.lower()), None)
            raise EntityTypeError(
                f"{label!r} is not an entity type of graph {graph!r}; its entity types are: "
                f"{', '.join(types) or 'none'}" + (f" (did you mean {hint}?)" if hint else "")
            )
    params = {"graph": graph, "id": target_id}
    found = store.read(_FIND.format(label=node_label(label)), params).single("found")
    if found:
        members = (tuple(store.read(_RING_MEMBERS, params).column("member"))
                   if label == RING else None)
        return Target(label, target_id, members)
    if label == EVENT and not store.read(_ANY_NODE.format(label=EVENT), params).records:
        return Target(label, target_id, linked=False)
    raise MissingTargetError(f"there is no {label} {target_id!r} in graph {graph!r}")


def _write_query(label: str) -> str:
    """The statement storing decisions about ``label`` nodes; ``label`` is already checked.

    The OPTIONAL MATCH keeps a decision whose target is gone (a ring a newer run removed)
    instead of dropping it.
    """
    return (
        "UNWIND $rows AS row "
        f"OPTIONAL MATCH (old:{DECISION} {{graph: row.graph, id: row.id}}) "
        f"WITH row, old IS NULL AS new MERGE (d:{DECISION} {{graph: row.graph, id: row.id}}) "
        "ON CREATE SET d += row.props "
        f"WITH row, new, d OPTIONAL MATCH (t:`{label}` {{graph: row.graph, id: row.target_id}}) "
        f"FOREACH (_ IN CASE WHEN t IS NULL THEN [] ELSE [1] END | MERGE (d)-[:{ABOUT}]->(t)) "
        "RETURN sum(CASE WHEN new THEN 1 ELSE 0 END) AS created, count(t) AS linked"
    )


def write_decisions(store: QueryRunner, decisions: Sequence[Mapping[str, Any]]) -> DecisionWrite:
    """Store decisions and link each to its target, in one write transaction.

    Parameters
    ----------
    store
        The store.
    decisions
        Records with at least ``id``, ``graph``, ``target_type`` (the target's label) and
        ``target_id``; every non-null field becomes a property of the node (``decided_at`` as
        a timezone-aware ``datetime``). A decision already stored is left as it is.

    Returns
    -------
    DecisionWrite
        How many were new, and how many are linked to a target in the graph.
    """
    by_label: dict[str, list[dict[str, Any]]] = {}
    for record in decisions:
        props = {k: list(v) if isinstance(v, tuple) else v
                 for k, v in record.items() if v is not None}
        by_label.setdefault(node_label(str(record["target_type"])), []).append({
            "id": record["id"], "graph": record["graph"], "target_id": record["target_id"],
            "props": props,
        })
    if not by_label:
        return DecisionWrite(0, 0)
    results = store.write([(_write_query(label), {"rows": rows})
                           for label, rows in sorted(by_label.items())])
    return DecisionWrite(sum(int(r.single("created") or 0) for r in results),
                         sum(int(r.single("linked") or 0) for r in results))


def read_decisions(store: QueryRunner, graph: str) -> list[tuple[dict[str, Any], bool]]:
    """The decisions stored for ``graph``, oldest first: each node's properties, and whether it
    is still linked to its target."""
    rows = store.read(_READ, {"graph": graph})
    return [(dict(props), bool(linked)) for props, linked in rows.records]
