"""Connected components over shared entities: the plainest ring detector."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from torch_geometric.data import HeteroData

from gnn.baselines.base import GraphBaseline, union_graph
from graph.snapshot import ACCOUNT


class ComponentRate(GraphBaseline):
    """Score an account by the positive rate of the labelled accounts in its component.

    Components are taken over every relation (accounts joined through shared devices, IPs,
    payment methods and transfers). The rate is shrunk towards the overall training positive
    rate: ``(positives + prior * prior_weight) / (labelled + prior_weight)``; ties are broken by
    component size (larger = riskier). Transductive.

    Parameters
    ----------
    prior_weight
        Pseudo-count of the prior.
    """

    def __init__(self, prior_weight: float = 1.0, random_state: int = 0):
        self.prior_weight = prior_weight
        self.random_state = random_state

    def fit_graph(self, data: HeteroData, train_index, train_y, val_index=None, val_y=None, *_):
        """Find the components and their positive rates; returns ``self``."""
        src, dst, offsets, total = union_graph(data)
        graph = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(total, total))
        _, component = connected_components(graph, directed=False)
        start = offsets[ACCOUNT]
        accounts = component[start : start + int(data[ACCOUNT].num_nodes)]
        labelled = accounts[np.asarray(train_index)]
        count = np.bincount(labelled, minlength=component.max() + 1)
        positives = np.bincount(labelled, weights=train_y, minlength=component.max() + 1)
        prior = float(np.mean(train_y)) if len(train_y) else 0.0
        rate = (positives + prior * self.prior_weight) / (count + self.prior_weight)
        size = np.bincount(accounts, minlength=component.max() + 1)
        tie_break = 1e-6 * np.log1p(size) / np.log1p(max(size.max(), 1))
        self.scores_ = rate[accounts] + tie_break[accounts]
        self.num_components_ = int(len(np.unique(accounts)))
        return self

    def score_graph(self, data: HeteroData, index=None) -> np.ndarray:
        """Component scores of account rows ``index`` (default: all)."""
        return self.scores_ if index is None else self.scores_[np.asarray(index)]
