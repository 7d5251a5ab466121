import numpy as np
import pytest
import torch
from torch_geometric.loader import NodeLoader

from gnn.data.snapshot_graph import model_view, snapshot_to_heterodata
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler
from gnn.training import (
    EarlyStopping,
    Objective,
    Seeds,
    TrainingSettings,
    class_weight,
    train_model,
    train_step,
)
from tests.gnn.planted import planted_rings


def test_class_weight():
    y = np.array([1.0, 0.0, 0.0, 0.0])
    assert float(class_weight(y, "balanced")) == pytest.approx(3.0)
    assert float(class_weight(y, 2.5)) == pytest.approx(2.5)
    assert class_weight(y, None) is None


def test_training_stops_early_and_keeps_the_best_epoch():
    snapshot, truth = planted_rings(num_accounts=120, num_rings=4)
    data = model_view(snapshot_to_heterodata(snapshot)[0])
    torch.manual_seed(0)
    sampler = TemporalNeighborSampler(data, [5, 5], seed=0)
    in_channels = {t: data[t].x.size(1) + len(sampler.incoming(t)) for t in data.node_types}
    model = SepHeteroGNN(in_channels, data.edge_types, 8, 2)
    y = truth["label"].to_numpy(np.float32)
    rows = np.arange(len(y))
    settings = TrainingSettings(
        lr=0.0, weight_decay=0.0, batch_size=64, max_epochs=20, patience=2,
        early_stopping_metric="auroc", pos_weight="balanced", chunk_size=1000, random_state=0,
    )
    history = train_model(model, data, sampler, Seeds(rows, y), Seeds(rows, y), settings)
    # lr 0: the weights never change, so no epoch beats the first and patience ends it
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert {"loss", "seconds", "auroc", "auprc"} <= set(history[0])


def test_early_stopping_keeps_the_best_weights_and_counts_patience():
    model = torch.nn.Linear(2, 1)
    stopping = EarlyStopping(patience=2)
    assert not stopping.update(model, 0, 0.5)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    torch.nn.init.constant_(model.weight, 7.0)
    assert not stopping.update(model, 1, 0.4)
    assert stopping.update(model, 2, 0.5)  # not better than 0.5: second stale epoch
    assert stopping.best_epoch == 0 and stopping.best == 0.5
    stopping.restore(model)
    assert torch.equal(model.weight, best["weight"])
    assert not EarlyStopping(1).update(model, 0, float("nan"))


def test_train_step_lowers_the_loss_on_its_batch():
    snapshot, truth = planted_rings(num_accounts=120, num_rings=4)
    data = model_view(snapshot_to_heterodata(snapshot)[0])
    torch.manual_seed(0)
    sampler = TemporalNeighborSampler(data, [5, 5], seed=0)
    in_channels = {t: data[t].x.size(1) + len(sampler.incoming(t)) for t in data.node_types}
    model = SepHeteroGNN(in_channels, data.edge_types, 8, 2, dropout=0.0)
    y = truth["label"].to_numpy(np.float32)
    rows = np.arange(len(y))
    settings = TrainingSettings(
        lr=0.01, weight_decay=0.0, batch_size=256, max_epochs=1, patience=1,
        early_stopping_metric="auroc", pos_weight="balanced", chunk_size=1000, random_state=0,
    )
    objective = Objective.build(model.parameters(), Seeds(rows, y), len(y), settings)
    assert torch.equal(objective.labels, torch.from_numpy(y))
    batch = next(iter(NodeLoader(data, sampler, input_nodes=("Account", torch.arange(len(y))),
                                 batch_size=256)))
    losses = [train_step(model, batch, sampler, "Account", objective) for _ in range(20)]
    assert losses[0][1] == len(y)
    assert losses[-1][0] < losses[0][0]


def test_seed_offsets_reach_the_loss_and_the_validation_logits():
    seeds = Seeds(np.array([2, 0]), np.array([1.0, 0.0]), offset=np.array([1.5, -2.0]))
    np.testing.assert_allclose(seeds.logits(np.array([0.5, 0.5])), [2.0, -1.5])
    assert Seeds(np.array([0]), np.array([1.0])).logits(np.array([0.25]))[0] == 0.25
    settings = TrainingSettings(
        lr=0.01, weight_decay=0.0, batch_size=2, max_epochs=1, patience=1,
        early_stopping_metric="auroc", pos_weight=None, chunk_size=10, random_state=0,
    )
    objective = Objective.build(torch.nn.Linear(1, 1).parameters(), seeds, 4, settings)
    np.testing.assert_allclose(objective.offsets.numpy(), [-2.0, 0.0, 1.5, 0.0])
    assert Objective.build([torch.nn.Parameter(torch.zeros(1))], Seeds(np.array([0]),
                           np.array([1.0])), 1, settings).offsets is None
