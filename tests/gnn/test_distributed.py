"""DDP training over gloo with the graph memory-mapped once: two real processes on this machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.loader import NodeLoader
from torch_geometric.sampler import NodeSamplerInput

from gnn.data.snapshot_graph import model_view, snapshot_to_heterodata
from gnn.detector import AccountDetector
from gnn.distributed import (
    DistributedTrainer,
    EveryParameter,
    read_shared_graph,
    shard,
    write_shared_graph,
)
from gnn.inference import batch_inputs, hop_counts
from gnn.sampler import TemporalNeighborSampler
from gnn.training import train_model
from tests.gnn.planted import planted_rings

SETTINGS = {"hidden_channels": 16, "batch_size": 64, "max_epochs": 6, "patience": 6,
            "num_threads": 1, "random_state": 0, "boost_choice_folds": 0}


@pytest.fixture(scope="module")
def planted():
    return planted_rings(num_accounts=240, num_rings=6, ring_size=6, seed=0)


@pytest.fixture(scope="module")
def two_process_fit(planted):
    snapshot, labels = planted
    trainer = DistributedTrainer(nproc=2, threads=1, verify_sync=True)
    # the boosted residual head: its per-seed offsets travel to the processes too
    detector = AccountDetector(**SETTINGS, boost="residual").fit(snapshot, labels, trainer=trainer)
    return detector, trainer


def test_mapped_graph_samples_like_the_original(planted, tmp_path):
    data = model_view(snapshot_to_heterodata(planted[0])[0])
    sampler = TemporalNeighborSampler(data, [5, 3], seed=7)
    write_shared_graph(data, sampler, tmp_path)
    mapped_data, mapped = read_shared_graph(tmp_path, [5, 3], seed=7)
    assert mapped_data.edge_types == data.edge_types
    assert torch.equal(mapped_data["Account"].x, data["Account"].x)
    seeds = torch.arange(0, 240, 7)
    for time in (None, torch.full((len(seeds),), int(1.705e9))):
        a = sampler.sample_from_nodes(NodeSamplerInput(None, seeds, time, "Account"))
        b = mapped.sample_from_nodes(NodeSamplerInput(None, seeds, time, "Account"))
        for t in a.node:
            assert torch.equal(a.node[t], b.node[t])
        for et in a.row:
            assert torch.equal(a.row[et], b.row[et]) and torch.equal(a.edge[et], b.edge[et])
    assert isinstance(mapped.csr[data.edge_types[0]].col, np.memmap)


@pytest.mark.parametrize("count, world", [(10, 2), (11, 2), (7, 3), (1, 2)])
def test_shards_are_equal_sized_and_cover_every_seed(count, world):
    parts = [shard(count, rank, world, epoch=3, seed=0) for rank in range(world)]
    assert len({len(p) for p in parts}) == 1
    assert set(np.concatenate(parts)) == set(range(count))
    assert sum(len(p) for p in parts) == -(-count // world) * world  # padded, not more


def test_default_trainer_is_the_single_process_loop(planted):
    snapshot, labels = planted
    plain = AccountDetector(**{**SETTINGS, "max_epochs": 2}).fit(snapshot, labels)
    explicit = AccountDetector(**{**SETTINGS, "max_epochs": 2}).fit(
        snapshot, labels, trainer=train_model
    )
    for key, value in plain.model_.state_dict().items():
        assert torch.equal(value, explicit.model_.state_dict()[key])


def test_two_processes_stay_in_sync_and_learn(two_process_fit):
    detector, trainer = two_process_fit
    history = detector.history_
    # 192 training labels, 96 per rank; by default each rank draws batch_size (64) a step
    steps_per_epoch = int(np.ceil(np.ceil(192 / 2) / 64))
    assert [h["synced_steps"] for h in history] == [steps_per_epoch] * len(history)
    assert all(h["seeds"] == 192 for h in history)
    # twice the global batch, twice the learning rate (linear scaling)
    assert all(h["lr"] == pytest.approx(2 * detector.lr) for h in history)
    assert history[-1]["loss"] < history[0]["loss"]
    # the processes validated on the same logits (boosted offsets included) as the parent
    best = max(h["auroc"] for h in history)
    assert detector.metrics_["validation"]["auroc"] == pytest.approx(best, abs=1e-6)
    assert [p["rank"] for p in trainer.processes_] == [0, 1]
    assert all(p["rss"] > 0 and p["graph"] > 0 for p in trainer.processes_)


def test_two_processes_match_one_in_quality(planted, two_process_fit):
    snapshot, labels = planted
    single = AccountDetector(**SETTINGS).fit(snapshot, labels)
    distributed, _ = two_process_fit
    assert distributed.metrics_["validation"]["auroc"] >= 0.85
    assert abs(
        distributed.metrics_["validation"]["auroc"] - single.metrics_["validation"]["auroc"]
    ) <= 0.1


def test_distributed_model_saves_and_scores_like_any(planted, two_process_fit, tmp_path):
    snapshot, _ = planted
    detector, _ = two_process_fit
    loaded = AccountDetector.load(detector.save(tmp_path / "model"))
    assert loaded.boost == "residual" and len(loaded.boost_.models_) == 5
    np.testing.assert_array_equal(
        loaded.score_accounts(snapshot)["score"], detector.score_accounts(snapshot)["score"]
    )


def test_bad_process_count_is_refused(planted):
    snapshot, labels = planted
    with pytest.raises(ValueError, match="nproc"):
        AccountDetector(**SETTINGS).fit(snapshot, labels, trainer=DistributedTrainer(0))


def test_every_parameter_gets_a_gradient_and_the_output_is_unchanged(planted):
    detector = AccountDetector(**{**SETTINGS, "max_epochs": 1}).fit(*planted)
    model = detector.model_
    model.eval()
    model.zero_grad(set_to_none=True)  # the last training step's gradients
    data = model_view(snapshot_to_heterodata(planted[0])[0])
    sampler = TemporalNeighborSampler(data, [5, 3], seed=0)
    loader = NodeLoader(data, sampler, input_nodes=("Account", torch.arange(0, 240, 5)),
                        batch_size=48)
    batch = next(iter(loader))
    inputs = (batch_inputs(batch, sampler, "Account"), batch.edge_index_dict)
    hops = {"num_sampled_nodes_dict": hop_counts(batch)}
    plain = model(*inputs, **hops)
    plain.sum().backward()
    unused = {name for name, p in model.named_parameters() if p.grad is None}
    assert unused  # the last layer's non-target updates: why DDP needs the anchor
    plain_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    anchored = EveryParameter(model)(*inputs, **hops)
    assert torch.equal(anchored, plain)
    anchored.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        if name in unused:
            assert not p.grad.any()
        else:
            assert torch.equal(p.grad, plain_grads[name])


def test_split_batch_per_process_stays_in_sync_with_more_steps(planted):
    snapshot, labels = planted
    trainer = DistributedTrainer(nproc=2, threads=1, verify_sync=True, rank_batch="split")
    detector = AccountDetector(**SETTINGS).fit(snapshot, labels, trainer=trainer)
    steps_per_epoch = int(np.ceil(np.ceil(192 / 2) / 32))  # 32 per rank, not 64
    assert [h["synced_steps"] for h in detector.history_] == [steps_per_epoch] * 6
    assert all(h["lr"] == pytest.approx(detector.lr) for h in detector.history_)
    assert detector.history_[-1]["loss"] < detector.history_[0]["loss"]
    assert detector.metrics_["validation"]["auroc"] >= 0.85


def test_bad_rank_batch_is_refused(planted):
    with pytest.raises(ValueError, match="rank_batch"):
        AccountDetector(**SETTINGS).fit(*planted, trainer=DistributedTrainer(rank_batch="half"))
