"""Model inputs for mini-batches and whole graphs, and logits computed from them."""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import NodeLoader

from gnn.models.aggregation import mean_adjacency
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler


def long_tensor(values: np.ndarray | torch.Tensor) -> torch.Tensor:
    """An int64 tensor holding a copy of ``values`` (read-only arrays, say from Parquet, too)."""
    return torch.from_numpy(np.array(values, dtype=np.int64))


def align_to_model(data: HeteroData, model: SepHeteroGNN) -> HeteroData:
    """``data`` restricted/extended to the node and edge types ``model`` was trained on.

    Missing node types get no nodes (and features of the trained width), missing edge types no
    edges, so a snapshot lacking a relation the model knows still scores.
    """
    aligned = HeteroData()
    for t, width in model.in_channels.items():
        features = width - sum(1 for et in model.edge_types if et[2] == t)
        if t in data.node_types:
            aligned[t].x = data[t].x
            aligned[t].num_nodes = data[t].num_nodes
        else:
            aligned[t].x = torch.zeros((0, features))
            aligned[t].num_nodes = 0
    for et in model.edge_types:
        if et in data.edge_types:
            aligned[et].edge_index = data[et].edge_index
            aligned[et].edge_time = data[et].edge_time
        else:
            aligned[et].edge_index = torch.empty((2, 0), dtype=torch.long)
            aligned[et].edge_time = torch.empty(0, dtype=torch.long)
    return aligned


def batch_inputs(
    batch: HeteroData, sampler: TemporalNeighborSampler, target_type: str
) -> dict[str, torch.Tensor]:
    """Node features of a sampled mini-batch joined with their time-bounded degree features.

    In a disjoint (time-aware) batch every node inherits the time of the seed whose tree it
    belongs to, so degrees count only edges that existed at that time.
    """
    node_times = None
    if "batch" in batch[target_type] and "seed_time" in batch[target_type]:
        seed_time = batch[target_type].seed_time
        node_times = {t: seed_time[batch[t].batch] for t in batch.node_types}
    degrees = sampler.degree_features({t: batch[t].n_id for t in batch.node_types}, node_times)
    return {t: torch.cat([batch[t].x, degrees[t]], dim=1) for t in batch.node_types}


def hop_counts(batch: HeteroData) -> dict[str, list[int]]:
    """Nodes per type and hop of a sampled mini-batch (its nodes are ordered by hop)."""
    return {t: list(batch[t].num_sampled_nodes) for t in batch.node_types}


def full_graph_inputs(
    data: HeteroData, sampler: TemporalNeighborSampler
) -> dict[str, torch.Tensor]:
    """Node features of the whole graph joined with full-history degree features."""
    ids = {t: torch.arange(data[t].num_nodes) for t in data.node_types}
    degrees = sampler.degree_features(ids, None)
    return {t: torch.cat([data[t].x, degrees[t]], dim=1) for t in data.node_types}


@torch.no_grad()
def full_graph_logits(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    chunk_size: int = 1_000_000,
) -> torch.Tensor:
    """Logits of every target node, every neighbour included (exact, deterministic).

    Neighbour means are sparse-matrix products with the sampler's CSR arrays (no ``E x hidden``
    gather), so memory beyond the node embeddings (``num_nodes x hidden`` per layer) stays
    bounded by the graph itself.
    """
    model.eval()
    x_dict = full_graph_inputs(data, sampler)
    adjacency = {
        et: mean_adjacency(
            torch.from_numpy(csr.rowptr),
            torch.from_numpy(csr.col),
            int(data[et[0]].num_nodes),
        )
        for et, csr in sampler.csr.items()
    }
    return model(x_dict, adjacency, chunk_size=chunk_size)


@torch.no_grad()
def sampled_logits(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    index: np.ndarray,
    time: np.ndarray | None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Logits of ``index`` nodes of the target type from sampled, time-bounded subgraphs."""
    model.eval()
    target = model.target_type
    loader = NodeLoader(
        data,
        sampler,
        input_nodes=(target, long_tensor(index)),
        input_time=None if time is None else long_tensor(time),
        batch_size=batch_size,
        shuffle=False,
    )
    out = []
    for batch in loader:
        logits = model(
            batch_inputs(batch, sampler, target),
            batch.edge_index_dict,
            num_sampled_nodes_dict=hop_counts(batch),
        )
        out.append(logits[: batch[target].batch_size])
    return torch.cat(out) if out else torch.empty(0)


def target_logits(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    index: np.ndarray,
    time: np.ndarray | None,
    chunk_size: int = 1_000_000,
) -> np.ndarray:
    """Logits of target rows ``index``: from the whole graph, or sampled up to ``time`` per row.

    Without time bounds every neighbour counts (:func:`full_graph_logits`, exact); with them each
    row sees only the edges not newer than its time (:func:`sampled_logits`).
    """
    if time is None:
        logits = full_graph_logits(model, data, sampler, chunk_size)
        return logits[long_tensor(index)].numpy()
    return sampled_logits(model, data, sampler, index, time).numpy()
