
import pandas as pd
import pytest
import torch

from gnn.data.features import FeatureScaler
from gnn.data.subgraph import extract_subgraph
from graph.store import Neo4jStore, load_snapshot
from graph.store.writeback import write_scores
from tests.graph.store.helpers import investigation_snapshot


def test_heterodata_maps_rows_back_to_store_ids() -> None:
    data, id_map = extract_subgraph(investigation_snapshot(), ["a3", "a1"], k=1)
    assert id_map["Account"].tolist() == ["a1", "a3"]
    assert data["Account"].seed_mask.tolist() == [True, True]
    edge_index = data["Account", "USED_DEVICE", "Device"].edge_index
    pairs = {(id_map["Account"][s], id_map["Device"][d]) for s, d in edge_index.t().tolist()}
    assert pairs == {("a1", "d1"), ("a3", "d2")}
    assert set(data.node_types) == {"Account", "Device", "IP", "PaymentMethod"}


def test_a_trained_scaler_keeps_the_model_columns() -> None:
    full = investigation_snapshot()
    scaler = FeatureScaler().fit(full.nodes, {"Account": ["n_events", "amount_mean"]})
    data, _ = extract_subgraph(full, ["a2"], k=0, scaler=scaler)
    assert data["Account"].x.shape == (1, 2)
    assert data["Account"].x[0, 1].item() == 0.0  # a2 has no amount_mean: the mean


@pytest.mark.neo4j
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_neo4j_and_snapshot_give_the_same_heterodata(store: Neo4jStore, k: int) -> None:
    snapshot = investigation_snapshot()
    load_snapshot(store, snapshot, mode="driver", progress=False)
    write_scores(store, pd.DataFrame({"account_id": ["a1"], "score": [0.9]}), None,
                 pd.DataFrame({"ring_id": ["r1"], "score": [0.9], "size": [2],
                               "members": [["a1", "a6"]]}), model_version="v1")
    scaler = FeatureScaler().fit(snapshot.nodes, {"Account": ["amount_mean", "n_events"]})
    a, map_a = extract_subgraph(store, ["a1"], k, scaler=scaler)
    b, map_b = extract_subgraph(snapshot, ["a1"], k, scaler=scaler)
    assert all(map_a[t].equals(map_b[t]) for t in map_b)
    assert torch.equal(a["Account"].x, b["Account"].x)
    for edge_type in b.edge_types:
        assert torch.equal(a[edge_type].edge_index, b[edge_type].edge_index)
