"""The training loop: mini-batches of sampled subgraphs, early stopping on validation quality.

Each epoch shows on the progress display (when enabled) as one step of a bar with the epoch's
loss and validation AUROC; the same figures go to this module's logger at DEBUG, the epoch kept
at INFO.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import NodeLoader

from gnn.evaluate import node_metrics
from gnn.inference import batch_inputs, hop_counts, long_tensor, target_logits
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler
from ingest.progress import progress_display

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seeds:
    """Labelled target rows: ``index``, labels ``y`` and optional time bounds ``time``."""

    index: np.ndarray
    y: np.ndarray
    time: np.ndarray | None = None


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
    train_y = np.asarray(train.y, dtype=np.float32)
    loader = NodeLoader(
        data,
        sampler,
        input_nodes=(model.target_type, long_tensor(train.index)),
        input_time=None if train.time is None else long_tensor(train.time),
        batch_size=settings.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(settings.random_state),
    )
    labels = torch.zeros(data[model.target_type].num_nodes)
    labels[long_tensor(train.index)] = torch.from_numpy(train_y)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=class_weight(train_y, settings.pos_weight))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    metric = settings.early_stopping_metric
    best, best_epoch, best_state, stale = -np.inf, 0, None, 0
    history: list[dict[str, float]] = []
    with progress_display(progress) as bars:
        task = bars.add("training", total=settings.max_epochs)
        for epoch in range(settings.max_epochs):
            started = time.perf_counter()
            loss = _train_epoch(model, loader, sampler, labels, loss_fn, optimizer)
            val_logits = target_logits(
                model, data, sampler, val.index, val.time, settings.chunk_size
            )
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
            current = quality[metric]
            if np.isnan(current) or current > best:
                best, best_epoch, stale = current, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if stale >= settings.patience:
                    logger.info(
                        "early stopping after epoch %d: no better validation %s for %d epochs",
                        epoch, metric, settings.patience,
                    )
                    break
    model.load_state_dict(best_state)
    logger.info(
        "kept epoch %d of %d (validation %s %.4f)", best_epoch, len(history), metric, best
    )
    return history


def _train_epoch(
    model: SepHeteroGNN,
    loader: NodeLoader,
    sampler: TemporalNeighborSampler,
    labels: torch.Tensor,
    loss_fn: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
) -> float:
    """One pass over the training seeds; the mean loss per seed."""
    model.train()
    target = model.target_type
    total, count = 0.0, 0
    for batch in loader:
        size = batch[target].batch_size
        optimizer.zero_grad()
        logits = model(
            batch_inputs(batch, sampler, target),
            batch.edge_index_dict,
            num_sampled_nodes_dict=hop_counts(batch),
        )
        loss = loss_fn(logits[:size], labels[batch[target].n_id[:size]])
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * size
        count += size
    return total / max(count, 1)
