import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import NodeLoader
from torch_geometric.sampler import NodeSamplerInput

from gnn.sampler import TemporalNeighborSampler

USED = ("Account", "USED", "Device")
REV = ("Device", "rev_USED", "Account")


def _graph(num_accounts=200, num_devices=40, num_edges=2000, seed=0) -> HeteroData:
    rng = np.random.default_rng(seed)
    edge_index = torch.from_numpy(
        np.stack(
            [rng.integers(0, num_accounts, num_edges), rng.integers(0, num_devices, num_edges)]
        )
    )
    times = torch.from_numpy(rng.integers(0, 100, num_edges))
    data = HeteroData()
    data["Account"].x = torch.randn(num_accounts, 2)
    data["Account"].num_nodes = num_accounts
    data["Device"].x = torch.randn(num_devices, 1)
    data["Device"].num_nodes = num_devices
    data[USED].edge_index, data[USED].edge_time = edge_index, times
    data[REV].edge_index, data[REV].edge_time = edge_index.flip(0), times
    return data


def test_time_bound_respected_for_every_seed():
    data = _graph()
    sampler = TemporalNeighborSampler(data, [5, 5], seed=0)
    seeds = torch.arange(30)
    seed_time = torch.from_numpy(np.random.default_rng(1).integers(0, 100, 30))
    loader = NodeLoader(
        data, sampler, input_nodes=("Account", seeds), input_time=seed_time, batch_size=30
    )
    batch = next(iter(loader))
    checked = 0
    for edge_type in (USED, REV):
        store = batch[edge_type]
        owner = batch[edge_type[2]].batch[store.edge_index[1]]
        assert (store.edge_time <= seed_time[owner]).all()
        checked += store.edge_time.numel()
    assert checked > 0


def test_early_seed_times_hide_later_edges_entirely():
    data = _graph()
    sampler = TemporalNeighborSampler(data, [-1], seed=0)
    out = sampler.sample_from_nodes(
        NodeSamplerInput(None, torch.arange(10), torch.full((10,), -1), "Device")
    )
    assert all(v.numel() == 0 for v in out.row.values())


def test_fanout_respected_and_no_repeated_edges():
    data = _graph()
    sampler = TemporalNeighborSampler(data, [3, 2], time_attr=None, seed=0)
    out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(20), None, "Account"))
    dst = out.col[REV][: out.num_sampled_edges[REV][0]]
    per_seed = torch.bincount(dst, minlength=20)
    degree = torch.bincount(data[USED].edge_index[0], minlength=200)[:20]
    assert torch.equal(per_seed, degree.clamp(max=3))
    edges = out.edge[REV]
    assert len(torch.unique(edges)) == len(edges)
    hop2 = out.col[USED]
    assert torch.bincount(hop2).max() <= 2


def test_seeds_come_first_in_order():
    data = _graph()
    sampler = TemporalNeighborSampler(data, [4, 4], seed=0)
    seeds = torch.tensor([7, 3, 9, 3])
    out = sampler.sample_from_nodes(NodeSamplerInput(None, seeds, torch.full((4,), 50), "Account"))
    assert torch.equal(out.node["Account"][:4], seeds)
    assert torch.equal(out.batch["Account"][:4], torch.arange(4))


def test_sampling_is_uniform_over_valid_neighbours():
    data = HeteroData()
    data["Account"].num_nodes = 1
    data["Account"].x = torch.zeros(1, 1)
    data["Device"].num_nodes = 10
    data["Device"].x = torch.zeros(10, 1)
    data[REV].edge_index = torch.stack([torch.arange(10), torch.zeros(10, dtype=torch.long)])
    data[REV].edge_time = torch.arange(10)
    sampler = TemporalNeighborSampler(data, [2], seed=0)
    counts = np.zeros(10)
    for _ in range(2000):
        out = sampler.sample_from_nodes(
            NodeSamplerInput(None, torch.tensor([0]), torch.tensor([4]), "Account")
        )
        counts[out.node["Device"].numpy()] += 1
    assert counts[5:].sum() == 0
    assert counts[:5] == pytest.approx(np.full(5, 800), rel=0.15)


def test_time_bounded_degree():
    data = _graph()
    sampler = TemporalNeighborSampler(data, [1])
    nodes = torch.arange(40)
    full = sampler.degree(USED, nodes)
    assert torch.equal(full, torch.bincount(data[USED].edge_index[1], minlength=40))
    early = sampler.degree(USED, nodes, torch.full((40,), 10))
    edge_index, times = data[USED].edge_index, data[USED].edge_time
    expected = torch.bincount(edge_index[1][times <= 10], minlength=40)
    assert torch.equal(early, expected)
