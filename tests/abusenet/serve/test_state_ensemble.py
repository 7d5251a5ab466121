"""abusenet.serve.state with a model of several networks: the service scores the calibrated
mean of their logits, equal to what `abusenet score` gives on the same events, at a first start
and at a start read from the start cache."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from abusenet.serve.state import GraphState, run_paths
from abusenet.validation.challenger import score_published
from gnn.detector import AccountDetector
from gnn.ensemble_scoring import EnsembleScorer
from graph.snapshot import ACCOUNT, read_snapshot
from tests.abusenet.serve.conftest import apply_and_rebuild, shared_device_events


@pytest.mark.slow  # three small networks trained, two loads and a snapshot build (~15 s)
def test_an_ensembles_served_scores_equal_batch_scores_before_and_after_events(run_dir,
                                                                              tmp_path):
    snapshot = read_snapshot(run_paths(run_dir)["snapshot"])
    model = tmp_path / "model"
    shutil.copytree(run_dir / "model", model)  # the run's published candidate kept
    params = AccountDetector.load(model).get_params()
    AccountDetector(**{**params, "ensemble": 3}).fit(snapshot, snapshot.labels).save(model)

    first = GraphState.load(run_dir, model_dir=model)
    state = GraphState.load(run_dir, model_dir=model)  # from the start cache
    for loaded in (first, state):
        assert isinstance(getattr(loaded.scorer, "gnn", loaded.scorer), EnsembleScorer)
    before = score_published(model, snapshot)[0].set_index("account_id")["score"]
    rows = np.arange(state.num_accounts)
    ids = [state.nodes[ACCOUNT].ids[r] for r in rows.tolist()]
    for loaded in (first, state):
        np.testing.assert_allclose(loaded.scorer.current(loaded.graph, rows), before[ids],
                                   atol=1e-5)
    del first

    member = ids[0]
    events = shared_device_events("q", member, ids[1])
    after = apply_and_rebuild(state, events, run_dir, tmp_path / "snapshot")
    batch = score_published(model, after)[0].set_index("account_id")["score"]
    for account in ["newcomer", member, ids[1], *ids[2:40]]:
        assert abs(state.account_view(account)["score"] - batch[account]) < 1e-5, account
    assert abs(batch[member] - before[member]) > 1e-6  # the events reached the scores
