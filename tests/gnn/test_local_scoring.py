"""gnn.local_scoring: local and incremental scores equal whole-graph scores of the same graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gnn.inference
from gnn import local_scoring
from gnn.boosted import BoostedLogits, LiveBoostedColumn, boost_features
from gnn.calibration import ScoreCalibrator
from gnn.inference import full_graph_logits
from gnn.local_scoring import (
    GrowingAdjacency,
    LocalGraph,
    LocalScorer,
    _GraphPass,
    _InputCache,
    _NeighbourSums,
    _Pinned,
)
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler

USED = ("Account", "USED", "Device")
SENT = ("Account", "SENT", "Account")
EDGE_TYPES = [USED, ("Device", "rev_USED", "Account"), SENT, ("Account", "rev_SENT", "Account")]


def graph(seed: int = 0, accounts: int = 30, devices: int = 8) -> LocalGraph:
    rng = np.random.default_rng(seed)
    used = np.stack([rng.integers(0, accounts, 60), rng.integers(0, devices, 60)])
    used = np.unique(used, axis=1)
    sent = np.unique(np.stack([rng.integers(0, accounts, 25), rng.integers(0, accounts, 25)]),
                     axis=1)
    x = {"Account": rng.normal(size=(accounts, 3)).astype(np.float32),
         "Device": rng.normal(size=(devices, 2)).astype(np.float32)}
    return LocalGraph(x, {USED: used, SENT: sent})


def scorer(layers: int = 2, input_cache_rows: int = 1 << 19) -> LocalScorer:
    torch.manual_seed(0)
    in_channels = {"Account": 3 + 3, "Device": 2 + 1}  # features + a degree per incoming type
    model = SepHeteroGNN(in_channels, EDGE_TYPES, 8, layers, ("mean", "std"), 0.0).eval()
    calibrator = ScoreCalibrator().fit(np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
    return LocalScorer(model, calibrator, input_cache_rows=input_cache_rows)


def whole_graph_scores(local: LocalScorer, g: LocalGraph) -> np.ndarray:
    data = g.to_heterodata()
    sampler = TemporalNeighborSampler(data, [5, 5], time_attr=None)
    return local.calibrator.transform(full_graph_logits(local.model, data, sampler).numpy())


def test_growing_adjacency_gathers_built_and_added_edges():
    adjacency = GrowingAdjacency(np.array([5, 6, 7]), np.array([1, 0, 1]), num_dst=3)
    adjacency.add(9, 1)
    adjacency.add(4, 3)  # a destination added after the build
    assert adjacency.degree(np.array([0, 1, 2, 3])).tolist() == [1, 3, 0, 1]
    assert [adjacency.degree_of(n) for n in range(5)] == [1, 3, 0, 1, 0]
    assert adjacency.neighbours(1).tolist() == [5, 7, 9]
    assert adjacency.neighbours(3).tolist() == [4]
    assert adjacency.neighbours(4).tolist() == []
    position, src = adjacency.gather(np.array([1, 3]))
    assert sorted(zip(position.tolist(), src.tolist(), strict=True)) == [
        (0, 5), (0, 7), (0, 9), (1, 4)]
    assert adjacency.num_edges == 5
    assert sorted(map(tuple, adjacency.edge_index().T.tolist())) == [
        (4, 3), (5, 1), (6, 0), (7, 1), (9, 1)]


def test_gather_node_by_node_equals_the_vectorised_gather():
    rng = np.random.default_rng(3)
    adjacency = GrowingAdjacency(rng.integers(0, 50, 200), rng.integers(0, 20, 200), num_dst=20)
    for _ in range(30):  # added edges, some into nodes beyond the built ones
        adjacency.add(int(rng.integers(50)), int(rng.integers(25)))
    nodes = rng.permutation(25)[:20]  # more than a few: the vectorised path
    position, src = adjacency.gather(nodes)
    assert len(src) > 100
    few = []
    for start in range(0, len(nodes), 4):  # a few at a time: node by node
        p, s = adjacency.gather(nodes[start:start + 4])
        few += zip((p + start).tolist(), s.tolist(), strict=True)
    assert sorted(few) == sorted(zip(position.tolist(), src.tolist(), strict=True))
    one = [adjacency.gather(nodes[k:k + 1]) for k in range(len(nodes))]  # one node a call
    assert all(p.dtype == np.int64 and not p.any() for p, _ in one)
    assert sorted((k, v) for k, (_, s) in enumerate(one) for v in s.tolist()) == sorted(
        zip(position.tolist(), src.tolist(), strict=True))
    assert [len(a) for a in adjacency.gather(np.array([22, 21]))] != [0, 0]
    assert [len(a) for a in adjacency.gather(np.empty(0, dtype=np.int64))] == [0, 0]


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_local_scores_equal_whole_graph_scores(layers):
    g, local = graph(), scorer(layers)
    expected = whole_graph_scores(local, g)
    rows = np.array([3, 0, 17, 29])
    np.testing.assert_allclose(local.scores(g, rows), expected[rows], atol=1e-6)
    np.testing.assert_allclose(local.fit(g), expected, atol=1e-6)


def test_fit_after_added_nodes_and_edges_equals_a_whole_graph_pass():
    """Fit reads the built CSR as it is, or (edges added since) lays the edges out again."""
    g, local = graph(), scorer(2)
    np.testing.assert_allclose(local.fit(g), whole_graph_scores(local, g), atol=1e-6)
    account = g.add_nodes("Account", 1)[0]
    g.set_features("Account", np.array([account]), np.ones((1, 3), np.float32))
    assert g.add_edge(USED, account, 3) and g.add_edge(SENT, 0, account)
    np.testing.assert_allclose(local.fit(g), whole_graph_scores(local, g), atol=1e-6)


@pytest.mark.parametrize(("layers", "input_cache_rows", "dense_sums"),
                         [(1, 1 << 19, None), (2, 1 << 19, None), (3, 1 << 19, None),
                          (2, 12, None), (2, 1 << 19, 0), (3, 12, 0)])
def test_marked_changes_keep_read_scores_equal_to_a_whole_graph_pass(
        layers, input_cache_rows, dense_sums, monkeypatch):
    """Input embeddings all held (filled by fit) or a few of them (read through the cache);
    neighbours summed by a 0/1 product (a few edges) or by an index_add per relation (many:
    ``dense_sums`` 0)."""
    if dense_sums is not None:
        monkeypatch.setattr(local_scoring, "_DENSE_SUMS", dense_sums)
    g, local = graph(), scorer(layers, input_cache_rows)
    local.fit(g)
    rng = np.random.default_rng(1)
    for step in range(12):
        changed: dict[str, np.ndarray] = {}
        if step % 3 == 0:
            new_account = g.add_nodes("Account", 1)[0]
            g.set_features("Account", np.array([new_account]), np.ones((1, 3), np.float32))
            device = int(rng.integers(g.num_nodes["Device"]))
            assert g.add_edge(USED, new_account, device)
            assert not g.add_edge(USED, new_account, device)  # an edge is held once
            changed = {"Account": np.array([new_account]), "Device": np.array([device])}
        else:
            account = int(rng.integers(g.num_nodes["Account"]))
            g.set_features("Account", np.array([account]),
                           rng.normal(size=(1, 3)).astype(np.float32))
            changed = {"Account": np.array([account])}
        local.mark(g, changed)
        # Read a few accounts between changes, all of them at the end.
        rows = rng.choice(g.num_nodes["Account"], 4, replace=False)
        expected = whole_graph_scores(local, g)
        np.testing.assert_allclose(local.current(g, rows), expected[rows], atol=1e-6)
    every = np.arange(g.num_nodes["Account"])
    np.testing.assert_allclose(local.current(g, every), whole_graph_scores(local, g), atol=1e-6)


def test_pinned_rows_past_the_reserved_slots_grow_the_table():
    pinned = _Pinned(2, capacity=3)
    assert pinned.values.shape == (3, 2)
    pinned.pin(np.array([7, 1]), np.array([[1, 2], [3, 4]], dtype=np.float32))
    assert pinned.values.shape == (3, 2)  # within the reservation: not copied
    pinned.pin(np.array([4, 0]), np.array([[5, 6], [7, 8]], dtype=np.float32))
    assert len(pinned.values) > 3
    assert pinned.values[pinned.slots(np.array([0, 1, 4, 7]))].tolist() == [
        [7, 8], [3, 4], [5, 6], [1, 2]]
    assert pinned.slots(np.array([2, 9])).tolist() == [-1, -1]


def test_input_cache_holds_the_rows_read_or_written_last():
    cache = _InputCache(3, 2)
    encoded: list[list[int]] = []

    def encode(rows):
        encoded.append(rows.tolist())
        return np.column_stack([rows, -rows]).astype(np.float32)

    cache.fill(2, lambda rows: encode(np.arange(rows.start, rows.stop)))
    np.testing.assert_array_equal(cache.read(np.array([0, 1, 0]), encode),
                                  [[0, 0], [1, -1], [0, 0]])
    assert encoded == [[0, 1]] and cache.identity == 2  # filled: nothing encoded on read
    cache.write(np.array([1]), np.array([[7, 7]], np.float32))  # row 1 changed: its own slot
    np.testing.assert_array_equal(cache.read(np.array([1, 4, 5, 4]), encode),
                                  [[7, 7], [4, -4], [5, -5], [4, -4]])
    assert encoded[-1] == [4, 5]  # encoded once each
    assert sorted(cache.node.tolist()) == [1, 4, 5]  # 4 took the free slot, 5 the oldest (0's)
    assert cache.identity == 0
    np.testing.assert_array_equal(cache.read(np.array([0, 4]), encode), [[0, 0], [4, -4]])
    assert encoded[-1] == [0]  # 4 held; 0 evicted before, takes the oldest slot (1's)
    assert sorted(cache.node.tolist()) == [0, 4, 5]


def test_input_cache_fills_a_block_at_a_time_the_last_never_short():
    cache = _InputCache(1000, 1)
    blocks: list[tuple[int, int]] = []

    def encode(rows):
        blocks.append((rows.start, rows.stop))
        return np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]

    cache.fill(300, encode, block=128)  # 300 = 128 + 128 + 44: the last 44 join the block before
    assert blocks == [(0, 128), (128, 300)]
    np.testing.assert_array_equal(cache.values[:300, 0], np.arange(300))
    assert cache.identity == 300
    blocks.clear()
    cache.fill(2000, encode, block=512)  # as many as fit
    assert blocks == [(0, 512), (512, 1000)] and cache.identity == 1000 and cache.next == 0


@torch.no_grad()
def test_an_input_cache_filled_in_blocks_holds_the_bits_encoded_whole():
    g, local = graph(accounts=3000, devices=500), scorer(2)
    run = _GraphPass(local.model, g, lambda t, rows: local._inputs(g, t, rows))
    encoders = {  # fit's (torch, by its blocks) and load's (numpy, all rows in one product)
        "fit": (lambda t: run.encode(t).numpy(),
                lambda t, rows: run.encode_block(t, rows).numpy()),
        "load": (lambda t: local.input_embeddings(g, t, np.arange(g.num_nodes[t])),
                 lambda t, rows: local.input_embeddings(g, t, np.arange(rows.start, rows.stop))),
    }
    for whole, block in encoders.values():
        for t, n in g.num_nodes.items():
            cache = _InputCache(n, local.model.hidden_channels)
            cache.fill(n, lambda rows, t=t, block=block: block(t, rows), block=256)
            np.testing.assert_array_equal(cache.values, whole(t))


def test_scores_stay_exact_once_the_input_caches_are_dropped():
    g, local = graph(), scorer(2)
    local.fit(g)
    local.drop_input_caches()
    assert all(len(c.node) == 0 for c in local._cache.values())
    g.set_features("Device", np.array([2]), np.full((1, 2), 3.0, dtype=np.float32))
    local.mark(g, {"Device": np.array([2])})
    every = np.arange(g.num_nodes["Account"])
    np.testing.assert_allclose(local.current(g, every), whole_graph_scores(local, g), atol=1e-6)


def test_a_read_recomputes_only_what_a_change_reaches():
    g, local = graph(), scorer(2)
    local.fit(g)
    g.set_features("Device", np.array([2]), np.full((1, 2), 3.0, dtype=np.float32))
    local.mark(g, {"Device": np.array([2])})
    every = np.arange(g.num_nodes["Account"])
    reach = g.within_hops({"Device": np.array([2])}, 2)["Account"]
    before = local.scored_[every].copy()
    local.current(g, every)
    recomputed = np.flatnonzero(local.scored_[every] != before)
    assert set(recomputed.tolist()) <= set(reach.tolist())
    assert 0 < len(recomputed) < len(every)
    assert (local.scored_[np.setdiff1d(every, reach)] == 0).all()


def test_within_hops_follows_edges_both_ways():
    g = LocalGraph({"Account": np.zeros((3, 1), np.float32), "Device": np.zeros((2, 1),
                                                                               np.float32)},
                   {USED: np.array([[0, 1], [0, 1]]), SENT: np.array([[2], [1]])})
    assert {t: v.tolist() for t, v in g.within_hops({"Device": np.array([0])}, 1).items()} == {
        "Device": [0], "Account": [0]}
    reach = g.within_hops({"Account": np.array([0])}, 3)
    assert reach["Account"].tolist() == [0] and reach["Device"].tolist() == [0]
    reach = g.within_hops({"Device": np.array([1])}, 2)
    assert reach["Account"].tolist() == [1, 2]


def test_a_rescaled_graph_shares_the_edges_and_holds_its_own_features():
    g = graph()
    local = scorer()
    before = local.fit(g)
    x = {"Account": np.ones((30, 3), np.float32)}
    other = g.rescaled(x)
    assert other.adjacency is g.adjacency and other.num_nodes == g.num_nodes
    np.testing.assert_array_equal(other.features("Account", np.arange(30)), x["Account"])
    np.testing.assert_array_equal(other.features("Device", np.arange(8)),
                                  g.features("Device", np.arange(8)))  # a copy of g's
    other.set_features("Device", np.array([0]), np.full((1, 2), 9.0, np.float32))
    assert g.features("Device", np.array([0]))[0, 0] != 9.0
    np.testing.assert_array_equal(scorer().fit(g), before)  # g's scores are g's still
    np.testing.assert_allclose(scorer().fit(other), whole_graph_scores(local, other),
                               atol=1e-5)
    with pytest.raises(ValueError, match="29 feature rows for 30 nodes"):
        g.rescaled({"Account": np.ones((29, 3), np.float32)})


def boosted_setup(seed: int = 0, residual: bool = True, hops: int = 1):
    """A graph with a hub device, fold models on its boost features, and a scorer whose
    target features end with the boosted column (kept by a LiveBoostedColumn)."""
    rng = np.random.default_rng(seed)
    accounts, devices = 60, 8
    used = np.stack([rng.integers(0, accounts, 120), rng.integers(1, devices, 120)])
    used = np.unique(np.hstack([used, np.stack([np.arange(0, accounts, 2),
                                                np.zeros(accounts // 2, int)])]), axis=1)
    sent = np.unique(np.stack([rng.integers(0, accounts, 50), rng.integers(0, accounts, 50)]),
                     axis=1)
    x = {"Account": np.column_stack([rng.normal(size=(accounts, 3)),
                                     np.zeros(accounts)]).astype(np.float32),
         "Device": rng.normal(size=(devices, 2)).astype(np.float32)}
    g = LocalGraph(x, {USED: used, SENT: sent})
    torch.manual_seed(0)
    in_channels = {"Account": 3 + 1 + 3, "Device": 2 + 1}
    model = SepHeteroGNN(in_channels, EDGE_TYPES, 8, 2, ("mean", "std"), 0.0).eval()
    data = g.to_heterodata()
    data["Account"].x = data["Account"].x[:, :3]
    features = boost_features(data, "Account", hops)
    y = (features[:, 0] + features[:, -1] > 0.3).astype(int)
    boosted = BoostedLogits(folds=3, hops=hops, n_estimators=25, max_depth=3)
    boosted.fit_transform(features, np.arange(accounts), y)
    calibrator = ScoreCalibrator().fit(np.array([-2.0, 0.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
    live = LiveBoostedColumn(boosted, model)
    live.fit(g)
    local = LocalScorer(model, calibrator, residual=residual)
    return g, live, local


def batch_boosted_scores(g: LocalGraph, live: LiveBoostedColumn, local: LocalScorer):
    """What a boosted detector's whole-graph pass gives on ``g``: the column from
    boost_features of the whole graph, the network on it, the column added when residual."""
    data = g.to_heterodata()
    plain = data["Account"].x[:, :3]
    view = g.to_heterodata()
    view["Account"].x = plain
    column = live.boosted.transform(boost_features(view, "Account", live.hops))
    data["Account"].x = torch.cat([plain, torch.from_numpy(column)[:, None]], dim=1)
    sampler = TemporalNeighborSampler(data, [5, 5], time_attr=None)
    logits = full_graph_logits(local.model, data, sampler).numpy()
    if local.residual:
        logits = logits + column
    return local.calibrator.transform(logits), column


@pytest.mark.parametrize("hops", [0, 1])
def test_live_boost_features_equal_the_batch_formula(hops):
    g, live, _ = boosted_setup(hops=hops)
    data = g.to_heterodata()
    data["Account"].x = data["Account"].x[:, :3]
    rows = np.arange(g.num_nodes["Account"])
    np.testing.assert_allclose(live.features(g, rows), boost_features(data, "Account", hops),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("residual", "hops"), [(True, 1), (False, 1), (True, 0), (True, 2)])
def test_boosted_column_and_scores_stay_equal_to_a_whole_graph_pass(residual, hops):
    """Hops 0: the trees read own features and degrees; 2: the whole column is recomputed."""
    g, live, local = boosted_setup(residual=residual, hops=hops)
    local.fit(g)
    hub_accounts = len(g.adjacency[USED].neighbours(0))
    rng = np.random.default_rng(3)
    for step in range(9):
        if step % 3 == 0:  # a new account on the hub device: the hub's degree changes
            account = g.add_nodes("Account", 1)[0]
            g.set_features("Account", np.array([account]),
                           np.array([[0.5, -1.0, 2.0, 0.0]], np.float32))
            assert g.add_edge(USED, account, 0)
            changed = {"Account": np.array([account]), "Device": np.array([0])}
        elif step % 3 == 1:  # new features of a device
            device = int(rng.integers(1, g.num_nodes["Device"]))
            g.set_features("Device", np.array([device]),
                           rng.normal(size=(1, 2)).astype(np.float32))
            changed = {"Device": np.array([device])}
        else:  # an account's own features change (its column is kept until updated)
            account = int(rng.integers(g.num_nodes["Account"]))
            old = g.features("Account", np.array([account]))[0, -1]
            g.set_features("Account", np.array([account]),
                           np.append(rng.normal(size=3), old)[None].astype(np.float32))
            changed = {"Account": np.array([account])}
        moved = live.update(g, changed)
        changed["Account"] = np.union1d(changed.get("Account", []), moved).astype(np.int64)
        local.mark(g, changed)
        expected, column = batch_boosted_scores(g, live, local)
        every = np.arange(g.num_nodes["Account"])
        np.testing.assert_allclose(g.features("Account", every)[:, -1], column, atol=1e-6)
        rows = rng.choice(len(every), 5, replace=False)
        np.testing.assert_allclose(local.current(g, rows), expected[rows], atol=1e-6)
    np.testing.assert_allclose(local.current(g, every), expected, atol=1e-6)
    assert len(g.adjacency[USED].neighbours(0)) == hub_accounts + 3
    np.testing.assert_allclose(local.scores(g, every), expected, atol=1e-6)


def summed_embeddings(local: LocalScorer, g: LocalGraph, node_type: str,
                      rows: np.ndarray) -> np.ndarray:
    """The input embeddings of ``rows`` as a hub's running sums hold them (all pinned), float64;
    checked equal to the rows' current input embeddings."""
    pinned = local._sums.pinned[node_type]
    slots = pinned.slot_of[rows]
    assert (slots >= 0).all()
    values = pinned.values[slots]
    np.testing.assert_allclose(values, local.input_embeddings(g, node_type, rows), atol=1e-5)
    return values.astype(np.float64)


