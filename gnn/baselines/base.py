"""The snapshot-level ``fit`` / ``score_accounts`` interface shared by the baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
from torch_geometric.data import HeteroData

from gnn.data.snapshot_graph import account_index, snapshot_to_heterodata
from gnn.estimator import Estimator
from gnn.labels import stratified_split
from graph.snapshot import ACCOUNT, Snapshot


class GraphBaseline(Estimator):
    """Gives a baseline with ``fit_graph`` / ``score_graph`` the detector's snapshot interface.

    Subclasses implement ``fit_graph(data, train_index, train_y, val_index, val_y)`` and
    ``score_graph(data, index=None) -> np.ndarray`` over the rows of node type ``Account``.
    Baselines are transductive where noted: they score the graph they were fitted on.
    Parameters come from the subclass's ``__init__`` (:class:`~gnn.estimator.Estimator`).
    """

    val_fraction: float = 0.2
    random_state: int = 0

    def fit_graph(self, data, train_index, train_y, val_index, val_y, *args):  # pragma: no cover
        raise NotImplementedError

    def score_graph(self, data, index=None):  # pragma: no cover
        raise NotImplementedError

    def fit(
        self, snapshot: Snapshot, labels: pd.DataFrame, *, val_labels: pd.DataFrame | None = None
    ) -> GraphBaseline:
        """Fit on ``snapshot`` and ``labels`` (``account_id, label``); returns ``self``."""
        data = self._graph(snapshot)
        rows, y, _ = account_index(data, labels)
        if val_labels is None:
            train, val = stratified_split(y, self.val_fraction, self.random_state)
            self.fit_graph(data, rows[train], y[train], rows[val], y[val])
        else:
            v_rows, v_y, _ = account_index(data, val_labels)
            self.fit_graph(data, rows, y, v_rows, v_y)
        return self

    def score_accounts(self, snapshot: Snapshot) -> pd.DataFrame:
        """``account_id, score`` for every account of ``snapshot`` (higher = riskier)."""
        data = self._graph(snapshot)
        return pd.DataFrame(
            {
                "account_id": np.asarray(data[ACCOUNT].node_ids, dtype=object),
                "score": self.score_graph(data),
            }
        )

    def _graph(self, snapshot: Snapshot) -> HeteroData:
        scaler = getattr(self, "scaler_", None)
        data, self.scaler_ = snapshot_to_heterodata(snapshot, scaler)
        return data


def union_graph(data: HeteroData) -> tuple[np.ndarray, np.ndarray, dict[str, int], int]:
    """Every node type in one index space: ``(src, dst, offsets, num_nodes)``, all edge types."""
    offsets, total = {}, 0
    for t in data.node_types:
        offsets[t] = total
        total += int(data[t].num_nodes)
    src, dst = [], []
    for s, rel, d in data.edge_types:
        edge_index = data[(s, rel, d)].edge_index.numpy()
        src.append(edge_index[0] + offsets[s])
        dst.append(edge_index[1] + offsets[d])
    empty = np.empty(0, dtype=np.int64)
    return (
        np.concatenate(src) if src else empty,
        np.concatenate(dst) if dst else empty,
        offsets,
        total,
    )
