"""abusenet.serve.start_cache: a reload's whole pass spilled to files and mapped from them; the
busy entities' rows added to a stored events' cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from abusenet.serve.start_cache import fit_spilled, save_busy
from graph.live_features import BUSY, LiveFeatures, NodeIndex
from graph.snapshot_sql import relation_sources
from ingest.state import IngestState
from tests.gnn.test_local_scoring import graph, scorer
from tests.graph.test_live_features import random_events


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


def test_busy_rows_added_to_a_cache_replace_ones_that_cannot_be_read(tmp_path):
    """The busy entities' rows of a cache saved without them are added as its busy folder
    (no temporary left), read back as a start reads them; ones saved for other events are
    refused when read and replaced by the next save."""
    types = ("Account", "Device", "IP", "PaymentMethod")

    def features() -> LiveFeatures:
        return LiveFeatures({t: NodeIndex() for t in types}, ["login", "order", "transfer"],
                            relation_sources(IngestState()), [], summary_events=20)

    live = features()
    live.load(random_events(200, seed=3))
    cache = tmp_path / "cache"
    cache.mkdir()
    assert save_busy(cache, live)
    assert sorted(p.name for p in cache.iterdir()) == [BUSY]
    written = {p.relative_to(cache): p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    again = features()
    again.load(random_events(200, seed=3))
    assert again.restore_busy(cache / BUSY) and sum(len(t) for t in again._busy.values()) >= 3
    other = features()
    other.load(random_events(150, seed=3))  # other stored events: another base
    assert save_busy(cache, other)
    with pytest.raises(ValueError, match="saved for"):
        features().restore_busy(cache / BUSY)  # no events held: base 0
    assert save_busy(cache, live)
    assert {p.relative_to(cache): p.read_bytes() for p in cache.rglob("*")
            if p.is_file()} == written
    assert sorted(p.name for p in cache.iterdir()) == [BUSY]
