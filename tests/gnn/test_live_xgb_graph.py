"""gnn.live_xgb_graph: XGB-Graph features and scores of chosen accounts of a growing graph equal
the batch formula's on the whole graph."""

from __future__ import annotations

import numpy as np
import pytest

from gnn.baselines.xgb_graph import XGBGraph, hop_features
from gnn.live_xgb_graph import LiveXGBGraph
from gnn.local_scoring import LocalGraph

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
