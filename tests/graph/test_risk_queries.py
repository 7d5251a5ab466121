"""Entity and event risk in Neo4j: ``risk_method`` on entities, event risk on the account-to-entity
relationships (the graph has no event nodes), and the pack queries that read them."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from graph.query_pack import MissingNodeError, run_query
from graph.store import Neo4jStore, load_snapshot
from graph.store.writeback import write_event_risk, write_scores
from tests.graph.store.helpers import investigation_snapshot

pytestmark = pytest.mark.neo4j

FIRST, SECOND, THIRD = (datetime(2024, 5, day, tzinfo=UTC) for day in (1, 2, 3))
RELATIONS = {"device_id": ("USED_DEVICE", "Device"), "payment_id": ("PAID_WITH", "PaymentMethod"),
             "ip": ("USED_IP", "IP")}
#: Events of the investigation graph: a1 at d1 with c1 (twice), a2 at d1 with c1, a3 at d2.
EVENTS = pd.DataFrame({
    "event_id": ["e1", "e2", "e3", "e4"],
    "account_id": ["a1", "a1", "a2", "a3"],
    "score": [0.9, 0.7, 0.2, 0.6],
    "device_id": ["d1", "d1", "d1", "d2"],
    "payment_id": ["c1", "c1", "c1", None],
})


@pytest.fixture
def risky(store: Neo4jStore) -> Neo4jStore:
    load_snapshot(store, investigation_snapshot(), mode="driver", progress=False)
    write_scores(
        store, pd.DataFrame({"account_id": ["a1", "a2", "a3"], "score": [0.9, 0.4, 0.1]}),
        pd.DataFrame({"node_type": ["PaymentMethod", "Device", "Device", "IP"],
                      "entity_id": ["c1", "d1", "d2", "ip1"], "score": [0.8, 0.6, 0.1, 0.3],
                      "method": ["supervised", "pooled", "pooled", "pooled"]}),
        None, model_version="v1", scored_at=FIRST)
    write_event_risk(store, EVENTS, RELATIONS, scored_at=FIRST)
    return store


def _relationship(store: Neo4jStore, rel: str, account: str, entity: str) -> dict:
    rows = store.read(f"MATCH (:Account {{id: $a}})-[r:{rel}]->({{id: $e}}) RETURN properties(r) "
                      "AS p", {"a": account, "e": entity})
    return rows.column("p")[0]


def test_event_risk_lands_on_the_relationships_the_events_belong_to(risky: Neo4jStore) -> None:
    a1_d1 = _relationship(risky, "USED_DEVICE", "a1", "d1")
    assert (a1_d1["max_event_risk"], a1_d1["risky_events"]) == (0.9, 2)
    a2_c1 = _relationship(risky, "PAID_WITH", "a2", "c1")
    assert (a2_c1["max_event_risk"], a2_c1["risky_events"]) == (0.2, 0)
    assert _relationship(risky, "USED_DEVICE", "a3", "d2")["risky_events"] == 1
    # no scored event went through ip1 or from a4 to c1
    assert "max_event_risk" not in _relationship(risky, "USED_IP", "a2", "ip1")
    assert "max_event_risk" not in _relationship(risky, "PAID_WITH", "a4", "c1")


def test_a_later_run_replaces_event_risk_and_clears_what_it_did_not_score(
    risky: Neo4jStore,
) -> None:
    again = write_event_risk(risky, EVENTS[EVENTS["account_id"] == "a3"], RELATIONS,
                             scored_at=SECOND)
    assert again.relationships_written == 1
    assert again.stale_cleared == 4  # a1-d1, a2-d1, a1-c1, a2-c1
    assert "max_event_risk" not in _relationship(risky, "USED_DEVICE", "a1", "d1")
    assert _relationship(risky, "USED_DEVICE", "a3", "d2")["event_risk_at"].to_native() == SECOND
    # a run with no event scores (an account-only run) clears what is left
    assert write_event_risk(risky, pd.DataFrame(columns=["account_id", "score"]), RELATIONS,
                            scored_at=THIRD).stale_cleared == 1


def test_an_event_pair_missing_from_the_graph_is_counted(risky: Neo4jStore) -> None:
    stray = pd.DataFrame({"account_id": ["a6"], "score": [0.9], "device_id": ["d1"]})
    summary = write_event_risk(risky, stray, {"device_id": ("USED_DEVICE", "Device")},
                               scored_at=SECOND)
    assert (summary.relationships_written, summary.missing_relationships) == (0, 1)


def test_risky_entities_lists_method_accounts_and_event_risk(risky: Neo4jStore) -> None:
    frame = run_query(risky, "risky_entities", {"min_risk": 0.2})
    assert frame[["entity_type", "entity_id", "risk_score", "method"]].values.tolist() == [
        ["PaymentMethod", "c1", 0.8, "supervised"], ["Device", "d1", 0.6, "pooled"],
        ["IP", "ip1", 0.3, "pooled"]]
    c1 = frame.iloc[0]
    assert (c1["n_accounts"], list(c1["accounts"]), c1["max_event_risk"]) == (
        3, ["a1", "a2", "a4"], 0.9)
    assert pd.isna(frame.iloc[2]["max_event_risk"])
    only = run_query(risky, "risky_entities", {"node_type": "Device", "accounts": 1})
    assert only["entity_id"].tolist() == ["d1", "d2"]
    assert [list(a) for a in only["accounts"]] == [["a1"], ["a3"]]


def test_account_risky_events_ranks_an_accounts_relationships(risky: Neo4jStore) -> None:
    frame = run_query(risky, "account_risky_events", {"account_id": "a1"})
    assert frame[["relationship", "entity_id", "max_event_risk", "risky_events", "events",
                  "entity_method"]].values.tolist() == [
        ["USED_DEVICE", "d1", 0.9, 2, 2, "pooled"], ["PAID_WITH", "c1", 0.9, 2, 1, "supervised"]]
    assert run_query(risky, "account_risky_events",
                     {"account_id": "a1", "min_risk": 0.95}).empty
    with pytest.raises(MissingNodeError, match="nobody"):
        run_query(risky, "account_risky_events", {"account_id": "nobody"})
