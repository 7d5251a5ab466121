"""The Cypher text of the driver load's writes: node and relationship statements, their values.

Rows travel as parallel lists (``$id`` or ``$src``/``$dst``, then ``$p0``, ``$p1``, ... in the
order of :func:`~graph.store.tables.property_columns`), which the driver packs far faster than
one map per row; ``UNWIND range(0, size($id) - 1) AS i`` walks them. :func:`write_params` builds
those lists and :func:`property_values` the expressions that read them, in step. Labels,
relationship types and property keys are checked names (:mod:`graph.store.names`), quoted with
backticks; every value is a parameter. Every statement is confined to one graph (``$graph``, see
:mod:`graph.store.graphs`): nodes are written and found by ``{graph: $graph, id: ...}``, and
relationships carry ``graph`` too.
"""

from __future__ import annotations

import pandas as pd

from graph.store.names import MEMBER_OF, RING, property_key
from graph.store.tables import HASH, NodeTable, RelTable, property_columns, temporal_columns


def node_write(table: NodeTable, verb: str) -> str:
    """``CREATE`` for nodes the store lacks, ``MERGE`` for changed ones (``verb``).

    ``CREATE`` gives the node all its properties at once (a null one is simply not set);
    ``MERGE`` sets each, so a property that became null is removed. Returns the rows written
    (positions in the batch) and their element ids, in step.
    """
    values = property_values(table.frame, table.properties)
    if verb == "CREATE":
        write = f"CREATE (n:`{table.label}` {{graph: $graph, id: $id[i], {as_map(values)}}})"
    else:
        write = (f"MERGE (n:`{table.label}` {{graph: $graph, id: $id[i]}}) "
                 f"SET {as_assignments('n', values)}")
    return (
        f"UNWIND range(0, size($id) - 1) AS i {write} "
        "RETURN collect(i) AS rows, collect(elementId(n)) AS element_ids"
    )


def rel_write(table: RelTable, verb: str) -> str:
    """``CREATE`` for relationships the store lacks, ``MERGE`` for changed ones (``verb``).

    Endpoints travel as element ids (``$src``, ``$dst``), found by a direct record look-up
    (``NodeByElementIdSeek``): no index seek, no index-entry lock. Properties as in
    :func:`node_write`.
    """
    values = property_values(table.frame, table.properties)
    if verb == "CREATE":
        write = f"CREATE (a)-[r:`{table.rel_type}` {{graph: $graph, {as_map(values)}}}]->(b)"
    else:
        write = (f"MERGE (a)-[r:`{table.rel_type}`]->(b) "
                 f"SET r.graph = $graph, {as_assignments('r', values)}")
    return (
        "UNWIND range(0, size($src) - 1) AS i "
        f"MATCH (a:`{table.src_label}`) WHERE elementId(a) = $src[i] "
        f"MATCH (b:`{table.dst_label}`) WHERE elementId(b) = $dst[i] "
        f"{write} RETURN count(*) AS written"
    )


def rel_delete(table: RelTable) -> str:
    """Delete the relationships of ``table``'s type between ``$rows`` (maps of ``src, dst`` ids)
    in graph ``$graph``."""
    return (
        f"UNWIND $rows AS row "
        f"MATCH (:`{table.src_label}` {{graph: $graph, id: row.src}})-[r:`{table.rel_type}`]->"
        f"(:`{table.dst_label}` {{graph: $graph, id: row.dst}}) "
        "DELETE r RETURN count(*) AS deleted"
    )


def node_delete(label: str) -> str:
    """Delete the ``label`` nodes of graph ``$graph`` whose ids are in ``$ids``, with their
    relationships; a ``Ring`` left without members goes in the same transaction (never a ring
    of nobody, even for a moment)."""
    return (
        f"UNWIND $ids AS id MATCH (n:`{label}` {{graph: $graph, id: id}}) "
        f"OPTIONAL MATCH (n)-[:{MEMBER_OF}]->(ring:{RING}) "
        "WITH n, collect(ring) AS rings DETACH DELETE n "
        "WITH count(*) AS deleted, collect(rings) AS nested "
        "CALL (nested) { UNWIND nested AS rings UNWIND rings AS ring "
        f"WITH DISTINCT ring WHERE NOT EXISTS {{ ()-[:{MEMBER_OF}]->(ring) }} "
        "DETACH DELETE ring } "
        "RETURN deleted"
    )


def property_values(frame: pd.DataFrame, properties: list[str]) -> list[tuple[str, str]]:
    """``(key, value expression)`` per property (and the hash), reading the lists of
    :func:`write_params`.

    A timestamp is rebuilt on the server from its seconds and nanoseconds lists.
    """
    temporal = set(temporal_columns(frame, properties))
    values, index = [], 0
    for column in [*properties, HASH]:
        key = f"`{property_key(column)}`"
        if column in temporal:
            seconds, nanos = f"$p{index}[i]", f"$p{index + 1}[i]"
            values.append((key, f"CASE WHEN {seconds} IS NULL THEN null "
                                f"ELSE datetime.fromepoch({seconds}, {nanos}) END"))
            index += 2
        else:
            values.append((key, f"$p{index}[i]"))
            index += 1
    return values


def as_map(values: list[tuple[str, str]]) -> str:
    """A Cypher map literal body: ``key: value, ...``."""
    return ", ".join(f"{key}: {value}" for key, value in values)


def as_assignments(var: str, values: list[tuple[str, str]]) -> str:
    """Cypher ``SET`` assignments of ``values`` to the properties of ``var``."""
    return ", ".join(f"{var}.{key} = {value}" for key, value in values)


def write_params(frame: pd.DataFrame, properties: list[str], graph: str) -> dict[str, object]:
    """The parallel lists of ``frame``: keys under their names, properties as ``p0, p1, ...``,
    and the graph's name as ``graph``."""
    params: dict[str, object] = {
        k: frame[k].tolist() for k in ("id", "src", "dst") if k in frame.columns
    }
    params["graph"] = graph
    for index, values in enumerate(property_columns(frame, properties).values()):
        params[f"p{index}"] = values
    return params
