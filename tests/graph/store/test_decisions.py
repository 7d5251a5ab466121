"""Decision nodes on the real server: targets checked, one transaction, immutable, verbatim."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from graph.store import Neo4jStore, Rows, load_snapshot, write_scores
from graph.store.decisions import (
    EntityTypeError,
    MissingTargetError,
    Target,
    ensure_decision_schema,
    entity_types,
    find_target,
    read_decisions,
    write_decisions,
)
from graph.store.runner import Params

from .helpers import TRICKY_IDS, RecordingRunner, investigation_snapshot

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _record(decision_id: str, target_type: str, target_id: str, **more: Any) -> dict[str, Any]:
    return {"id": decision_id, "graph": "shop", "decision": "confirmed", "analyst": "kim",
            "case": None, "note": None, "decided_at": AT, "target_kind": target_type.lower(),
            "target_type": target_type, "target_id": target_id, "os_user": "tester",
            "members": None, **more}


@pytest.fixture
def shop(store: Neo4jStore) -> Neo4jStore:
    """The investigation graph as graph 'shop', with ring r1 = {a1, a2}."""
    load_snapshot(store, investigation_snapshot(), graph="shop", mode="driver", progress=False)
    rings = pd.DataFrame({"ring_id": ["r1"], "score": [0.9], "size": [2],
                          "members": [np.array(["a2", "a1"], dtype=object)]})
    write_scores(store, pd.DataFrame({"account_id": ["a1"], "score": [0.9]}), None, rings,
                 graph="shop", model_version="v1", scored_at=AT)
    ensure_decision_schema(store)
    return store


@pytest.mark.neo4j
def test_targets_are_found_with_a_rings_members(shop: Neo4jStore) -> None:
    assert find_target(shop, "shop", "Ring", "r1") == Target("Ring", "r1", ("a1", "a2"))
    assert find_target(shop, "shop", "Account", "a5") == Target("Account", "a5")
    assert find_target(shop, "shop", "Device", "d1") == Target("Device", "d1")
    assert entity_types(shop, "shop") == ["Device", "IP", "PaymentMethod"]


@pytest.mark.neo4j
def test_a_missing_target_or_a_wrong_entity_type_is_named(shop: Neo4jStore) -> None:
    with pytest.raises(MissingTargetError, match="there is no Account 'a9' in graph 'shop'"):
        find_target(shop, "shop", "Account", "a9")
    with pytest.raises(MissingTargetError, match="there is no Ring 'r1' in graph 'other'"):
        find_target(shop, "other", "Ring", "r1")
    with pytest.raises(EntityTypeError, match="'device' is not an entity type of graph 'shop'; "
                       "its entity types are: Device, IP, PaymentMethod .did you mean Device"):
        find_target(shop, "shop", "device", "d1")
    with pytest.raises(EntityTypeError, match="its entity types are: Device, IP, PaymentMethod$"):
        find_target(shop, "shop", "Terminal", "d1")


@pytest.mark.neo4j
def test_an_event_of_a_graph_without_event_nodes_cannot_be_checked(shop: Neo4jStore) -> None:
    assert find_target(shop, "shop", "Event", "tx-1") == Target("Event", "tx-1", linked=False)
    written = write_decisions(shop, [_record("e1", "Event", "tx-1")])
    assert (written.created, written.linked) == (1, 0)
    shop.write([("CREATE (:Event {graph: 'shop', id: 'tx-2'})", {})])
    assert find_target(shop, "shop", "Event", "tx-2") == Target("Event", "tx-2")
    with pytest.raises(MissingTargetError, match="no Event 'tx-1'"):
        find_target(shop, "shop", "Event", "tx-1")


@pytest.mark.neo4j
def test_a_decision_is_stored_once_and_linked_to_its_target(shop: Neo4jStore) -> None:
    ring = _record("d1", "Ring", "r1", members=("a1", "a2"), note=TRICKY_IDS[2],
                   analyst=TRICKY_IDS[0], case=TRICKY_IDS[3])
    entity = _record("d2", "Device", TRICKY_IDS[0], target_kind="entity")
    shop.write([("CREATE (:Device {graph: 'shop', id: $id})", {"id": TRICKY_IDS[0]})])
    written = write_decisions(shop, [ring, entity])
    assert (written.created, written.linked) == (2, 2)
    again = write_decisions(shop, [{**ring, "decision": "dismissed"}, entity])
    assert (again.created, again.linked) == (0, 2)  # immutable: a retry changes nothing
    stored = read_decisions(shop, "shop")
    assert [(p["id"], linked) for p, linked in stored] == [("d1", True), ("d2", True)]
    props = stored[0][0]
    assert props["decision"] == "confirmed" and props["members"] == ["a1", "a2"]
    assert props["analyst"] == TRICKY_IDS[0] and props["note"] == TRICKY_IDS[2]
    assert props["case"] == TRICKY_IDS[3] and props["decided_at"].to_native() == AT
    about = shop.read("MATCH (:Decision {id: 'd1'})-[:ABOUT]->(t) RETURN labels(t)[0] AS l, "
                      "t.id AS id")
    assert about.records == [("Ring", "r1")]
    assert shop.read("MATCH (n) WHERE n.id = 'MATCH (n) DETACH DELETE n //' OR n.id = 'a1' "
                     "RETURN count(n) AS n").single("n") == 1  # nothing ran as Cypher


@pytest.mark.neo4j
def test_a_ring_a_newer_run_removes_takes_its_link_not_the_decision(shop: Neo4jStore) -> None:
    write_decisions(shop, [_record("d1", "Ring", "r1", members=("a1", "a2"))])
    write_scores(shop, pd.DataFrame({"account_id": ["a1"], "score": [0.5]}), None, None,
                 graph="shop", model_version="v2", scored_at=datetime(2024, 6, 1, tzinfo=UTC))
    assert shop.read("MATCH (r:Ring) RETURN count(r) AS n").single("n") == 0
    [(props, linked)] = read_decisions(shop, "shop")
    assert props["members"] == ["a1", "a2"] and not linked
    assert write_decisions(shop, [_record("d1", "Ring", "r1")]).created == 0


class _DecisionRunner(RecordingRunner):
    """Answers each decision statement with its two counts."""

    def write(self, statements: Sequence[tuple[str, Params]], *,
              on_retry: Sequence[tuple[str, Params]] | None = None) -> list[Rows]:
        super().write(statements, on_retry=on_retry)
        return [Rows(["created", "linked"], [(1, 1)]) for _ in statements]


def test_all_decisions_go_in_one_transaction() -> None:
    runner = _DecisionRunner()
    write_decisions(runner, [_record("d1", "Ring", "r1"), _record("d2", "Account", "a1"),
                             _record("d3", "Ring", "r2")])
    assert len(runner.writes) == 1 and len(runner.writes[0]) == 2  # one statement per label
    (_, accounts), (_, rings) = runner.writes[0]
    assert [r["id"] for r in rings["rows"]] == ["d1", "d3"]
    assert accounts["rows"][0]["props"]["decided_at"] == AT
    assert "case" not in accounts["rows"][0]["props"]  # nulls are not written
