"""abusenet.serve.start_cache: a reload's whole pass spilled to files and mapped from them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from abusenet.serve.start_cache import fit_spilled
from tests.gnn.test_local_scoring import graph, scorer


def test_a_spilled_fit_maps_its_kept_embeddings_and_leaves_no_directory(tmp_path):
    g = graph()
    in_memory = scorer()
    expected = in_memory.fit(g)
    gone = Path("/proc/sys/kernel/pid_max").read_text().strip()  # no process has this id
    dead = tmp_path / f".reload.{gone}.0"  # left by a process that is gone: removed
    live = tmp_path / f".reload.{os.getpid()}.999"  # this process's: kept
    for directory in (dead, live):
        directory.mkdir()
        (directory / "kept_1_Account.npy").write_bytes(b"partial")
    spilled = scorer()
    fit_spilled(spilled, g, tmp_path)
    np.testing.assert_array_equal(spilled.scores_, expected)
    for t, h in spilled.kept_[1].items():
        assert isinstance(h, np.memmap)
        np.testing.assert_array_equal(h[:g.num_nodes[t]], in_memory.kept_[1][t])
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]
    # Where nothing can be written, the pass is kept in memory.
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    fallback = scorer()
    fit_spilled(fallback, g, blocked)
    np.testing.assert_array_equal(fallback.scores_, expected)
    assert not isinstance(fallback.kept_[1]["Account"], np.memmap)
