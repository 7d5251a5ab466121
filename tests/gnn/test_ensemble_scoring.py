"""gnn.ensemble_scoring: an ensemble's local and incremental scores equal the calibrated mean
logit of its members' whole-graph passes on the same graph (to 1e-5, the service's contract:
each member adds its own float32 summation order)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnn.calibration import ScoreCalibrator
from gnn.ensemble_scoring import EnsembleScorer
from gnn.inference import full_graph_logits
from gnn.local_scoring import LocalGraph
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler
from tests.gnn.test_local_scoring import EDGE_TYPES, USED, graph

CALIBRATOR = ScoreCalibrator().fit(np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))


def members(count: int = 3, layers: int = 2) -> list[SepHeteroGNN]:
    out = []
    for seed in range(count):
        torch.manual_seed(seed)
        out.append(SepHeteroGNN({"Account": 6, "Device": 3}, EDGE_TYPES, 8, layers,
                                ("mean", "std"), 0.0).eval())
    return out


def whole_graph_scores(networks: list[SepHeteroGNN], g: LocalGraph) -> np.ndarray:
    data = g.to_heterodata()
    sampler = TemporalNeighborSampler(data, [5, 5], time_attr=None)
    logits = np.stack([full_graph_logits(m, data, sampler).numpy() for m in networks])
    return CALIBRATOR.transform(logits.mean(axis=0))


def changes(g: LocalGraph, scorer: EnsembleScorer, steps: int, seed: int):
    """Random changes (new accounts on a device, changed features), each marked; yields after
    each."""
    rng = np.random.default_rng(seed)
    for step in range(steps):
        if step % 3 == 0:
            account = g.add_nodes("Account", 1)[0]
            g.set_features("Account", np.array([account]), np.ones((1, 3), np.float32))
            device = int(rng.integers(g.num_nodes["Device"]))
            assert g.add_edge(USED, account, device)
            changed = {"Account": np.array([account]), "Device": np.array([device])}
        else:
            account = int(rng.integers(g.num_nodes["Account"]))
            g.set_features("Account", np.array([account]),
                           rng.normal(size=(1, 3)).astype(np.float32))
            changed = {"Account": np.array([account])}
        scorer.mark(g, changed)
        yield rng


@pytest.mark.parametrize("layers", [1, 2])
def test_marked_changes_keep_the_ensembles_scores_equal_to_whole_graph_passes(layers):
    networks = members(layers=layers)
    g, scorer = graph(), EnsembleScorer(networks, CALIBRATOR)
    np.testing.assert_allclose(scorer.fit(g), whole_graph_scores(networks, g), atol=1e-5)
    alone = whole_graph_scores(networks[:1], g)
    assert np.abs(scorer.scores_ - alone).max() > 1e-3  # the members count, not the first
    scorer.journal.take()
    for rng in changes(g, scorer, 9, seed=1):
        rows = rng.choice(g.num_nodes["Account"], 4, replace=False)
        expected = whole_graph_scores(networks, g)
        np.testing.assert_allclose(scorer.current(g, rows), expected[rows], atol=1e-5)
        written = scorer.journal.take()
        assert written is not None and set(written) <= set(rows)
    every = np.arange(g.num_nodes["Account"])
    expected = whole_graph_scores(networks, g)
    np.testing.assert_allclose(scorer.current(g, every), expected, atol=1e-5)
    np.testing.assert_allclose(scorer.scores_[every], expected, atol=1e-5)
    np.testing.assert_allclose(scorer.scores(g, every), expected, atol=1e-5)
    assert scorer.hops == layers


def test_a_saved_ensemble_restores_and_a_spilled_fit_equals_one_in_memory(tmp_path):
    networks = members()
    g, fitted = graph(seed=4), EnsembleScorer(networks, CALIBRATOR)
    spill = tmp_path / "spill"
    spill.mkdir()
    expected = fitted.fit(g, spill=spill)
    fitted.map_kept(spill)
    np.testing.assert_allclose(expected, EnsembleScorer(networks, CALIBRATOR).fit(g),
                               atol=1e-5)
    saved = tmp_path / "saved"
    saved.mkdir()
    fitted.save(saved)
    assert sorted(p.name for p in saved.iterdir()) == [
        "member_0", "member_1", "member_2", "scores.npy"]
    np.testing.assert_array_equal(np.load(saved / "scores.npy"), expected)
    local = EnsembleScorer(networks, CALIBRATOR)
    np.testing.assert_array_equal(local.restore(g, saved), expected)
    local.drop_input_caches()
    for _ in changes(g, local, 4, seed=5):
        pass
    local.refill_input_caches(g)
    every = np.arange(g.num_nodes["Account"])
    np.testing.assert_allclose(local.current(g, every), whole_graph_scores(networks, g),
                               atol=1e-5)
    again = tmp_path / "again"  # saved after new accounts: one score per account
    again.mkdir()
    local.save(again)
    assert len(np.load(again / "scores.npy")) == g.num_nodes["Account"]
    np.testing.assert_array_equal(EnsembleScorer(networks, CALIBRATOR).restore(g, again),
                                  local.current(g, every))
