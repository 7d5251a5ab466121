"""gnn.inference: the layer-wise whole-graph pass gives the network's forward pass, bit for bit."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

import gnn.inference
from gnn.inference import (
    FieldPass,
    RowFile,
    field_logits,
    full_graph_inputs,
    full_graph_logits,
    target_logits,
)
from gnn.models.aggregation import mean_adjacency
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler


def random_graph(seed: int, accounts: int, devices: int) -> HeteroData:
    rng = np.random.default_rng(seed)
    data = HeteroData()
    data["Account"].x = torch.from_numpy(rng.normal(size=(accounts, 4)).astype(np.float32))
    data["Account"].num_nodes = accounts
    # a featureless node type: the encoder reads a constant input
    data["Device"].x = torch.zeros((devices, 0))
    data["Device"].num_nodes = devices
    edges = accounts * 3
    used = torch.from_numpy(np.stack([rng.integers(0, accounts, edges),
                                      rng.integers(0, devices // 2, edges)]))  # some alone
    sent = torch.from_numpy(np.stack([rng.integers(0, accounts, edges // 3),
                                      rng.integers(0, accounts, edges // 3)]))
    for edge_type, edge_index in [
        (("Account", "USED", "Device"), used), (("Device", "rev_USED", "Account"), used.flip(0)),
        (("Account", "SENT", "Account"), sent), (("Account", "rev_SENT", "Account"), sent.flip(0)),
    ]:
        data[edge_type].edge_index = edge_index
        data[edge_type].edge_time = torch.zeros(edge_index.size(1), dtype=torch.long)
    return data


def forward_pass(model: SepHeteroGNN, data: HeteroData, sampler: TemporalNeighborSampler):
    """The network's own forward pass over the whole graph (every embedding held at once)."""
    adjacency = {
        et: mean_adjacency(torch.from_numpy(csr.rowptr), torch.from_numpy(csr.col),
                           int(data[et[0]].num_nodes))
        for et, csr in sampler.csr.items()
    }
    with torch.no_grad():
        return model(full_graph_inputs(data, sampler), adjacency)


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("block_rows", [7, 64, 100, 290, 100_000])
def test_layerwise_pass_equals_the_forward_pass_bit_for_bit(monkeypatch, layers, block_rows):
    # 300 accounts: blocks of 64 rows (7 is raised to the minimum) or 100 rows, or a short last
    # block merged (290 + 10, 64 * 4 + 44), or one block
    monkeypatch.setattr(gnn.inference, "BLOCK_ROWS", block_rows)
    data = random_graph(layers, accounts=300, devices=120)
    sampler = TemporalNeighborSampler(data, [5] * layers, time_attr=None)
    torch.manual_seed(layers)
    in_channels = {t: data[t].x.size(1) + len(sampler.incoming(t)) for t in data.node_types}
    model = SepHeteroGNN(in_channels, list(data.edge_types), 16, layers, ("mean", "std"), 0.3)
    model.eval()
    expected = forward_pass(model, data, sampler)
    logits = full_graph_logits(model, data, sampler)
    assert logits.shape == (300,)
    assert torch.equal(logits, expected)
    rows = np.array([5, 0, 299, 5])
    np.testing.assert_array_equal(target_logits(model, data, sampler, rows, None),
                                  expected[rows].numpy())


