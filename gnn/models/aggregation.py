"""Neighbour aggregation (mean and standard deviation) by scatter, in bounded-memory chunks."""

from __future__ import annotations

import torch

AGGREGATORS = ("mean", "std")


def aggregate(
    x_src: torch.Tensor,
    edge_index: torch.Tensor,
    num_dst: int,
    aggregators: tuple[str, ...] = AGGREGATORS,
    edge_weight: torch.Tensor | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Aggregate source features onto destination nodes, one block per aggregator.

    Parameters
    ----------
    x_src
        ``(num_src, F)`` source node features.
    edge_index
        ``(2, E)`` edges, messages flowing from row 0 to row 1.
    num_dst
        Number of destination nodes.
    aggregators
        Any of ``mean`` and ``std`` (weighted when ``edge_weight`` is given).
    edge_weight
        Optional ``(E,)`` weights (the explainer differentiates through them).
    chunk_size
        Process at most this many edges at a time (bounds the ``E x F`` gather); only without
        gradients.

    Returns
    -------
    torch.Tensor
        ``(num_dst, F * len(aggregators))``; nodes without neighbours get zeros.
    """
    unknown = set(aggregators) - set(AGGREGATORS)
    if unknown:
        raise ValueError(f"unknown aggregator(s) {sorted(unknown)}; choose from {AGGREGATORS}")
    src, dst = edge_index[0], edge_index[1]
    features = x_src.size(1)
    need_squares = "std" in aggregators
    width = features * (2 if need_squares else 1)
    sums = x_src.new_zeros((num_dst, width))
    weights = x_src.new_zeros(num_dst)
    step = chunk_size if chunk_size and not torch.is_grad_enabled() else max(src.numel(), 1)
    for lo in range(0, src.numel(), step):
        s, d = src[lo : lo + step], dst[lo : lo + step]
        gathered = x_src[s]
        if need_squares:
            gathered = torch.cat([gathered, gathered * gathered], dim=1)
        if edge_weight is None:
            weights.index_add_(0, d, torch.ones_like(d, dtype=x_src.dtype))
        else:
            w = edge_weight[lo : lo + step]
            weights = weights.index_add(0, d, w)
            gathered = gathered * w.unsqueeze(1)
        sums.index_add_(0, d, gathered)
    safe = torch.where(weights > 0, weights, torch.ones_like(weights)).unsqueeze(1)
    mean = sums[:, :features] / safe
    blocks = []
    for name in aggregators:
        if name == "mean":
            blocks.append(mean)
        else:
            variance = (sums[:, features:] / safe - mean * mean).clamp(min=0.0)
            blocks.append(torch.sqrt(variance + 1e-8) * (weights > 0).unsqueeze(1))
    return torch.cat(blocks, dim=1)
