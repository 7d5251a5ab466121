"""``AccountDetector``: the account and entity scorer the pipeline calls.

A :class:`~gnn.models.SepHeteroGNN` trained on time-aware sampled subgraphs
(:class:`~gnn.sampler.TemporalNeighborSampler` through PyG's ``NodeLoader``), with a class-weighted
loss, early stopping and Platt calibration on held-back labels. Scores are probabilities in
[0, 1]; higher = riskier. The training loop lives in :mod:`gnn.training`, the scoring in
:mod:`gnn.inference`, the saved directory in :mod:`gnn.persistence`; this class ties them to
snapshots and labels.

With ``boost="input"`` the scored nodes get one more input feature, the
out-of-fold XGBoost logit of their own tabular features (:class:`gnn.boosted.BoostedLogits`,
the "boosted input features" of BGNN): the trees find the thresholds on heavy-tailed counts a
small network learns slowly, the network adds what the neighbours say. Only training labels
reach the trees (never the validation labels of early stopping and calibration). ``abusenet
serve`` keeps the column current event by event (:class:`gnn.boosted.LiveBoostedColumn`). The
default ``"auto"`` trains the residual form when the training labels hold at least
``boost_min_labels`` of each class. Below that the residual form can win or lose by tens of
points and the label count does not say which: on a card world whose signal is each customer's
own counts it lifts the held-out AUPRC 0.78 -> 0.95, on generated ring worlds with as many labels
it costs 4-15 points (the fold models see a handful of positives, their logit is weak yet several
logits wide, and added to the output it drowns the network's correction; session 9, session 26).
So below ``boost_min_labels`` ``"auto"`` asks the labels: the network alone and the residual form
are each fitted on ``boost_choice_folds - 1`` stratified folds of the labels and score the last,
and the form whose pooled out-of-fold AUPRC is higher is trained (a tie keeps the network alone;
``boost_choice_`` and ``metrics_["boost_choice"]`` say what the two scored).
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import fields, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import StratifiedKFold
from torch_geometric.data import HeteroData

from gnn.boosted import BoostedLogits, boost_features
from gnn.calibration import ScoreCalibrator
from gnn.data.features import FeatureScaler
from gnn.data.snapshot_graph import (
    NO_TIME,
    account_index,
    known_times,
    model_view,
    snapshot_to_heterodata,
)
from gnn.entity_scores import entity_scores_from_accounts
from gnn.estimator import Estimator, NotFittedError
from gnn.evaluate import node_metrics
from gnn.explain import explain_accounts
from gnn.inference import align_to_model, target_logits
from gnn.labels import stratified_split
from gnn.models.ensemble import MeanEnsemble
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.persistence import (
    bytes_tensor,
    read_model_dir,
    snapshot_fingerprint,
    tensor_bytes,
    write_model_dir,
)
from gnn.sampler import TemporalNeighborSampler
from gnn.threads import torch_threads
from gnn.training import Seeds, Trainer, TrainingSettings, train_model
from graph.snapshot import ACCOUNT, Snapshot

__all__ = ["AccountDetector", "NotFittedError"]

logger = logging.getLogger(__name__)


class AccountDetector(Estimator):
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
        thread is much faster on a machine whose cores are busy with other work. A rerun with
        the same data, settings and thread count on the same machine and build gives the same
        bits; another thread count, CPU instruction set or torch/MKL build changes the dense
        products' rounding, which training carries on into the scores.
    verbose
        Show the per-epoch training bar (loss, validation AUROC) on every fit, as
        ``fit(..., progress=True)`` does.
    boost
        ``"input"``: the scored nodes get the out-of-fold XGBoost logit of their tabular
        features as one more input (:class:`gnn.boosted.BoostedLogits`; needs two training
        labels of each class); ``"residual"``: that input, and the score's logit is the boosted
        logit plus the network's (a learned graph correction to the trees; explanations
        attribute the correction only); ``None``: the network alone; ``"auto"`` (default):
        ``"residual"`` when the training labels hold at least ``boost_min_labels`` positives and
        as many negatives; with fewer, the form of the two with the higher pooled out-of-fold
        AUPRC on the labels (``boost_choice_folds``); the mode chosen is ``boost_mode_``.
    boost_hops
        Neighbour aggregation hops of the trees' features (0 = own features and degrees).
    boost_folds
        Folds of the out-of-fold logits.
    boost_min_labels
        Training labels of each class with which ``boost="auto"`` turns the residual form on
        without asking the labels.
    boost_choice_folds
        Stratified folds of the choice ``boost="auto"`` makes below ``boost_min_labels``: over
        the training and validation labels together, each fold is scored by the network alone
        and by the residual form (one network each, fitted as this detector fits on the other
        folds); the residual form is trained when its pooled AUPRC is higher. It needs twice
        this many labels of each class, else the network alone is trained; 0 turns the choice
        off (the network alone below ``boost_min_labels``). The validation labels thus also
        choose the form, so ``metrics_["validation"]`` reads a little high when the choice was
        close (held-out labels never reach the choice). It costs ``2 x boost_choice_folds``
        extra fits on two thirds of the labels each; they share the graph's sampler and the
        trees' whole-graph features with the final fit, and each fit validates and scores its
        few rows on their receptive field (:class:`~gnn.inference.FieldPass`), so a fit's cost
        follows its labels more than the graph: on a generated 20,000-account world with 440
        labels a fit took 22.1 CPU s with the choice and 4.4 without (session 28, loaded;
        69.2 and 12.6 before either saving).
    boost_choice_max_labels
        The most labels the choice fits on: past it the larger class is drawn down at random
        (every label of the smaller class kept), so that a few positives among many labelled
        negatives (``labels.unlabelled_as_negative``) do not multiply the training cost.
    boost_choice_max_nodes
        The largest graph (nodes of the target type) the choice runs on: the trees of its
        three residual fits still read and score every node, so its cost still grows with the
        graph (100,000 accounts, 440 labels: 5.4 -> 38.7 CPU s with the choice, session 28;
        51.2 without it and 450.5 with it before its fits shared their label-free work; not
        measured on larger graphs). Past it ``auto`` keeps the network alone below
        ``boost_min_labels``, as before the choice, and logs why.
    ensemble
        Networks trained and scored as one (:class:`~gnn.models.MeanEnsemble`: the mean of
        their logits, calibrated together): a count (default 1), or ``"auto"``:
        ``ensemble_size`` networks when the training labels hold fewer than
        ``ensemble_max_positives`` positives, one otherwise (the count chosen is
        ``ensemble_size_``). Member ``i`` is seeded with ``random_state + i`` (initialisation,
        sampling and batch order); all share the validation split, the boosted channel and the
        calibration. With few positives one network's early stopping is decided by a handful
        of validation positives and its held-out AUPRC swings by tens of points from seed to
        seed; the mean of a few seeds' logits swings less.
    ensemble_size
        Networks ``ensemble="auto"`` trains when the positives are few.
    ensemble_validation
        ``"shared"``: every member stops early on the same validation labels and the
        calibration is fitted on the ensemble's mean logit there; ``"folds"``: member 0 keeps
        that validation split, each other member validates on its own disjoint draw of as many
        training labels of each class and trains on the rest of the training labels, so that
        no member trains on the first split's validation labels and the calibration is fitted
        on the ensemble's mean logit there, the quantity it is applied to (review R21: fitted on
        one member's out-of-fold logits it scored 2-4x under the positive rate). Not with a
        boosted channel (its trees see one split's training labels).
    ensemble_max_positives
        ``ensemble="auto"`` trains ``ensemble_size`` networks below this many training
        positives.

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
        boost: str | None = "auto",
        boost_hops: int = 1,
        boost_folds: int = 5,
        boost_min_labels: int = 50,
        boost_choice_folds: int = 3,
        boost_choice_max_labels: int = 10_000,
        boost_choice_max_nodes: int = 100_000,
        ensemble: int | Literal["auto"] = 1,
        ensemble_size: int = 3,
        ensemble_max_positives: int = 50,
        ensemble_validation: Literal["shared", "folds"] = "shared",
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
        self.boost = boost
        self.boost_hops = boost_hops
        self.boost_folds = boost_folds
        self.boost_min_labels = boost_min_labels
        self.boost_choice_folds = boost_choice_folds
        self.boost_choice_max_labels = boost_choice_max_labels
        self.boost_choice_max_nodes = boost_choice_max_nodes
        self.ensemble = ensemble
        self.ensemble_size = ensemble_size
        self.ensemble_max_positives = ensemble_max_positives
        self.ensemble_validation = ensemble_validation

    # ----------------------------------------------------------------------------- configuration
    def _check_params(self) -> None:
        if self.early_stopping_metric not in ("auroc", "auprc"):
            raise ValueError(
                f"early_stopping_metric must be 'auroc' or 'auprc', not "
                f"{self.early_stopping_metric!r}"
            )
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), not {self.val_fraction}")
        if self.boost not in (None, "input", "residual", "auto"):
            raise ValueError(
                f"boost must be 'auto', 'input', 'residual' or None, not {self.boost!r}"
            )
        if self.boost_choice_folds < 0 or self.boost_choice_folds == 1:
            raise ValueError(
                f"boost_choice_folds must be 0 (no choice) or at least 2, not "
                f"{self.boost_choice_folds}"
            )
        if self.boost_choice_max_nodes < 0:
            raise ValueError(
                f"boost_choice_max_nodes must be 0 or more, not {self.boost_choice_max_nodes}")
        if self.boost_choice_max_labels < 2 * max(self.boost_choice_folds, 1):
            raise ValueError(
                f"boost_choice_max_labels must hold two labels per fold of each class, not "
                f"{self.boost_choice_max_labels}"
            )
        if self.ensemble != "auto" and not (
            isinstance(self.ensemble, int) and not isinstance(self.ensemble, bool)
            and self.ensemble >= 1
        ):
            raise ValueError(
                f"ensemble must be 'auto' or a number of networks >= 1, not {self.ensemble!r}"
            )
        if self.ensemble_size < 1 or self.ensemble_max_positives < 0:
            raise ValueError(
                f"ensemble_size must be >= 1 and ensemble_max_positives >= 0, not "
                f"{self.ensemble_size} and {self.ensemble_max_positives}"
            )
        if self.ensemble_validation not in ("shared", "folds"):
            raise ValueError(f"ensemble_validation must be 'shared' or 'folds', not "
                             f"{self.ensemble_validation!r}")
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

    def _network(
        self, in_channels: dict[str, int], edge_types: list, target_type: str
    ) -> SepHeteroGNN:
        """A fresh network of this detector's shape."""
        return SepHeteroGNN(
            in_channels,
            edge_types,
            self.hidden_channels,
            self.num_layers,
            tuple(self.aggregators),
            self.dropout,
            target_type,
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
        *,
        target_type: str | None = None,
        progress: bool = False,
        trainer: Trainer | None = None,
    ) -> AccountDetector:
        """Train on target-node rows of ``data`` (``x``, ``edge_index``, ``edge_time`` per type).

        With ``train_time`` (epoch seconds per seed), each seed sees only edges not newer than
        its time, during training and validation alike, so nothing leaks from the future.
        ``target_type`` is the node type the rows index and the network scores (default:
        ``Account``, or the only node type of a homogeneous graph); an entity type such as
        ``Terminal`` makes this a node classifier of entities (see :mod:`gnn.entities.model`).
        ``progress`` shows a per-epoch bar with the loss and the validation AUROC. ``trainer``
        replaces :func:`gnn.training.train_model` (same signature), e.g. by
        :class:`gnn.distributed.DistributedTrainer`.

        Returns
        -------
        AccountDetector
            ``self``, with ``model_``, ``calibrator_``, ``metrics_`` and ``history_`` set.
        """
        self._check_params()
        with torch_threads(self.num_threads):
            torch.manual_seed(self.random_state)
            data = model_view(data)
            train_y = np.asarray(train_y, dtype=np.float32)
            train = Seeds(train_index, train_y, known_times(train_time))
            val = Seeds(val_index, val_y, known_times(val_time))
            self.edge_types_ = [tuple(et) for et in data.edge_types]
            target = target_type or (ACCOUNT if ACCOUNT in data.node_types else data.node_types[0])
            if target not in data.node_types:
                raise ValueError(
                    f"target_type {target!r} is not a node type of the graph "
                    f"({list(data.node_types)})"
                )
            shared = _Shared(data, target, list(self.num_neighbors), self.random_state)
            self.boost_mode_ = self._boost_mode(shared, train, val, trainer)
            if self.boost_choice_ is not None:  # the choice's fits drew from the generator
                torch.manual_seed(self.random_state)
            shared.last_fit()
            self._fit_seeds(shared, train, val, trainer, progress)
        return self

    def _fit_seeds(
        self, shared: _Shared, train: Seeds, val: Seeds, trainer: Trainer | None,
        progress: bool,
    ) -> None:
        """:meth:`fit_graph`'s training, calibration and metrics once the boosted mode is
        known (``boost_mode_``), on ``shared``'s graph and sampler (its generator reseeded)."""
        data, target, sampler = shared.data, shared.target, shared.sampler
        sampler.rng = np.random.default_rng(self.random_state)
        with torch_threads(self.num_threads):
            self.boost_ = None
            if self.boost_mode_ is not None:
                data = self._fit_boost(shared, train, val)
                if self.boost_mode_ == "residual":
                    train = replace(train, offset=self.boost_inputs_[train.index])
                    val = replace(val, offset=self.boost_inputs_[val.index])
            in_channels = {
                t: data[t].x.size(1) + len(sampler.incoming(t)) for t in data.node_types
            }
            self.ensemble_size_ = self._ensemble_size(train.y)
            logger.info(
                "training %s on %d labelled %s nodes (%d positive), validating on %d%s",
                "1 network" if self.ensemble_size_ == 1 else f"{self.ensemble_size_} networks",
                len(train.index), target, int(train.y.sum()), len(val.index),
                ", time-aware" if train.time is not None else "",
            )
            self.members_, self.history_ = [], []
            splits = self._member_splits(train, val)
            for member, (member_train, member_val) in enumerate(splits):
                seed = self.random_state + member
                if member:  # member 0 as a single network: seeded once, above
                    torch.manual_seed(seed)
                    sampler.rng = np.random.default_rng(seed)
                network = self._network(in_channels, self.edge_types_, target)
                history = (trainer or train_model)(
                    network, data, sampler, member_train, member_val,
                    replace(self._training_settings(), random_state=seed),
                    progress=progress or self.verbose,
                )
                self.members_.append(network)
                self.history_ += [{**r, "member": member} if self.ensemble_size_ > 1 else r
                                  for r in history]
            self.model_ = self.members_[0]
            val_logits = val.logits(
                self._member_logits(data, sampler, val.index, val.time).mean(axis=0)
            )
        self.calibrator_ = ScoreCalibrator(self.calibration).fit(val_logits, val.y)
        logger.info(
            "calibrated (%s) on %d validation labels", self.calibration, len(val.index)
        )
        self.metrics_ = {
            "validation": node_metrics(val.y, val_logits),
            "epochs": len(self.history_),
            "networks": self.ensemble_size_,
            "train_labels": int(len(train.index)),
            "train_positives": int(train.y.sum()),
            "val_labels": int(len(val.index)),
            "time_aware": train.time is not None,
            "boost": self.boost_mode_,
        }
        if self.boost_choice_ is not None:
            self.metrics_["boost_choice"] = self.boost_choice_

    def _boost_mode(
        self, shared: _Shared, train: Seeds, val: Seeds, trainer: Trainer | None
    ) -> str | None:
        """The boosted channel this fit uses: ``boost``, with ``"auto"`` resolved on the labels
        (class docstring); sets ``boost_choice_`` (``None`` unless the labels were asked)."""
        self.boost_choice_ = None
        if self.boost != "auto":
            return self.boost
        positives = int(np.sum(train.y))
        fewest = min(positives, len(train.y) - positives)
        if fewest >= self.boost_min_labels:
            logger.info("boost=auto: %d positive and %d negative training labels -> residual",
                        positives, len(train.y) - positives)
            return "residual"
        labels = _at_most(_joined(train, val), self.boost_choice_max_labels, self.random_state)
        fewest = min(int(labels.y.sum()), int(len(labels.y) - labels.y.sum()))
        if not self.boost_choice_folds or fewest < 2 * self.boost_choice_folds:
            logger.info(
                "boost=auto: %d positive training labels, too few to choose by %d folds -> the "
                "network alone", positives, self.boost_choice_folds,
            )
            return None
        nodes = int(shared.data[shared.target].num_nodes)
        if nodes > self.boost_choice_max_nodes:
            logger.info(
                "boost=auto: %d positive training labels, but the graph's %d %s nodes are more "
                "than boost_choice_max_nodes (%d) -> the network alone, no choice",
                positives, nodes, shared.target, self.boost_choice_max_nodes,
            )
            return None
        self.boost_choice_ = self._choose_boost(shared, labels, trainer)
        return "residual" if self.boost_choice_["chosen"] == "residual" else None

    def _choose_boost(
        self, shared: _Shared, labels: Seeds, trainer: Trainer | None
    ) -> dict[str, object]:
        """The pooled out-of-fold AUPRC of the network alone and of the residual form on
        ``labels`` (``boost_choice_folds`` stratified folds; each fold scored by one network of
        each form fitted as :meth:`fit` fits on the other folds) and the form chosen. The fits
        share what no label changes (``shared``: the graph, its samplers and the trees'
        whole-graph features), so each costs its training and its trees."""
        folds = StratifiedKFold(self.boost_choice_folds, shuffle=True,
                                random_state=self.random_state)
        forms = {"network": None, "residual": "residual"}
        pooled = {name: np.zeros(len(labels.index)) for name in forms}
        params = {**self.get_params(), "ensemble": 1, "verbose": False}
        for inside, outside in folds.split(labels.index, labels.y):
            fit, check = stratified_split(labels.y[inside], self.val_fraction, self.random_state)
            # no times when none of a fold's is a real bound, as fit_graph reads them
            fit_seeds, check_seeds = (_timed(_rows(labels, inside[rows])) for rows in (fit, check))
            for name, mode in forms.items():
                probe = type(self)(**{**params, "boost": mode})
                probe.edge_types_, probe.boost_mode_, probe.boost_choice_ = (
                    self.edge_types_, mode, None)
                torch.manual_seed(self.random_state)  # as fit_graph starts
                probe._fit_seeds(shared, fit_seeds, check_seeds, trainer, progress=False)
                pooled[name][outside] = probe._shared_scores(shared, labels.index[outside],
                                                             fit_seeds)
        auprc = {name: float(node_metrics(labels.y, scores)["auprc"])
                 for name, scores in pooled.items()}
        chosen = "residual" if auprc["residual"] > auprc["network"] else "network"
        logger.info(
            "boost=auto: %d positive of %d labels, pooled out-of-fold AUPRC over %d folds: the "
            "network alone %.3f, residual %.3f -> %s", int(labels.y.sum()), len(labels.y),
            self.boost_choice_folds, auprc["network"], auprc["residual"],
            "residual" if chosen == "residual" else "the network alone",
        )
        return {"folds": self.boost_choice_folds, "labels": int(len(labels.y)),
                "positives": int(labels.y.sum()), "auprc": auprc, "chosen": chosen}

    def _ensemble_size(self, train_y: np.ndarray) -> int:
        """The networks this fit trains: ``ensemble``, with ``"auto"`` resolved on the training
        labels' positives (class docstring)."""
        if self.ensemble != "auto":
            return int(self.ensemble)
        positives = int(np.sum(train_y))
        size = self.ensemble_size if positives < self.ensemble_max_positives else 1
        logger.info("ensemble=auto: %d positive training labels -> %d network(s)", positives, size)
        return size

    def _member_splits(self, train: Seeds, val: Seeds) -> list[tuple[Seeds, Seeds]]:
        """Each member's training and validation seeds (``ensemble_validation``, class
        docstring): ``(train, val)`` for every member when shared."""
        size = self.ensemble_size_
        if self.ensemble_validation == "shared" or size == 1:
            return [(train, val)] * size
        if (train.time is None) != (val.time is None):
            raise ValueError("ensemble_validation='folds' needs label times on the training "
                             "and the validation labels alike, or on neither")
        if self.boost_mode_ is not None:
            raise ValueError("ensemble_validation='folds' trains members on different labels: "
                             "not with a boosted channel (set boost=None or shared validation)")
        counts = {c: int(np.sum(val.y == c)) for c in np.unique(val.y)}
        free = np.ones(len(train.index), dtype=bool)  # training rows in no fold yet
        splits = [(train, val)]
        for member in range(1, size):
            rng = np.random.default_rng(self.random_state + member)
            fold = []
            for c, count in counts.items():
                rows = np.flatnonzero(train.y == c)
                left = rows[free[rows]]  # disjoint folds while they last, then any
                pick = rng.permutation(left if len(left) >= count else rows)[:count]
                fold.append(pick[: max(0, min(count, len(rows) - 1))])  # one left to train on
            fold = np.sort(np.concatenate(fold))
            free[fold] = False
            rest = np.setdiff1d(np.arange(len(train.index)), fold)
            splits.append((_rows(train, rest), _rows(train, fold)))
        return splits

    def _member_logits(
        self, data: HeteroData, sampler: TemporalNeighborSampler, index: np.ndarray,
        time: np.ndarray | None,
    ) -> np.ndarray:
        """Every member's network logits of target rows ``index`` (members x rows; no boosted
        offset)."""
        return np.stack([
            target_logits(network, data, sampler, index, time, self.chunk_size)
            for network in self.members_
        ])

    def network(self) -> torch.nn.Module:
        """The fitted network(s) as one module: the single network, or a
        :class:`~gnn.models.MeanEnsemble` of the members."""
        self._check_is_fitted()
        members = self.members_
        return members[0] if len(members) == 1 else MeanEnsemble(members)

    def _fit_boost(self, shared: _Shared, train: Seeds, val: Seeds) -> HeteroData:
        """Fit ``boost_`` on the training seeds only; ``shared``'s graph with the boosted column.

        Time-aware, every seed's trees see its own inputs up to its time (hops 0), the others
        the whole history; ``boost_inputs_`` keeps the column for inspection.
        """
        data, target = shared.data, shared.target
        if train.time is not None:
            node_times = np.full(int(data[target].num_nodes), NO_TIME, dtype=np.int64)
            node_times[val.index] = NO_TIME if val.time is None else val.time
            node_times[train.index] = train.time
            self.boost_ = BoostedLogits(self.boost_folds, 0, random_state=self.random_state)
            features = boost_features(data, target, 0, shared.sampler, node_times)
        else:
            self.boost_ = BoostedLogits(self.boost_folds, self.boost_hops,
                                        random_state=self.random_state)
            features = shared.features(self.boost_hops)
        self.boost_inputs_ = self.boost_.fit_transform(features, train.index, train.y)
        return _with_column(data, target, self.boost_inputs_)

    def _training_settings(self) -> TrainingSettings:
        return TrainingSettings(**{f.name: getattr(self, f.name) for f in fields(TrainingSettings)})

    def graph_logits(
        self, data: HeteroData, index: np.ndarray | None = None, time: np.ndarray | None = None
    ) -> np.ndarray:
        """Uncalibrated logits of target rows ``index`` (default: all), optionally time-bounded."""
        self._check_is_fitted()
        data = align_to_model(model_view(data), self.model_)
        column = self.boosted_column(data)
        time = known_times(time)
        sampler = _scoring_sampler(data, list(self.num_neighbors), time is not None,
                                   self.random_state)
        if index is None:
            index = np.arange(data[self.model_.target_type].num_nodes)
        return self._logits(data, column, sampler, index, time)

    def _logits(
        self, data: HeteroData, column: np.ndarray | None, sampler: TemporalNeighborSampler,
        index: np.ndarray, time: np.ndarray | None,
    ) -> np.ndarray:
        """:meth:`graph_logits` of ``index`` on the aligned graph ``data``, given its boosted
        ``column`` (``None`` without one) and a scoring sampler."""
        if column is not None:
            data = _with_column(data, self.model_.target_type, column)
        with torch_threads(self.num_threads):
            logits = self._member_logits(data, sampler, index, time).mean(axis=0)
        if column is not None and self._mode() == "residual":
            logits = logits + column[np.asarray(index)]
        return logits

    def _shared_scores(self, shared: _Shared, index: np.ndarray, train: Seeds) -> np.ndarray:
        """:meth:`score_graph` of target rows ``index`` (no time bounds) on ``shared``'s graph,
        the graph this detector was fitted on with training seeds ``train``, from its kept
        features and scoring sampler: the same values. Without label times the boosted column
        scoring reads (the trees' fold mean) is the fitted column but on the training rows
        (out of fold there), so the trees score only those again."""
        column = None
        if self.boost_ is not None:
            features = shared.features(self.boost_.hops)
            if train.time is None:
                column = self.boost_inputs_.copy()
                column[train.index] = self.boost_.transform(features[train.index])
            else:
                column = self.boost_.transform(features)
        return self.calibrator_.transform(
            self._logits(shared.data, column, shared.scoring_sampler(), index, None))

    def _mode(self) -> str | None:
        """The boosted channel of the fitted model (``boost_mode_``; ``boost`` for a detector
        whose mode was set by hand after fitting, as tests do)."""
        if self.boost != "auto":
            return self.boost
        return getattr(self, "boost_mode_", None)

    def _model_inputs(self, data: HeteroData) -> HeteroData:
        """The network's view of ``data``: its node and edge types, and the boosted column."""
        view = align_to_model(model_view(data), self.model_)
        column = self.boosted_column(view)
        if column is not None:
            view = _with_column(view, self.model_.target_type, column)
        return view

    def boosted_column(self, data: HeteroData) -> np.ndarray | None:
        """The boosted input of every target node of ``data`` (a graph as
        :func:`~gnn.data.snapshot_graph.snapshot_to_heterodata` builds it with ``scaler_``), or
        ``None`` without a boosted channel. The network reads it as the last column of the
        target type's features, before the degree features; a node's value depends on its own
        features and in-degrees and, with ``boost_.hops`` > 0, on those of its neighbours within
        that many hops."""
        self._check_is_fitted()
        if getattr(self, "boost_", None) is None:
            return None
        view = align_to_model(model_view(data), self.model_)
        target = self.model_.target_type
        return self.boost_.transform(boost_features(view, target, self.boost_.hops))

    def score_graph(
        self, data: HeteroData, index: np.ndarray | None = None, time: np.ndarray | None = None
    ) -> np.ndarray:
        """Calibrated scores in [0, 1] of target rows ``index`` (default: all)."""
        return self.calibrator_.transform(self.graph_logits(data, index, time))

    # ------------------------------------------------------------------- snapshot-level interface
    def fit(
        self,
        snapshot: Snapshot,
        labels: pd.DataFrame,
        *,
        val_labels: pd.DataFrame | None = None,
        progress: bool = False,
        trainer: Trainer | None = None,
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
        progress
            Show a per-epoch bar with the loss and the validation AUROC on stderr.
        trainer
            The training loop (default :func:`gnn.training.train_model`), e.g. a
            :class:`gnn.distributed.DistributedTrainer` to train across processes.

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
        data = model_view(data)  # the node ids (Python strings) are not needed past here
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"training labels need both classes; got {len(y)} labelled accounts in the "
                f"snapshot with {int(y.sum())} positive(s). Add labels for both classes."
            )
        self.fit_graph(
            data, rows, y, v_rows, v_y, times, v_times, progress=progress, trainer=trainer
        )
        self.feature_names_ = self._feature_names()
        self.fingerprint_ = snapshot_fingerprint(snapshot)
        # the string attributes' values its features count, for a later snapshot to count alike
        self.attribute_shares_ = dict(snapshot.meta.get("attribute_shares") or {})
        return self

    def _feature_names(self) -> list[str]:
        target = self.model_.target_type
        degree = [f"degree:{et[1]}" for et in self.edge_types_ if et[2] == target]
        boosted = ["boost:xgboost_logit"] if getattr(self, "boost_", None) is not None else []
        return list(self.scaler_.columns.get(target, [])) + boosted + degree

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
        ids = np.asarray(data[self.model_.target_type].node_ids, dtype=object)
        data = model_view(data)  # the other types' ids are not held through the pass
        return pd.DataFrame({"account_id": ids, "score": self.score_graph(data)})

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

    def explain(
        self,
        snapshot: Snapshot,
        account_ids: list[str],
        top_k: int = 5,
        *,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Neighbours and features that drove the scores of ``account_ids`` (occlusion).

        ``progress`` shows a bar over the accounts explained.

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
        return self.explain_graph(self._snapshot_graph(snapshot), account_ids, top_k,
                                  progress=progress)

    def explain_graph(
        self,
        data: HeteroData,
        account_ids: list[str],
        top_k: int = 5,
        *,
        progress: bool = False,
    ) -> pd.DataFrame:
        """:meth:`explain` on the snapshot's graph (as
        :func:`~gnn.data.snapshot_graph.snapshot_to_heterodata` builds it with ``scaler_``), so
        that the caller need not hold the snapshot too."""
        self._check_is_fitted()
        target = self.model_.target_type
        index = pd.Index(data[target].node_ids)
        rows = index.get_indexer([str(a) for a in account_ids])
        if (rows < 0).any():
            unknown = [a for a, r in zip(account_ids, rows, strict=True) if r < 0]
            raise KeyError(f"account id(s) not in the snapshot: {unknown[:5]}")
        # Scored first: the whole-graph pass's memory is freed before the explainer's sampler
        # is built.
        scores = pd.Series(self.score_graph(data, rows), index=[str(a) for a in account_ids])
        view = self._model_inputs(data)
        node_ids = {t: data[t].node_ids for t in data.node_types}
        fanout = [max(n, 25) for n in self.num_neighbors]
        sampler = TemporalNeighborSampler(view, fanout, seed=self.random_state)
        with torch_threads(self.num_threads):
            table = explain_accounts(
                self.network(), view, sampler, rows, self.feature_names_, node_ids, top_k,
                progress=progress,
            )
        table["score"] = table["account_id"].map(scores)
        return table

    # -------------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``model.pt`` (a ``state_dict``) and ``metadata.json`` into directory ``path``."""
        self._check_is_fitted()
        metadata = {
            "kind": type(self).__name__,
            # the mode the fit used, so a loaded detector (and the serve state) needs no
            # "auto" resolution
            "config": {**self.get_params(), "boost": self._mode(),
                       "ensemble": len(self.members_)},
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
        if getattr(self, "attribute_shares_", None):  # only then: older metadata unchanged
            metadata["attribute_shares"] = self.attribute_shares_
        state = dict(self.model_.state_dict())
        for member, network in enumerate(self.members_[1:], start=1):
            state.update({f"{_MEMBER_PREFIX}{member}.{k}": v
                          for k, v in network.state_dict().items()})
        boost = getattr(self, "boost_", None)
        if boost is not None:
            metadata["boost"] = boost.get_params()
            state.update(
                {f"{_BOOST_PREFIX}{i}": bytes_tensor(b) for i, b in enumerate(boost.raw_models())}
            )
        return write_model_dir(path, state, metadata)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AccountDetector:
        """Load a detector written by :meth:`save` (weights read with ``weights_only=True``)."""
        metadata, state = read_model_dir(path)
        detector = cls(**metadata["config"])
        spec = metadata["model"]
        detector.edge_types_ = [tuple(et) for et in spec["edge_types"]]
        members = {}  # member -> its weights; member 0's keys have no prefix
        for key in [k for k in state if k.startswith(_MEMBER_PREFIX)]:
            member, name = key[len(_MEMBER_PREFIX):].split(".", 1)
            members.setdefault(int(member), {})[name] = state.pop(key)
        if sorted(members) != list(range(1, len(members) + 1)):
            raise ValueError(f"{path}: ensemble members {sorted(members)} are not 1..n")
        detector.members_ = [
            detector._network(spec["in_channels"], detector.edge_types_, spec["target_type"])
            for _ in range(len(members) + 1)
        ]
        detector.model_ = detector.members_[0]
        detector.ensemble_size_ = len(detector.members_)
        for member, weights in members.items():
            detector.members_[member].load_state_dict(weights)
            detector.members_[member].eval()
        trees = sorted((k for k in state if k.startswith(_BOOST_PREFIX)),
                       key=lambda k: int(k[len(_BOOST_PREFIX):]))
        detector.boost_ = None
        detector.boost_mode_ = detector.boost
        if "boost" in metadata:
            detector.boost_ = BoostedLogits.from_raw(
                metadata["boost"], [tensor_bytes(state.pop(k)) for k in trees]
            )
        detector.model_.load_state_dict(state)
        detector.model_.eval()
        detector.feature_names_ = metadata["features"]
        detector.scaler_ = FeatureScaler.from_dict(metadata["scaler"])
        detector.calibrator_ = ScoreCalibrator.from_dict(metadata["calibration"])
        detector.fingerprint_ = metadata["data_fingerprint"]
        detector.attribute_shares_ = metadata.get("attribute_shares", {})
        detector.metrics_ = metadata["metrics"]
        detector.history_ = metadata["history"]
        logger.debug("loaded %r from %s", detector, path)
        return detector


#: Key prefix of the boosted channel's fold models (uint8 tensors) in ``model.pt``.
_BOOST_PREFIX = "boost_trees."
#: Key prefix of ensemble member ``i`` >= 1's weights in ``model.pt`` (``ensemble.1.head...``);
#: member 0's weights keep their own names, so a single network's file is as before.
_MEMBER_PREFIX = "ensemble."


def _joined(train: Seeds, val: Seeds) -> Seeds:
    """The training and validation seeds as one set (times kept only when both have them)."""
    time = (None if train.time is None or val.time is None
            else np.concatenate([train.time, val.time]))
    return Seeds(np.concatenate([train.index, val.index]),
                 np.concatenate([train.y, np.asarray(val.y, dtype=train.y.dtype)]), time)


def _at_most(seeds: Seeds, count: int, seed: int) -> Seeds:
    """``seeds``, or ``count`` of them: every seed of the smaller class and a random draw of the
    larger (seeded by ``seed``)."""
    if len(seeds.index) <= count:
        return seeds
    positive = seeds.y > 0.5
    small = positive if positive.sum() <= (~positive).sum() else ~positive
    large = np.flatnonzero(~small)
    keep = max(count - int(small.sum()), 0)
    drawn = np.random.default_rng(seed).choice(large, size=keep, replace=False)
    return _rows(seeds, np.sort(np.concatenate([np.flatnonzero(small), drawn])))


def _rows(seeds: Seeds, rows: np.ndarray) -> Seeds:
    """The seeds at positions ``rows`` (no offset: folds have no boosted channel)."""
    return Seeds(seeds.index[rows], seeds.y[rows],
                 None if seeds.time is None else seeds.time[rows])


def _timed(seeds: Seeds) -> Seeds:
    """``seeds`` with their times kept only where some is a real bound (``known_times``)."""
    return replace(seeds, time=known_times(seeds.time))


def _with_column(data: HeteroData, node_type: str, column: np.ndarray) -> HeteroData:
    """A shallow copy of ``data`` whose ``node_type`` features end with ``column``."""
    out = copy.copy(data)
    out[node_type].x = torch.cat(
        [data[node_type].x, torch.from_numpy(np.asarray(column, np.float32))[:, None]], dim=1
    )
    return out


def _scoring_sampler(
    data: HeteroData, num_neighbors: list[int], timed: bool, seed: int
) -> TemporalNeighborSampler:
    """The sampler :meth:`AccountDetector.graph_logits` scores with: without row times
    whole-graph scoring only needs neighbour lists, not their time order."""
    return TemporalNeighborSampler(
        data, num_neighbors, time_attr="edge_time" if timed else None, seed=seed
    )


class _Shared:
    """What every fit of one :meth:`AccountDetector.fit_graph` call reads and no label
    changes, built once: the graph (a model view) and its target type, the training sampler,
    the untimed scoring sampler and the trees' whole-graph features (review R47: the
    boosted-mode choice's six fits each built them again). A fit reseeds the training
    sampler's generator before drawing from it, so that sharing it changes no draw."""

    def __init__(
        self, data: HeteroData, target: str, num_neighbors: list[int], seed: int
    ) -> None:
        self.data = data
        self.target = target
        self.num_neighbors = num_neighbors
        self.seed = seed
        self.sampler = TemporalNeighborSampler(data, num_neighbors, seed=seed)
        self._scoring: TemporalNeighborSampler | None = None
        self._features: dict[int, np.ndarray] = {}
        self._keep = True

    def last_fit(self) -> None:
        """The next fit is the last one: it takes the kept features (nothing kept after it,
        so that the final fit's training holds them no longer than a fit alone would) and
        the scoring sampler is dropped."""
        self._keep = False
        self._scoring = None

    def features(self, hops: int) -> np.ndarray:
        """:func:`~gnn.boosted.boost_features` of the graph's target nodes with ``hops``
        hops (no time bounds); kept for the next fit until :meth:`last_fit`."""
        if hops in self._features:
            return self._features[hops] if self._keep else self._features.pop(hops)
        features = boost_features(self.data, self.target, hops)
        if self._keep:
            self._features[hops] = features
        return features

    def scoring_sampler(self) -> TemporalNeighborSampler:
        """:func:`_scoring_sampler` of the graph without time bounds (it draws nothing: the
        whole-graph pass reads every neighbour)."""
        if self._scoring is None:
            self._scoring = _scoring_sampler(self.data, self.num_neighbors, False, self.seed)
        return self._scoring
