"""The boosted input channel of the detector: out-of-fold XGBoost logits of each node's own
tabular features (Ivanov & Prokhorenkova, "Boost then Convolve", ICLR 2021).

Gradient-boosted trees beat a small GNN on the per-node tabular part of the signal (thresholds on
heavy-tailed counts and degrees); the GNN is better at what neighbours say. The standard way to
have both is to feed the trees' logit to the GNN as one more input feature. Done naively, the
trees' logits on their own training rows are overfitted (near-perfect), and the GNN learns to
trust a feature that is far weaker on every other row. So the logits are **out of fold**: the
training labels are split into ``folds`` stratified folds, one model is trained per fold on the
other folds, each training row gets the logit of the model that did not see it, and every other
row (validation, held-out, unlabelled, anything scored later) gets the mean logit of the fold
models. Only the training labels reach the trees: validation labels, used for early stopping and
calibration of the GNN, stay unseen, so the validation quality and the calibration stay honest.

:class:`gnn.detector.AccountDetector` uses the logit in one of two ways: ``boost="input"`` feeds
it to the network as one more feature of the scored nodes (BGNN's "boosted input features");
``boost="residual"`` also adds it to the network's output logit, so the network learns a graph
correction to the trees and starts from their ranking (early stopping on the validation labels
then keeps the correction only while it helps). The residual form was chosen for the benchmark:
on a validation split of the training half it was at least as good as the input form on
YelpChi, Bitcoin-OTC and a generated world of seed 3, and clearly better on the last. It is
the default (``boost="auto"``) only with at least 50 training labels of each class: with fewer,
each fold model sees a handful of positives, and its logit, weak but several units wide, drowns
the network's correction (on generated seed-3 worlds: 4 training positives, held-out AUPRC
0.745 alone -> 0.280 residual; 16, mixed; 61, a tie; 218, 0.711 -> 0.728). Session 26 on the
code of then: generated 2,000-account worlds with 16 / 20 / 20 training positives 0.434 -> 0.345,
0.230 -> 0.186, 0.316 -> 0.166 (means of model seeds 0-2), but the card world without
collusion (16-22, the abuse in each customer's own counts) 0.722 -> 0.852 (five label splits, mean
of model seeds 0-2): below the bar, the label count does not say which kind of world it is, so
``boost="auto"`` asks the labels there (:class:`~gnn.detector.AccountDetector`'s
``boost_choice_folds``: the form with the higher pooled out-of-fold AUPRC is trained).

The trees read :func:`gnn.baselines.xgb_graph.hop_features` of the scored node type with
``hops`` aggregation hops (0 = its own scaled features and ``log1p`` degree per relation; 1 adds
its neighbours' mean of those, as the XGB-Graph baseline does, with one hop less), computed on
the whole graph given (no time bound, like the snapshot's own node features). With label times
(time-aware training) neighbour means over the whole history would tell the trees about links
made after a label, so the trees then read only each node's own features and its in-degrees
counted up to its time bound (:func:`boost_features`), the same inputs the network's ego
encoder gets. The XGBoost
settings are those of :class:`~gnn.baselines.xgb_graph.XGBGraph` apart from a fixed number of
rounds (no early stopping, so no extra held-back labels are needed inside a fold).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xgboost as xgb
from sklearn.model_selection import StratifiedKFold
from torch_geometric.data import HeteroData

from gnn.baselines.xgb_graph import XGBGraph, hop_features
from gnn.data.snapshot_graph import opposite_edge_type
from gnn.sampler import TemporalNeighborSampler
from gnn.tree_margins import MergedMargins, TreeMargins

if TYPE_CHECKING:
    from gnn.local_scoring import LocalGraph
    from gnn.models.sep_hetero_gnn import SepHeteroGNN

__all__ = ["BoostedLogits", "LiveBoostedColumn", "boost_features"]

#: Target rows :meth:`LiveBoostedColumn.fit` builds the trees' input of and scores at a time.
FIT_ROWS = 65_536


def boost_features(
    data: HeteroData,
    target: str,
    hops: int,
    sampler: TemporalNeighborSampler | None = None,
    node_times: np.ndarray | None = None,
) -> np.ndarray:
    """The trees' input for every ``target`` node.

    Without ``node_times``: :func:`hop_features` with ``hops`` hops over the whole graph, and
    with ``hops`` >= 1 also the largest and smallest value of each of the neighbours' own
    columns per relation (a review account's least and most reviewed restaurant say more than
    their mean: the per-account XGBoost baseline reads them). With
    ``node_times`` (one time bound per ``target`` node, ``NO_TIME`` = none): the node's own
    features and the ``log1p`` in-degree per incoming relation counted only over edges not newer
    than its bound (``sampler``'s time-ordered lists), whatever ``hops`` says; the columns are
    those of ``hop_features(data, 0, target)``.

    Returns
    -------
    np.ndarray
        ``(num_target_nodes, F)`` float32 features.
    """
    if node_times is None:
        if hops == 0:
            return hop_features(data, 0, target)
        return np.hstack([hop_features(data, hops, target), _neighbour_extremes(data, target)])
    if sampler is None:
        raise ValueError("time-bounded boost features need the sampler's time-ordered edges")
    ids = torch.arange(int(data[target].num_nodes))
    bound = torch.from_numpy(np.asarray(node_times, dtype=np.int64))
    degrees = sampler.degree_features({target: ids}, {target: bound})[target]
    return np.hstack([data[target].x.numpy(), degrees.numpy()]).astype(np.float32)


#: Up to this many rows, :meth:`BoostedLogits.transform` walks the trees in numpy
#: (:class:`gnn.tree_margins.TreeMargins`: ~0.09 ms for one row where XGBoost's
#: ``inplace_predict`` costs ~0.2 ms a fold model; break-even near 30 rows). More rows go
#: through XGBoost in one call for all fold models (:class:`gnn.tree_margins.MergedMargins`).
FEW_ROWS = 16
#: Rows times split thresholds up to which :meth:`LiveBoostedColumn._bin_hash` compares every
#: value with every threshold of its column at once, not a column at a time (at 1M accounts,
#: ~4,500 thresholds: one row 0.03 ms against 0.14-0.2; from two rows on, the larger
#: temporaries cost more than the column loop saves).
_BROADCAST_CUTS = 1 << 13


class BoostedLogits:
    """Out-of-fold XGBoost logits of the nodes of one type (module docstring).

    Parameters
    ----------
    folds
        Stratified folds over the training labels (at most the smaller class count).
    hops
        Neighbour aggregation hops of the trees' features (:func:`boost_features`); recorded
        with the model so scoring builds the same features.
    n_estimators, max_depth, learning_rate
        Boosting rounds, tree depth and shrinkage of each fold model.
    random_state
        Seed of the folds and of XGBoost.
    n_jobs
        XGBoost threads.
    """

    def __init__(
        self,
        folds: int = 5,
        hops: int = 1,
        n_estimators: int = 200,
        max_depth: int = 4,
        learning_rate: float = 0.1,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.folds = folds
        self.hops = hops
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.models_: list[xgb.Booster] = []

    def _params(self) -> dict[str, Any]:
        wrapper = XGBGraph(
            hops=self.hops,
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            early_stopping_rounds=None,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )
        return wrapper._xgb_params()

    def fit_transform(
        self, x: np.ndarray, train_index: np.ndarray, train_y: np.ndarray
    ) -> np.ndarray:
        """Fit the fold models on feature rows ``x[train_index]``; the logit of every row of
        ``x``: out of fold on ``train_index``, the fold mean elsewhere.

        Raises
        ------
        ValueError
            If a class has fewer than two training labels (no two folds can both hold it).
        """
        train_index = np.asarray(train_index, dtype=np.int64)
        train_y = np.asarray(train_y).astype(int)
        positives = int(train_y.sum())
        folds = min(self.folds, positives, len(train_y) - positives)
        if folds < 2:
            raise ValueError(
                f"the boosted channel needs at least 2 training labels of each class for "
                f"out-of-fold logits; got {positives} positive(s) and "
                f"{len(train_y) - positives} negative(s) (set boost=None to train without it)"
            )
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        out_of_fold = np.zeros(len(train_index))
        self.models_ = []
        for inside, outside in splitter.split(train_index, train_y):
            model = xgb.XGBClassifier(**self._params())
            model.fit(x[train_index[inside]], train_y[inside], verbose=False)
            booster = model.get_booster()
            self.models_.append(booster)
            out_of_fold[outside] = _margin(booster, x[train_index[outside]])
        logits = self._mean_logits(x)
        logits[train_index] = out_of_fold
        return logits.astype(np.float32)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """The fold-mean logit of every row of ``x`` (what scoring uses)."""
        if not self.models_:
            raise RuntimeError("BoostedLogits is not fitted: call fit_transform first")
        return self._mean_logits(x).astype(np.float32)

    def _mean_logits(self, x: np.ndarray) -> np.ndarray:
        # the same float32 margins either way, without XGBoost's set-up per call and model
        trees, merged = self._readers()
        if trees is not None and len(x) <= FEW_ROWS:
            return np.mean(trees.margins(x), axis=0)
        if merged is not None:
            return np.mean(merged.margins(x), axis=0)
        return np.mean([_margin(booster, x) for booster in self.models_], axis=0)

    def warm(self) -> None:
        """Read the fold models' trees now (:class:`~gnn.tree_margins.TreeMargins` for few
        rows, :data:`FEW_ROWS`; :class:`~gnn.tree_margins.MergedMargins` for more), so that
        the first event does not pay it (~70 ms at 1M accounts in the service)."""
        self._readers()

    def _readers(self) -> tuple[TreeMargins | None, MergedMargins | None]:
        """The fold models' trees in numpy and merged into one XGBoost model (read once per
        set of models); ``None`` for either that cannot hold them."""
        held = getattr(self, "_trees", None)
        # held: the list itself (so no id is reused) and its length (fit appends to it)
        if held is None or held[0] is not self.models_ or held[1] != len(self.models_):
            try:
                trees = TreeMargins(self.models_)
            except ValueError:
                trees = None
            try:
                merged = MergedMargins(self.models_)
            except ValueError:
                merged = None
            held = self._trees = (self.models_, len(self.models_), (trees, merged))
        return held[2]

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, by name (JSON-serialisable)."""
        return {
            "folds": self.folds,
            "hops": self.hops,
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
        }

    def raw_models(self) -> list[bytes]:
        """The fold models in XGBoost's binary (UBJSON) format."""
        return [bytes(booster.save_raw("ubj")) for booster in self.models_]

    @classmethod
    def from_raw(cls, params: dict[str, Any], raw: list[bytes]) -> BoostedLogits:
        """Rebuild fitted fold models from :meth:`get_params` and :meth:`raw_models` output."""
        boosted = cls(**params)
        for blob in raw:
            booster = xgb.Booster()
            booster.load_model(bytearray(blob))
            boosted.models_.append(booster)
        return boosted


