
import pandas as pd
import pandas.testing as pdt
import pytest

from graph.snapshot import write_snapshot
from graph.store import Neo4jStore, load_snapshot
from graph.store.graphs import GraphNameError
from graph.store.writeback import write_scores
from graph.subgraph import extract_subsnapshot
from tests.graph.store.helpers import investigation_snapshot

EXPECTED = {
    0: {"Account": ["a1"]},
    1: {"Account": ["a1"], "Device": ["d1"], "PaymentMethod": ["c1"]},
    2: {"Account": ["a1", "a2", "a4"], "Device": ["d1"], "PaymentMethod": ["c1"]},
    3: {"Account": ["a1", "a2", "a4", "a5"], "Device": ["d1"], "IP": ["ip1"],
        "PaymentMethod": ["c1"]},
}


def _ids(snapshot) -> dict[str, list[str]]:
    return {t: df["id"].tolist() for t, df in snapshot.nodes.items() if len(df)}


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_k_hop_neighbourhood_from_a_snapshot(k: int) -> None:
    sub = extract_subsnapshot(investigation_snapshot(), ["a1"], k)
    assert _ids(sub) == EXPECTED[k]
    # Induced: every relationship among the reached nodes, none leaving them.
    if k == 2:
        assert sub.edges["PAID_WITH"][["src", "dst"]].values.tolist() == [
            ["a1", "c1"], ["a2", "c1"], ["a4", "c1"]]
        assert sub.edges["USED_IP"].empty and sub.edges["TRANSACTED_WITH"].empty


def test_seeds_missing_from_the_graph_are_ignored(tmp_path) -> None:
    path = write_snapshot(investigation_snapshot(), tmp_path / "snap")
    sub = extract_subsnapshot(path, ["a6", "not-there"], 2)
    assert _ids(sub) == {"Account": ["a6"]}
    assert sub.labels["account_id"].tolist() == ["a6"]


@pytest.mark.neo4j
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_neo4j_and_snapshot_give_the_same_neighbourhood(store: Neo4jStore, k: int) -> None:
    snapshot = investigation_snapshot()
    load_snapshot(store, snapshot, mode="driver", progress=False)
    # Results written back must not leak in: no Ring nodes, no score columns.
    write_scores(store, pd.DataFrame({"account_id": ["a1"], "score": [0.9]}), None,
                 pd.DataFrame({"ring_id": ["r1"], "score": [0.9], "size": [2],
                               "members": [["a1", "a6"]]}), model_version="v1")
    from_store = extract_subsnapshot(store, ["a1"], k)
    from_snapshot = extract_subsnapshot(snapshot, ["a1"], k)
    assert _ids(from_store) == EXPECTED[k]
    for node_type, table in from_snapshot.nodes.items():
        pdt.assert_frame_equal(from_store.nodes[node_type], table, check_dtype=False)
    for name, table in from_snapshot.edges.items():
        pdt.assert_frame_equal(from_store.edges[name], table, check_dtype=False)


@pytest.mark.neo4j
def test_the_neighbourhood_comes_from_the_graph_asked_for(store: Neo4jStore) -> None:
    snapshot = investigation_snapshot()
    other = investigation_snapshot()
    other.nodes["Account"] = other.nodes["Account"].assign(n_events=7)
    other.edges["PAID_WITH"] = other.edges["PAID_WITH"].iloc[:1]  # only a1 -> c1
    load_snapshot(store, snapshot, graph="shop", mode="driver", progress=False)
    load_snapshot(store, other, graph="other", mode="driver", progress=False)
    with pytest.raises(GraphNameError, match="2 graphs"):
        extract_subsnapshot(store, ["a1"], 2)
    shop = extract_subsnapshot(store, ["a1"], 2, graph="shop")
    assert _ids(shop) == EXPECTED[2]
    pdt.assert_frame_equal(shop.nodes["Account"], extract_subsnapshot(snapshot, ["a1"], 2)
                           .nodes["Account"], check_dtype=False)
    assert _ids(extract_subsnapshot(store, ["a1"], 2, graph="other")) == {
        "Account": ["a1", "a2"], "Device": ["d1"], "PaymentMethod": ["c1"]}  # no a4: c1 cut
