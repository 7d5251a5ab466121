"""The account scoring network: encoders, ego/neighbour-separated layers, a JK head."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.typing import EdgeType

from gnn.models.aggregation import AGGREGATORS
from gnn.models.sep_hetero_conv import SepHeteroConv


class SepHeteroGNN(nn.Module):
    """Heterogeneous GNN returning one logit per node of ``target_type``.

    Each node type gets its own input encoder; :class:`SepHeteroConv` layers (residual, layer
    norm, ego and per-relation neighbour aggregates concatenated) follow; the head reads the
    concatenation of the target node's embeddings from every layer (as H2GCN combines its
    intermediate representations), so the raw ego signal reaches the output untouched by
    neighbours.

    Parameters
    ----------
    in_channels
        Node type -> input feature width.
    edge_types
        Edge types the layers pass messages along.
    hidden_channels
        Embedding width.
    num_layers
        Message-passing layers (hops).
    aggregators
        Neighbour statistics (``mean``, ``std``).
    dropout
        Dropout rate.
    target_type
        The node type scored.
    """

    def __init__(
        self,
        in_channels: dict[str, int],
        edge_types: list[EdgeType],
        hidden_channels: int = 64,
        num_layers: int = 2,
        aggregators: tuple[str, ...] = AGGREGATORS,
        dropout: float = 0.2,
        target_type: str = "Account",
    ) -> None:
        super().__init__()
        self.in_channels = dict(in_channels)
        self.edge_types = [tuple(et) for et in edge_types]
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.aggregators = tuple(aggregators)
        self.dropout = dropout
        self.target_type = target_type
        node_types = list(self.in_channels)
        self.encoders = nn.ModuleDict(
            {t: nn.Linear(max(n, 1), hidden_channels) for t, n in self.in_channels.items()}
        )
        self.encoder_norms = nn.ModuleDict({t: nn.LayerNorm(hidden_channels) for t in node_types})
        self.convs = nn.ModuleList(
            SepHeteroConv(node_types, self.edge_types, hidden_channels, self.aggregators, dropout)
            for _ in range(num_layers)
        )
        self.head = nn.Sequential(
            nn.Linear(hidden_channels * (num_layers + 1), hidden_channels),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_channels, 1),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise all weights."""
        for t in self.in_channels:
            self.encoders[t].reset_parameters()
            self.encoder_norms[t].reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()
        for layer in self.head:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def encode(self, x_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Input embeddings per node type (types without features get a constant input)."""
        out = {}
        for t, x in x_dict.items():
            if t not in self.encoders:
                continue
            if x.size(1) == 0:
                x = x.new_ones((x.size(0), 1))
            h = torch.relu(self.encoder_norms[t](self.encoders[t](x)))
            out[t] = nn.functional.dropout(h, self.dropout, self.training)
        return out

    def forward(
        self,
        x_dict: dict[str, torch.Tensor],
        edge_index_dict: dict[EdgeType, torch.Tensor],
        edge_weight_dict: dict[EdgeType, torch.Tensor] | None = None,
        chunk_size: int | None = None,
        num_sampled_nodes_dict: dict[str, list[int]] | None = None,
    ) -> torch.Tensor:
        """Logits ``(num_target_nodes,)`` for every node of ``target_type`` in the input.

        ``num_sampled_nodes_dict`` (a mini-batch's nodes per type and hop, nodes ordered by hop)
        lets layer ``i`` update only the nodes within ``num_layers - 1 - i`` hops of the seeds;
        the seeds' logits are unchanged, the work shrinks by the fan-out of the last hop.
        """
        h = self.encode(x_dict)
        layers = [h[self.target_type]]
        for i, conv in enumerate(self.convs):
            last = i == len(self.convs) - 1
            types = [self.target_type] if last else None
            num_dst = None
            if num_sampled_nodes_dict is not None:
                hops = self.num_layers - i
                num_dst = {t: sum(n[:hops]) for t, n in num_sampled_nodes_dict.items()}
            h = {**h, **conv(h, edge_index_dict, edge_weight_dict, types, chunk_size, num_dst)}
            layers.append(h[self.target_type])
        # head[0] applied to the concatenation of the layers, block by block (no wide concat).
        first = self.head[0]
        hidden = first.bias
        for layer, weight in zip(
            layers, first.weight.split(self.hidden_channels, dim=1), strict=True
        ):
            hidden = torch.addmm(hidden, layer, weight.t())
        for module in self.head[1:]:
            hidden = module(hidden)
        return hidden.squeeze(-1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(node_types={list(self.in_channels)}, "
            f"hidden_channels={self.hidden_channels}, num_layers={self.num_layers}, "
            f"aggregators={list(self.aggregators)})"
        )