def hub_scorer(layers: int, hub_degree: int, resync: int,
               input_cache_rows: int = 1 << 19) -> LocalScorer:
    base = scorer(layers)
    return LocalScorer(base.model, base.calibrator, hub_degree=hub_degree, resync=resync,
                       input_cache_rows=input_cache_rows)


@pytest.mark.parametrize(("layers", "hub_degree", "resync", "input_cache_rows", "few_hubs"),
                         [(2, 3, 4096, 1 << 19, 4), (2, 1, 7, 1 << 19, 4), (1, 2, 3, 1 << 19, 4),
                          (3, 3, 11, 1 << 19, 4), (2, 3, 7, 10, 4), (2, 1, 7, 1 << 19, 0)])
def test_hub_running_sums_stay_equal_to_a_whole_graph_pass(layers, hub_degree, resync,
                                                           input_cache_rows, few_hubs,
                                                           monkeypatch):
    """A long random sequence of changes (new accounts and edges, features of accounts and
    devices, reads between them) with nodes of a few neighbours kept as running sums (the
    hubs behind taken in one by one, or all at once as a batch's are: ``few_hubs`` 0)."""
    monkeypatch.setattr(local_scoring, "_FEW_HUBS", few_hubs)
    g, local = graph(seed=1), hub_scorer(layers, hub_degree, resync, input_cache_rows)
    local.fit(g)
    rng = np.random.default_rng(4)
    for step in range(150):
        kind = step % 5
        if kind == 0:  # a new account on a device, sending to an old one
            account = g.add_nodes("Account", 1)[0]
            g.set_features("Account", np.array([account]),
                           rng.normal(size=(1, 3)).astype(np.float32))
            device = int(rng.integers(g.num_nodes["Device"]))
            other = int(rng.integers(account))
            assert g.add_edge(USED, account, device)
            g.add_edge(SENT, account, other)
            changed = {"Account": np.array([account, other]), "Device": np.array([device])}
        elif kind in (1, 2):
            accounts = rng.choice(g.num_nodes["Account"], 1 + kind, replace=False)
            g.set_features("Account", accounts,
                           rng.normal(size=(len(accounts), 3)).astype(np.float32))
            changed = {"Account": accounts}
        elif kind == 3:
            device = np.array([int(rng.integers(g.num_nodes["Device"]))])
            g.set_features("Device", device, rng.normal(size=(1, 2)).astype(np.float32))
            changed = {"Device": device}
        else:  # an edge between old nodes
            account, device = int(rng.integers(g.num_nodes["Account"])), int(rng.integers(8))
            changed = ({"Account": np.array([account]), "Device": np.array([device])}
                       if g.add_edge(USED, account, device) else {})
        local.mark(g, changed)
        if step % 4 == 0:
            rows = rng.choice(g.num_nodes["Account"], 3, replace=False)
            local.current(g, rows)
        if step % 25 == 24:
            every = np.arange(g.num_nodes["Account"])
            np.testing.assert_allclose(local.current(g, every), whole_graph_scores(local, g),
                                       atol=1e-6)
    tables = local._sums.tables
    live = {et: np.flatnonzero(t.slot_of >= 0) for et, t in tables.items()}
    assert sum(len(nodes) for nodes in live.values()) > 0  # hubs were summed, not gathered
    for et, nodes in live.items():  # each kept sum equals a sum from scratch
        table = tables[et]
        slots = table.slot_of[nodes]
        assert table.node[slots].tolist() == nodes.tolist()
        local._sums._catch_up(g, et, table, local.changed_[0][et[0]], slots)
        for node, slot in zip(nodes.tolist(), slots.tolist(), strict=True):
            neighbours = g.adjacency[et].neighbours(node)
            values = summed_embeddings(local, g, et[0], neighbours)
            assert table.count[slot] == len(neighbours)
            np.testing.assert_allclose(table.sums[slot], values.sum(axis=0), atol=1e-9)
            np.testing.assert_allclose(table.squares[slot], np.square(values).sum(axis=0),
                                       atol=1e-9)


