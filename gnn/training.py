"""The training loop: mini-batches of sampled subgraphs, early stopping on validation quality.

Each epoch shows on the progress display (when enabled) as one step of a bar with the epoch's
loss and validation AUROC; the same figures go to this module's logger at DEBUG, the epoch kept
at INFO.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import NodeLoader

from gnn.evaluate import node_metrics
from gnn.inference import batch_inputs, hop_counts, long_tensor, row_logits
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler
from ingest.progress import progress_display

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seeds:
    """Labelled target rows: ``index``, labels ``y``, optional time bounds ``time`` and an
    optional fixed ``offset`` logit per row that the network's logit is added to (the boosted
    logit of a residual head, :mod:`gnn.boosted`)."""

    index: np.ndarray
    y: np.ndarray
    time: np.ndarray | None = None
    offset: np.ndarray | None = None

    def logits(self, network: np.ndarray) -> np.ndarray:
        """The rows' logits from the network's logits ``network`` (plus ``offset``)."""
        return network if self.offset is None else network + self.offset


@dataclass(frozen=True)
class TrainingSettings:
    """How :func:`train_model` optimises (see :class:`gnn.detector.AccountDetector`)."""

    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    early_stopping_metric: str
    pos_weight: str | float | None
    chunk_size: int
    random_state: int


class Trainer(Protocol):
    """A training loop with :func:`train_model`'s signature: trains ``model`` in place, returns
    the per-epoch history."""

    def __call__(
        self,
        model: SepHeteroGNN,
        data: HeteroData,
        sampler: TemporalNeighborSampler,
        train: Seeds,
        val: Seeds,
        settings: TrainingSettings,
        *,
        progress: bool = False,
    ) -> list[dict[str, float]]: ...


def class_weight(y: np.ndarray, pos_weight: str | float | None) -> torch.Tensor | None:
    """Loss weight of the positive class: ``"balanced"`` = negatives / positives, a number, or
    ``None``."""
    if pos_weight is None:
        return None
    if pos_weight == "balanced":
        positives = max(float(y.sum()), 1.0)
        return torch.tensor((len(y) - positives) / positives)
    return torch.tensor(float(pos_weight))


@dataclass
class Objective:
    """What a training loop minimises and how: per-node ``labels`` of the target type (0 where
    unlabelled), the class-weighted ``loss_fn``, the AdamW ``optimizer`` and per-node fixed
    ``offsets`` added to the network's logits (``None``: none)."""

    labels: torch.Tensor
    loss_fn: torch.nn.Module
    optimizer: torch.optim.Optimizer
    offsets: torch.Tensor | None = None

    @classmethod
    def build(
        cls,
        parameters: Iterable[torch.nn.Parameter],
        train: Seeds,
        num_nodes: int,
        settings: TrainingSettings,
    ) -> Objective:
        """The objective of ``train`` among ``num_nodes`` target nodes, optimising
        ``parameters``."""
        train_y = np.asarray(train.y, dtype=np.float32)
        labels = torch.zeros(num_nodes)
        labels[long_tensor(train.index)] = torch.from_numpy(train_y)
        loss_fn = torch.nn.BCEWithLogitsLoss(
            pos_weight=class_weight(train_y, settings.pos_weight)
        )
        optimizer = torch.optim.AdamW(
            parameters, lr=settings.lr, weight_decay=settings.weight_decay
        )
        offsets = None
        if train.offset is not None:
            offsets = torch.zeros(num_nodes)
            offsets[long_tensor(train.index)] = torch.from_numpy(
                np.asarray(train.offset, dtype=np.float32)
            )
        return cls(labels, loss_fn, optimizer, offsets)


def train_step(
    model: torch.nn.Module,
    batch: HeteroData,
    sampler: TemporalNeighborSampler,
    target: str,
    objective: Objective,
) -> tuple[float, int]:
    """One optimisation step on a sampled mini-batch whose seeds are ``target`` nodes.

    ``model`` is the network or a wrapper with its call signature (DDP). Returns the mean
    loss over the batch's seeds and their number.
    """
    size = batch[target].batch_size
    objective.optimizer.zero_grad()
    logits = model(
        batch_inputs(batch, sampler, target),
        batch.edge_index_dict,
        num_sampled_nodes_dict=hop_counts(batch),
    )
    seeds = batch[target].n_id[:size]
    logits = logits[:size]
    if objective.offsets is not None:
        logits = logits + objective.offsets[seeds]
    loss = objective.loss_fn(logits, objective.labels[seeds])
    loss.backward()
    objective.optimizer.step()
    return float(loss.detach()), size


