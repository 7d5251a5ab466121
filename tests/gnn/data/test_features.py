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