@pytest.mark.parametrize("chunk", [1 << 18, 5])
def test_hub_sums_are_built_by_fit(chunk, monkeypatch):
    """Every node with ``hub_degree`` or more in-neighbours has its sums once fitted (no read
    builds them), equal to sums from scratch, however many edges are gathered at a time."""
    monkeypatch.setattr(_NeighbourSums, "CHUNK", chunk)
    g, local = graph(seed=2), hub_scorer(2, 4, 4096)
    local.fit(g)
    built = 0
    summed: dict[str, list[int]] = {}
    for et in EDGE_TYPES:
        adjacency = g.adjacency[et]
        hubs = np.flatnonzero(adjacency.degree(np.arange(g.num_nodes[et[2]])) >= 4)
        table = local._sums.tables[et]
        assert sorted(np.flatnonzero(table.slot_of >= 0).tolist()) == hubs.tolist()
        for node in hubs.tolist():
            values = summed_embeddings(local, g, et[0], adjacency.neighbours(node))
            slot = table.slot_of[node]
            np.testing.assert_allclose(table.sums[slot], values.sum(axis=0), atol=1e-9)
            np.testing.assert_allclose(table.squares[slot], np.square(values).sum(axis=0),
                                       atol=1e-9)
            assert table.count[slot] == len(values)
        built += len(hubs)
        for node in hubs.tolist():
            summed.setdefault(et[0], []).extend(adjacency.neighbours(node).tolist())
    assert built > 0
    assert local.kept_[0] == {}  # input embeddings are not kept ...
    for node_type, pinned in local._sums.pinned.items():  # ... but for the rows hubs sum
        assert np.flatnonzero(pinned.slot_of >= 0).tolist() == sorted(set(summed[node_type]))


