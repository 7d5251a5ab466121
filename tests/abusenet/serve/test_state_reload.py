"""abusenet.serve.state's reload and rescore: the new model's whole pass runs while reads are
answered with the current one, its kept embeddings mapped from files, and the scores it gives
are a fresh start's."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pandas as pd
import pytest

from abusenet.serve.state import GraphState, run_paths
from gnn.detector import AccountDetector
from gnn.local_scoring import LocalScorer
from graph.snapshot import ACCOUNT, read_snapshot
from tests.abusenet.serve.conftest import start_service


def _held_input_caches(state: GraphState) -> tuple[LocalScorer, dict[str, np.ndarray]]:
    """The serving GNN scorer and a copy of the input rows its caches hold, per node type."""
    gnn = getattr(state.scorer, "gnn", state.scorer)
    return gnn, {t: c.values[:c.identity].copy() for t, c in gnn._cache.items()}


def _assert_input_caches_back(state: GraphState, gnn: LocalScorer,
                              held: dict[str, np.ndarray]) -> None:
    """``gnn`` still serves and its input caches hold ``held`` again."""
    assert getattr(state.scorer, "gnn", state.scorer) is gnn
    for t, values in held.items():
        np.testing.assert_array_equal(gnn._cache[t].values[:gnn._cache[t].identity], values)


def _read_during_fit(state: GraphState, account: str, monkeypatch: pytest.MonkeyPatch) -> list:
    """Make every GNN whole pass first read ``account``'s view from another thread (which
    must return while the pass has not begun: a reader waiting on the state's lock would
    still be waiting); the views read."""
    fit, read = LocalScorer.fit, []

    def fit_while_reading(self, graph, **options):
        reader = threading.Thread(target=lambda: read.append(state.account_view(account)))
        reader.start()
        reader.join(10)
        assert read, "a read waited on the GNN's whole pass"
        return fit(self, graph, **options)

    monkeypatch.setattr(LocalScorer, "fit", fit_while_reading)
    return read


@pytest.mark.slow  # a load and a reload (~3 s)
def test_reads_go_on_while_a_reload_computes_the_gnn(run_dir, monkeypatch):
    state = GraphState.load(run_dir)
    account = state.nodes[ACCOUNT].ids[0]
    before = state.account_view(account)["score"]
    every = np.arange(state.num_accounts)
    scores = state.scorer.current(state.graph, every)
    old = state.scorer
    assert sum(len(c.node) for c in old._cache.values()) >= state.num_accounts
    read = _read_during_fit(state, account, monkeypatch)
    state.reload_model()
    assert read[0]["score"] == before  # answered by the model being replaced
    # its input embeddings encoded again meanwhile: no cache beside the new scorer's
    assert all(len(c.node) == 0 for c in old._cache.values())
    del old
    np.testing.assert_allclose(state.scorer.current(state.graph, every), scores, atol=1e-6)
    gnn = getattr(state.scorer, "gnn", state.scorer)
    # The new kept embeddings are file pages (mapped as a start maps its cache's), and the
    # directory they were written to is gone (the files live on while mapped).
    assert all(isinstance(h, np.memmap) for h in gnn.kept_[1].values())
    assert not list(run_paths(run_dir)["start"].glob(".reload.*"))


@pytest.mark.slow  # a load (~2 s)
def test_a_failed_reload_gives_the_serving_scorer_its_input_caches_back(run_dir, monkeypatch):
    """(hreview H9) A reload that raises leaves the old model serving with its input caches
    filled again, not empty for good."""
    import abusenet.serve.state as serve_state

    state = GraphState.load(run_dir)
    gnn, held = _held_input_caches(state)
    assert sum(len(v) for v in held.values()) >= state.num_accounts

    def broken(model_dir):
        raise ValueError("published.json: not JSON")

    monkeypatch.setattr(serve_state, "read_published", broken)
    with pytest.raises(ValueError, match="not JSON"):
        state.reload_model()
    _assert_input_caches_back(state, gnn, held)


@pytest.mark.slow  # a load and a rescore (~3 s)
def test_reads_go_on_while_the_state_is_rescored(run_dir, monkeypatch):
    state = GraphState.load(run_dir)
    account = state.nodes[ACCOUNT].ids[1]
    every = np.arange(state.num_accounts)
    scores = state.scorer.current(state.graph, every)
    old = state.scorer
    read = _read_during_fit(state, account, monkeypatch)
    state.rescore()
    assert read and state.scorer is not old
    assert all(len(c.node) == 0 for c in old._cache.values())  # not held beside the new ones
    np.testing.assert_allclose(state.scorer.current(state.graph, every), scores, atol=1e-6)


@pytest.mark.slow  # a load (~2 s)
def test_a_failed_rescore_gives_the_serving_scorer_its_input_caches_back(run_dir, monkeypatch):
    import abusenet.serve.state as serve_state

    state = GraphState.load(run_dir)
    gnn, held = _held_input_caches(state)

    def broken(scorer, graph, spill):
        raise OSError("disk full")

    monkeypatch.setattr(serve_state, "fit_spilled", broken)
    with pytest.raises(OSError, match="disk full"):
        state.rescore()
    _assert_input_caches_back(state, gnn, held)


@pytest.mark.slow  # a detector fit and two service starts (~40 s)
def test_scores_after_a_reload_over_http_equal_a_fresh_starts(run_dir, tmp_path):
    """The service takes events (a new account on the biggest device, a known account's
    payment), reloads another model, and every score it then gives equals what a fresh start
    of that model (replaying the logged events) gives."""
    snapshot = read_snapshot(run_paths(run_dir)["snapshot"])
    other = tmp_path / "other"
    shutil.copytree(run_dir / "model", other)
    AccountDetector(max_epochs=2, hidden_channels=16, patience=1, boost=None,
                    random_state=1).fit(snapshot, snapshot.labels).save(other)
    edges = pd.read_parquet(run_paths(run_dir)["snapshot"] / "edges" / "USED_DEVICE.parquet")
    hub = edges["dst"].value_counts().index[0]
    accounts = sorted(edges["src"].unique())[:30] + ["reload_newcomer"]
    events = {"events": [
        {"event_id": "r1", "account_id": "reload_newcomer", "ts": "2025-01-20T09:00:00Z",
         "event_type": "signup", "device_id": hub, "ip": "10.0.0.9"},
        {"event_id": "r2", "account_id": accounts[0], "ts": "2025-01-20T10:00:00Z",
         "event_type": "payment", "payment_id": "card_reload", "amount": 75,
         "device_id": hub}]}
    service = start_service(run_dir)
    try:
        assert service.client.post("/v1/events", json=events).json()["accepted"] == 2
        answer = service.client.post("/admin/reload", params={"model": str(other)})
        assert answer.status_code == 200, answer.text
        reloaded = [service.client.get(f"/v1/accounts/{a}").json()["score"] for a in accounts]
    finally:
        service.stop()
    fresh = start_service(run_dir, "--model", str(other))
    try:
        started = [fresh.client.get(f"/v1/accounts/{a}").json()["score"] for a in accounts]
    finally:
        fresh.stop()
    np.testing.assert_allclose(reloaded, started, atol=1e-5)