#: MKL on an AVX-512 CPU, not limited to fewer instructions: there the field pass gives the
#: whole-graph pass's logits to the last bit (review R50: with MKL on AVX2 a dense product's
#: rounding of a row depends on its block's size, and they differ by float32 rounding).
EXACT_BLAS = (torch.backends.mkl.is_available()
              and torch.backends.cpu.get_cpu_capability() == "AVX512"
              and os.environ.get("MKL_ENABLE_INSTRUCTIONS", "AVX512").upper().startswith("AVX512"))


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("block_rows", [64, 100, 100_000])
def test_a_few_rows_on_their_receptive_field_get_the_whole_graph_passs_logits(
        monkeypatch, layers, block_rows):
    """The field pass's logits of a few rows equal the whole-graph pass's (bit for bit with
    MKL on AVX-512, to float32 rounding elsewhere): rows of every count (under a block, a
    block, more; repeated rows; the last rows of a block whose length is no multiple of 4,
    where the head's last product takes another path), a node type with fewer rows than a
    block (Device: 40), hubs."""
    monkeypatch.setattr(gnn.inference, "BLOCK_ROWS", block_rows)
    data = random_graph(layers, accounts=1_001, devices=40)
    sampler = TemporalNeighborSampler(data, [5] * layers, time_attr=None)
    torch.manual_seed(layers)
    in_channels = {t: data[t].x.size(1) + len(sampler.incoming(t)) for t in data.node_types}
    model = SepHeteroGNN(in_channels, list(data.edge_types), 16, layers, ("mean", "std"), 0.3)
    model.eval()
    expected = full_graph_logits(model, data, sampler)
    rng = np.random.default_rng(layers)
    for rows in [np.array([1_000]), np.array([999, 3, 3]), rng.integers(0, 1_001, 63),
                 rng.integers(0, 1_001, 150), np.arange(936, 1_001)]:
        field = FieldPass.of(model, data, sampler, rows, share=1.0)
        if EXACT_BLAS:
            assert torch.equal(field_logits(field), expected[rows])
        else:
            torch.testing.assert_close(field_logits(field), expected[rows], rtol=1e-5, atol=1e-5)
        for level in field.levels:  # no block of a few rows (another product path)
            assert all(len(v.rows) in (0, int(data[t].num_nodes)) or len(v.rows) >= 64
                       for t, v in level.items())
    # more than the share of the target rows, or a field wider than that share of the graph's
    # nodes: the whole-graph pass instead
    assert FieldPass.of(model, data, sampler, np.arange(600), share=0.5) is None
    assert FieldPass.of(model, data, sampler, np.arange(20), share=0.05) is None
    assert target_logits(model, data, sampler, np.empty(0, dtype=np.int64), None).shape == (0,)
    rows = rng.integers(0, 1_001, 20)
    np.testing.assert_allclose(target_logits(model, data, sampler, rows, None),
                               expected[rows].numpy(), rtol=0 if EXACT_BLAS else 1e-5,
                               atol=0 if EXACT_BLAS else 1e-5)


def test_row_file_reads_and_writes_blocks_of_rows_in_place(tmp_path):
    """A created file holds zero rows (its capacity beyond the rows used too); rows written
    block by block are read back, and np.load reads the same array; an existing file opens
    for its first rows; one of too few rows or another dtype is refused."""
    values = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    with RowFile.create(tmp_path / "a.npy", 50, 3, capacity=60) as rows:
        assert len(rows) == 50
        assert torch.equal(rows[slice(10, 20)], torch.zeros((10, 3)))
        for lo in range(0, 50, 16):
            block = slice(lo, min(lo + 16, 50))
            rows[block] = torch.from_numpy(values[block])
        assert torch.equal(rows[slice(7, 41)], torch.from_numpy(values[7:41]))
    saved = np.load(tmp_path / "a.npy")
    np.testing.assert_array_equal(saved[:50], values)
    np.testing.assert_array_equal(saved[50:], np.zeros((10, 3), dtype=np.float32))
    with RowFile.open(tmp_path / "a.npy", 55) as rows:
        rows[slice(3, 5)] = torch.ones((2, 3))
        assert torch.equal(rows[slice(2, 6)][1:3], torch.ones((2, 3)))
    with pytest.raises(ValueError):
        RowFile.open(tmp_path / "a.npy", 61)
    np.save(tmp_path / "b.npy", values.astype(np.float64))
    with pytest.raises(ValueError):
        RowFile.open(tmp_path / "b.npy", 10)
