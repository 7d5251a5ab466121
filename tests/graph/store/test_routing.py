"""The store layer through a ``neo4j://`` routing URI (as on a cluster), on the local server.

A single Neo4j 5 server answers routing requests, naming itself as writer and reader; the
driver then sends read transactions to readers and write transactions to the leader.
"""

from __future__ import annotations

import neo4j
import pytest

from graph.store.connection import Neo4jSettings
from graph.store.runner import connect

pytestmark = pytest.mark.neo4j


@pytest.fixture
def routed(neo4j_settings: Neo4jSettings, neo4j_driver) -> Neo4jSettings:
    """The session server's settings with a ``neo4j://`` URI (the database emptied)."""
    host = neo4j_settings.uri.split("://", 1)[1]
    return Neo4jSettings(uri=f"neo4j://{host}", password=neo4j_settings.password)


def test_writes_and_reads_go_through_a_routing_driver(routed):
    with connect(routed) as store:
        assert isinstance(store.driver, neo4j.Neo4jDriver)
        store.write([("CREATE (:Probe {id: $id})", {"id": "p1"}),
                     ("CREATE (:Probe {id: $id})", {"id": "p2"})])
        ids = store.read("MATCH (p:Probe) RETURN p.id AS id ORDER BY id").column("id")
        assert ids == ["p1", "p2"]


def test_reads_run_in_read_transactions(routed):
    with connect(routed) as store, pytest.raises(neo4j.exceptions.ClientError,
                                                 match="(?i)read"):
        store.read("CREATE (:Probe {id: 'not allowed'})")
