"""Raw margins of XGBoost tree boosters in numpy, for the few rows an event changes.

``Booster.inplace_predict`` costs about 0.2 ms a call whatever the rows (its set-up: the
array's interface, the proxy matrix, the thread pool), so the boosted column of a few accounts
(:class:`gnn.boosted.LiveBoostedColumn`, a mean over fold boosters) costs about 1 ms an event
in set-up alone. :class:`TreeMargins` reads each booster's trees once and walks them for all
rows and all trees at once, one numpy step per tree level: the same margins (each tree's leaf
added in tree order to the base margin in float32, as XGBoost's CPU predictor adds them).

Only what a ``binary:logistic`` gbtree booster with numerical splits holds is read: a booster
with categorical splits, vector leaves or another objective is refused (``ValueError``).

For more rows (a batch's ~100) XGBoost's own walk is faster; :class:`MergedMargins` pays its
set-up once for all the boosters: their trees as one multi-class model, one tree group per
booster, each row's per-booster base margin passed in (the same float32 margins as one call a
booster: each group's leaves are added in its own tree order to its base margin).
"""

from __future__ import annotations

import json

import numpy as np
import xgboost as xgb


class TreeMargins:
    """The raw margins (before the sigmoid) of ``boosters`` on rows of features.

    Parameters
    ----------
    boosters
        Fitted ``binary:logistic`` gbtree boosters with numerical splits (say, the fold models
        of :class:`gnn.boosted.BoostedLogits`).
    """

    def __init__(self, boosters: list[xgb.Booster]) -> None:
        trees, bases = [], []
        for booster in boosters:
            learner = json.loads(bytes(booster.save_raw("json")))["learner"]
            if learner["objective"]["name"] != "binary:logistic":
                raise ValueError(f"TreeMargins: objective {learner['objective']['name']!r}")
            if learner["gradient_booster"]["name"] != "gbtree":
                raise ValueError(f"TreeMargins: booster {learner['gradient_booster']['name']!r}")
            model = learner["gradient_booster"]["model"]
            booster_trees = model["trees"]
            for tree in booster_trees:
                if any(tree["split_type"]) or int(tree["tree_param"]["size_leaf_vector"]) > 1:
                    raise ValueError("TreeMargins: categorical splits or vector leaves")
            trees.append(booster_trees)
            bases.append(_base_margin(learner))
        self.num_boosters = len(trees)
        if len({len(t) for t in trees}) > 1:
            raise ValueError("TreeMargins: boosters of different numbers of trees")
        flat = [tree for booster_trees in trees for tree in booster_trees]
        width = max((len(t["left_children"]) for t in flat), default=1)
        # Every tree's nodes in one array, tree i's node k at i * width + k; a child index is
        # global, and a leaf's children are itself (a walk that reached it stays).
        size = len(flat) * width
        self.feature = np.zeros(size, dtype=np.int64)
        self.threshold = np.zeros(size, dtype=np.float32)
        self.child = np.zeros(2 * size, dtype=np.int64)  # node * 2 + (0 left, 1 right)
        self.default_right = np.zeros(size, dtype=bool)
        self.value = np.zeros(size, dtype=np.float32)
        depth = 0
        for i, tree in enumerate(flat):
            left = np.asarray(tree["left_children"], dtype=np.int64)
            right = np.asarray(tree["right_children"], dtype=np.int64)
            n, first = len(left), i * width
            nodes = slice(first, first + n)
            leaf = left == -1
            conditions = np.asarray(tree["split_conditions"], dtype=np.float32)
            own = np.arange(first, first + n)
            self.feature[nodes] = np.where(leaf, 0, tree["split_indices"])
            self.threshold[nodes] = np.where(leaf, np.float32(np.inf), conditions)
            self.child[2 * first:2 * (first + n):2] = np.where(leaf, own, first + left)
            self.child[2 * first + 1:2 * (first + n):2] = np.where(leaf, own, first + right)
            self.default_right[nodes] = ~np.asarray(tree["default_left"], dtype=bool)
            self.value[nodes] = np.where(leaf, conditions, 0)
            depth = max(depth, _depth(left, right))
        self.depth = depth
        self.roots = np.arange(len(flat), dtype=np.int64) * width
        self.bases = np.asarray(bases, dtype=np.float32)
        # The walk's arrays by twice the node (a node's two children at 2 * node and
        # 2 * node + 1, each stored doubled): a step is one gather and one add fewer.
        self._feature2, self._threshold2, self._default_right2, self._value2 = (
            np.repeat(a, 2) for a in (self.feature, self.threshold, self.default_right,
                                      self.value))
        self._child2 = 2 * self.child
        self._roots2 = 2 * self.roots

    def margins(self, x: np.ndarray) -> np.ndarray:
        """``(boosters, rows)`` float32 margins of the rows of ``x`` (missing values: NaN,
        sent each split's default way)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        rows, columns = x.shape
        values = x.reshape(-1)
        offset = (np.arange(rows, dtype=np.int64) * columns)[:, None] if rows > 1 else None
        node = np.broadcast_to(self._roots2, (rows, len(self.roots)))  # twice the node
        missing = np.isnan(values).any()
        for _ in range(self.depth):
            at = self._feature2[node]
            value = values[at if offset is None else offset + at]
            # XGBoost goes left when the value is below the split (float32), or missing and
            # the split's default is left; a leaf's threshold is +inf (left: itself). Without
            # NaN, "not below" is "at least".
            if missing:
                right = ~(value < self._threshold2[node])
                right = np.where(np.isnan(value), self._default_right2[node], right)
            else:
                right = value >= self._threshold2[node]
            node = self._child2[node + right]
        # the base margin, then each tree's leaf in tree order (a running float32 sum)
        leaves = self._value2[node].reshape(rows, self.num_boosters, -1)
        running = np.empty((rows, self.num_boosters, leaves.shape[2] + 1), dtype=np.float32)
        running[:, :, 0] = self.bases
        running[:, :, 1:] = leaves
        return np.cumsum(running, axis=2, dtype=np.float32)[:, :, -1].T


class MergedMargins:
    """The raw margins of ``boosters`` from one XGBoost call (module docstring).

    Parameters
    ----------
    boosters
        Two or more fitted ``binary:logistic`` gbtree boosters with the same number of trees
        (say, the fold models of :class:`gnn.boosted.BoostedLogits`); others are refused
        (``ValueError``). The merged model runs on the first one's XGBoost threads.
    """

    def __init__(self, boosters: list[xgb.Booster]) -> None:
        models = [json.loads(bytes(booster.save_raw("json"))) for booster in boosters]
        learners = [model["learner"] for model in models]
        for learner in learners:
            if learner["objective"]["name"] != "binary:logistic":
                raise ValueError(f"MergedMargins: objective {learner['objective']['name']!r}")
            if learner["gradient_booster"]["name"] != "gbtree":
                raise ValueError(
                    f"MergedMargins: booster {learner['gradient_booster']['name']!r}")
        groups = [learner["gradient_booster"]["model"] for learner in learners]
        rounds = {len(group["trees"]) for group in groups}
        if len(groups) < 2:
            raise ValueError("MergedMargins: fewer than two boosters")
        if len(rounds) != 1 or any(
                int(group["gbtree_model_param"]["num_parallel_tree"]) != 1 for group in groups):
            raise ValueError("MergedMargins: boosters of different numbers of trees")
        count, (per,) = len(groups), rounds
        self.bases = np.asarray([_base_margin(learner) for learner in learners],
                                dtype=np.float32)
        # Round by round, one tree of each booster (tree group g: booster g), as XGBoost
        # lays out a multi-class model.
        trees, info = [], []
        for i in range(per):
            for g, group in enumerate(groups):
                trees.append({**group["trees"][i], "id": len(trees)})
                info.append(g)
        merged = models[0]
        learner = merged["learner"]
        model = learner["gradient_booster"]["model"]
        model["trees"], model["tree_info"] = trees, info
        model["gbtree_model_param"]["num_trees"] = str(len(trees))
        model["iteration_indptr"] = list(range(0, len(trees) + 1, count))
        learner["learner_model_param"]["num_class"] = str(count)
        learner["objective"] = {"name": "multi:softprob",
                                "softmax_multiclass_param": {"num_class": str(count)}}
        self.booster = xgb.Booster(model_file=bytearray(json.dumps(merged).encode()))
        threads = json.loads(boosters[0].save_config())["learner"]["generic_param"]["nthread"]
        self.booster.set_param({"nthread": int(threads)})

    def margins(self, x: np.ndarray) -> np.ndarray:
        """``(boosters, rows)`` float32 margins of the rows of ``x`` (missing values: NaN)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        base = np.empty((len(x), len(self.bases)), dtype=np.float32)
        base[:] = self.bases
        out = self.booster.inplace_predict(x, predict_type="margin", base_margin=base)
        return np.asarray(out, dtype=np.float32).reshape(len(x), len(self.bases)).T


def _base_margin(learner: dict) -> np.float32:
    """A ``binary:logistic`` learner's base margin as XGBoost adds it: -logf(1 / base - 1) in
    float32 (C's logf is correctly rounded: the float64 log rounded once, not numpy's float32
    log)."""
    base = np.float32(learner["learner_model_param"]["base_score"].strip("[]"))
    return -np.float32(np.log(np.float64(np.float32(1) / base - np.float32(1))))


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Edges on the longest root-to-leaf path of a tree (children arrays, -1: leaf)."""
    depth, level = 0, np.array([0])
    while True:
        inner = level[left[level] != -1]
        if not len(inner):
            return depth
        level = np.concatenate([left[inner], right[inner]])
        depth += 1
