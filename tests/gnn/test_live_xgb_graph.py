"""gnn.live_xgb_graph: XGB-Graph features and scores of chosen accounts of a growing graph equal
the batch formula's on the whole graph."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gnn.baselines.xgb_graph import XGBGraph, hop_features
from gnn.live_xgb_graph import (
    LiveXGBGraph,
    _csr_product,
    _Distinct,
    _in_edges_from,
    _mean_edges,
    _members,
)
from gnn.local_scoring import GrowingAdjacency, LocalGraph

USED = ("Account", "USED", "Device")
SENT = ("Account", "SENT", "Account")


def setup(hops: int) -> tuple[LocalGraph, LiveXGBGraph]:
    rng = np.random.default_rng(0)
    accounts, devices = 40, 6
    used = np.unique(np.stack([rng.integers(0, accounts, 70), rng.integers(0, devices, 70)]),
                     axis=1)
    sent = np.unique(np.stack([rng.integers(0, accounts, 30), rng.integers(0, accounts, 30)]),
                     axis=1)
    g = LocalGraph({"Account": rng.normal(size=(accounts, 3)).astype(np.float32),
                    "Device": rng.normal(size=(devices, 2)).astype(np.float32),
                    "Card": np.zeros((0, 1), np.float32)}, {USED: used, SENT: sent})
    features = hop_features(g.to_heterodata(), hops)
    model = XGBGraph(hops=hops, n_estimators=20, max_depth=3, early_stopping_rounds=None,
                     n_jobs=1)
    y = (features[:, 0] + features[:, -1] > 0).astype(int)
    model.fit_graph(g.to_heterodata(), np.arange(accounts), y, np.arange(accounts), y)
    return g, LiveXGBGraph(model, lambda t, rows: g.features(t, rows),
                           {"Account": 3, "Device": 2, "Card": 1})


@pytest.mark.parametrize("hops", [1, 2])
def test_live_features_and_scores_equal_the_batch_formula_as_the_graph_grows(hops):
    g, live = setup(hops)
    rng = np.random.default_rng(1)
    for step in range(4):
        data = g.to_heterodata()
        every = np.arange(g.num_nodes["Account"])
        np.testing.assert_allclose(live.features(g, every), hop_features(data, hops),
                                   rtol=1e-6, atol=1e-6)
        rows = rng.choice(len(every), 6, replace=False)
        np.testing.assert_allclose(live.scores(g, rows), live.model.score_graph(data)[rows],
                                   atol=1e-6)
        np.testing.assert_allclose(live.fit(g), live.model.score_graph(data), atol=1e-7)
        account = g.add_nodes("Account", 1)[0]
        g.set_features("Account", np.array([account]), rng.normal(size=(1, 3)).astype("f4"))
        g.add_edge(USED, account, step % g.num_nodes["Device"])
        g.add_edge(SENT, int(rng.integers(account)), account)
    assert len(live.features(g, np.empty(0, dtype=np.int64))) == 0


@pytest.mark.parametrize("hops", [1, 2])
def test_kept_scores_equal_the_batch_scores_after_changes_at_hubs(hops):
    """Hubs (hub_degree 4: the devices, and accounts many send to) keep running sums; after
    each group of changes (features, edges into hubs, new accounts, a node becoming a hub,
    sums rebuilt after 3 differences) every account's kept score and every feature row equal
    the batch formula's on the graph as it is."""
    g, live = setup(hops)
    live = LiveXGBGraph(live.model, live.inputs, live.widths, hub_degree=4, resync=3)
    start = live.fit(g)
    np.testing.assert_allclose(start, live.model.score_graph(g.to_heterodata()), atol=1e-7)
    assert live._hubs[("Account", "USED", "Device")].size
    rng = np.random.default_rng(2)
    for step in range(12):
        changed: dict[str, list[int]] = {"Account": [], "Device": []}
        accounts = g.num_nodes["Account"]
        touched = rng.choice(accounts, 3, replace=False)
        g.set_features("Account", touched, rng.normal(size=(3, 3)).astype(np.float32))
        changed["Account"].extend(touched.tolist())
        if step % 3 == 0:
            new = int(g.add_nodes("Account", 1)[0])
            g.set_features("Account", np.array([new]), rng.normal(size=(1, 3)).astype("f4"))
            changed["Account"].append(new)
        if step % 4 == 1:
            device = g.add_nodes("Device", 1)[0]
            g.set_features("Device", np.array([device]), rng.normal(size=(1, 2)).astype("f4"))
            changed["Device"].append(int(device))
        for _ in range(3):
            src = int(rng.integers(g.num_nodes["Account"]))
            if rng.random() < 0.5:  # mostly into the busiest device
                dst = 0 if rng.random() < 0.6 else int(rng.integers(g.num_nodes["Device"]))
                if g.add_edge(USED, src, dst):
                    changed["Account"].append(src)
                    changed["Device"].append(dst)
            else:
                dst = int(rng.integers(g.num_nodes["Account"]))
                if g.add_edge(SENT, src, dst):
                    changed["Account"].extend([src, dst])
        live.mark(g, {t: np.array(r, dtype=np.int64) for t, r in changed.items()})
        data = g.to_heterodata()
        every = np.arange(g.num_nodes["Account"])
        read = rng.choice(every, 10, replace=False) if step % 2 else every
        np.testing.assert_allclose(live.current(g, read), live.model.score_graph(data)[read],
                                   atol=1e-5)
        np.testing.assert_allclose(live.features(g, every), hop_features(data, hops),
                                   rtol=1e-6, atol=1e-6)
    assert live._hubs[("Account", "USED", "Device")].diffs.max() < 3
    # the whole-graph pass on the grown graph (edges added since the build, hubs) gives the
    # live path's values
    every = np.arange(g.num_nodes["Account"])
    refit = LiveXGBGraph(live.model, live.inputs, live.widths, hub_degree=4, resync=3)
    scores = refit.fit(g)
    np.testing.assert_allclose(scores, refit.scores(g, every), rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores, live.model.score_graph(g.to_heterodata()), atol=1e-5)


