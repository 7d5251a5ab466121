"""The candidates file of the data stages: what the rings stage reads back is what was
found, transfer ties and core included."""

from __future__ import annotations

import pandas as pd

from abusenet.pipeline.stages.data import read_candidates, write_candidates
from graph.rings.candidates import RingCandidate


def test_candidates_round_trip_with_every_transfer_tie(tmp_path) -> None:
    ties = [(f"a{i}", "hub") for i in range(30)]  # more than the evidence's 20 items
    found = [
        RingCandidate(ring_id="r1", members=["hub", *(f"a{i}" for i in range(30))],
                      kind="fan_in", evidence=["Transfer:a0->hub"], features={"flow_surprise": 4.0},
                      ties=ties, core=["a0", "hub"]),
        RingCandidate(ring_id="r2", members=["x", "y"], kind="pair", evidence=["Device:d1"],
                      features={"surprise": 3.5}),
    ]
    path = tmp_path / "candidates.parquet"
    write_candidates(found, path)
    back = read_candidates(path)
    assert [c.ties for c in back] == [ties, []]
    assert [list(c.core) for c in back] == [["a0", "hub"], []]
    assert [(c.ring_id, list(c.members), c.kind, list(c.evidence), c.features) for c in back] == \
        [(c.ring_id, list(c.members), c.kind, list(c.evidence), c.features) for c in found]


def test_a_candidates_file_without_ties_reads_with_none(tmp_path) -> None:
    path = tmp_path / "old.parquet"
    pd.DataFrame({"ring_id": ["r"], "members": [["a", "b"]], "kind": ["pair"],
                  "evidence": [["Device:d"]], "features": ["{}"]}).to_parquet(path, index=False)
    old = read_candidates(path)[0]
    assert old.ties == [] and list(old.core) == []
