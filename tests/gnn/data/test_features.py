import torch

from gnn.data import FeatureScaler, neighbor_aggregates


def test_neighbor_aggregates_two_hops():
    x = torch.tensor([[1.0], [3.0], [5.0]])
    edge_index = torch.tensor([[1, 2, 0], [0, 0, 1]])  # 0 <- 1, 0 <- 2, 1 <- 0
    out = neighbor_aggregates(x, edge_index, hops=2)
    assert out.shape == (3, 1 + 2 * 3 + 1)
    assert out[0, 1:4].tolist() == [4.0, 5.0, 1.0]  # mean, max, std of {3, 5}
    assert out[1, 1:4].tolist() == [1.0, 1.0, 0.0]
    assert out[2, 1:4].tolist() == [0.0, 0.0, 0.0]  # no neighbours
    assert out[1, 4] == 4.0  # hop 2: mean of node 0's hop-1 mean
    assert out[:, -1].tolist() == torch.log1p(torch.tensor([2.0, 1.0, 0.0])).tolist()


def test_scaler_round_trips_through_a_dict():
    import pandas as pd

    table = pd.DataFrame({"a": [1.0, 2.0, 30.0], "b": [-5.0, 0.0, 5.0]})
    scaler = FeatureScaler().fit({"Account": table}, {"Account": ["a", "b"]})
    again = FeatureScaler.from_dict(scaler.to_dict())
    assert torch.equal(scaler.transform("Account", table), again.transform("Account", table))


def test_quantile_normal_keeps_order_and_tames_heavy_tails():
    from gnn.data import quantile_normal

    x = torch.tensor([[0.0], [0.0], [1.0], [2.0], [1000.0]])
    out = quantile_normal(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out[0, 0] == out[1, 0]  # ties stay tied
    assert (out[1:, 0].diff() > 0).all()  # order kept
    assert out[4, 0] - out[3, 0] < 6.0  # the outlier is no longer 1000 units away


def test_spectral_positions_separate_two_loosely_joined_cliques():
    import itertools

    import pytest

    from gnn.data import spectral_positions

    left, right = range(0, 6), range(6, 12)
    pairs = [*itertools.combinations(left, 2), *itertools.combinations(right, 2), (5, 6)]
    edge_index = torch.tensor(pairs).t()
    out = spectral_positions(edge_index, 12, k=2)
    assert out.shape == (12, 2) and out.dtype == torch.float32
    fiedler = out[:, 0]  # the first non-trivial eigenvector splits the two cliques
    assert (fiedler[:6] > 0).all() != (fiedler[6:] > 0).all()
    assert torch.sign(fiedler[:6]).unique().numel() == 1
    assert torch.sign(fiedler[6:]).unique().numel() == 1
    assert torch.equal(out, spectral_positions(edge_index.flip(0), 12, k=2))  # undirected, fixed
    with pytest.raises(ValueError, match="k must be"):
        spectral_positions(edge_index, 12, k=11)
