"""Model inputs for mini-batches and whole graphs, and logits computed from them."""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import NodeLoader

from gnn.models.aggregation import mean_adjacency
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler


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
        input_nodes=(target, torch.as_tensor(index, dtype=torch.long)),
        input_time=None if time is None else torch.as_tensor(time, dtype=torch.long),
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
