"""XGB-Graph scores of chosen accounts of a graph that grows in place, from their neighbourhood.

:class:`gnn.baselines.xgb_graph.XGBGraph` scores an account from
:func:`~gnn.baselines.xgb_graph.hop_features`: its own scaled features and ``log1p`` in-degree
per relation (level 0), then per hop, for every relation ending at it, the mean over its
in-neighbours of their previous level. With ``hops`` hops an account's row depends only on the
nodes within ``hops`` in-hops of it, so :class:`LiveXGBGraph` computes the rows asked for from
their neighbourhood in a :class:`~gnn.local_scoring.LocalGraph` (its current edges) and the
nodes' current scaled features: the batch formula's values up to float64 summation order (each
level cast to float32 as the batch casts it), put through the same trees and calibrator
(:meth:`~gnn.baselines.xgb_graph.XGBGraph.probabilities`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch_geometric.typing import EdgeType

from gnn.baselines.xgb_graph import XGBGraph
from gnn.data.snapshot_graph import reverse_edge_type
from gnn.local_scoring import LocalGraph
from graph.snapshot import ACCOUNT

#: Target rows :meth:`LiveXGBGraph.fit` scores at a time.
_FIT_ROWS = 65_536


class LiveXGBGraph:
    """A fitted XGB-Graph scoring the accounts of a :class:`LocalGraph` as it is now.

    Parameters
    ----------
    model
        The fitted XGB-Graph (its ``hops`` and trees).
    inputs
        ``(node_type, rows) -> scaled features`` (float32, the XGB-Graph scaler's columns) of
        the graph's nodes as they are now.
    widths
        Node type -> width of its scaled features (every node type of the graph).
    """

    def __init__(self, model: XGBGraph, inputs: Callable[[str, np.ndarray], np.ndarray],
                 widths: dict[str, int]) -> None:
        self.model = model
        self.hops = model.hops
        self.inputs = inputs
        self.widths = widths

    def _into(self, graph: LocalGraph) -> dict[str, list[EdgeType]]:
        """Per node type, the edge types ending at it in the snapshot graph's order (each
        relation, then its reverse)."""
        order = [et for r in graph.relations for et in (r, reverse_edge_type(r))]
        return {t: [et for et in order if et[2] == t] for t in self.widths}

    def _level(self, graph: LocalGraph, into: dict[str, list[EdgeType]], node_type: str,
               rows: np.ndarray, level: int) -> np.ndarray:
        """Level ``level`` of ``rows`` of ``node_type`` (float64)."""
        if level == 0:
            x = self.inputs(node_type, rows).astype(np.float64)
            degrees = [np.log1p(graph.adjacency[et].degree(rows).astype(np.float64))
                       for et in into[node_type]]
            return np.column_stack([x, *degrees]).reshape(
                len(rows), self._width(into, node_type, 0))
        blocks = [np.empty((len(rows), 0))]
        for et in into[node_type]:
            position, src = graph.adjacency[et].gather(rows)
            sources, inverse = np.unique(src, return_inverse=True)
            values = self._level(graph, into, et[0], sources, level - 1)[inverse]
            degree = np.bincount(position, minlength=len(rows)).astype(np.float64)
            share = (1.0 / np.maximum(degree, 1.0))[position]
            mean = np.zeros((len(rows), values.shape[1]))
            np.add.at(mean, position, values * share[:, None])
            blocks.append(mean)
        return np.hstack(blocks).reshape(len(rows), self._width(into, node_type, level))

    def _width(self, into: dict[str, list[EdgeType]], node_type: str, level: int) -> int:
        """Columns of level ``level`` of ``node_type``."""
        if level == 0:
            return self.widths[node_type] + len(into[node_type])
        return sum(self._width(into, et[0], level - 1) for et in into[node_type])

    def features(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """:func:`~gnn.baselines.xgb_graph.hop_features` of account ``rows`` (float32)."""
        rows = np.asarray(rows, dtype=np.int64)
        into = self._into(graph)
        return np.hstack([self._level(graph, into, ACCOUNT, rows, h).astype(np.float32)
                          for h in range(self.hops + 1)])

    def scores(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """Probability of abuse of account ``rows`` (float64)."""
        if not len(rows):
            return np.empty(0)
        return np.asarray(self.model.probabilities(self.features(graph, rows)), dtype=np.float64)

    def fit(self, graph: LocalGraph) -> np.ndarray:
        """Every account's score, by the batch scoring itself
        (:meth:`~gnn.baselines.xgb_graph.XGBGraph.score_graph`) on the whole graph."""
        data = graph.to_heterodata()
        for t in data.node_types:
            n = graph.num_nodes.get(t, 0)
            x = np.empty((n, self.widths[t]), dtype=np.float32)
            for start in range(0, n, _FIT_ROWS):
                rows = np.arange(start, min(start + _FIT_ROWS, n))
                x[rows] = self.inputs(t, rows)
            data[t].x = torch.from_numpy(x)
        return np.asarray(self.model.score_graph(data), dtype=np.float64)