def test_add_edges_adds_as_add_edge_on_each_pair_in_turn():
    """Pairs already there, repeated within the arrays, into hubs and into new nodes: the same
    edges, in the same order, and the same answers as one ``add_edge`` at a time."""
    rng = np.random.default_rng(7)
    batch, single = graph(seed=3), graph(seed=3)
    for g in (batch, single):
        g.add_nodes("Account", 2)
        g.add_nodes("Device", 1)
    hub = np.zeros(40, dtype=np.int64)  # device 0 gets many accounts: the reverse list is looked at
    src = np.concatenate([rng.integers(0, 32, 60), np.arange(40) % 32, [30, 31, 31, 5]])
    dst = np.concatenate([rng.integers(0, 9, 60), hub, [8, 8, 8, 0]])
    added = batch.add_edges(USED, src, dst)
    expected = [single.add_edge(USED, int(s), int(d)) for s, d in zip(src, dst, strict=True)]
    assert added.tolist() == expected
    assert 0 < sum(expected) < len(expected)
    answers = []
    for s, d in ((5, 0), (33, 0), (33, 0), (31, 9)):  # one pair a call: held, new, new type
        one = batch.add_edges(USED, np.array([s]), np.array([d]))
        assert one.dtype == bool and one.shape == (1,)
        answers.append((bool(one[0]), single.add_edge(USED, s, d)))
    assert [a for a, _ in answers] == [b for _, b in answers] == [False, True, False, True]
    for et in (USED, ("Device", "rev_USED", "Account")):
        a, b = batch.adjacency[et], single.adjacency[et]
        assert np.array_equal(a.edge_index(), b.edge_index()) and a.num_added == b.num_added
        nodes = np.arange(batch.num_nodes[et[2]] + 3)
        for x, y in zip(a.gather(nodes), b.gather(nodes), strict=True):
            assert np.array_equal(x, y)
        nodes = np.arange(batch.num_nodes[et[2]] + 3)
        assert a.degree(nodes).tolist() == [a.degree_of(n) for n in nodes.tolist()]
        assert a.degree(nodes).tolist() == b.degree(nodes).tolist()
    assert not batch.add_edges(USED, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)).any()


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_a_saved_fit_restores_to_the_same_scores_and_stays_exact(layers, tmp_path):
    """What fit computed, saved and read back by a fresh scorer (kept embeddings memory-mapped
    copy-on-write): the same scores and kept rows, hub sums built again, the files untouched
    by later changes, and reads after changes equal to a whole-graph pass."""
    g, fitted = graph(seed=4), hub_scorer(layers, 3, 4096)
    expected = fitted.fit(g)
    fitted.save(tmp_path)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    local = hub_scorer(layers, 3, 4096)
    np.testing.assert_array_equal(local.restore(g, tmp_path), expected)
    for level in range(1, layers):
        for t, h in fitted.kept_[level].items():
            np.testing.assert_array_equal(local.kept_[level][t][:len(h)], h)
            assert isinstance(local.kept_[level][t], np.memmap)
    assert {et: sorted(np.flatnonzero(t.slot_of >= 0).tolist())
            for et, t in local._sums.tables.items()} == {
        et: sorted(np.flatnonzero(t.slot_of >= 0).tolist())
        for et, t in fitted._sums.tables.items()}
    rng = np.random.default_rng(5)
    for step in range(6):
        account = (g.add_nodes("Account", 1)[0] if step % 2 else
                   int(rng.integers(g.num_nodes["Account"])))
        g.set_features("Account", np.array([account]),
                       rng.normal(size=(1, 3)).astype(np.float32))
        changed = {"Account": np.array([account])}
        if g.add_edge(USED, account, int(rng.integers(g.num_nodes["Device"]))):
            changed["Device"] = np.arange(g.num_nodes["Device"])
        local.mark(g, changed)
        every = np.arange(g.num_nodes["Account"])
        np.testing.assert_allclose(local.current(g, every), whole_graph_scores(local, g),
                                   atol=1e-6)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files
    # rows recomputed since the mapping are held beside it, not written into its pages
    assert (layers == 1) == (not local._written)
    # each with a slot reserved for every row of its mapping (no copy as it fills)
    assert all(len(w.values) == len(local.kept_[level][t])
               for (level, t), w in local._written.items())
    assert all(isinstance(h, np.memmap) for k in local.kept_[1:] for h in k.values())
    # saved again: with the rows recomputed since (a fresh restore stays exact after a change)
    again = tmp_path / "again"
    again.mkdir()
    local.save(again)
    whole, n = hub_scorer(layers, 3, 4096), g.num_nodes["Account"]
    whole.fit(g)  # every account's kept rows are current after the reads above
    for level in range(1, layers):
        np.testing.assert_allclose(np.load(again / f"kept_{level}_Account.npy")[:n],
                                   whole.kept_[level]["Account"], atol=1e-4)
    fresh = hub_scorer(layers, 3, 4096)
    np.testing.assert_array_equal(fresh.restore(g, again), local.current(g, every))
    # nodes beyond the files' room: the arrays copied into the process with those rows
    room = len(local.kept_[1]["Account"]) if layers > 1 else g.num_nodes["Account"]
    added = g.add_nodes("Account", room + 1 - g.num_nodes["Account"])
    for scorer in (local, fresh):
        g.set_features("Account", added[:1], rng.normal(size=(1, 3)).astype(np.float32))
        scorer.mark(g, {"Account": added[:1]})
        every = np.arange(g.num_nodes["Account"])
        np.testing.assert_allclose(scorer.current(g, every), whole_graph_scores(scorer, g),
                                   atol=1e-6)
    assert layers == 1 or not isinstance(local.kept_[1]["Account"], np.memmap)
    for level in range(1, layers):  # the account rows recomputed before are in the copy
        np.testing.assert_allclose(local.kept_[level]["Account"][:n],
                                   whole.kept_[level]["Account"], atol=1e-4)
    assert all(t != "Account" for _, t in local._written)
    short = graph(seed=4, accounts=20)
    with pytest.raises(ValueError, match="scores for 20 Account nodes"):
        hub_scorer(layers, 3, 4096).restore(short, tmp_path)


