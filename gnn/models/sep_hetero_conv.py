"""One heterogeneous message-passing layer that keeps ego and neighbour signals apart."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.typing import EdgeType

from gnn.models.aggregation import AGGREGATORS, aggregate_blocks


class SepHeteroConv(nn.Module):
    r"""Ego/neighbour-separated heterogeneous layer with a residual connection.

    For node type :math:`t` with incoming relations :math:`r_1..r_k`:

    .. math::
        h_t' = h_t + \mathrm{Dropout}(\mathrm{ReLU}(\mathrm{LayerNorm}(
               W_t [h_t \,\|\, \mathrm{agg}_{r_1}(h) \,\|\, \dots \,\|\, \mathrm{agg}_{r_k}(h)])))

    The ego embedding and each relation's aggregate (mean and standard deviation) are concatenated,
    never summed, so each gets its own weights: neighbours that look unlike the node (heterophily,
    camouflage edges to benign accounts) cannot wash out its own signal (GraphSAGE/H2GCN-sep).

    Parameters
    ----------
    node_types
        Node types to update.
    edge_types
        All edge types ``(src, rel, dst)`` (reversed edges included as their own types).
    channels
        Width of the node embeddings (input = output).
    aggregators
        Neighbour statistics per relation (``mean``, ``std``).
    dropout
        Dropout on the update.
    """

    def __init__(
        self,
        node_types: list[str],
        edge_types: list[EdgeType],
        channels: int,
        aggregators: tuple[str, ...] = AGGREGATORS,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.node_types = list(node_types)
        self.edge_types = [tuple(et) for et in edge_types]
        self.channels = channels
        self.aggregators = tuple(aggregators)
        self.dropout = dropout
        self.incoming = {t: [et for et in self.edge_types if et[2] == t] for t in self.node_types}
        width = channels * len(self.aggregators)
        self.lin = nn.ModuleDict(
            {t: nn.Linear(channels + width * len(self.incoming[t]), channels) for t in node_types}
        )
        self.norm = nn.ModuleDict({t: nn.LayerNorm(channels) for t in node_types})
        self.reset_parameters()

    def _block_widths(self, node_type: str) -> list[int]:
        width = self.channels * len(self.aggregators)
        return [self.channels] + [width] * len(self.incoming[node_type])

    def reset_parameters(self) -> None:
        """Re-initialise all weights."""
        for t in self.node_types:
            self.lin[t].reset_parameters()
            self.norm[t].reset_parameters()

    def forward(
        self,
        h_dict: dict[str, torch.Tensor],
        edge_index_dict: dict[EdgeType, torch.Tensor],
        edge_weight_dict: dict[EdgeType, torch.Tensor] | None = None,
        node_types: list[str] | None = None,
        chunk_size: int | None = None,
        num_dst: dict[str, int] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Update the embeddings of ``node_types`` (default: all) and return them.

        With ``num_dst``, only the first ``num_dst[t]`` nodes of type ``t`` are updated (the
        others pass through unchanged): in a sampled subgraph the outermost hops are only
        inputs to later layers, so computing them would be wasted work.
        """
        out = {}
        for t in node_types or self.node_types:
            h = h_dict[t]
            keep = h.size(0) if num_dst is None else min(num_dst.get(t, 0), h.size(0))
            ego = h[:keep]
            # W [ego || agg_1 || ... || agg_k] computed block by block (each aggregate's
            # statistics too): the same product as concatenating first, without materialising
            # the wide concatenation.
            weight_blocks = self.lin[t].weight.split(self._block_widths(t), dim=1)
            mixed = torch.addmm(self.lin[t].bias, ego, weight_blocks[0].t())
            for et, block in zip(self.incoming[t], weight_blocks[1:], strict=True):
                src = h_dict.get(et[0])
                edge_index = edge_index_dict.get(et)
                if src is None or edge_index is None:
                    continue  # no neighbours: a zero block adds nothing
                weight = None if edge_weight_dict is None else edge_weight_dict.get(et)
                if keep < h.size(0) and edge_index.layout == torch.strided:
                    inside = edge_index[1] < keep
                    edge_index = edge_index[:, inside]
                    weight = None if weight is None else weight[inside]
                neighbours = aggregate_blocks(
                    src, edge_index, keep, self.aggregators, weight, chunk_size
                )
                for part, part_weight in zip(
                    neighbours, block.split(self.channels, dim=1), strict=True
                ):
                    mixed = mixed.addmm(part, part_weight.t())
            update = torch.relu(self.norm[t](mixed))
            updated = ego + nn.functional.dropout(update, self.dropout, self.training)
            out[t] = updated if keep == h.size(0) else torch.cat([updated, h[keep:]])
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.channels}, node_types={len(self.node_types)}, "
            f"edge_types={len(self.edge_types)}, aggregators={list(self.aggregators)})"
        )
