"""XGB-Graph: gradient-boosted trees on own plus multi-hop mean-aggregated neighbour features."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import xgboost as xgb
from torch_geometric.data import HeteroData
from torch_geometric.typing import EdgeType

from gnn.baselines.base import GraphBaseline
from gnn.calibration import ScoreCalibrator
from gnn.data.features import FeatureScaler
from graph.snapshot import ACCOUNT
from ingest.files import write_text_atomic

logger = logging.getLogger(__name__)

#: Rows per block of :func:`hop_feature_blocks` (16k x 490 float32: 31 MiB; float64 levels built
#: this many rows at a time too).
SCORE_ROWS = 16_384


def hop_features(
    data: HeteroData, hops: int = 2, target: str = ACCOUNT, rows: np.ndarray | None = None
) -> np.ndarray:
    """Own features + ``log1p`` degree per relation, then per hop the neighbour means per relation.

    Hop ``h`` of a node is, for every relation ending at it, the mean over its neighbours of their
    hop ``h - 1`` block, so hop 2 of an account reaches the accounts sharing its device (GADBench's
    XGB-Graph, generalised to several node and relation types).

    Parameters
    ----------
    data
        The graph.
    hops
        Aggregation hops.
    target
        The node type whose features are returned.
    rows
        The ``target`` rows wanted, in this order (default: all).

    Returns
    -------
    np.ndarray
        ``(len(rows), F)`` float32 features of ``target`` (every row without ``rows``).
    """
    count = int(data[target].num_nodes) if rows is None else len(rows)
    return next(hop_feature_blocks(data, hops, target, rows, max(count, 1)))


def hop_feature_blocks(
    data: HeteroData, hops: int, target: str, rows: np.ndarray | None = None,
    block_rows: int | None = None,
) -> Iterator[np.ndarray]:
    """:func:`hop_features` of ``rows`` (default: all), ``block_rows`` rows at a time.

    Levels are computed in float64 only for the node types a later hop reads and freed once the
    next one is built; the last hop is computed only for the rows of each block, straight into
    float32: the values are those of building every type's every level in float64, stacking
    them and casting once, in a fraction of the memory (the whole graph's last hop is the
    largest table, and is never held).

    Yields
    ------
    np.ndarray
        ``(rows of the block, F)`` float32 features, blocks in row order (one empty block when
        there are no rows).
    """
    block_rows = block_rows or SCORE_ROWS  # read here, so that it can be changed
    into = {t: [et for et in data.edge_types if et[2] == t] for t in data.node_types}
    # built backwards: needed[h] = the types whose hop-h level is read (the result reads target's)
    needed = [{target}]
    for _ in range(hops):
        needed.append({target} | {et[0] for t in needed[-1] for et in into[t]})
    needed.reverse()
    picked = slice(None) if rows is None else np.asarray(rows, dtype=np.int64)
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
    # the target's levels before the last hop, of the rows wanted, already cast
    kept = [level[target][picked].astype(np.float32)]
    for h in range(1, hops):
        following = {}
        for t in needed[h]:
            widths = [level[et[0]].shape[1] for et in into[t]]
            following[t] = np.empty((int(data[t].num_nodes), sum(widths)))
            n = following[t].shape[0]
            for et, start, w in zip(into[t], np.cumsum([0, *widths])[:-1], widths, strict=True):
                for lo in range(0, n, block_rows):  # a row's mean does not depend on the others
                    following[t][lo: lo + block_rows, start: start + w] = (
                        means[et][lo: lo + block_rows] @ level[et[0]])
        level = following
        kept.append(level[target][picked].astype(np.float32))
    last = list(into[target]) if hops else []
    width = sum(k.shape[1] for k in kept) + sum(level[et[0]].shape[1] for et in last)
    total = int(data[target].num_nodes) if rows is None else len(picked)
    for lo in range(0, max(total, 1), block_rows):
        part = slice(lo, min(lo + block_rows, total))
        chosen = part if rows is None else picked[part]
        out = np.empty((part.stop - part.start, width), dtype=np.float32)
        start = 0
        for block in kept:
            out[:, start: start + block.shape[1]] = block[part]
            start += block.shape[1]
        for et in last:
            block = means[et][chosen] @ level[et[0]]
            out[:, start: start + block.shape[1]] = block
            start += block.shape[1]
        yield out


class XGBGraph(GraphBaseline):
    """XGBoost on :func:`hop_features`, early-stopped and Platt-calibrated on the validation labels.

    The validation labels that stop the boosting also fit a :class:`~gnn.calibration.
    ScoreCalibrator` on the trees' margins (``calibrator_``, saved in ``metadata.json``), as the
    GNN is calibrated on its own: the scores are probabilities (the rings stage holds members to
    ``min_member_score`` and pools their scores), in the trees' order (a Platt map with a
    positive slope; one fitted with a slope <= 0 is not kept). A model saved without a
    calibrator scores the trees' own probabilities.

    Parameters
    ----------
    hops
        Aggregation hops.
    n_estimators, learning_rate, max_depth, subsample, colsample_bytree
        XGBoost settings.
    early_stopping_rounds
        Rounds without a better validation log loss before stopping (a proper scoring rule:
        stopping on AUC kept 2-4 trees on the generated 20k worlds, scores within [0.11, 0.29]).
    calibrate
        Platt-calibrate the margins on the validation labels (else the trees' probabilities).
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
        calibrate: bool = True,
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
        self.calibrate = calibrate
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _xgb_params(self) -> dict:
        """The XGBoost settings: every parameter but ``hops`` and ``calibrate``, plus the fixed
        tree method."""
        params = self.get_params()
        del params["hops"], params["calibrate"]
        return {**params, "tree_method": "hist", "eval_metric": "logloss"}

    def fit_graph(self, data: HeteroData, train_index, train_y, val_index, val_y, *_) -> XGBGraph:
        """Train on account rows ``train_index``, early-stopped (and with ``calibrate``
        calibrated) on rows ``val_index``; returns ``self``."""
        train_index = np.asarray(train_index)
        features = hop_features(data, self.hops, rows=np.concatenate(
            [train_index, np.asarray(val_index)]))
        self.model_ = xgb.XGBClassifier(**self._xgb_params())
        held = features[len(train_index):]
        self.model_.fit(features[: len(train_index)], train_y, eval_set=[(held, val_y)],
                        verbose=False)
        if hasattr(self, "calibrator_"):
            del self.calibrator_
        if self.calibrate:
            calibrator = ScoreCalibrator().fit(self.margins(held), val_y)
            if calibrator.slope_ > 0:
                self.calibrator_ = calibrator
            else:  # the validation labels say the trees rank backwards: keep their order
                logger.warning("XGB-Graph not calibrated: Platt on its %d validation labels "
                               "has slope %.3g <= 0 (its own probabilities are kept)",
                               len(val_y), calibrator.slope_)
        return self

    def margins(self, features: np.ndarray) -> np.ndarray:
        """The trees' log-odds of rows of :func:`hop_features` (float64)."""
        return self.model_.predict(features, output_margin=True).astype(np.float64)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Probability of abuse of rows of :func:`hop_features`: the calibrated margins, or
        the trees' own probabilities without a calibrator."""
        calibrator = getattr(self, "calibrator_", None)
        if calibrator is None:
            return self.model_.predict_proba(features)[:, 1]
        return calibrator.transform(self.margins(features))

    def score_graph(self, data: HeteroData, index=None) -> np.ndarray:
        """Probability of abuse for account rows ``index`` (default: all).

        Features are built and scored :data:`SCORE_ROWS` rows at a time (a row's score does not
        depend on the others'), so the whole table of features is never held.
        """
        rows = None if index is None else np.asarray(index)
        scores = [self.probabilities(block)
                  for block in hop_feature_blocks(data, self.hops, ACCOUNT, rows)]
        return np.concatenate(scores) if scores else np.empty(0, dtype=np.float32)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``model.json`` (XGBoost's JSON format) and ``metadata.json`` into ``path``."""
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        self.model_.save_model(target / "model.json")
        metadata = {"kind": type(self).__name__, **self.get_params()}
        if hasattr(self, "scaler_"):
            metadata["scaler"] = self.scaler_.to_dict()
        if hasattr(self, "calibrator_"):
            metadata["calibrator"] = self.calibrator_.to_dict()
        write_text_atomic(target / "metadata.json", json.dumps(metadata, indent=2))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> XGBGraph:
        """Load what :meth:`save` wrote (parameters it lacks keep their defaults; without a
        saved calibrator the trees' own probabilities score)."""
        source = Path(path)
        metadata = json.loads((source / "metadata.json").read_text())
        model = cls(**{k: metadata[k] for k in cls.param_names() if k in metadata})
        model.model_ = xgb.XGBClassifier()
        model.model_.load_model(source / "model.json")
        if "scaler" in metadata:
            model.scaler_ = FeatureScaler.from_dict(metadata["scaler"])
        if "calibrator" in metadata:
            model.calibrator_ = ScoreCalibrator.from_dict(metadata["calibrator"])
        return model
