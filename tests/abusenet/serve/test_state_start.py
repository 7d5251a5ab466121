"""abusenet.serve.state's start cache: what the first start computed, read back at the next."""

from __future__ import annotations

import numpy as np
import pytest

from abusenet.serve.state import GraphState, run_paths
from gnn.local_scoring import LocalScorer


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
