"""``AccountDetector``: the account and entity scorer the pipeline calls.

A :class:`~gnn.models.SepHeteroGNN` trained on time-aware sampled subgraphs
(:class:`~gnn.sampler.TemporalNeighborSampler` through PyG's ``NodeLoader``), with a class-weighted
loss, early stopping and Platt calibration on held-back labels. Scores are probabilities in
[0, 1]; higher = riskier.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import NodeLoader

from gnn.calibration import ScoreCalibrator
from gnn.data.features import FeatureScaler
from gnn.data.snapshot_graph import NO_TIME, account_index, model_view, snapshot_to_heterodata
from gnn.entity_scores import entity_scores_from_accounts
from gnn.evaluate import node_metrics
from gnn.explain import explain_accounts
from gnn.inference import batch_inputs, full_graph_logits, hop_counts, sampled_logits
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler
from gnn.splits import stratified_split
from graph.snapshot import ACCOUNT, Snapshot

EdgeType = tuple[str, str, str]
FORMAT_VERSION = 1


class NotFittedError(RuntimeError):
    """A scoring method was called before ``fit`` or ``load``."""


class AccountDetector:
    """Heterogeneous GNN account scorer with a scikit-learn style interface.

    Parameters
    ----------
    hidden_channels, num_layers, aggregators, dropout
        Network shape (see :class:`~gnn.models.SepHeteroGNN`).
    num_neighbors
        Neighbours sampled per hop and edge type during training.
    lr, weight_decay, batch_size, max_epochs, patience
        AdamW optimisation on mini-batches of seed accounts; training stops after ``patience``
        epochs without a better validation ``early_stopping_metric``.
    early_stopping_metric
        ``"auroc"`` or ``"auprc"`` on the validation labels.
    val_fraction
        Share of the labels held back (stratified) for early stopping and calibration when
        ``fit`` gets no ``val_labels``.
    pos_weight
        Weight of the positive class in the loss: ``"balanced"`` (= negatives / positives), a
        number, or ``None``.
    calibration
        ``"platt"`` (keeps the ranking) or ``"isotonic"``.
    chunk_size
        Edges gathered at once where neighbours are aggregated from edge lists without
        gradients (whole-graph scoring multiplies sparse matrices instead and ignores it).
    random_state
        Seed for initialisation, sampling and the validation split.
    num_threads
        Torch threads while fitting and scoring (``None`` = leave the process setting). One
        thread is much faster on a machine whose cores are busy with other work.
    verbose
        Print one line per epoch.

    Examples
    --------
    >>> detector = AccountDetector(max_epochs=20).fit(snapshot, labels)
    >>> scores = detector.score_accounts(snapshot)          # account_id, score
    >>> detector.save("models/detector")
    >>> same = AccountDetector.load("models/detector")
    """

    def __init__(
        self,
        hidden_channels: int = 64,
        num_layers: int = 2,
        aggregators: tuple[str, ...] | list[str] = ("mean", "std"),
        dropout: float = 0.2,
        num_neighbors: tuple[int, ...] | list[int] = (15, 10),
        lr: float = 0.003,
        weight_decay: float = 1e-4,
        batch_size: int = 512,
        max_epochs: int = 50,
        patience: int = 8,
        early_stopping_metric: str = "auroc",
        val_fraction: float = 0.2,
        pos_weight: str | float | None = "balanced",
        calibration: str = "platt",
        chunk_size: int = 1_000_000,
        random_state: int = 0,
        num_threads: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.aggregators = aggregators
        self.dropout = dropout
        self.num_neighbors = num_neighbors
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.early_stopping_metric = early_stopping_metric
        self.val_fraction = val_fraction
        self.pos_weight = pos_weight
        self.calibration = calibration
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.num_threads = num_threads
        self.verbose = verbose

    # ----------------------------------------------------------------------------- configuration
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (JSON-serialisable)."""
        params = {k: getattr(self, k) for k in _PARAM_NAMES}
        params["aggregators"] = list(params["aggregators"])
        params["num_neighbors"] = list(params["num_neighbors"])
        return params

    def _check_params(self) -> None:
        if self.early_stopping_metric not in ("auroc", "auprc"):
            raise ValueError(
                f"early_stopping_metric must be 'auroc' or 'auprc', not "
                f"{self.early_stopping_metric!r}"
            )
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), not {self.val_fraction}")
        if len(self.num_neighbors) != self.num_layers:
            raise ValueError(
                f"num_neighbors {list(self.num_neighbors)} needs one fan-out per layer "
                f"(num_layers={self.num_layers})"
            )

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(...) or "
                f"{type(self).__name__}.load(dir) first"
            )

    # ---------------------------------------------------------------------- graph-level interface
    def fit_graph(
        self,
        data: HeteroData,
        train_index: np.ndarray,
        train_y: np.ndarray,
        val_index: np.ndarray,
        val_y: np.ndarray,
        train_time: np.ndarray | None = None,
        val_time: np.ndarray | None = None,
    ) -> AccountDetector:
        """Train on target-node rows of ``data`` (``x``, ``edge_index``, ``edge_time`` per type).

        With ``train_time`` (epoch seconds per seed), each seed sees only edges not newer than
        its time, during training and validation alike, so nothing leaks from the future.

        Returns
        -------
        AccountDetector
            ``self``, with ``model_``, ``calibrator_``, ``metrics_`` and ``history_`` set.
        """
        with _torch_threads(self.num_threads):
            return self._fit_graph(
                data, train_index, train_y, val_index, val_y, train_time, val_time
            )

    def _fit_graph(
        self, data, train_index, train_y, val_index, val_y, train_time, val_time
    ) -> AccountDetector:
        self._check_params()
        torch.manual_seed(self.random_state)
        data = model_view(data)
        train_time = _time_or_none(train_time)
        val_time = _time_or_none(val_time)
        self.edge_types_ = [tuple(et) for et in data.edge_types]
        sampler = TemporalNeighborSampler(data, list(self.num_neighbors), seed=self.random_state)
        in_channels = {t: data[t].x.size(1) + len(sampler.incoming(t)) for t in data.node_types}
        self.model_ = SepHeteroGNN(
            in_channels,
            self.edge_types_,
            self.hidden_channels,
            self.num_layers,
            tuple(self.aggregators),
            self.dropout,
            ACCOUNT if ACCOUNT in data.node_types else data.node_types[0],
        )
        train_y = np.asarray(train_y, dtype=np.float32)
        loader = NodeLoader(
            data,
            sampler,
            input_nodes=(self.model_.target_type, torch.as_tensor(train_index, dtype=torch.long)),
            input_time=None if train_time is None else torch.as_tensor(train_time),
            batch_size=self.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(self.random_state),
        )
        labels = torch.zeros(data[self.model_.target_type].num_nodes)
        labels[torch.as_tensor(train_index, dtype=torch.long)] = torch.from_numpy(train_y)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=self._pos_weight(train_y))
        optimizer = torch.optim.AdamW(
            self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        best, best_state, stale = -np.inf, None, 0
        self.history_ = []
        for epoch in range(self.max_epochs):
            started = time.perf_counter()
            loss = self._train_epoch(loader, sampler, labels, loss_fn, optimizer)
            val_logits = self._logits(data, sampler, val_index, val_time)
            quality = node_metrics(val_y, val_logits)
            self.history_.append(
                {"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - started, **quality}
            )
            if self.verbose:
                print(f"epoch {epoch}: loss {loss:.4f} val {quality}")
            current = quality[self.early_stopping_metric]
            if np.isnan(current) or current > best:
                best, best_state, stale = current, copy.deepcopy(self.model_.state_dict()), 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        self.model_.load_state_dict(best_state)
        val_logits = self._logits(data, sampler, val_index, val_time)
        self.calibrator_ = ScoreCalibrator(self.calibration).fit(val_logits, val_y)
        self.metrics_ = {
            "validation": node_metrics(val_y, val_logits),
            "epochs": len(self.history_),
            "train_labels": int(len(train_index)),
            "train_positives": int(train_y.sum()),
            "val_labels": int(len(val_index)),
            "time_aware": train_time is not None,
        }
        return self

    def _pos_weight(self, y: np.ndarray) -> torch.Tensor | None:
        if self.pos_weight is None:
            return None
        if self.pos_weight == "balanced":
            positives = max(float(y.sum()), 1.0)
            return torch.tensor((len(y) - positives) / positives)
        return torch.tensor(float(self.pos_weight))

    def _train_epoch(self, loader, sampler, labels, loss_fn, optimizer) -> float:
        self.model_.train()
        target = self.model_.target_type
        total, count = 0.0, 0
        for batch in loader:
            size = batch[target].batch_size
            optimizer.zero_grad()
            logits = self.model_(
                batch_inputs(batch, sampler, target),
                batch.edge_index_dict,
                num_sampled_nodes_dict=hop_counts(batch),
            )
            loss = loss_fn(logits[:size], labels[batch[target].n_id[:size]])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * size
            count += size
        return total / max(count, 1)

    def _logits(self, data, sampler, index, time_bound) -> np.ndarray:
        if time_bound is None:
            logits = full_graph_logits(self.model_, data, sampler, self.chunk_size)
            return logits[torch.as_tensor(index, dtype=torch.long)].numpy()
        return sampled_logits(self.model_, data, sampler, index, time_bound).numpy()

    def graph_logits(
        self, data: HeteroData, index: np.ndarray | None = None, time: np.ndarray | None = None
    ) -> np.ndarray:
        """Uncalibrated logits of target rows ``index`` (default: all), optionally time-bounded."""
        self._check_is_fitted()
        data = self._aligned(model_view(data))
        time = _time_or_none(time)
        # Whole-graph scoring only needs neighbour lists, not their time order.
        sampler = TemporalNeighborSampler(
            data,
            list(self.num_neighbors),
            time_attr=None if time is None else "edge_time",
            seed=self.random_state,
        )
        if index is None:
            index = np.arange(data[self.model_.target_type].num_nodes)
        with _torch_threads(self.num_threads):
            return self._logits(data, sampler, index, time)

    def score_graph(
        self, data: HeteroData, index: np.ndarray | None = None, time: np.ndarray | None = None
    ) -> np.ndarray:
        """Calibrated scores in [0, 1] of target rows ``index`` (default: all)."""
        return self.calibrator_.transform(self.graph_logits(data, index, time))

    def _aligned(self, data: HeteroData) -> HeteroData:
        """``data`` restricted/extended to the node and edge types the model was trained on."""
        aligned = HeteroData()
        for t, width in self.model_.in_channels.items():
            features = width - sum(1 for et in self.edge_types_ if et[2] == t)
            if t in data.node_types:
                aligned[t].x = data[t].x
                aligned[t].num_nodes = data[t].num_nodes
            else:
                aligned[t].x = torch.zeros((0, features))
                aligned[t].num_nodes = 0
        for et in self.edge_types_:
            if et in data.edge_types:
                aligned[et].edge_index = data[et].edge_index
                aligned[et].edge_time = data[et].edge_time
            else:
                aligned[et].edge_index = torch.empty((2, 0), dtype=torch.long)
                aligned[et].edge_time = torch.empty(0, dtype=torch.long)
        return aligned

    # ------------------------------------------------------------------- snapshot-level interface
    def fit(
        self, snapshot: Snapshot, labels: pd.DataFrame, *, val_labels: pd.DataFrame | None = None
    ) -> AccountDetector:
        """Train on a snapshot and a labels table.

        Parameters
        ----------
        snapshot
            The graph snapshot.
        labels
            ``account_id, label[, ts]`` (1 = abusive). With ``ts``, training is time-aware.
        val_labels
            Labels for early stopping and calibration; default: a stratified ``val_fraction``
            of ``labels``.

        Returns
        -------
        AccountDetector
            ``self``.
        """
        self._check_params()
        data, self.scaler_ = snapshot_to_heterodata(snapshot)
        rows, y, times = account_index(data, labels)
        if val_labels is None:
            train, val = stratified_split(y, self.val_fraction, self.random_state)
            v_rows, v_y, v_times = rows[val], y[val], times[val]
            rows, y, times = rows[train], y[train], times[train]
        else:
            v_rows, v_y, v_times = account_index(data, val_labels)
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"training labels need both classes; got {len(y)} labelled accounts in the "
                f"snapshot with {int(y.sum())} positive(s). Add labels for both classes."
            )
        self.fit_graph(data, rows, y, v_rows, v_y, times, v_times)
        self.feature_names_ = self._feature_names()
        self.fingerprint_ = snapshot_fingerprint(snapshot)
        return self

    def _feature_names(self) -> list[str]:
        target = self.model_.target_type
        degree = [f"degree:{et[1]}" for et in self.edge_types_ if et[2] == target]
        return list(self.scaler_.columns.get(target, [])) + degree

    def _snapshot_graph(self, snapshot: Snapshot) -> HeteroData:
        self._check_is_fitted()
        data, _ = snapshot_to_heterodata(snapshot, self.scaler_)
        return data

    def score_accounts(self, snapshot: Snapshot) -> pd.DataFrame:
        """Calibrated risk of every account of ``snapshot``.

        Returns
        -------
        pd.DataFrame
            ``account_id`` str, ``score`` float in [0, 1] (higher = riskier).
        """
        data = self._snapshot_graph(snapshot)
        target = self.model_.target_type
        return pd.DataFrame(
            {
                "account_id": np.asarray(data[target].node_ids, dtype=object),
                "score": self.score_graph(data),
            }
        )

    def score_entities(self, snapshot: Snapshot, prior_weight: float = 1.0) -> pd.DataFrame:
        """Risk of every device, IP, payment method (any non-account node) of ``snapshot``.

        An entity scores the shrunk mean of its linked accounts' calibrated scores (see
        :func:`gnn.entity_scores.entity_scores_from_accounts`).

        Returns
        -------
        pd.DataFrame
            ``node_type`` str, ``entity_id`` str, ``score`` float in [0, 1].
        """
        data = self._snapshot_graph(snapshot)
        scores = self.score_graph(data)
        return entity_scores_from_accounts(data, scores, self.model_.target_type, prior_weight)

    def explain(self, snapshot: Snapshot, account_ids: list[str], top_k: int = 5) -> pd.DataFrame:
        """Neighbours and features that drove the scores of ``account_ids`` (gradient saliency).

        Returns
        -------
        pd.DataFrame
            ``account_id, kind ("neighbor" | "feature"), node_type, item, relation,
            attribution`` (see :func:`gnn.explain.explain_accounts`), plus ``score``.

        Raises
        ------
        KeyError
            If an account id is not in the snapshot.
        """
        data = self._snapshot_graph(snapshot)
        target = self.model_.target_type
        index = pd.Index(data[target].node_ids)
        rows = index.get_indexer([str(a) for a in account_ids])
        if (rows < 0).any():
            unknown = [a for a, r in zip(account_ids, rows, strict=True) if r < 0]
            raise KeyError(f"account id(s) not in the snapshot: {unknown[:5]}")
        view = self._aligned(model_view(data))
        node_ids = {t: data[t].node_ids for t in data.node_types}
        fanout = [max(n, 25) for n in self.num_neighbors]
        sampler = TemporalNeighborSampler(view, fanout, seed=self.random_state)
        with _torch_threads(self.num_threads):
            table = explain_accounts(
                self.model_, view, sampler, rows, self.feature_names_, node_ids, top_k
            )
        scores = pd.Series(self.score_graph(data, rows), index=[str(a) for a in account_ids])
        table["score"] = table["account_id"].map(scores)
        return table

    # -------------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``model.pt`` (a ``state_dict``) and ``metadata.json`` into directory ``path``."""
        self._check_is_fitted()
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        torch.save(self.model_.state_dict(), target / "model.pt")
        metadata = {
            "format_version": FORMAT_VERSION,
            "kind": type(self).__name__,
            "config": self.get_params(),
            "model": {
                "in_channels": self.model_.in_channels,
                "edge_types": [list(et) for et in self.edge_types_],
                "target_type": self.model_.target_type,
            },
            "features": getattr(self, "feature_names_", []),
            "scaler": getattr(self, "scaler_", FeatureScaler()).to_dict(),
            "calibration": self.calibrator_.to_dict(),
            "data_fingerprint": getattr(self, "fingerprint_", None),
            "metrics": self.metrics_,
            "history": self.history_,
            "torch_version": torch.__version__,
        }
        (target / "metadata.json").write_text(json.dumps(metadata, indent=2, default=float))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AccountDetector:
        """Load a detector written by :meth:`save` (weights read with ``weights_only=True``)."""
        source = Path(path)
        meta_file = source / "metadata.json"
        if not meta_file.is_file():
            raise FileNotFoundError(
                f"{source} holds no saved detector ({meta_file.name} is missing); "
                "pass the directory given to AccountDetector.save"
            )
        metadata = json.loads(meta_file.read_text())
        if metadata.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{meta_file}: format_version {metadata.get('format_version')!r} is not "
                f"supported (expected {FORMAT_VERSION}); retrain the model"
            )
        detector = cls(**metadata["config"])
        spec = metadata["model"]
        detector.edge_types_ = [tuple(et) for et in spec["edge_types"]]
        detector.model_ = SepHeteroGNN(
            spec["in_channels"],
            detector.edge_types_,
            detector.hidden_channels,
            detector.num_layers,
            tuple(detector.aggregators),
            detector.dropout,
            spec["target_type"],
        )
        state = torch.load(source / "model.pt", weights_only=True)
        detector.model_.load_state_dict(state)
        detector.model_.eval()
        detector.feature_names_ = metadata["features"]
        detector.scaler_ = FeatureScaler.from_dict(metadata["scaler"])
        detector.calibrator_ = ScoreCalibrator.from_dict(metadata["calibration"])
        detector.fingerprint_ = metadata["data_fingerprint"]
        detector.metrics_ = metadata["metrics"]
        detector.history_ = metadata["history"]
        return detector


_PARAM_NAMES = (
    "hidden_channels",
    "num_layers",
    "aggregators",
    "dropout",
    "num_neighbors",
    "lr",
    "weight_decay",
    "batch_size",
    "max_epochs",
    "patience",
    "early_stopping_metric",
    "val_fraction",
    "pos_weight",
    "calibration",
    "chunk_size",
    "random_state",
    "num_threads",
    "verbose",
)


@contextlib.contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch threads, restoring the previous setting after."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _time_or_none(times: np.ndarray | None) -> np.ndarray | None:
    """``None`` unless some seed has a real time bound."""
    if times is None:
        return None
    times = np.asarray(times, dtype=np.int64)
    return times if (times < NO_TIME).any() else None


def snapshot_fingerprint(snapshot: Snapshot) -> str:
    """A short hash of node and edge counts, feature columns and input checksums."""
    shape = {
        "nodes": {t: [len(df), snapshot.feature_columns(t)] for t, df in snapshot.nodes.items()},
        "edges": {r: len(df) for r, df in snapshot.edges.items()},
        "inputs": snapshot.meta.get("input_checksums"),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]
