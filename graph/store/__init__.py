"""The Neo4j graph store: load snapshots, write results back, serve investigators.

Public API::

    from graph.query_pack import run_query
    from graph.store import (connect, load_snapshot, local_server_for,
                             resolve_neo4j_settings, write_scores)
    from gnn.data.subgraph import extract_subgraph

    settings = resolve_neo4j_settings(uri="local")            # or NEO4J_URI, the config, ...
    with connect(settings, server=local_server_for(settings)) as store:
        load_snapshot(store, "out/snapshot", graph="shop")    # driver or bulk, incremental
        write_scores(store, account_scores, entity_scores, rings, graph="shop",
                     model_version="v3")
        run_query(store, "ring_of_account", {"account_id": "acc-42", "graph": "shop"},
                  metadata={"analyst": "kim", "case": "CASE-7"})
        data, id_map = extract_subgraph(store, ["acc-42"], k=2)   # the only graph

Each dataset is a named graph in the store (:mod:`graph.store.graphs`): loading, pruning and
writing back one never reads or changes another, and every load is recorded as a ``LoadRun``.

The local server itself (install, start, stop) is :mod:`graph.store.server`.
"""

from graph.store.bulk import BulkImportError
from graph.store.connection import (
    Neo4jConfigError,
    Neo4jSettings,
    explain_neo4j_error,
    local_browser_url,
    local_server_for,
    resolve_neo4j_settings,
)
from graph.store.driver_load import PruneRefusedError
from graph.store.graphs import GraphNameError
from graph.store.load import load_snapshot
from graph.store.load_summary import LoadSummary
from graph.store.runner import Neo4jStore, QueryRunner, Rows, connect
from graph.store.writeback import WritebackSummary, write_scores

__all__ = [
    "BulkImportError", "GraphNameError", "LoadSummary", "Neo4jConfigError", "Neo4jSettings",
    "Neo4jStore", "PruneRefusedError", "QueryRunner", "Rows", "WritebackSummary", "connect",
    "explain_neo4j_error", "load_snapshot", "local_browser_url", "local_server_for",
    "resolve_neo4j_settings", "write_scores",
]