@pytest.mark.parametrize("hops", [0, 1])
def test_a_saved_boosted_column_restores_into_the_graph(hops, tmp_path):
    g, live, local = boosted_setup(hops=hops)
    every = np.arange(g.num_nodes["Account"])
    column = g.features("Account", every)[:, -1].copy()
    live.save(g, tmp_path)
    g.set_features("Account", every, np.column_stack([g.features("Account", every)[:, :-1],
                                                      np.zeros(len(every))]))
    again = LiveBoostedColumn(live.boosted, local.model)
    np.testing.assert_array_equal(again.restore(g, tmp_path), column)
    np.testing.assert_array_equal(g.features("Account", every)[:, -1], column)
    np.testing.assert_array_equal(again._hashes, live._hashes[:len(every)])
    assert again._size == live._size


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_a_fit_that_spills_its_kept_arrays_equals_one_in_memory(tmp_path, monkeypatch, layers):
    """Each layer written into its file block by block as computed (300 accounts in blocks of
    64 rows), the last one reading the kept rows through the files: the same scores and kept
    rows as a fit in memory, bit for bit, and no other file left; a save into the same
    directory adds the scores; a fresh scorer restores."""
    monkeypatch.setattr(gnn.inference, "BLOCK_ROWS", 64)
    g = graph(seed=6, accounts=300, devices=40)
    memory, spilled = hub_scorer(layers, 3, 4096), hub_scorer(layers, 3, 4096)
    expected = memory.fit(g)
    np.testing.assert_array_equal(spilled.fit(g, spill=tmp_path), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"kept_{level}_{t}.npy" for level in range(1, layers) for t in ("Account", "Device")]
    for level in range(1, layers):
        for t, h in memory.kept_[level].items():
            np.testing.assert_array_equal(spilled.kept_[level][t], h)
    before = [p.stat().st_mtime_ns for p in sorted(tmp_path.iterdir())]
    spilled.save(tmp_path)
    assert [p.stat().st_mtime_ns for p in sorted(tmp_path.glob("kept_*"))] == before
    np.testing.assert_array_equal(hub_scorer(layers, 3, 4096).restore(g, tmp_path), expected)


