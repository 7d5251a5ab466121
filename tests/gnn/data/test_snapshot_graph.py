import numpy as np
import pandas as pd
import pytest
import torch

from gnn.data import NO_TIME, account_index, model_view, snapshot_to_heterodata
from tests.gnn.planted import BASE, make_snapshot


@pytest.fixture
def snapshot():
    return make_snapshot(
        ["a", "b", "c"],
        {"events": np.array([0.0, 9.0, 99.0])},
        {"USED_DEVICE": (["a", "b", "c"], ["d1", "d1", "d2"], [0.0, 1.0, 2.5])},
    )


def test_nodes_edges_times_and_reversals(snapshot):
    data, scaler = snapshot_to_heterodata(snapshot)
    assert list(data["Account"].node_ids) == ["a", "b", "c"]
    assert list(data["Device"].node_ids) == ["d1", "d2"]
    forward = ("Account", "USED_DEVICE", "Device")
    reverse = ("Device", "rev_USED_DEVICE", "Account")
    assert data[forward].edge_index.tolist() == [[0, 1, 2], [0, 0, 1]]
    assert torch.equal(data[reverse].edge_index, data[forward].edge_index.flip(0))
    start = int(BASE.timestamp())
    assert data[forward].edge_time.tolist() == [start, start + 86_400, start + 216_000]
    assert scaler.columns["Account"] == ["events"]


def test_features_are_log_scaled_and_standardised(snapshot):
    data, _ = snapshot_to_heterodata(snapshot)
    x = data["Account"].x[:, 0]
    assert x.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert x.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)
    logged = np.log1p([0.0, 9.0, 99.0])
    expected = (logged - logged.mean()) / logged.std()
    assert x.numpy() == pytest.approx(expected, abs=1e-5)


def test_scoring_with_a_fitted_scaler_reuses_its_statistics(snapshot):
    _, scaler = snapshot_to_heterodata(snapshot)
    snapshot.nodes["Account"]["events"] = [50.0, 50.0, 50.0]
    data, _ = snapshot_to_heterodata(snapshot, scaler)
    assert data["Account"].x[0, 0] > 0.5  # standardised with the fitted mean, not its own


def test_missing_feature_column_names_the_column(snapshot):
    _, scaler = snapshot_to_heterodata(snapshot)
    snapshot.nodes["Account"] = snapshot.nodes["Account"].drop(columns="events")
    with pytest.raises(ValueError, match="events"):
        snapshot_to_heterodata(snapshot, scaler)


def test_account_index_maps_labels_and_times(snapshot):
    data, _ = snapshot_to_heterodata(snapshot)
    labels = pd.DataFrame(
        {"account_id": ["c", "zz", "a"], "label": [1, 0, 0], "ts": [BASE, BASE, None]}
    )
    rows, y, times = account_index(data, labels)
    assert rows.tolist() == [2, 0]
    assert y.tolist() == [1.0, 0.0]
    assert times.tolist() == [int(BASE.timestamp()), NO_TIME]


def test_account_index_rejects_bad_labels(snapshot):
    data, _ = snapshot_to_heterodata(snapshot)
    with pytest.raises(ValueError, match="0 or 1"):
        account_index(data, pd.DataFrame({"account_id": ["a"], "label": [2]}))
    with pytest.raises(ValueError, match="label"):
        account_index(data, pd.DataFrame({"account_id": ["a"]}))


def test_model_view_drops_ids(snapshot):
    data, _ = snapshot_to_heterodata(snapshot)
    view = model_view(data)
    assert "node_ids" not in view["Account"]
    assert torch.equal(view["Account"].x, data["Account"].x)


def test_opposite_edge_type_turns_a_relation_and_its_reverse_into_each_other() -> None:
    from gnn.data.snapshot_graph import opposite_edge_type, reverse_edge_type

    used = ("Account", "USED", "Device")
    assert opposite_edge_type(used) == reverse_edge_type(used) == ("Device", "rev_USED", "Account")
    assert opposite_edge_type(("Device", "rev_USED", "Account")) == used


def test_read_snapshot_graph_is_the_saved_snapshots_graph(snapshot, tmp_path):
    from gnn.data.snapshot_graph import read_snapshot_graph
    from graph.snapshot import write_snapshot

    write_snapshot(snapshot, tmp_path / "snap")
    expected, scaler = snapshot_to_heterodata(snapshot)
    for given in (None, scaler):
        data, _ = read_snapshot_graph(tmp_path / "snap", given)
        assert data.node_types == expected.node_types and data.edge_types == expected.edge_types
        for t in data.node_types:
            assert torch.equal(data[t].x, expected[t].x)
            assert list(data[t].node_ids) == list(expected[t].node_ids)
        for et in data.edge_types:
            assert torch.equal(data[et].edge_index, expected[et].edge_index)
            assert torch.equal(data[et].edge_time, expected[et].edge_time)
