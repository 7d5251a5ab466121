"""abusenet.serve.state with a model that publishes XGB-Graph or the blend: the service scores
with the published candidate, equal to what `abusenet score` gives on the same events."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from abusenet.serve.state import GraphState, run_paths
from abusenet.validation.challenger import fit_challenger, save_published, score_published
from gnn.live_xgb_graph import LiveXGBGraph
from graph.snapshot import ACCOUNT, read_snapshot
from tests.abusenet.serve.conftest import apply_and_rebuild, shared_device_events


@pytest.mark.slow  # an XGB-Graph fit, two loads and a snapshot build (~10 s)
@pytest.mark.parametrize(("candidate", "weight"), [("blend", 0.4), ("xgb-graph", 0.0)])
def test_served_scores_are_the_published_candidates(run_dir, tmp_path, candidate, weight):
    snapshot = read_snapshot(run_paths(run_dir)["snapshot"])
    labels = snapshot.labels.sample(frac=1.0, random_state=0).reset_index(drop=True)
    challenger, _ = fit_challenger(snapshot, labels.iloc[::2], labels.iloc[1::2])
    model = tmp_path / "model"
    shutil.copytree(run_dir / "model", model)
    save_published(model, challenger, candidate, weight)

    state = GraphState.load(run_dir, model_dir=model)
    assert state.published == candidate
    before, _ = score_published(model, snapshot)
    before = before.set_index("account_id")["score"]
    rows = np.arange(state.num_accounts)
    ids = [state.nodes[ACCOUNT].ids[r] for r in rows.tolist()]
    np.testing.assert_allclose(state.scorer.current(state.graph, rows), before[ids], atol=1e-5)

    member = ids[0]
    inputs = state.scorer.xgb.features(state.graph, np.array([0]))
    events = shared_device_events("p", member, ids[1])
    after = apply_and_rebuild(state, events, run_dir, tmp_path / "snapshot")
    batch, chosen = score_published(model, after)
    assert chosen == candidate
    batch = batch.set_index("account_id")["score"]
    for account in ["newcomer", member, ids[1], *ids[2:40]]:
        assert abs(state.account_view(account)["score"] - batch[account]) < 1e-5, account
    # The events reached XGB-Graph's inputs (its few trees may leave a score where it was).
    assert not np.array_equal(state.scorer.xgb.features(state.graph, np.array([0])), inputs)
    if candidate == "blend":
        assert np.abs(batch[ids].to_numpy() - before[ids].to_numpy()).max() > 1e-6


def _blend_model(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of the run's model publishing the blend (GNN weight 0.4) with an XGB-Graph fitted
    on half the snapshot's labels."""
    snapshot = read_snapshot(run_paths(run_dir)["snapshot"])
    labels = snapshot.labels.sample(frac=1.0, random_state=0).reset_index(drop=True)
    challenger, _ = fit_challenger(snapshot, labels.iloc[::2], labels.iloc[1::2])
    model = tmp_path / "model"
    shutil.copytree(run_dir / "model", model)
    save_published(model, challenger, "blend", 0.4)
    return model


@pytest.mark.slow  # an XGB-Graph fit and three loads (~8 s)
def test_xgb_graphs_start_scores_are_kept_in_the_start_cache_and_checked(run_dir, tmp_path,
                                                                         monkeypatch):
    model = _blend_model(run_dir, tmp_path)
    first = GraphState.load(run_dir, model_dir=model)
    (saved,) = run_paths(run_dir)["start"].glob("*/xgb_graph_*.npy")
    fit = LiveXGBGraph.fit
    fits: list[int] = []

    def counted(self, graph):
        fits.append(1)
        return fit(self, graph)

    monkeypatch.setattr(LiveXGBGraph, "fit", counted)
    second = GraphState.load(run_dir, model_dir=model)
    assert fits == []  # read back, not computed
    np.testing.assert_array_equal(second.scorer.scores_, first.scorer.scores_)
    wrong = np.load(saved)
    np.save(saved, 1.0 - wrong)  # scores the graph and model do not give: not used
    third = GraphState.load(run_dir, model_dir=model)
    assert fits == [1]
    np.testing.assert_allclose(third.scorer.scores_, first.scorer.scores_, atol=1e-6)
    np.testing.assert_array_equal(np.load(saved), wrong)  # saved again


@pytest.mark.slow  # an XGB-Graph fit and a load with a reload (~10 s)
def test_reads_go_on_while_a_reload_computes_xgb_graph(run_dir, tmp_path, monkeypatch):
    model = _blend_model(run_dir, tmp_path)
    state = GraphState.load(run_dir, model_dir=model)
    account = state.nodes[ACCOUNT].ids[0]
    before = state.account_view(account)["score"]
    every = np.arange(state.num_accounts)
    scores = state.scorer.current(state.graph, every)
    fit, read = LiveXGBGraph.fit, []

    def fit_while_reading(self, graph):
        reader = threading.Thread(target=lambda: read.append(state.account_view(account)))
        reader.start()
        reader.join(10)  # a reader waiting on the state's lock would still be waiting
        assert read, "a read waited on XGB-Graph's whole pass"
        return fit(self, graph)

    monkeypatch.setattr(LiveXGBGraph, "fit", fit_while_reading)
    state.reload_model(model)
    assert read[0]["score"] == before
    np.testing.assert_allclose(state.scorer.current(state.graph, every), scores, atol=1e-12)


@pytest.mark.slow  # an XGB-Graph fit and a start computing its start cache (~6 s)
def test_a_first_start_saves_xgb_graphs_scores_into_the_start_cache_it_creates(run_dir,
                                                                                tmp_path):
    model = _blend_model(run_dir, tmp_path)
    shutil.rmtree(run_paths(run_dir)["start"])  # no start cache, not even its folder
    state = GraphState.load(run_dir, model_dir=model)
    (saved,) = run_paths(run_dir)["start"].glob("*/xgb_graph_*.npy")
    np.testing.assert_array_equal(np.load(saved), state.scorer.xgb.kept(state.graph))
