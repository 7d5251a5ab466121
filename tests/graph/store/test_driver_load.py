"""The driver path of a load: batches, element ids, the comparison with the store, resuming."""

import threading
import time

import neo4j
import numpy as np
import pandas as pd
import pytest

from graph.snapshot import write_snapshot
from graph.store import Neo4jStore, connect, load_snapshot
from graph.store.connection import Neo4jSettings
from graph.store.driver_load import ElementIds, _new_and_changed, _stale
from graph.store.graphs import last_load, unfinished_warning
from graph.store.server import LocalNeo4j, free_port
from tests.conftest import _installed_jars

from .helpers import (
    TRICKY_IDS,
    RecordingRunner,
    counts,
    dump,
    edges,
    investigation_snapshot,
    nodes,
    tricky_snapshot,
)


def test_nodes_are_written_before_relationships_in_bounded_batches() -> None:
    runner = RecordingRunner()
    summary = load_snapshot(runner, investigation_snapshot(), mode="driver", progress=False,
                            batch_size=2)
    data = [b[0] for b in runner.writes if "UNWIND range(" in b[0][0]]
    kinds = ["rel" if "MATCH (a:" in q else "node" for q, _ in data]
    assert kinds == sorted(kinds, key=lambda k: k == "rel")  # all nodes, then all relationships
    assert all(len(v) <= 2 for _, p in data for v in p.values() if isinstance(v, list))
    assert all(p["graph"] == "default" for _, p in data)
    assert all(" CREATE " in q for q, _ in data)  # a first load only creates
    assert summary.written == {"Account": 6, "Device": 2, "IP": 1, "PaymentMethod": 1,
                               "USED_DEVICE": 3, "USED_IP": 2, "PAID_WITH": 3,
                               "TRANSACTED_WITH": 1}
    assert summary.relationships_written == 9 and summary.nodes_written == 10


def test_progress_bars_change_nothing_that_is_written() -> None:
    quiet, shown = RecordingRunner(), RecordingRunner()
    for runner, progress in ((quiet, False), (shown, True)):
        load_snapshot(runner, investigation_snapshot(), mode="driver", progress=progress,
                      batch_size=2, writers=1)
    def data(runner: RecordingRunner) -> list:  # the LoadRun records differ: id and time
        return [b for b in runner.writes if "LoadRun" not in b[0][0]]

    assert data(shown) == data(quiet) and len(data(shown)) < len(shown.writes)


def test_relationships_name_their_endpoints_by_the_element_ids_of_the_node_phase() -> None:
    runner = RecordingRunner()  # answers a node write with element id "element:<id>"
    load_snapshot(runner, investigation_snapshot(), mode="driver", progress=False)
    used_ip = [(q, p) for b in runner.writes for q, p in b if "`USED_IP`" in q]
    assert len(used_ip) == 1
    query, params = used_ip[0]
    assert "WHERE elementId(a) = $src[i]" in query and "WHERE elementId(b) = $dst[i]" in query
    assert params["src"] == ["element:a2", "element:a3"]
    assert params["dst"] == ["element:ip1", "element:ip1"]


def test_element_ids_refuse_a_node_missing_from_the_store() -> None:
    known = ElementIds(pd.Series(["a1"]), pd.Series(["4:x:0"]))
    known.add(np.array(["a2"], dtype=object), ["4:x:1"])
    assert known.of(pd.Series(["a2", "a1"])).tolist() == ["4:x:1", "4:x:0"]
    with pytest.raises(RuntimeError, match="'a3' is not in the store"):
        known.of(pd.Series(["a1", "a3"]))


