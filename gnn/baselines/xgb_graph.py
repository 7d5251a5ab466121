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

    Levels are computed in float64 only for the node types a later hop reads (the last hop for
    ``target`` alone), each relation block is written straight into the float32 result, and a
    level is freed once the next one is built: the values are those of stacking every block in
    float64 and casting once, in a fraction of the memory.

    Returns
    -------
    np.ndarray
        ``(num_target_nodes, F)`` float32 features of ``target``.
    """
    into = {t: [et for et in data.edge_types if et[2] == t] for t in data.node_types}
    # built backwards: needed[h] = the types whose hop-h level is read (the result reads target's)
    needed = [{target}]
    for _ in range(hops):
        needed.append({target} | {et[0] for t in needed[-1] for et in into[t]})
    needed.reverse()
    means: dict[EdgeType, sp.csr_matrix] = {}
    level: dict[str, np.ndarray] = {}
    for t in set().union(*needed):
        n = int(data[t].num_nodes)
        degrees = []
        for et in into[t]:
            src, dst = data[et].edge_index.numpy()
            adjacency = sp.csr_matrix(
                (np.ones(len(src)), (dst, src)), shape=(n, int(data[et[0]].num_nodes))
            )
            degree = np.asarray(adjacency.sum(axis=1)).ravel()
            if hops:
                means[et] = sp.diags(1.0 / np.maximum(degree, 1.0)) @ adjacency
            degrees.append(np.log1p(degree)[:, None])
        if t in needed[0]:
            level[t] = np.hstack([data[t].x.numpy().astype(np.float64), *degrees])
    width = [{t: block.shape[1] for t, block in level.items()}]
    for h in range(1, hops + 1):
        width.append({t: sum(width[-1][et[0]] for et in into[t]) for t in needed[h]})
    out = np.empty((int(data[target].num_nodes), sum(w[target] for w in width)), np.float32)
    out[:, : width[0][target]] = level[target]
    start = width[0][target]
    for h in range(1, hops + 1):
        following = {}
        for t in needed[h]:
            # the last hop goes straight into the result; earlier ones stay float64
            into_out = h == hops
            dest = (out[:, start: start + width[h][t]] if into_out
                    else np.empty((int(data[t].num_nodes), width[h][t])))
            column = 0
            for et in into[t]:
                block = means[et] @ level[et[0]]
                dest[:, column: column + block.shape[1]] = block
                column += block.shape[1]
                del block
            if not into_out:
                following[t] = dest
        level = following
        if h < hops:
            out[:, start: start + width[h][target]] = level[target]
        start += width[h][target]
    return out


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
