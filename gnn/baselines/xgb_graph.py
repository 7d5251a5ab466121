"""XGB-Graph: gradient-boosted trees on own plus multi-hop mean-aggregated neighbour features."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import xgboost as xgb
from torch_geometric.data import HeteroData
from torch_geometric.typing import EdgeType

from gnn.baselines.base import GraphBaseline
from gnn.data.features import FeatureScaler
from graph.snapshot import ACCOUNT
from ingest.files import write_text_atomic


def hop_features(data: HeteroData, hops: int = 2, target: str = ACCOUNT) -> np.ndarray:
    """Own features + ``log1p`` degree per relation, then per hop the neighbour means per relation.

    Hop ``h`` of a node is, for every relation ending at it, the mean over its neighbours of their
    hop ``h - 1`` block, so hop 2 of an account reaches the accounts sharing its device (GADBench's
    XGB-Graph, generalised to several node and relation types).

    Returns
    -------
    np.ndarray
        ``(num_target_nodes, F)`` float32 features of ``target``.
    """
    means: dict[EdgeType, sp.csr_matrix] = {}
    level: dict[str, np.ndarray] = {}
    for t in data.node_types:
        n = int(data[t].num_nodes)
        degrees = []
        for et in data.edge_types:
            if et[2] != t:
                continue
            src, dst = data[et].edge_index.numpy()
            adjacency = sp.csr_matrix(
                (np.ones(len(src)), (dst, src)), shape=(n, int(data[et[0]].num_nodes))
            )
            degree = np.asarray(adjacency.sum(axis=1)).ravel()
            means[et] = sp.diags(1.0 / np.maximum(degree, 1.0)) @ adjacency
            degrees.append(np.log1p(degree)[:, None])
        level[t] = np.hstack([data[t].x.numpy().astype(np.float64), *degrees])
    blocks = [level[target]]
    for _ in range(hops):
        level = {
            t: np.hstack(
                [means[et] @ level[et[0]] for et in data.edge_types if et[2] == t]
                or [np.zeros((int(data[t].num_nodes), 0))]
            )
            for t in data.node_types
        }
        blocks.append(level[target])
    return np.hstack(blocks).astype(np.float32)


class XGBGraph(GraphBaseline):
    """XGBoost on :func:`hop_features`, early-stopped on the validation labels.

    Parameters
    ----------
    hops
        Aggregation hops.
    n_estimators, learning_rate, max_depth, subsample, colsample_bytree
        XGBoost settings.
    early_stopping_rounds
        Rounds without a better validation AUC before stopping.
    n_jobs
        Threads.
    random_state
        Seed.
    """

    def __init__(
        self,
        hops: int = 2,
        n_estimators: int = 500,
        learning_rate: float = 0.05,
        max_depth: int = 6,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        early_stopping_rounds: int = 50,
        n_jobs: int = 2,
        random_state: int = 0,
    ) -> None:
        self.hops = hops
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.early_stopping_rounds = early_stopping_rounds
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _xgb_params(self) -> dict:
        """The XGBoost settings: every parameter but ``hops``, plus the fixed tree method."""
        params = self.get_params()
        del params["hops"]
        return {**params, "tree_method": "hist", "eval_metric": "auc"}

    def fit_graph(self, data: HeteroData, train_index, train_y, val_index, val_y, *_) -> XGBGraph:
        """Train on account rows ``train_index``; returns ``self``."""
        features = hop_features(data, self.hops)
        self.model_ = xgb.XGBClassifier(**self._xgb_params())
        self.model_.fit(
            features[train_index],
            train_y,
            eval_set=[(features[val_index], val_y)],
            verbose=False,
        )
        return self

    def score_graph(self, data: HeteroData, index=None) -> np.ndarray:
        """Probability of abuse for account rows ``index`` (default: all)."""
        features = hop_features(data, self.hops)
        if index is not None:
            features = features[np.asarray(index)]
        return self.model_.predict_proba(features)[:, 1]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``model.json`` (XGBoost's JSON format) and ``metadata.json`` into ``path``."""
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        self.model_.save_model(target / "model.json")
        metadata = {"kind": type(self).__name__, **self.get_params()}
        if hasattr(self, "scaler_"):
            metadata["scaler"] = self.scaler_.to_dict()
        write_text_atomic(target / "metadata.json", json.dumps(metadata, indent=2))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> XGBGraph:
        """Load what :meth:`save` wrote (parameters it lacks keep their defaults)."""
        source = Path(path)
        metadata = json.loads((source / "metadata.json").read_text())
        model = cls(**{k: metadata[k] for k in cls.param_names() if k in metadata})
        model.model_ = xgb.XGBClassifier()
        model.model_.load_model(source / "model.json")
        if "scaler" in metadata:
            model.scaler_ = FeatureScaler.from_dict(metadata["scaler"])
        return model
