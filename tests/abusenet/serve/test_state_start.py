"""abusenet.serve.state's start cache: what the first start computed, read back at the next."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from abusenet.serve.state import GraphState, cache_complete, run_paths, start_caches, start_key
from gnn.local_scoring import LocalScorer
from graph.live_features import LiveFeatures


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
