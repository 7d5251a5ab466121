"""The Neo4j graph store: load snapshots, write results back, serve investigators.

Public API::

    from graph.query_pack import run_query
    from graph.store import connect, load_snapshot, write_scores
    from gnn.data.subgraph import extract_subgraph

    with connect(settings) as store:
        load_snapshot(store, "out/snapshot")                  # driver or bulk, incremental
        write_scores(store, account_scores, entity_scores, rings, model_version="v3")
        run_query(store, "ring_of_account", {"account_id": "acc-42"},
                  metadata={"analyst": "kim", "case": "CASE-7"})
        data, id_map = extract_subgraph(store, ["acc-42"], k=2)
"""

from graph.store.load import load_snapshot
from graph.store.load_summary import LoadSummary
from graph.store.runner import Neo4jStore, QueryRunner, Rows, connect
from graph.store.writeback import WritebackSummary, write_scores

__all__ = [
    "LoadSummary", "Neo4jStore", "QueryRunner", "Rows", "WritebackSummary", "connect",
    "load_snapshot", "write_scores",
]