class EarlyStopping:
    """Keeps the weights of the best epoch by a validation metric; says when to stop.

    Parameters
    ----------
    patience
        Epochs without a better value before :meth:`update` says stop. A NaN value (one
        validation class only) counts as better, so the latest weights are kept.
    """

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = -np.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stale = 0

    def update(self, model: torch.nn.Module, epoch: int, value: float) -> bool:
        """Record ``epoch``'s validation ``value`` (keeping ``model``'s weights when better);
        ``True`` when training should stop."""
        if np.isnan(value) or value > self.best:
            self.best, self.best_epoch, self.stale = value, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
            return False
        self.stale += 1
        return self.stale >= self.patience

    def restore(self, model: torch.nn.Module) -> None:
        """Load the best epoch's weights back into ``model``."""
        model.load_state_dict(self.best_state)


def train_model(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    train: Seeds,
    val: Seeds,
    settings: TrainingSettings,
    *,
    progress: bool = False,
) -> list[dict[str, float]]:
    """Train ``model`` in place with AdamW and a class-weighted loss; keep its best epoch.

    Training stops after ``settings.patience`` epochs without a better validation
    ``early_stopping_metric``; the weights of the best epoch are loaded back.

    Parameters
    ----------
    model, data, sampler
        The network, its graph (a model view) and the sampler drawing the mini-batches.
    train, val
        Training seeds (drawn ``batch_size`` at a time, shuffled) and validation seeds.
    settings
        Optimisation settings.
    progress
        Show a per-epoch bar with the loss and the validation AUROC.

    Returns
    -------
    list[dict[str, float]]
        One record per epoch run: ``epoch``, ``loss``, ``seconds`` and the validation metrics.
    """
    loader = NodeLoader(
        data,
        sampler,
        input_nodes=(model.target_type, long_tensor(train.index)),
        input_time=None if train.time is None else long_tensor(train.time),
        batch_size=settings.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(settings.random_state),
    )
    objective = Objective.build(
        model.parameters(), train, data[model.target_type].num_nodes, settings
    )
    metric = settings.early_stopping_metric
    validation = row_logits(model, data, sampler, val.index, val.time, settings.chunk_size)
    stopping = EarlyStopping(settings.patience)
    history: list[dict[str, float]] = []
    with progress_display(progress) as bars:
        task = bars.add("training", total=settings.max_epochs)
        for epoch in range(settings.max_epochs):
            started = time.perf_counter()
            loss = _train_epoch(model, loader, sampler, objective)
            val_logits = val.logits(validation())
            quality = node_metrics(val.y, val_logits)
            history.append(
                {"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - started, **quality}
            )
            bars.update(
                task,
                completed=epoch + 1,
                info=f"loss {loss:.4f} val AUROC {quality['auroc']:.3f}",
            )
            logger.debug(
                "epoch %d: loss %.4f, validation %s",
                epoch, loss, ", ".join(f"{k} {v:.4f}" for k, v in quality.items()),
            )
            if stopping.update(model, epoch, quality[metric]):
                logger.info(
                    "early stopping after epoch %d: no better validation %s for %d epochs",
                    epoch, metric, settings.patience,
                )
                break
    stopping.restore(model)
    logger.info(
        "kept epoch %d of %d (validation %s %.4f)",
        stopping.best_epoch, len(history), metric, stopping.best,
    )
    return history


def _train_epoch(
    model: SepHeteroGNN,
    loader: NodeLoader,
    sampler: TemporalNeighborSampler,
    objective: Objective,
) -> float:
    """One pass over the training seeds; the mean loss per seed."""
    model.train()
    total, count = 0.0, 0
    for batch in loader:
        loss, size = train_step(model, batch, sampler, model.target_type, objective)
        total += loss * size
        count += size
    return total / max(count, 1)
