"""The Neo4j graph store: load snapshots, write results back, serve investigators.

Public API::

    from graph.store import connect, load_snapshot, write_scores

    with connect(settings) as store:
        load_snapshot(store, "out/snapshot")            # driver or bulk, incremental
        write_scores(store, account_scores, entity_scores, rings, model_version="v3")
"""

from graph.store.load import LoadSummary, load_snapshot
from graph.store.runner import Neo4jStore, QueryRunner, Rows, connect

__all__ = ["LoadSummary", "Neo4jStore", "QueryRunner", "Rows", "connect", "load_snapshot"]
