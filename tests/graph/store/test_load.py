"""The front door of a load: the modes, which path ``auto`` takes, named graphs, pruning,
the LoadRun records."""

import hashlib
import logging

import neo4j
import pandas as pd
import pytest

from graph.snapshot import Snapshot
from graph.store import Neo4jStore, load_snapshot, write_scores
from graph.store.driver_load import PruneRefusedError
from graph.store.graphs import (
    GraphNameError,
    default_graph_name,
    graph_name,
    graphs,
    last_load,
    unfinished_warning,
)

from .helpers import RecordingRunner, counts, investigation_snapshot


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        load_snapshot(RecordingRunner(), investigation_snapshot(), mode="fast")


def test_auto_mode_uses_the_driver_without_a_local_server() -> None:
    summary = load_snapshot(RecordingRunner(), investigation_snapshot(), progress=False)
    assert summary.mode == "driver"


def test_auto_mode_bulk_imports_only_a_big_first_load_on_a_local_server(monkeypatch) -> None:
    from graph.store import load

    runner = RecordingRunner()  # answers 0 to "count(n)": an empty database
    snapshot = investigation_snapshot()
    assert not load._bulk_fits(runner, snapshot)  # no local server behind it
    runner.server = object()
    monkeypatch.setattr(load, "BULK_MIN_RELATIONSHIPS", 10)
    assert not load._bulk_fits(runner, snapshot)  # 9 relationships
    monkeypatch.setattr(load, "BULK_MIN_RELATIONSHIPS", 9)
    assert load._bulk_fits(runner, snapshot)


def test_a_graph_name_is_checked_before_anything_runs() -> None:
    runner = RecordingRunner()
    with pytest.raises(GraphNameError, match="not a valid graph name"):
        load_snapshot(runner, investigation_snapshot(), graph="two words", progress=False)
    assert runner.writes == []


def test_default_graph_names_come_from_the_folder() -> None:
    assert default_graph_name("/data/runs/Shop 2024!") == "Shop_2024_"
    assert default_graph_name("/data/runs/shop/.work/snapshot") == "shop"
    assert graph_name(default_graph_name("/data/runs/.hidden")) == "hidden"


def _graph_state(store: Neo4jStore, graph: str) -> tuple[dict[str, int], str]:
    """Nodes per label, relationships per type, and a digest of every property, of one graph."""
    nodes = store.read("MATCH (n {graph: $g}) WHERE NOT n:LoadRun RETURN labels(n)[0] AS k, "
                       "n.id AS id, properties(n) AS p ORDER BY k, id", {"g": graph}).records
    rels = store.read("MATCH (a {graph: $g})-[r]->(b) RETURN labels(a)[0] AS ka, a.id AS a, "
                      "type(r) AS t, b.id AS b, properties(r) AS p ORDER BY ka, a, t, b",
                      {"g": graph}).records
    sizes: dict[str, int] = {}
    for row in nodes:
        sizes[row[0]] = sizes.get(row[0], 0) + 1
    for row in rels:
        sizes[row[2]] = sizes.get(row[2], 0) + 1
    text = repr([(r[:-1], sorted(r[-1].items())) for r in [*nodes, *rels]])
    return sizes, hashlib.sha256(text.encode()).hexdigest()


def _other_dataset() -> Snapshot:
    """The investigation graph with the same ids and other content, one account fewer."""
    other = investigation_snapshot()
    accounts = other.nodes["Account"]
    other.nodes["Account"] = accounts[accounts["id"] != "a6"].assign(n_events=42)
    other.labels = other.labels[other.labels["account_id"] != "a6"]
    return other


@pytest.mark.neo4j
def test_two_graphs_loaded_one_after_the_other_stay_intact(store: Neo4jStore) -> None:
    first = load_snapshot(store, investigation_snapshot(), graph="shop-a", progress=False)
    write_scores(store, pd.DataFrame({"account_id": ["a1", "a2"], "score": [0.9, 0.8]}), None,
                 pd.DataFrame({"ring_id": ["r1"], "score": [0.9], "size": [2],
                               "members": [["a1", "a2"]]}),
                 graph="shop-a", model_version="v1")
    a_before = _graph_state(store, "shop-a")
    assert a_before[0]["Account"] == 6 and a_before[0]["MEMBER_OF"] == 2
    # The same ids with other content, loaded (and pruned, and scored) as another graph.
    second = load_snapshot(store, _other_dataset(), graph="shop-b", progress=False, prune=True)
    write_scores(store, pd.DataFrame({"account_id": ["a3"], "score": [0.1]}), None,
                 pd.DataFrame({"ring_id": ["r7"], "score": [0.5], "size": [2],
                               "members": [["a3", "a4"]]}),
                 graph="shop-b", model_version="v2")
    assert sum(second.deleted.values()) == 0 and sum(second.unchanged.values()) == 0
    assert _graph_state(store, "shop-a") == a_before
    b_state = _graph_state(store, "shop-b")
    assert b_state[0]["Account"] == 5 and b_state[1] != a_before[1]
    # Reloading the first graph leaves the second as it was, and writes nothing.
    again = load_snapshot(store, investigation_snapshot(), graph="shop-a", progress=False,
                          prune=True)
    assert again.total_written == 0 and sum(again.deleted.values()) == 0
    assert _graph_state(store, "shop-a") == a_before and _graph_state(store, "shop-b") == b_state
    assert graphs(store) == ["shop-a", "shop-b"]
    assert last_load(store, "shop-a").fingerprint == first.fingerprint != second.fingerprint
    assert {last_load(store, g).status for g in ("shop-a", "shop-b")} == {"complete"}


