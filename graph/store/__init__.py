"""The Neo4j graph store: load snapshots, write results back, serve investigators.

Public API::

    from graph.store import connect, extract_subgraph, load_snapshot, run_query, write_scores

    with connect(settings) as store:
        load_snapshot(store, "out/snapshot")                  # driver or bulk, incremental
        write_scores(store, account_scores, entity_scores, rings, model_version="v3")
        run_query(store, "ring_of_account", {"account_id": "acc-42"},
                  metadata={"analyst": "kim", "case": "CASE-7"})
        data, id_map = extract_subgraph(store, ["acc-42"], k=2)
"""

from typing import Any

from graph.store.load import LoadSummary, load_snapshot
from graph.store.runner import Neo4jStore, QueryRunner, Rows, connect
from graph.store.writeback import WritebackSummary, write_scores

__all__ = [
    "LoadSummary", "Neo4jStore", "QueryRunner", "Rows", "WritebackSummary", "connect",
    "extract_subgraph", "load_snapshot", "run_query", "write_scores",
]


def __getattr__(name: str) -> Any:
    # graph.query_pack and graph.subgraph import from this package: load them on first use.
    if name == "run_query":
        from graph.query_pack import run_query

        return run_query
    if name == "extract_subgraph":
        from graph.subgraph import extract_subgraph

        return extract_subgraph
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
