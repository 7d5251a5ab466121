"""Label propagation over the whole graph (all node types, all relations)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from torch_geometric.data import HeteroData

from gnn.baselines.base import GraphBaseline, union_graph
from graph.snapshot import ACCOUNT


class LabelPropagation(GraphBaseline):
    """Spread known labels along links: ``F <- alpha * mean_neighbours(F) + (1 - alpha) * Y``.

    ``Y`` is 1 for training positives, 0 for training negatives and the training positive rate
    elsewhere; known labels are clamped after each step. Devices, IPs and payment methods relay
    the mass between accounts, so an even ``num_iterations`` is used. Transductive: it scores
    the graph it was fitted on.

    Parameters
    ----------
    alpha
        Share of the neighbours' mass kept at each step.
    num_iterations
        Propagation steps.
    """

    def __init__(self, alpha: float = 0.9, num_iterations: int = 10, random_state: int = 0):
        self.alpha = alpha
        self.num_iterations = num_iterations
        self.random_state = random_state

    def fit_graph(self, data: HeteroData, train_index, train_y, val_index=None, val_y=None, *_):
        """Propagate the training labels; returns ``self``."""
        src, dst, offsets, total = union_graph(data)
        adjacency = sp.csr_matrix(
            (np.ones(len(src), dtype=np.float64), (dst, src)), shape=(total, total)
        )
        degree = np.asarray(adjacency.sum(axis=1)).ravel()
        transition = sp.diags(1.0 / np.maximum(degree, 1.0)) @ adjacency
        known = offsets[ACCOUNT] + np.asarray(train_index)
        prior = float(np.mean(train_y)) if len(train_y) else 0.0
        seed = np.full(total, prior)
        seed[known] = train_y
        scores = seed.copy()
        for _ in range(self.num_iterations):
            scores = self.alpha * (transition @ scores) + (1 - self.alpha) * seed
            scores[known] = train_y
        start = offsets[ACCOUNT]
        self.scores_ = scores[start : start + int(data[ACCOUNT].num_nodes)]
        return self

    def score_graph(self, data: HeteroData, index=None) -> np.ndarray:
        """Propagated scores of account rows ``index`` (default: all)."""
        return self.scores_ if index is None else self.scores_[np.asarray(index)]