def test_reserve_makes_room_so_new_nodes_copy_no_feature_array():
    g = graph(seed=4)
    before = {t: g.features(t, np.arange(n)).copy() for t, n in g.num_nodes.items()}
    g.reserve()
    stores = dict(g._x)
    for t, n in g.num_nodes.items():
        np.testing.assert_array_equal(g.features(t, np.arange(n)), before[t])
        assert g.add_nodes(t, n // 8).tolist() == list(range(n, n + n // 8))
        assert g._x[t] is stores[t]
        assert not g.features(t, np.arange(n, n + n // 8)).any()


def test_maximum_at_equals_the_ufunc_at_for_one_entry_and_many():
    from gnn.local_scoring import _maximum_at

    rng = np.random.default_rng(5)
    for size, count in ((1, 0), (1, 1), (1, 6), (4, 9), (7, 0)):
        out = rng.integers(0, 9, size)
        want = out.copy()
        index, values = rng.integers(0, size, count), rng.integers(0, 12, count)
        np.maximum.at(want, index, values)
        _maximum_at(out, index, values)
        assert out.tolist() == want.tolist()


def test_added_edges_read_as_lists_of_each_node_in_the_order_added():
    """The pool of added edges against a dict of lists: runs that move as they fill, nodes past
    the built ones, reads from an offset, the whole edge list in the order of first additions."""
    rng = np.random.default_rng(3)
    adjacency = GrowingAdjacency(rng.integers(0, 50, 200), rng.integers(0, 30, 200), 30)
    lists: dict[int, list[int]] = {}
    for size in (1, 7, 40, 1, 200, 3):
        dst = rng.integers(0, 45, size)  # some past the 30 built nodes
        src = rng.integers(0, 1000, size)
        adjacency.add_many(src, dst) if size > 1 else adjacency.add(int(src[0]), int(dst[0]))
        for s, d in zip(src.tolist(), dst.tolist(), strict=True):
            lists.setdefault(d, []).append(s)
    nodes = np.arange(48)
    skip = rng.integers(0, 4, len(nodes))
    position, src = adjacency.added_edges(nodes, skip)
    expected = [(i, s) for i, n in enumerate(nodes.tolist()) for s in lists.get(n, [])[skip[i]:]]
    assert list(zip(position.tolist(), src.tolist(), strict=True)) == expected
    for n in nodes.tolist():
        assert adjacency.added_run(n).tolist() == lists.get(n, [])
        assert adjacency.degree_of(n) == len(adjacency.neighbours(n))
    edges = adjacency.edge_index()[:, -adjacency.num_added:]
    assert edges.T.tolist() == [[s, d] for d, run in lists.items() for s in run]
    few, many = adjacency.gather(nodes[:5]), adjacency.gather(nodes)  # node by node or not
    assert sorted(zip(*(a.tolist() for a in few), strict=True)) == sorted(
        (p, s) for p, s in zip(*(a.tolist() for a in many), strict=True) if p < 5)