def test_comparison_keys_rows_by_both_endpoints_whatever_the_ids_hold() -> None:
    # "a" -> "b:c" and "a:b" -> "c" join to the same text without the length prefix: the
    # second would then pass for the first, whose hash it has.
    snapshot = pd.DataFrame({"src": ["a", "a:b", "x", "é"], "dst": ["b:c", "c", "y", "z"],
                             "content_hash": np.array([1, 1, 3, 4], dtype=np.int64)})
    store = pd.DataFrame({"src": ["a", "a:b", "q", "é"], "dst": ["b:c", "c", "r", "z"],
                          "loaded_hash": pd.array([1, pd.NA, 9, 5], dtype="Int64")})
    new, changed = _new_and_changed(snapshot, store, ["src", "dst"])
    assert new["src"].tolist() == ["x"]
    assert changed["src"].tolist() == ["a:b", "é"]  # no hash (not ours), other hash
    assert _stale(store, snapshot, ["src", "dst"]).values.tolist() == [["q", "r"]]
    assert _stale(store.assign(loaded_hash=pd.NA), snapshot, ["src", "dst"]).empty


def test_values_travel_only_as_parameters() -> None:
    runner = RecordingRunner()
    load_snapshot(runner, tricky_snapshot(), mode="driver", progress=False)
    text = "\n".join(runner.statements + [q for q, _, _ in runner.reads])
    for tricky in TRICKY_IDS:
        assert tricky not in text
    sent = [i for b in runner.writes for q, p in b if "CREATE (n:`Account`" in q
            for i in p["id"]]
    assert sorted(sent) == sorted(TRICKY_IDS)


@pytest.mark.neo4j
def test_load_writes_every_node_and_relationship_with_its_properties(store: Neo4jStore) -> None:
    load_snapshot(store, investigation_snapshot(), mode="driver", progress=False)
    assert counts(store) == {"Account": 6, "Device": 2, "IP": 1, "PaymentMethod": 1,
                             "USED_DEVICE": 3, "USED_IP": 2, "PAID_WITH": 3,
                             "TRANSACTED_WITH": 1}
    a2 = store.read("MATCH (a:Account {id: 'a2'}) RETURN properties(a) AS p").single("p")
    assert a2["n_events"] == 4 and "amount_mean" not in a2 and "label" not in a2
    assert a2["first_ts"].to_native() == pd.Timestamp("2024-02-01", tz="UTC")
    a5 = store.read("MATCH (a:Account {id: 'a5'}) RETURN a.label AS l").single("l")
    assert a5 == 1
    paid = store.read("MATCH (:Account {id: 'a2'})-[r:PAID_WITH]->(:PaymentMethod {id: 'c1'}) "
                      "RETURN properties(r) AS p").single("p")
    assert paid["amount_sum"] == 20.5 and paid["count"] == 1
    assert paid["first_ts"].iso_format() == "2024-01-02T03:04:05.123456000+00:00"


@pytest.mark.neo4j
def test_loading_again_changes_nothing(store: Neo4jStore) -> None:
    snapshot = investigation_snapshot()
    load_snapshot(store, snapshot, mode="driver", progress=False)
    before = dump(store)
    again = load_snapshot(store, snapshot, mode="driver", progress=False)
    assert again.total_written == 0 and sum(again.deleted.values()) == 0
    assert sum(again.unchanged.values()) == 19
    assert dump(store) == before


@pytest.mark.neo4j
def test_an_update_writes_only_what_changed_and_equals_a_clean_load(
    store: Neo4jStore, tmp_path
) -> None:
    load_snapshot(store, investigation_snapshot(), mode="driver", progress=False)
    update = investigation_snapshot()
    accounts = update.nodes["Account"]
    accounts.loc[accounts["id"] == "a1", "n_events"] = 30  # changed
    update.nodes["Account"] = pd.concat(
        [accounts[accounts["id"] != "a6"], nodes(["a7"], n_events=[1], amount_mean=[0.5])],
        ignore_index=True,
    )  # a6 gone, a7 new
    update.labels = update.labels[update.labels["account_id"] != "a6"]
    update.edges["USED_IP"] = edges([("a2", "ip1"), ("a7", "ip1")])  # a3-ip1 gone, a7-ip1 new
    summary = load_snapshot(store, write_snapshot(update, tmp_path / "snap"), mode="driver",
                            progress=False, prune=True, max_prune_fraction=0.2)
    assert summary.written["Account"] == 2  # a1 changed, a7 new
    assert summary.written["USED_IP"] == 1
    assert summary.deleted["Account"] == 1 and summary.deleted["USED_IP"] == 1
    assert summary.stale["Account"] == 1 and summary.stored["Account"] == 6
    assert summary.written["Device"] == summary.written["USED_DEVICE"] == 0
    incremental = dump(store)
    store.write([("MATCH (n) DETACH DELETE n", {})])
    load_snapshot(store, update, mode="driver", progress=False)
    assert dump(store) == incremental