@pytest.mark.neo4j
@pytest.mark.filterwarnings("ignore:relation .* name nodes missing")
def test_stale_rows_stay_without_prune_and_a_big_prune_is_refused(
    store: Neo4jStore, caplog: pytest.LogCaptureFixture
) -> None:
    load_snapshot(store, investigation_snapshot(), graph="shop", progress=False)
    before = counts(store)
    smaller = investigation_snapshot()
    smaller.nodes["Account"] = smaller.nodes["Account"].iloc[:2]  # a1, a2 left
    smaller.labels = None
    kept = load_snapshot(store, smaller, graph="shop", progress=False)
    assert kept.stale["Account"] == 4 and sum(kept.deleted.values()) == 0
    assert counts(store)["Account"] == before["Account"]
    with pytest.raises(PruneRefusedError, match=r"would delete 8 of its 19 .*42\.1%.*--force"):
        load_snapshot(store, smaller, graph="shop", progress=False, prune=True)
    assert counts(store)["Account"] == before["Account"]
    assert last_load(store, "shop").status == "complete"  # the load itself finished
    with caplog.at_level(logging.WARNING, logger="graph.store.driver_load"):
        forced = load_snapshot(store, smaller, graph="shop", progress=False, prune=True,
                               force=True)
    assert "pruning graph 'shop': deleting 4 Account" in caplog.text
    assert forced.deleted["Account"] == 4 and counts(store)["Account"] == 2


@pytest.mark.neo4j
@pytest.mark.filterwarnings("ignore:relation .* name nodes missing")
def test_a_ring_goes_with_its_last_member(store: Neo4jStore) -> None:
    load_snapshot(store, investigation_snapshot(), graph="shop", progress=False)
    write_scores(store, pd.DataFrame({"account_id": ["a1"], "score": [0.9]}), None,
                 pd.DataFrame({"ring_id": ["r1", "r2"], "score": [0.9, 0.8], "size": [2, 2],
                               "members": [["a3", "a4"], ["a1", "a4"]]}),
                 graph="shop", model_version="v1")
    smaller = investigation_snapshot()
    accounts = smaller.nodes["Account"]
    smaller.nodes["Account"] = accounts[~accounts["id"].isin(["a3", "a4"])]
    load_snapshot(store, smaller, graph="shop", progress=False, prune=True, force=True)
    rings = store.read("MATCH (r:Ring) OPTIONAL MATCH (a)-[:MEMBER_OF]->(r) "
                       "RETURN r.id AS ring, collect(a.id) AS members ORDER BY ring").records
    assert rings == [("r2", ["a1"])]  # r1 lost both members and is gone; r2 keeps a1


@pytest.mark.neo4j
def test_a_load_that_fails_is_recorded_as_failed(store: Neo4jStore) -> None:
    class LosesRelationships:
        """The real store, whose relationship writes fail (as when the server goes away)."""

        def write(self, statements, **kwargs):
            if any("elementId(a) = $src[i]" in q for q, _ in statements):
                raise neo4j.exceptions.ServiceUnavailable("connection lost")
            return store.write(statements, **kwargs)

        def read(self, *args, **kwargs):
            return store.read(*args, **kwargs)

    with pytest.raises(neo4j.exceptions.ServiceUnavailable):
        load_snapshot(LosesRelationships(), investigation_snapshot(), graph="shop",
                      progress=False)
    assert counts(store)["Account"] == 6 and "USED_IP" not in counts(store)  # half written
    assert last_load(store, "shop").status == "failed"
    assert unfinished_warning(store, "shop") is not None
    load_snapshot(store, investigation_snapshot(), graph="shop", progress=False)
    assert last_load(store, "shop").status == "complete"
    assert unfinished_warning(store, "shop") is None
