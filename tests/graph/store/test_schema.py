import pytest

from graph.store import Neo4jStore
from graph.store.names import UnsafeNameError
from graph.store.schema import ensure_schema, schema_statements

from .helpers import RecordingRunner


def test_every_label_gets_a_unique_graph_and_id_and_a_score_index() -> None:
    statements = schema_statements(["Email"])
    assert ("CREATE CONSTRAINT email_graph_id IF NOT EXISTS FOR (n:`Email`) "
            "REQUIRE (n.graph, n.id) IS UNIQUE" in statements)
    # the id-only constraint of stores written before graph names would forbid a second graph
    assert "DROP CONSTRAINT email_id IF EXISTS" in statements
    assert "CREATE INDEX account_risk_score IF NOT EXISTS FOR (n:`Account`) ON (n.risk_score)" in (
        statements
    )
    assert "CREATE INDEX ring_score IF NOT EXISTS FOR (n:`Ring`) ON (n.score)" in statements
    assert "CREATE INDEX loadrun_graph IF NOT EXISTS FOR (n:LoadRun) ON (n.graph)" in statements
    assert all("IF NOT EXISTS" in s or "IF EXISTS" in s for s in statements)
    assert len(statements) == 3 * 6 + 1  # Account, Device, IP, PaymentMethod, Ring, Email


def test_unsafe_label_is_refused_before_anything_runs() -> None:
    runner = RecordingRunner()
    with pytest.raises(UnsafeNameError):
        ensure_schema(runner, ["Bad`Label"])
    assert runner.writes == []


def test_each_statement_runs_in_its_own_transaction() -> None:
    runner = RecordingRunner()
    statements = ensure_schema(runner, ["Email"])
    assert [[query for query, _ in batch] for batch in runner.writes] == [
        *([s] for s in statements), ["CALL db.awaitIndexes($seconds)"]]


@pytest.mark.neo4j
def test_schema_is_idempotent_on_the_server(store: Neo4jStore) -> None:
    ensure_schema(store, ["Email"])
    first = store.read("SHOW CONSTRAINTS YIELD name RETURN name ORDER BY name").column("name")
    indexes = store.read("SHOW INDEXES YIELD name RETURN name ORDER BY name").column("name")
    ensure_schema(store, ["Email"])
    assert store.read("SHOW CONSTRAINTS YIELD name RETURN name ORDER BY name").column(
        "name") == first
    assert store.read("SHOW INDEXES YIELD name RETURN name ORDER BY name").column(
        "name") == indexes
    assert {"account_graph_id", "email_graph_id", "ring_graph_id"} <= set(first)
    assert not {"account_id", "email_id", "ring_id"} & set(first)
    assert {"account_risk_score", "ring_score", "loadrun_graph"} <= set(indexes)


@pytest.mark.neo4j
def test_an_id_only_constraint_of_an_older_store_is_replaced(store: Neo4jStore) -> None:
    store.write([("CREATE CONSTRAINT email_id IF NOT EXISTS FOR (n:`Email`) "
                  "REQUIRE n.id IS UNIQUE", {})])
    ensure_schema(store, ["Email"])
    names = store.read("SHOW CONSTRAINTS YIELD name RETURN name").column("name")
    assert "email_id" not in names and "email_graph_id" in names
    store.write([("CREATE (:Email {graph: 'a', id: 'x'}), (:Email {graph: 'b', id: 'x'})", {})])
    assert store.read("MATCH (n:Email {id: 'x'}) RETURN count(n) AS n").single("n") == 2