class LiveBoostedColumn:
    """The boosted column of a :class:`~gnn.local_scoring.LocalGraph` that grows in place.

    The graph's target-type features end with the boosted logit (the column the network
    reads, :meth:`gnn.detector.AccountDetector.boosted_column`); every other column and node
    type holds the scaled features. :meth:`fit` computes the column of every target node with
    :func:`boost_features` (the batch formula); :meth:`update` keeps it current after nodes
    changed, recomputing only the rows that depend on them. A target node's tree input depends
    on its own features and in-degrees and, with ``hops`` = 1, on the features and in-degrees
    of its in-neighbours (their mean, largest and smallest values per relation): so a change
    of node ``u`` (features or degree) changes the rows of ``u`` itself and of the target
    nodes ``u`` points to. Those rows are recomputed (one gather over their in-edges); a row
    whose every value falls between the same pair of split thresholds of the trees as before
    keeps its logit bit for bit (the trees take the same branches), so only the other rows
    go through XGBoost and are reported changed. A hub entity's new account changes the hub's
    degree, and so the rows of all its accounts: they are recomputed (a gather over the
    hub's accounts' in-edges) but go through the trees only where a degree feature crossed a
    split threshold. The kept bin vectors are 64-bit hashes (a row kept by mistake has odds
    about ``2**-64``). With ``hops`` >= 2 a change reaches farther and :meth:`update` falls
    back to :meth:`fit` (the whole column).

    Parameters
    ----------
    boosted
        The detector's fitted fold models (``boost_``).
    model
        The detector's network (its node and edge types, input widths and target type).
    """

    def __init__(self, boosted: BoostedLogits, model: SepHeteroGNN) -> None:
        self.boosted = boosted
        self.target = model.target_type
        self.edge_types = [tuple(et) for et in model.edge_types]
        self.incoming = {t: [et for et in self.edge_types if et[2] == t]
                         for t in model.in_channels}
        # Width of each type's level-0 block (own features without the column, degrees).
        self.widths = {t: w - (t == self.target) for t, w in model.in_channels.items()}
        self.thresholds = _split_thresholds(boosted.models_)
        rng = np.random.default_rng(0)
        self._weights = rng.integers(1, 2**63, len(self.thresholds), dtype=np.uint64) | 1
        # Every column's thresholds one after another, with their column and its weight
        # (_bin_hash of a few rows compares each value with all of them at once).
        counts = [len(cuts) for cuts in self.thresholds]
        self._cuts = (np.concatenate(self.thresholds) if self.thresholds
                      else np.empty(0, dtype=np.float32))
        self._cut_column = np.repeat(np.arange(len(counts)), counts)
        self._cut_weight = np.repeat(self._weights, counts)
        self._hashes = np.empty(0, dtype=np.uint64)
        self._size = 0  # target rows whose hash is kept

    @property
    def hops(self) -> int:
        """Neighbour hops of the trees' features."""
        return self.boosted.hops

    def warm(self) -> None:
        """What the first update would read once (:meth:`BoostedLogits.warm`)."""
        self.boosted.warm()

    def _bin_hash(self, features: np.ndarray) -> np.ndarray:
        """Per row: a hash of the positions of its values among each column's thresholds
        (the weighted sum, modulo 2**64, of each column's ``searchsorted(..., "right")``: the
        number of its thresholds not above the value, all of them for NaN). A few rows compare
        each value with every threshold of its column in one step (one searchsorted a column
        costs more than the comparisons, :data:`_BROADCAST_CUTS`); more, a column at a time:
        the same hashes."""
        if len(features) * len(self._cuts) <= _BROADCAST_CUTS:
            passed = ~(features[:, self._cut_column] < self._cuts)  # NaN passes every one
            return np.where(passed, self._cut_weight, np.uint64(0)).sum(axis=1,
                                                                        dtype=np.uint64)
        out = np.zeros(len(features), dtype=np.uint64)
        for j, cuts in enumerate(self.thresholds):
            if len(cuts):
                bins = np.searchsorted(cuts, features[:, j], side="right").astype(np.uint64)
                out += bins * self._weights[j]
        return out

    def _level0(self, graph: LocalGraph, node_type: str, rows: np.ndarray) -> np.ndarray:
        """Own scaled features (the column left out) and ``log1p`` in-degrees, float64."""
        width = self.widths[node_type] - len(self.incoming[node_type])
        x = (graph.features(node_type, rows)[:, :width].astype(np.float64)
             if node_type in graph.num_nodes else np.zeros((len(rows), width)))
        degrees = [np.log1p(graph.adjacency[et].degree(rows).astype(np.float64))
                   if et in graph.adjacency else np.zeros(len(rows))
                   for et in self.incoming[node_type]]
        return np.column_stack([x, *degrees]).reshape(len(rows), self.widths[node_type])

    def features(self, graph: LocalGraph, rows: np.ndarray) -> np.ndarray:
        """The trees' input of target ``rows`` (:func:`boost_features` of those rows, up to
        float64 summation order), for ``hops`` 0 or 1."""
        rows = np.asarray(rows, dtype=np.int64)
        blocks = [self._level0(graph, self.target, rows)]
        if self.hops == 0:
            return np.hstack(blocks).astype(np.float32)
        means, extremes = [], []
        for et in self.incoming[self.target]:
            width = self.widths[et[0]]
            if et in graph.adjacency:
                position, src = graph.adjacency[et].gather(rows)
            else:
                position = src = np.empty(0, dtype=np.int64)
            values = self._level0(graph, et[0], src)
            degree = np.bincount(position, minlength=len(rows)).astype(np.float64)
            share = (1.0 / np.maximum(degree, 1.0))[position]
            mean = np.zeros((len(rows), width))
            np.add.at(mean, position, values * share[:, None])
            means.append(mean)
            high = np.full((len(rows), width), -np.inf)
            low = np.full((len(rows), width), np.inf)
            np.maximum.at(high, position, values)
            np.minimum.at(low, position, values)
            empty = degree == 0
            high[empty] = low[empty] = 0.0
            extremes += [high, low]
        return np.hstack(blocks + means + extremes).astype(np.float32)

    def fit(self, graph: LocalGraph) -> np.ndarray:
        """Compute the column of every target node into ``graph``; return it.

        With ``hops`` 0 the trees' input is each row's own (:meth:`features`: the batch
        formula's very values), built and put through the trees :data:`FIT_ROWS` rows at a
        time; with more hops it is :func:`boost_features` on the whole graph."""
        n = graph.num_nodes[self.target]
        if self.hops == 0:
            column = np.empty(n, dtype=np.float32)
            self._hashes = np.empty(n, dtype=np.uint64)
            for start in range(0, n, FIT_ROWS):
                rows = np.arange(start, min(start + FIT_ROWS, n))
                features = self.features(graph, rows)
                column[rows] = self.boosted.transform(features)
                self._hashes[rows] = self._bin_hash(features)
        else:
            data = graph.to_heterodata()
            width = self.widths[self.target] - len(self.incoming[self.target])
            data[self.target].x = data[self.target].x[:, :width]
            for t in self.incoming:
                if t not in data.node_types:
                    data[t].x = torch.zeros((0, self.widths[t] - len(self.incoming[t])))
                    data[t].num_nodes = 0
            for et in self.edge_types:
                if et not in data.edge_types:
                    data[et].edge_index = torch.empty((2, 0), dtype=torch.long)
            features = boost_features(data, self.target, self.hops)
            del data
            column = self.boosted.transform(features)
            self._hashes = self._bin_hash(features)
        self._size = n
        self._set_column(graph, column)
        return column

    def _set_column(self, graph: LocalGraph, column: np.ndarray) -> None:
        """Write ``column`` as the last target feature of every target node of ``graph``."""
        for start in range(0, len(column), FIT_ROWS):
            rows = np.arange(start, min(start + FIT_ROWS, len(column)))
            x = graph.features(self.target, rows)
            x[:, -1] = column[rows]
            graph.set_features(self.target, rows, x)

    def save(self, graph: LocalGraph, directory: Path) -> None:
        """Write what :meth:`fit` computed into the existing ``directory``: the column of
        every target node of ``graph`` and their bin hashes."""
        n = self._size
        column = np.empty(n, dtype=np.float32)
        for start in range(0, n, FIT_ROWS):
            rows = np.arange(start, min(start + FIT_ROWS, n))
            column[rows] = graph.features(self.target, rows)[:, -1]
        np.save(directory / "boosted_column.npy", column)
        np.save(directory / "boosted_hashes.npy", self._hashes[:n])

    def restore(self, graph: LocalGraph, directory: Path) -> np.ndarray:
        """What :meth:`fit` computes on ``graph``, read back from :meth:`save`'s files in
        ``directory`` (written for these trees and this very graph); returns the column.

        Raises
        ------
        ValueError
            When the files do not hold one row per target node of ``graph``.
        """
        n = graph.num_nodes[self.target]
        column = np.load(directory / "boosted_column.npy")
        hashes = np.load(directory / "boosted_hashes.npy")
        if len(column) != n or len(hashes) != n:
            raise ValueError(f"{directory}: a boosted column of {len(column)} rows and "
                             f"{len(hashes)} hashes for {n} {self.target} nodes")
        self._hashes, self._size = hashes, n
        self._set_column(graph, column)
        return column

    def update(self, graph: LocalGraph, changed: dict[str, np.ndarray]) -> np.ndarray:
        """Bring the column up to date after the ``changed`` nodes (features, degree or edges;
        new target nodes included) changed; the target rows whose logit changed."""
        n = graph.num_nodes[self.target]
        if self.hops >= 2:
            before = graph.features(self.target, np.arange(n))[:, -1].copy()
            before[self._size:] = np.nan
            return np.flatnonzero(self.fit(graph) != before)
        parts = [np.arange(self._size, n)]  # new target nodes
        own = changed.get(self.target)
        if own is not None:
            parts.append(np.asarray(own, dtype=np.int64))
        if self.hops >= 1:
            for et in self.incoming[self.target]:
                rows = changed.get(et[0])
                back = opposite_edge_type(et)
                if rows is not None and len(rows) and back in graph.adjacency:
                    parts.append(graph.adjacency[back].gather(np.asarray(rows, np.int64))[1])
        affected = np.unique(np.concatenate(parts))
        if not len(affected):
            return affected
        if n > len(self._hashes):
            grown = np.zeros(n + len(self._hashes) // 8 + 1024, dtype=np.uint64)
            grown[:self._size] = self._hashes[:self._size]
            self._hashes = grown
        fresh = affected >= self._size
        self._size = n
        features = self.features(graph, affected)
        hashes = self._bin_hash(features)
        moved = (hashes != self._hashes[affected]) | fresh
        rows, features, fresh = affected[moved], features[moved], fresh[moved]
        self._hashes[rows] = hashes[moved]
        if not len(rows):
            return rows
        column = self.boosted.transform(features)
        x = graph.features(self.target, rows)
        differs = (x[:, -1] != column) | fresh
        x[:, -1] = column
        graph.set_features(self.target, rows, x)
        return rows[differs]


def _split_thresholds(boosters: list[xgb.Booster]) -> list[np.ndarray]:
    """Per feature column: the sorted distinct float32 split thresholds of all trees."""
    found: dict[int, list[float]] = {}
    for booster in boosters:
        for tree in json.loads(bytes(booster.save_raw("json")))["learner"][
                "gradient_booster"]["model"]["trees"]:
            left = np.asarray(tree["left_children"])
            inner = np.flatnonzero(left != -1)
            for feature, cut in zip(np.asarray(tree["split_indices"])[inner].tolist(),
                                    np.asarray(tree["split_conditions"])[inner].tolist(),
                                    strict=True):
                found.setdefault(feature, []).append(cut)
    width = max(found, default=-1) + 1
    return [np.unique(np.asarray(found.get(j, []), dtype=np.float32)) for j in range(width)]


def _neighbour_extremes(data: HeteroData, target: str) -> np.ndarray:
    """Per relation ending at ``target``: the max and min over each node's in-neighbours of
    their own features and ``log1p`` in-degrees (0 without neighbours)."""
    own = {t: torch.from_numpy(hop_features(data, 0, t).astype(np.float64))
           for t in data.node_types}
    n = int(data[target].num_nodes)
    blocks = []
    for et in data.edge_types:
        if et[2] != target:
            continue
        src, dst = data[et].edge_index
        values = own[et[0]][src]
        index = dst.unsqueeze(1).expand(-1, values.size(1))
        for how in ("amax", "amin"):
            out = torch.zeros((n, values.size(1)), dtype=torch.float64)
            blocks.append(out.scatter_reduce_(0, index, values, how, include_self=False))
    if not blocks:
        return np.zeros((n, 0), dtype=np.float32)
    return torch.cat(blocks, dim=1).numpy().astype(np.float32)


def _margin(booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
    """Raw logits (before the sigmoid) of ``booster`` on rows ``x`` (in place: building a
    ``DMatrix`` costs about 0.1 s per call, far more than predicting the few rows an event
    changes; the same numbers)."""
    return booster.inplace_predict(np.ascontiguousarray(x, dtype=np.float32),
                                   predict_type="margin")
