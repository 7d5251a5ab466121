from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from graph.store import Neo4jStore, load_snapshot
from graph.store.writeback import RING_SUBSCORES, write_scores

from .helpers import RecordingRunner, dump, investigation_snapshot

V1_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
V2_AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _accounts(scores: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"account_id": list(scores), "score": list(scores.values()),
                         "ring_id": [None] * len(scores)})


def _rings(*rings: tuple[str, float, list[str], str | None]) -> pd.DataFrame:
    return pd.DataFrame({
        "ring_id": [r[0] for r in rings], "score": [r[1] for r in rings],
        "size": [len(r[2]) for r in rings],
        "members": [np.array(r[2], dtype=object) for r in rings],  # as read from Parquet
        "evidence": [[f"Device:{m}" for m in r[2][:1]] for r in rings],
        "kind": [r[3] for r in rings],
    })


def test_a_ring_and_its_members_are_written_in_one_transaction() -> None:
    runner = RecordingRunner()
    write_scores(runner, _accounts({"a1": 0.9}), None,
                 _rings(("r1", 0.8, ["a1", "a2"], "shared_device")), model_version="v1",
                 scored_at=V1_AT)
    ring_tx = [b for b in runner.writes if any("MERGE (r:Ring" in q for q, _ in b)]
    assert len(ring_tx) == 1 and len(ring_tx[0]) == 3  # rings, members, drop the empty ones
    (_, rings), (_, members), (drop, _) = ring_tx[0]
    assert "NOT EXISTS" in drop and rings["graph"] == members["graph"] == "default"
    no_sub_scores = dict.fromkeys(RING_SUBSCORES)  # the rings table has none of them
    assert rings["rings"] == [{"id": "r1", "score": 0.8, "size": 2, "kind": "shared_device",
                               "evidence": ["Device:a1"], **no_sub_scores}]
    assert members["members"] == [{"account": "a1", "ring": "r1"},
                                  {"account": "a2", "ring": "r1"}]


def test_naive_scored_at_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        write_scores(RecordingRunner(), _accounts({"a1": 0.5}), None, None, model_version="v1",
                     scored_at=datetime(2024, 1, 1))


@pytest.mark.neo4j
def test_a_newer_run_replaces_the_older_one(store: Neo4jStore) -> None:
    load_snapshot(store, investigation_snapshot(), mode="driver", progress=False)
    entities = pd.DataFrame({"node_type": ["Device", "PaymentMethod"],
                             "entity_id": ["d1", "c1"], "score": [0.7, 0.9]})
    first = write_scores(
        store, _accounts({"a1": 0.9, "a2": 0.8, "a3": 0.1, "ghost": 0.5}), entities,
        _rings(("r1", 0.95, ["a1", "a2"], "shared_device"), ("r2", 0.4, ["a3", "a4"], None)),
        model_version="v1", scored_at=V1_AT,
    )
    assert (first.accounts_scored, first.missing_accounts, first.entities_scored) == (3, 1, 2)
    assert (first.rings_written, first.memberships_written) == (2, 4)
    second = write_scores(
        store, _accounts({"a1": 0.6, "a4": 0.7}), None,
        _rings(("r1", 0.5, ["a1", "a4"], "shared_card"), ("r3", 0.3, ["a5", "a6"], None)),
        model_version="v2", scored_at=V2_AT,
    )
    assert second.stale_scores_cleared == 4  # a2, a3, d1, c1
    assert second.stale_rings_removed == 1  # r2
    scored = store.read(
        "MATCH (n) WHERE n.risk_score IS NOT NULL "
        "RETURN n.id AS id, n.risk_score AS s, n.model_version AS v ORDER BY id"
    ).records
    assert scored == [("a1", 0.6, "v2"), ("a4", 0.7, "v2")]
    left = store.read("MATCH (n) WHERE n.model_version IS NOT NULL OR n.scored_at IS NOT NULL "
                      "RETURN count(n) AS n").single("n")
    assert left == 2 + 2  # two accounts, two rings
    rings = store.read(
        "MATCH (r:Ring) OPTIONAL MATCH (a:Account)-[:MEMBER_OF]->(r) "
        "WITH r, a ORDER BY a.id RETURN r.id AS id, r.score AS score, r.kind AS kind, "
        "r.model_version AS v, r.detected_at AS at, collect(a.id) AS members ORDER BY id"
    ).records
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in rings] == [
        ("r1", 0.5, "shared_card", "v2", ["a1", "a4"]),
        ("r3", 0.3, None, "v2", ["a5", "a6"]),
    ]
    assert all(r[4].to_native() == V2_AT for r in rings)


