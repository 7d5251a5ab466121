"""XGB-Graph's start scores file in the start cache: a damaged file is computed again, old
ones are swept when a new one is saved."""

from __future__ import annotations

import os

import numpy as np

from abusenet.serve.start_cache import restore_xgb_start, save_xgb_start


def test_an_empty_scores_file_is_computed_again_not_a_failed_start(tmp_path) -> None:
    saved = tmp_path / "xgb_graph_0123.npy"
    saved.write_bytes(b"")  # a power loss after the rename
    assert restore_xgb_start(saved, None, None) is False


def test_saving_sweeps_other_challengers_scores_and_dead_partials(tmp_path) -> None:
    old = tmp_path / "xgb_graph_aaaa.npy"
    np.save(old, np.zeros(3))
    dead = tmp_path / ".xgb_graph_bbbb.999999999.npy"  # no such process
    dead.write_bytes(b"x")
    live = tmp_path / f".xgb_graph_cccc.{os.getpid()}.npy"  # being written now
    live.write_bytes(b"x")
    other = tmp_path / "scores.npy"  # the GNN's start scores stay
    np.save(other, np.ones(3))
    saved = tmp_path / "xgb_graph_dddd.npy"
    save_xgb_start(saved, np.arange(3.0))
    assert np.load(saved).tolist() == [0.0, 1.0, 2.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [saved.name, live.name, other.name])