@pytest.mark.neo4j
def test_pruning_keeps_nodes_the_loader_did_not_write(store: Neo4jStore) -> None:
    store.write([("CREATE (:Account {graph: 'default', id: 'hand-made'})", {})])
    load_snapshot(store, investigation_snapshot(), mode="driver", progress=False, prune=True)
    assert store.read("MATCH (a:Account {id: 'hand-made'}) RETURN count(a) AS n").single("n") == 1


@pytest.mark.neo4j
def test_tricky_ids_are_stored_and_found_verbatim(store: Neo4jStore) -> None:
    load_snapshot(store, tricky_snapshot(), mode="driver", progress=False)
    stored = store.read("MATCH (a:Account) RETURN a.id AS id").column("id")
    assert sorted(stored) == sorted(TRICKY_IDS)
    for tricky in TRICKY_IDS:
        found = store.read(
            "MATCH (a:Account {id: $id})-[:USED_DEVICE]->(d:Device) RETURN d.id AS d",
            {"id": tricky},
        )
        assert found.column("d") == [f"dev:{tricky}"]
    again = load_snapshot(store, tricky_snapshot(), mode="driver", progress=False)
    assert again.total_written == 0


def _medium_snapshot():
    accounts = [f"acc-{i:05d}" for i in range(3000)]
    devices = [f"dev-{i:04d}" for i in range(600)]
    snapshot = investigation_snapshot()
    snapshot.nodes = {"Account": nodes(accounts, n_events=list(range(3000))),
                      "Device": nodes(devices)}
    snapshot.edges = {"USED_DEVICE": edges(
        [(a, devices[(i * 7 + j) % 600]) for i, a in enumerate(accounts) for j in range(4)]
    )}
    snapshot.relations = {"USED_DEVICE": snapshot.relations["USED_DEVICE"]}
    snapshot.labels = None
    return snapshot


@pytest.mark.neo4j
@pytest.mark.slow
def test_server_stopped_mid_load_then_rerun_equals_a_clean_load(tmp_path) -> None:
    server = LocalNeo4j(tmp_path / "home")
    server.install(bolt_port=free_port(), http_port=free_port(), heap="512m", pagecache="128m",
                   jars_from=_installed_jars())
    server.start()
    settings = Neo4jSettings(uri=server.read_settings()["uri"], password=server.read_password())
    snapshot = _medium_snapshot()
    try:
        with connect(settings) as watcher:
            store = connect(settings)
            failure: list[BaseException] = []

            def load() -> None:
                try:
                    load_snapshot(store, snapshot, mode="driver", progress=False, batch_size=100)
                except BaseException as err:  # noqa: BLE001 - reported below
                    failure.append(err)

            loader = threading.Thread(target=load)
            loader.start()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if watcher.read("MATCH ()-[r:USED_DEVICE]->() RETURN count(r) AS n").single("n"):
                    break
                time.sleep(0.05)
            server.stop()
            loader.join(timeout=180)
            store.close()
        lost_server = (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, OSError)
        assert failure and isinstance(failure[0], lost_server)
        server.start()
        with connect(settings) as store:
            partial = counts(store).get("USED_DEVICE", 0)
            assert 0 < partial < 12_000
            # The dead server could not be told: the load stays "running", and queries warn.
            assert last_load(store, "default").status == "running"
            assert "not complete" in unfinished_warning(store, "default")
            rerun = load_snapshot(store, snapshot, mode="driver", progress=False)
            assert rerun.written["USED_DEVICE"] == 12_000 - partial
            assert unfinished_warning(store, "default") is None
            resumed = dump(store)
            store.write([("MATCH (n) DETACH DELETE n", {})])
            load_snapshot(store, snapshot, mode="driver", progress=False)
            assert dump(store) == resumed
    finally:
        server.stop()
