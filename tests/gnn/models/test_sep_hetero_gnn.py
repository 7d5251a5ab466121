import pytest
import torch

from gnn.models import SepHeteroConv, SepHeteroGNN, aggregate

EDGES = [("Device", "rev_USED", "Account"), ("Account", "USED", "Device")]


def _inputs():
    x = {"Account": torch.randn(4, 3), "Device": torch.randn(2, 1)}
    used = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
    return x, {EDGES[1]: used, EDGES[0]: used.flip(0)}


def test_aggregate_mean_and_std():
    x = torch.tensor([[1.0], [3.0], [10.0]])
    out = aggregate(x, torch.tensor([[0, 1], [0, 0]]), 2)
    assert out[0].tolist() == [2.0, pytest.approx(1.0, abs=1e-3)]
    assert out[1].tolist() == [0.0, 0.0]


def test_chunked_aggregation_matches():
    x = torch.randn(50, 4)
    edge_index = torch.randint(0, 50, (2, 300))
    with torch.no_grad():
        whole = aggregate(x, edge_index, 50)
        chunked = aggregate(x, edge_index, 50, chunk_size=7)
    assert torch.allclose(whole, chunked, atol=1e-5)


def test_forward_shapes_and_repr():
    x, edges = _inputs()
    model = SepHeteroGNN({"Account": 3, "Device": 1}, EDGES, hidden_channels=8, num_layers=2)
    assert model(x, edges).shape == (4,)
    assert "SepHeteroGNN" in repr(model) and "hidden_channels=8" in repr(model)
    conv = SepHeteroConv(["Account", "Device"], EDGES, 8)
    assert repr(conv) == "SepHeteroConv(8, node_types=2, edge_types=2, aggregators=['mean', 'std'])"


def test_ego_signal_survives_without_neighbours():
    x, _ = _inputs()
    model = SepHeteroGNN({"Account": 3, "Device": 1}, EDGES, hidden_channels=8).eval()
    no_edges = {et: torch.empty((2, 0), dtype=torch.long) for et in EDGES}
    logits = model(x, no_edges)
    assert logits.std() > 0  # different own features, different scores


def test_trimming_sampled_hops_keeps_seed_logits():
    torch.manual_seed(0)
    x, edges = _inputs()
    model = SepHeteroGNN({"Account": 3, "Device": 1}, EDGES, hidden_channels=8).eval()
    full = model(x, edges)
    # seeds: accounts 0, 2; hop 1: devices 0, 1; hop 2: accounts 1, 3 (already ordered by hop)
    trimmed = model(x, edges, num_sampled_nodes_dict={"Account": [2, 0, 2], "Device": [0, 2, 0]})
    assert torch.allclose(full[:2], trimmed[:2], atol=1e-6)


def test_sparse_mean_adjacency_matches_edge_list_aggregation():
    from gnn.models.aggregation import mean_adjacency

    x = torch.randn(30, 4)
    edge_index = torch.randint(0, 30, (2, 200))
    order = torch.argsort(edge_index[1])
    rowptr = torch.zeros(21, dtype=torch.long)
    dst = edge_index[1][order]
    keep = dst < 20
    rowptr[1:] = torch.cumsum(torch.bincount(dst[keep], minlength=20), 0)
    adjacency = mean_adjacency(rowptr, edge_index[0][order][keep], 30)
    expected = aggregate(x, edge_index[:, edge_index[1] < 20], 20)
    assert torch.allclose(aggregate(x, adjacency, 20), expected, atol=1e-4)
