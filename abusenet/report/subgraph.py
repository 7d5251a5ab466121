"""The small subgraph of one ring that the report draws: its members and what ties them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from graph.snapshot import ACCOUNT, RelationSpec


@dataclass
class RingSubgraph:
    """Nodes and edges of a ring's drawing.

    Attributes
    ----------
    nodes
        ``id``, ``node_type`` and ``member`` (bool) per node; entity ids are ``Type:id``.
    edges
        ``src``, ``dst`` (node ids as in ``nodes``), ``relation``, ``count``.
    evidence
        One row per shared entity: ``entity`` (``Type:id``), ``node_type``, ``entity_id``,
        ``members`` (how many ring members use it), ``users`` (how many accounts in all).
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    evidence: pd.DataFrame


def ring_subgraph(
    edges: Mapping[str, pd.DataFrame],
    relations: Mapping[str, RelationSpec],
    members: list[str],
    max_entities: int = 25,
) -> RingSubgraph:
    """Members, the entities at least two members share, and the transfers among members.

    Parameters
    ----------
    edges
        Relation name -> snapshot edge table (``src``, ``dst``, ``count``).
    relations
        Relation name -> spec (source and destination node types).
    members
        The ring's account ids.
    max_entities
        Keep at most this many shared entities (those shared by the most members).
    """
    member_set = pd.Index([str(m) for m in members])
    shared_rows, flow_rows = [], []
    for name, table in edges.items():
        spec = relations[name]
        mine = table[table["src"].isin(member_set)]
        if spec.dst_type == ACCOUNT:
            inner = mine[mine["dst"].isin(member_set)]
            flow_rows.append(pd.DataFrame({"src": inner["src"], "dst": inner["dst"],
                                           "relation": name, "count": inner["count"]}))
            continue
        per_entity = mine.groupby("dst")["src"].nunique()
        shared = per_entity[per_entity >= 2]
        if shared.empty:
            continue
        users = table[table["dst"].isin(shared.index)].groupby("dst")["src"].nunique()
        shared_rows.append(pd.DataFrame({
            "node_type": spec.dst_type, "entity_id": shared.index.astype(str),
            "members": shared.to_numpy(), "users": users.reindex(shared.index).to_numpy(),
            "relation": name,
        }))
    evidence = (
        pd.concat(shared_rows, ignore_index=True) if shared_rows
        else pd.DataFrame(columns=["node_type", "entity_id", "members", "users", "relation"])
    )
    evidence = evidence.sort_values(["members", "users"], ascending=[False, True])
    evidence = evidence.head(max_entities)
    evidence.insert(0, "entity", evidence["node_type"] + ":" + evidence["entity_id"])
    links = []
    for row in evidence.itertuples(index=False):
        table = edges[row.relation]
        used = table[(table["dst"] == row.entity_id) & table["src"].isin(member_set)]
        links.append(pd.DataFrame({"src": used["src"], "dst": row.entity,
                                   "relation": row.relation, "count": used["count"]}))
    edge_table = pd.concat(links + flow_rows, ignore_index=True) if links or flow_rows else \
        pd.DataFrame(columns=["src", "dst", "relation", "count"])
    nodes = pd.concat([
        pd.DataFrame({"id": list(member_set), "node_type": ACCOUNT, "member": True}),
        pd.DataFrame({"id": evidence["entity"], "node_type": evidence["node_type"],
                      "member": False}),
    ], ignore_index=True)
    return RingSubgraph(nodes=nodes, edges=edge_table.reset_index(drop=True),
                        evidence=evidence.drop(columns=["relation"]).reset_index(drop=True))
