"""abusenet.serve.state's start cache: what the first start computed, read back at the next."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from abusenet.serve.start_cache import (
    cache_complete,
    run_paths,
    start_caches,
    start_key,
    stored_files,
)
from abusenet.serve.state import GraphState
from gnn.local_scoring import LocalScorer
from graph.live_features import BUSY, LiveFeatures
from graph.snapshot import ACCOUNT


@pytest.mark.slow  # three loads (~2 s each); test_local_scoring's save/restore tests are fast
def test_a_second_start_reads_the_first_ones_cache_and_checks_it(run_dir, monkeypatch):
    first = GraphState.load(run_dir)
    (cache,) = [p for p in run_paths(run_dir)["start"].iterdir()]
    assert (cache / "scores.npy").is_file() and not cache.name.startswith(".")
    fit = LocalScorer.fit
    fits: list[int] = []

    def counted(self, graph, **options):
        fits.append(1)
        return fit(self, graph, **options)

    monkeypatch.setattr(LocalScorer, "fit", counted)
    second = GraphState.load(run_dir)
    assert fits == []  # read back, not computed
    np.testing.assert_array_equal(second.scorer.scores_, first.scorer.scores_)
    # A cache whose scores are not what the graph and model give is not used.
    wrong = np.load(cache / "scores.npy")
    np.save(cache / "scores.npy", 1.0 - wrong)
    third = GraphState.load(run_dir)
    assert fits == [1]
    np.testing.assert_allclose(third.scorer.scores_, first.scorer.scores_, atol=1e-6)
    np.testing.assert_array_equal(np.load(cache / "scores.npy"), wrong)  # saved again



def test_a_training_run_prepares_the_caches_the_start_reads(run_dir):
    paths = run_paths(run_dir)
    key = start_key(paths["model"], paths["snapshot"])  # the key GraphState.load looks for
    assert [p.name for p in paths["start"].iterdir()] == [key]  # the run's serve_start stage
    (events,) = paths["events_cache"].iterdir()
    assert events == start_caches(run_dir)[1] and cache_complete(events)
    accounts = json.loads((paths["snapshot"] / "manifest.json").read_text())["nodes"]["Account"]
    assert len(np.load(paths["start"] / key / "scores.npy")) == accounts["count"]


@pytest.mark.slow  # a load (~2 s); the test above checks the cache's key
def test_the_first_start_of_a_training_run_reads_its_cache(run_dir, monkeypatch):
    paths = run_paths(run_dir)
    (cache,) = paths["start"].iterdir()
    saved = np.load(cache / "scores.npy")

    def no_fit(self, graph, **options):
        raise AssertionError("the start computed what the run prepared")

    def no_load(self, events):
        raise AssertionError("the start read the events the run prepared")

    monkeypatch.setattr(LocalScorer, "fit", no_fit)
    monkeypatch.setattr(LiveFeatures, "load", no_load)
    state = GraphState.load(run_dir)
    np.testing.assert_array_equal(state.scorer.scores_[:len(saved)], saved)


def test_serve_prepare_writes_the_cache_once(run_dir):
    from typer.testing import CliRunner

    from abusenet.cli import app

    paths = run_paths(run_dir)
    cache, events = start_caches(run_dir)
    prepared = np.load(cache / "scores.npy")
    ids = np.load(events / "stored_ids.npy")
    shutil.rmtree(paths["start"])
    shutil.rmtree(paths["events_cache"])
    result = CliRunner().invoke(app, ["serve", "--run", str(run_dir), "--prepare"])
    assert result.exit_code == 0, result.output
    for written in (cache, events):
        assert f"start cache written to {written}" in result.output.replace("\n", "")
        assert [p.name for p in written.parent.iterdir()] == [written.name]  # no temporary
    np.testing.assert_allclose(np.load(cache / "scores.npy"), prepared, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.load(events / "stored_ids.npy"), ids)
    written = (cache / "scores.npy").stat().st_mtime_ns
    assert GraphState.prepare_start(run_dir) == []  # there already: nothing done
    assert (cache / "scores.npy").stat().st_mtime_ns == written
    again = CliRunner().invoke(app, ["serve", "--run", str(run_dir), "--prepare"])
    assert again.exit_code == 0 and "there already" in again.output


def _log(run_dir, state, events: list[dict]) -> None:
    """``events`` applied to ``state`` by a writer, which logs them as one segment."""
    from abusenet.serve.validation import EventValidator, canonical_mapping
    from abusenet.serve.writer import EventWriter

    writer = EventWriter(state)
    checked = EventValidator(canonical_mapping(state.ingest_state)).check(events)
    assert set(writer.submit(checked.events, checked.reasons)) == {"accepted"}
    writer.close()


def _assert_same_state(got: GraphState, want: GraphState) -> None:
    """The same events held (columns, postings, id hashes), node rows and scores."""
    held = want.live.size  # the arrays hold room for new events beyond it (reserve)
    assert got.live.size == held
    for name in ("_ts", "_type", "_amount"):
        np.testing.assert_array_equal(getattr(got.live, name)[:held],
                                      getattr(want.live, name)[:held])
    for role in want.live.roles:
        np.testing.assert_array_equal(got.live._codes[role][:held],
                                      want.live._codes[role][:held])
        np.testing.assert_array_equal(got.live._postings[role].positions,
                                      want.live._postings[role].positions)
        np.testing.assert_array_equal(got.live._postings[role].rowptr,
                                      want.live._postings[role].rowptr)
    np.testing.assert_array_equal(got._stored_ids, want._stored_ids)
    for node_type, index in want._index.items():
        assert list(got._index[node_type].ids) == list(index.ids), node_type
        np.testing.assert_array_equal(got.nodes[node_type].raw[:], want.nodes[node_type].raw[:])
    rows = np.arange(want.num_accounts)
    np.testing.assert_allclose(got.scorer.current(got.graph, rows),
                               want.scorer.current(want.graph, rows), rtol=0, atol=1e-6)


@pytest.mark.slow  # six loads (~2 s each)
def test_a_start_after_logging_reads_the_new_segments_only_and_equals_a_cold_start(
        run_dir, monkeypatch):
    """The stored events' cache takes in the segments logged since it was saved (appended, not
    read again with every stored event), and is cut back when the store lost some of them;
    either way the state equals a start that reads every event."""
    paths = run_paths(run_dir)
    state = GraphState.load(run_dir)
    known = state.nodes["Account"].ids[0]

    def event(event_id: str, account: str, **extra: object) -> dict[str, object]:
        return {"event_id": event_id, "account_id": account, "ts": "2025-01-20T10:00:00Z",
                "event_type": "login", **extra}

    _log(run_dir, state, [event("r1", "new_a", device_id="new_dev"),
                          event("r2", known, event_type="transfer", amount=5,
                                counterparty_id="new_payee"),
                          event("r3", "new_b", ip="10.9.9.9")])
    reads: list[int] = []
    read = GraphState._read_events

    def counted(self, files, hashes):
        reads.append(len(files))
        return read(self, files, hashes)

    monkeypatch.setattr(GraphState, "_read_events", counted)
    warm = GraphState.load(run_dir)
    assert reads == [1]  # the one segment, appended to the cache
    _log(run_dir, warm, [event("r4", "new_payee", device_id="new_dev"),
                         event("r5", "new_c", event_type="transfer", amount=7,
                               counterparty_id="new_d")])
    warm = GraphState.load(run_dir)
    assert reads == [1, 1]
    again = GraphState.load(run_dir)  # the cache holds every segment: nothing read
    assert reads == [1, 1]
    (cache,) = paths["events_cache"].iterdir()
    shutil.rmtree(cache)
    cold = GraphState.load(run_dir)
    assert reads[2:] == [len(stored_files(cold.events_dir)[0]), 2]  # stored, then segments
    _assert_same_state(warm, cold)
    _assert_same_state(again, cold)
    # The store loses its last segment: the cache (saved by the cold start, with both) is cut
    # back to the stored files' events, and the first segment read again.
    stored_files(cold.events_dir)[1][-1].unlink()
    cut = GraphState.load(run_dir)
    assert reads[4:] == [1]
    shutil.rmtree(paths["events_cache"])
    _assert_same_state(cut, GraphState.load(run_dir))


@pytest.mark.slow  # three loads (~2 s each)
def test_busy_entities_rows_saved_with_the_stored_events_score_as_computed_when_read(run_dir):
    """The busy entities' running rows over the stored events are in the stored events' cache
    a training run prepares; a start reads them instead of computing them, one from a cache
    saved without them (an older one) adds them to it, and after the same events (on the
    busiest entities, twice) every account's score and node row is bitwise that of a start
    computing them when each entity is first read."""
    from abusenet.serve.validation import EventValidator, canonical_mapping

    (cache,) = run_paths(run_dir)["events_cache"].iterdir()
    saved = {p.relative_to(cache): p.read_bytes() for p in (cache / BUSY).rglob("*")
             if p.is_file()}
    assert (cache / BUSY / "meta.json").is_file()
    cached = GraphState.load(run_dir)
    assert sum(len(t) for t in cached.live._busy.values()) >= 3, cached.live._busy
    assert not any(t.changed for t in cached.live._busy.values())
    shutil.rmtree(cache / BUSY)  # as a cache saved before they were
    lazy = GraphState.load(run_dir)
    assert {p.relative_to(cache): p.read_bytes() for p in (cache / BUSY).rglob("*")
            if p.is_file()} == saved  # added back
    lazy.live._busy = {}  # computed when first read
    hubs = {}
    for name, table in cached.live._busy.items():
        rows = np.flatnonzero(table.slot >= 0)
        node_type = cached.edge_types[name][2]
        hubs[name] = [cached._index[node_type].ids[int(r)] for r in rows[:3]]
    columns = {"USED_DEVICE": "device_id", "USED_IP": "ip", "PAID_WITH": "payment_id"}
    accounts = cached.nodes["Account"].ids
    for batch in range(2):
        events = [{"event_id": f"busy{batch}-{name}-{i}", "account_id": accounts[7 * i + batch],
                   "ts": f"2025-01-{20 - 10 * batch}T10:0{i}:00Z", "event_type": "order",
                   "amount": 3.5 * i, columns[name]: hub}
                  for name, ids in hubs.items() for i, hub in enumerate(ids)]
        for state in (cached, lazy):
            table = EventValidator(canonical_mapping(state.ingest_state)).check(events).events
            state.apply(table)
            state.refresh(list(dict.fromkeys(table.column("account_id").to_pylist())))
    assert all(t.changed for t in cached.live._busy.values() if len(t))
    for node_type, rows in cached.nodes.items():
        np.testing.assert_array_equal(rows.raw[:], lazy.nodes[node_type].raw[:])
    every = np.arange(cached.num_accounts)
    np.testing.assert_array_equal(cached.scorer.current(cached.graph, every),
                                  lazy.scorer.current(lazy.graph, every))


def test_warming_reads_the_start_caches_ahead_and_changes_no_answer(run_dir):
    state = GraphState.load(run_dir)
    ids = state._index[ACCOUNT].ids
    accounts = [ids[0], ids[len(ids) // 2], ids[-1]]
    before = state.account_views(accounts)
    warmed = state.warm(accounts=8)
    cached = sum(p.stat().st_size for cache in start_caches(run_dir) for p in cache.rglob("*")
                 if p.is_file())
    assert warmed["read_ahead_mb"] == round(cached / 2 ** 20, 1) and cached > 0
    assert state.account_views(accounts) == before