@pytest.mark.parametrize("hops", [0, 1, 2, 3])
def test_the_whole_pass_scores_each_account_as_its_own_neighbourhood_does(hops):
    """fit (level 0 held as the scaled features, each block's means multiplied by only the rows
    they read, hubs' level 1 read from their sums) gives every account, bit for bit, the score
    computed for it alone from its neighbourhood."""
    g, live = setup(hops)
    live.hub_degree = 4
    every = np.arange(g.num_nodes["Account"])
    np.testing.assert_array_equal(live.fit(g), live.scores(g, every))
    np.testing.assert_allclose(live.fit(g), live.model.score_graph(g.to_heterodata()),
                               atol=1e-7)


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_rows_read_together_get_each_row_alone_s_features_bit_for_bit(hops):
    """A batch's levels are computed once for all the rows that need them: the features of
    rows asked together (repeated, out of order) are, bit for bit, each row's asked alone,
    with hubs' sums and pinned rows after changes (held) and without."""
    g, live = setup(hops)
    live = LiveXGBGraph(live.model, live.inputs, live.widths, hub_degree=4, resync=3)
    live.fit(g)
    g.set_features("Account", np.array([0, 5]), np.ones((2, 3), dtype=np.float32))
    g.add_edge(USED, 7, 0)
    live.mark(g, {"Account": np.array([0, 5, 7]), "Device": np.array([0])})
    rows = np.array([9, 3, 0, 9, 5, 7, 33, 3])
    for held in (False, True):
        alone = np.vstack([live.features(g, rows[i:i + 1], held) for i in range(len(rows))])
        np.testing.assert_array_equal(live.features(g, rows, held), alone)


def test_mean_edges_order_rows_then_sources_descending():
    """_mean_edges' order (one sort key) is lexsort's: by row, each row's sources descending."""
    rng = np.random.default_rng(3)
    pairs = np.unique(np.stack([rng.integers(0, 30, 400), rng.integers(0, 500, 400)]), axis=1)
    shuffled = pairs[:, rng.permutation(pairs.shape[1])]
    position, src, share, indptr = _mean_edges(shuffled[0], shuffled[1], 32)
    order = np.lexsort((-shuffled[1], shuffled[0]))
    np.testing.assert_array_equal(position, shuffled[0][order])
    np.testing.assert_array_equal(src, shuffled[1][order])
    np.testing.assert_array_equal(indptr, np.r_[0, np.cumsum(np.bincount(position, minlength=32))])
    np.testing.assert_array_equal(share, 1.0 / np.bincount(position, minlength=32)[position])


