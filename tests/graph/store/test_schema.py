import pytest

from graph.store import Neo4jStore
from graph.store.names import UnsafeNameError
from graph.store.schema import ensure_schema, schema_statements

from .helpers import RecordingRunner


def test_every_label_gets_a_unique_id_and_a_score_index() -> None:
    statements = schema_statements(["Email"])
    assert ("CREATE CONSTRAINT email_id IF NOT EXISTS FOR (n:`Email`) REQUIRE n.id IS UNIQUE"
            in statements)
    assert "CREATE INDEX account_risk_score IF NOT EXISTS FOR (n:`Account`) ON (n.risk_score)" in (
        statements
    )
    assert "CREATE INDEX ring_score IF NOT EXISTS FOR (n:`Ring`) ON (n.score)" in statements
    assert all("IF NOT EXISTS" in s for s in statements)
    assert len(statements) == 2 * 6  # Account, Device, IP, PaymentMethod, Ring, Email


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
    assert {"account_id", "email_id", "ring_id"} <= set(first)
    assert {"account_risk_score", "ring_score"} <= set(indexes)
