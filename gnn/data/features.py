"""Numeric node features: a JSON-serialisable scaler, multi-hop neighbour aggregates, and
spectral positions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import eigsh
from sklearn.preprocessing import QuantileTransformer


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


@dataclass
class FeatureScaler:
    """Per node type: ``sign(x) * log1p(|x|)`` then standardisation with statistics from fitting.

    The statistics are plain lists so the scaler round-trips through JSON with the model.

    Parameters
    ----------
    columns
        Node type -> feature column names, in model order.
    mean, std
        Node type -> per-column statistics of the log-transformed values.
    """

    columns: dict[str, list[str]] = field(default_factory=dict)
    mean: dict[str, list[float]] = field(default_factory=dict)
    std: dict[str, list[float]] = field(default_factory=dict)

    def fit(self, tables: dict[str, pd.DataFrame], columns: dict[str, list[str]]) -> FeatureScaler:
        """Learn the statistics of ``columns`` of each table; returns ``self``."""
        for node_type, cols in columns.items():
            values = _signed_log1p(tables[node_type][cols].to_numpy(dtype=np.float64))
            mean = np.nanmean(values, axis=0) if len(values) else np.zeros(len(cols))
            std = np.nanstd(values, axis=0) if len(values) else np.ones(len(cols))
            self.columns[node_type] = list(cols)
            self.mean[node_type] = np.nan_to_num(mean).tolist()
            self.std[node_type] = np.where(np.nan_to_num(std) > 1e-12, std, 1.0).tolist()
        return self

    def transform(self, node_type: str, table: pd.DataFrame) -> torch.Tensor:
        """Scaled features of ``table`` as a float32 tensor (missing values become 0 = the mean).

        Raises
        ------
        ValueError
            If ``table`` lacks a column the scaler was fitted on.
        """
        cols = self.columns.get(node_type, [])
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise ValueError(
                f"node type {node_type!r} lacks feature columns {missing} that the model was "
                f"trained with (it has {list(table.columns)}); score a snapshot built with the "
                "same feature set or retrain the model"
            )
        if not cols:
            return torch.zeros((len(table), 0), dtype=torch.float32)
        values = _signed_log1p(table[cols].to_numpy(dtype=np.float64))
        values = (values - np.asarray(self.mean[node_type])) / np.asarray(self.std[node_type])
        return torch.from_numpy(np.nan_to_num(values).astype(np.float32))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description."""
        return {"columns": self.columns, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FeatureScaler:
        """Rebuild a scaler from :meth:`to_dict` output."""
        return cls(columns=state["columns"], mean=state["mean"], std=state["std"])


def quantile_normal(x: torch.Tensor, n_quantiles: int = 200) -> torch.Tensor:
    """Map every column of ``x`` through its empirical quantiles onto a standard normal.

    Heavy-tailed counts and rates (Tolokers' task counts, for one) become bell-shaped, so a few
    extreme rows no longer dominate a linear layer's input. Unsupervised: it uses no labels.
    Tied values map to the same output.

    Returns
    -------
    torch.Tensor
        float32 tensor of ``x``'s shape, values in about [-5.2, 5.2].
    """
    if x.size(0) == 0 or x.size(1) == 0:
        return x.to(torch.float32)
    transformer = QuantileTransformer(
        n_quantiles=min(n_quantiles, x.size(0)), output_distribution="normal"
    )
    values = transformer.fit_transform(x.numpy().astype(np.float64))
    return torch.from_numpy(values.astype(np.float32))


def _scatter_stats(
    x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, num_nodes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    deg = torch.zeros(num_nodes, dtype=x.dtype).index_add_(
        0, dst, torch.ones_like(dst, dtype=x.dtype)
    )
    total = torch.zeros((num_nodes, x.size(1)), dtype=x.dtype).index_add_(0, dst, x[src])
    squares = torch.zeros_like(total).index_add_(0, dst, x[src] ** 2)
    maximum = torch.full_like(total, float("-inf")).scatter_reduce_(
        0, dst.unsqueeze(1).expand(-1, x.size(1)), x[src], "amax", include_self=True
    )
    denom = deg.clamp(min=1).unsqueeze(1)
    mean = total / denom
    std = (squares / denom - mean**2).clamp(min=0).sqrt()
    maximum = torch.where(deg.unsqueeze(1) > 0, maximum, torch.zeros_like(maximum))
    return mean, maximum, std, deg


def neighbor_aggregates(
    x: torch.Tensor,
    edge_index: torch.Tensor,
    hops: int = 2,
    stats: tuple[str, ...] = ("mean", "max", "std"),
) -> torch.Tensor:
    """Concatenate ``x`` with the neighbour mean/max/std of each hop and ``log1p(degree)``.

    Hop ``h`` aggregates the hop ``h - 1`` *mean* features of the neighbours, so hop 2 is the mean
    of the neighbours' neighbour means (the GADBench "XGB-Graph" recipe, extended with max and std).
    Messages flow from ``edge_index[0]`` to ``edge_index[1]``. Uses the whole graph: only for
    static graphs where no time split applies.

    Parameters
    ----------
    x
        ``(num_nodes, F)`` node features.
    edge_index
        ``(2, E)`` edges.
    hops
        Number of aggregation hops.
    stats
        Which of ``mean``, ``max``, ``std`` to append for each hop.

    Returns
    -------
    torch.Tensor
        ``(num_nodes, F * (1 + hops * len(stats)) + 1)`` features.
    """
    num_nodes = x.size(0)
    src, dst = edge_index[0], edge_index[1]
    blocks = [x]
    current = x
    deg = torch.zeros(num_nodes)
    for _ in range(hops):
        mean, maximum, std, deg = _scatter_stats(current, src, dst, num_nodes)
        chosen = {"mean": mean, "max": maximum, "std": std}
        blocks.extend(chosen[s] for s in stats)
        current = mean
    blocks.append(torch.log1p(deg).unsqueeze(1))
    return torch.cat(blocks, dim=1)


def spectral_positions(edge_index: torch.Tensor, num_nodes: int, k: int) -> torch.Tensor:
    """Where each node sits in the graph: the top ``k`` non-trivial eigenvectors of the
    normalised adjacency ``D^-1/2 A D^-1/2`` (Laplacian eigenmaps), edges taken as undirected.

    Nodes in the same tightly knit region get similar coordinates, so a model can learn that one
    region (one team, one project, one ring) is riskier than another, a signal that neighbour
    aggregates of a few hops do not carry. Unsupervised (no labels) and transductive: computed on
    the whole static graph, like :func:`neighbor_aggregates`. Columns are scaled to unit mean
    square; an eigenvector's sign is arbitrary but fixed for a given graph (seeded start vector).

    Parameters
    ----------
    edge_index
        ``(2, E)`` edges (direction ignored).
    num_nodes
        Number of nodes.
    k
        Number of eigenvectors (at most ``num_nodes - 2``).

    Returns
    -------
    torch.Tensor
        ``(num_nodes, k)`` float32 coordinates.
    """
    if not 0 < k <= num_nodes - 2:
        raise ValueError(f"k must be in [1, num_nodes - 2] = [1, {num_nodes - 2}], not {k}")
    src, dst = edge_index.numpy()
    adjacency = sp.coo_matrix((np.ones(len(src)), (src, dst)), shape=(num_nodes, num_nodes))
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64).tocsr()
    scale = 1.0 / np.sqrt(np.maximum(np.asarray(adjacency.sum(axis=1)).ravel(), 1.0))
    normalised = sp.diags(scale) @ adjacency @ sp.diags(scale)
    start = np.random.default_rng(0).uniform(0.5, 1.5, num_nodes)
    values, vectors = eigsh(normalised, k=k + 1, which="LA", v0=start)
    vectors = vectors[:, np.argsort(-values)[1:]]  # drop the top (degree) eigenvector
    return torch.from_numpy((vectors * np.sqrt(num_nodes)).astype(np.float32))