@pytest.mark.parametrize("edges", [3, 40, 400])
def test_distinct_rows_are_those_of_unique(edges):
    """_Distinct gives np.unique's distinct rows and inverse, by sort (few edges) or by mark
    (many), and leaves its marks clear for the next call."""
    rng = np.random.default_rng(edges)
    distinct = _Distinct(100)
    for _ in range(3):
        rows = rng.integers(0, 100, edges).astype(np.int32)
        got, position = distinct(rows)
        want, inverse = np.unique(rows, return_inverse=True)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(position, inverse.reshape(-1))
        assert not distinct.mark.any()


def test_in_edges_from_a_position_are_the_tail_of_neighbours():
    """_in_edges_from reads, node by node, what neighbours(node)[first:] holds (built edges,
    then added ones; a first within the built ones, past them, past all; nodes added later)."""
    rng = np.random.default_rng(4)
    pairs = np.unique(np.stack([rng.integers(0, 50, 300), rng.integers(0, 12, 300)]), axis=1)
    adjacency = GrowingAdjacency(pairs[0], pairs[1], 12)
    extra = np.unique(np.stack([rng.integers(50, 80, 60), rng.integers(0, 15, 60)]), axis=1)
    adjacency.add_many(extra[0], extra[1])
    nodes = np.array([3, 0, 14, 7, 3, 12, 5, 9])
    for first in (np.zeros(len(nodes), dtype=np.int64), rng.integers(0, 40, len(nodes)),
                  np.maximum(adjacency.degree(nodes) - 1, 0)):
        position, src = _in_edges_from(adjacency, nodes, first)
        tails = [adjacency.neighbours(int(n))[k:] for n, k in zip(nodes, first, strict=True)]
        np.testing.assert_array_equal(position, np.repeat(np.arange(len(nodes)),
                                                          [len(t) for t in tails]))
        np.testing.assert_array_equal(src, np.concatenate(tails).astype(np.int64))


def test_members_is_isin():
    rng = np.random.default_rng(5)
    for size in (0, 1, 7, 200):
        keys = rng.integers(-5, 60, size)
        values = rng.integers(-10, 70, 90)
        np.testing.assert_array_equal(_members(values, keys), np.isin(values, keys))
    assert len(_members(np.empty(0, dtype=np.int64), np.arange(3))) == 0


@pytest.mark.parametrize("calibrate", [True, False])
def test_scores_are_the_model_s_probabilities_with_its_range_of_trees(calibrate):
    """The scores call the booster straight (calibrated) or the model: bit for bit the model's
    probabilities, early stopping's best iteration included (all the trees score otherwise)."""
    g, live = setup(2)
    data = g.to_heterodata()
    features = hop_features(data, 2)
    y = (features[:, 0] + np.random.default_rng(6).normal(size=len(features)) > 0).astype(int)
    model = XGBGraph(hops=2, n_estimators=80, max_depth=3, early_stopping_rounds=10, n_jobs=1,
                     calibrate=calibrate)
    model.fit_graph(data, np.arange(0, 40, 2), y[::2], np.arange(1, 40, 2), y[1::2])
    booster = model.model_.get_booster()
    assert model.model_.best_iteration + 1 < booster.num_boosted_rounds()
    assert (getattr(model, "calibrator_", None) is not None) == calibrate
    live = LiveXGBGraph(model, live.inputs, live.widths)
    every = np.arange(g.num_nodes["Account"])
    np.testing.assert_array_equal(live.scores(g, every),
                                  model.probabilities(live.features(g, every)))
    every_tree = booster.inplace_predict(features, predict_type="margin")
    assert not np.array_equal(every_tree, model.margins(features).astype(np.float32))


@pytest.mark.parametrize("edges", [0, 5, 300])
def test_csr_product_is_scipy_s_product_bit_for_bit(edges):
    """_csr_product sums what csr_matrix @ values sums, in its order (rows without edges, a
    float32 level below, int32 columns, no columns)."""
    rng = np.random.default_rng(edges)
    position = np.sort(rng.integers(0, 20, edges))
    source = rng.integers(0, 50, edges).astype(np.int32)
    indptr = np.r_[0, np.cumsum(np.bincount(position, minlength=20))]
    share = rng.random(edges)
    for values in (rng.normal(size=(50, 7)), rng.normal(size=(50, 3)).astype(np.float32),
                   np.zeros((50, 0))):
        want = sp.csr_matrix((share, source, indptr), shape=(20, 50)) @ values
        got = _csr_product(indptr, source, share, values)
        assert got.dtype == np.float64 and got.shape == (20, values.shape[1])
        np.testing.assert_array_equal(got, want)