@pytest.mark.neo4j
def test_writing_the_same_run_twice_changes_nothing(store: Neo4jStore) -> None:
    load_snapshot(store, investigation_snapshot(), mode="driver", progress=False)
    args = (_accounts({"a1": 0.9, "a2": 0.8}), None, _rings(("r1", 0.95, ["a1", "a2"], None)))
    write_scores(store, *args, model_version="v1", scored_at=V1_AT)
    before = dump(store)
    again = write_scores(store, *args, model_version="v1", scored_at=V1_AT)
    assert again.stale_scores_cleared == again.stale_rings_removed == 0
    assert dump(store) == before


@pytest.mark.neo4j
def test_reloading_the_snapshot_keeps_the_scores(store: Neo4jStore) -> None:
    snapshot = investigation_snapshot()
    load_snapshot(store, snapshot, mode="driver", progress=False)
    write_scores(store, _accounts({"a1": 0.9}), None, _rings(("r1", 0.9, ["a1", "a2"], None)),
                 model_version="v1", scored_at=V1_AT)
    snapshot.nodes["Account"].loc[0, "n_events"] = 99  # a1 changes
    load_snapshot(store, snapshot, mode="driver", progress=False)
    a1 = store.read("MATCH (a:Account {id: 'a1'}) RETURN a.risk_score AS s, a.n_events AS n")
    assert a1.records == [(0.9, 99)]
    assert store.read("MATCH (:Account)-[m:MEMBER_OF]->(:Ring) RETURN count(m) AS n").single(
        "n") == 2


@pytest.mark.neo4j
def test_a_ring_none_of_whose_members_is_in_the_graph_is_not_written(store: Neo4jStore) -> None:
    load_snapshot(store, investigation_snapshot(), mode="driver", progress=False)
    summary = write_scores(store, _accounts({"a1": 0.9}), None,
                           _rings(("r1", 0.9, ["a1", "a2"], None), ("r9", 0.8, ["x", "y"], None)),
                           model_version="v1", scored_at=V1_AT)
    assert (summary.rings_written, summary.empty_rings_dropped) == (1, 1)
    assert store.read("MATCH (r:Ring) RETURN collect(r.id) AS ids").single("ids") == ["r1"]


@pytest.mark.neo4j
def test_writing_a_run_into_one_graph_leaves_another_untouched(store: Neo4jStore) -> None:
    for graph in ("shop-a", "shop-b"):
        load_snapshot(store, investigation_snapshot(), graph=graph, mode="driver",
                      progress=False)
    write_scores(store, _accounts({"a1": 0.9, "a2": 0.8}), None,
                 _rings(("r1", 0.9, ["a1", "a2"], None)), graph="shop-a", model_version="v1",
                 scored_at=V1_AT)
    before = dump(store)
    second = write_scores(store, _accounts({"a3": 0.7}), None,
                          _rings(("r2", 0.7, ["a3", "a4"], None)), graph="shop-b",
                          model_version="v2", scored_at=V2_AT)
    assert second.stale_scores_cleared == second.stale_rings_removed == 0
    after = dump(store)
    in_a = [row for row in after[0] if row[2].get("graph") == "shop-a"]
    assert in_a == [row for row in before[0] if row[2].get("graph") == "shop-a"]
    rings = store.read("MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring) RETURN r.graph AS g, r.id AS r, "
                       "m.graph AS mg, a.graph AS ag, a.id AS a ORDER BY g, a").records
    assert rings == [("shop-a", "r1", "shop-a", "shop-a", "a1"),
                     ("shop-a", "r1", "shop-a", "shop-a", "a2"),
                     ("shop-b", "r2", "shop-b", "shop-b", "a3"),
                     ("shop-b", "r2", "shop-b", "shop-b", "a4")]


@pytest.mark.neo4j
def test_a_rings_sub_scores_reach_its_node(store: Neo4jStore) -> None:
    load_snapshot(store, investigation_snapshot(), mode="driver", progress=False)
    rings = _rings(("r1", 0.9, ["a1", "a2"], "pair"), ("r2", 0.7, ["a4", "a5"], None))
    rings["surprise"] = [3.5, np.nan]
    rings["significant"] = [1.0, 0.0]
    write_scores(store, _accounts({"a1": 0.9}), None, rings, model_version="v1",
                 scored_at=V1_AT)
    found = store.read("MATCH (r:Ring) RETURN r.id AS id, r.surprise AS surprise, "
                       "r.significant AS significant, r.density AS density ORDER BY id")
    assert found.column("surprise") == [3.5, None]  # a missing sub-score is left unset
    assert found.column("significant") == [1.0, 0.0]
    assert found.column("density") == [None, None]  # not in the table
