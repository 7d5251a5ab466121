"""The candidates file of the data stages: what the rings stage reads back is what was
found, transfer ties and core included."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq

from abusenet.pipeline.stages.data import read_candidates, write_candidates
from graph.rings.candidates import RingCandidate, candidate_table


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


def test_a_table_of_candidates_is_written_as_the_frame_of_them_was(tmp_path) -> None:
    found = [
        RingCandidate("r1", ["a", "b", "c"], "flow_cycle", ["Transfer:a->b"],
                      {"size": 3.0, "flow_surprise": float("nan")}, [("a", "b")], ["a", "b"]),
        RingCandidate("r2", ["x", "y"], "pair", ["Device:d1"], {"surprise": 3.5}),
    ]
    frame = pd.DataFrame({  # how candidates were written before the search gave a table
        "ring_id": [c.ring_id for c in found], "members": [c.members for c in found],
        "kind": [c.kind for c in found], "evidence": [c.evidence for c in found],
        "features": [json.dumps(c.features, sort_keys=True) for c in found],
        "ties": [[list(t) for t in c.ties] for c in found], "core": [c.core for c in found]})
    frame.to_parquet(tmp_path / "frame.parquet", index=False)
    write_candidates(candidate_table(found), tmp_path / "table.parquet")
    write_candidates(found, tmp_path / "list.parquet")
    before = pq.read_table(tmp_path / "frame.parquet")
    for name in ("table.parquet", "list.parquet"):
        after = pq.read_table(tmp_path / name)
        assert after.schema.equals(before.schema, check_metadata=True)
        assert after.equals(before)


def test_a_candidates_file_without_ties_reads_with_none(tmp_path) -> None:
    path = tmp_path / "old.parquet"
    pd.DataFrame({"ring_id": ["r"], "members": [["a", "b"]], "kind": ["pair"],
                  "evidence": [["Device:d"]], "features": ["{}"]}).to_parquet(path, index=False)
    old = read_candidates(path)[0]
    assert old.ties == [] and list(old.core) == []


def test_the_candidates_stage_finds_what_the_whole_snapshot_gives(tmp_path) -> None:
    from abusenet.pipeline.stages.data import candidates_stage
    from graph.rings.candidates import find_ring_candidates
    from graph.rings.config import RingConfig
    from graph.snapshot import read_snapshot, write_snapshot
    from tests.graph.rings.helpers import edges, snapshot

    ring = [f"r{i}" for i in range(5)]
    uses = [(a, d) for a in ring for d in ("d0", "d1")] + [(f"h{i}", f"o{i}") for i in range(20)]
    snap = snapshot(USED_DEVICE=edges(uses))
    # an entity node table the search does not need, and an account with no edge
    snap.nodes["Device"] = pd.DataFrame({"id": sorted({d for _, d in uses})})
    snap.nodes["Account"] = pd.concat([snap.nodes["Account"], pd.DataFrame({"id": ["lone"]})],
                                      ignore_index=True)
    write_snapshot(snap, tmp_path / "snap")
    config = RingConfig(min_surprise=float("-inf"))
    info = candidates_stage(tmp_path / "snap", config, tmp_path)
    found = read_candidates(tmp_path / "candidates.parquet")
    whole = find_ring_candidates(read_snapshot(tmp_path / "snap"), config)
    assert info["candidates"] == len(whole) >= 1
    assert [(c.ring_id, list(c.members), c.features) for c in found] == \
        [(c.ring_id, list(c.members), c.features) for c in whole]
    assert any(list(c.members) == ring for c in found)
    assert info["over_max_size"] == 0
    # a ring of five over max_size 3 is judged whole, and the stage says how many such
    bounded = RingConfig(min_surprise=float("-inf"), min_size=2, max_size=3, max_group_size=10)
    info = candidates_stage(tmp_path / "snap", bounded, tmp_path)
    found = read_candidates(tmp_path / "candidates.parquet")
    assert info["over_max_size"] == sum(len(c.members) > 3 for c in found) >= 1
    assert any(list(c.members) == ring for c in found)


def _review_log(tmp_path, seller_as: str) -> dict:
    """A reviews log (40 reviewers, 4 sellers reviewed by 20 each) through the ingest and
    snapshot stages, the seller mapped as ``seller_as`` (``counterparty`` or ``entity``)."""
    from abusenet.pipeline.stages.data import ingest_stage, snapshot_stage
    from ingest.mapping import mapping_from_dict

    rows = [{"review_id": f"r{u}-{s}", "when": f"2024-03-{1 + (u + s) % 27:02d}T12:00:00Z",
             "user": f"u{u}", "seller": f"s{s}", "kind": "review"}
            for u in range(40) for s in range(4) if (u + s) % 2 == 0]
    pd.DataFrame(rows).to_csv(tmp_path / "reviews.csv", index=False)
    columns = {"event_id": "review_id", "ts": "when", "account_id": "user",
               "event_type": "kind"}
    raw = ({"columns": {**columns, "counterparty_id": "seller"}} if seller_as == "counterparty"
           else {"columns": columns, "entities": {"Seller": "seller"}})
    mapping = mapping_from_dict(raw)
    ingest_stage([str(tmp_path / "reviews.csv")], mapping, None, tmp_path,
                 max_bad_fraction=0.0, progress=False)
    return snapshot_stage(tmp_path / "events", mapping, tmp_path, progress=False)


def test_sellers_mapped_as_counterparties_are_called_out(tmp_path) -> None:
    info = _review_log(tmp_path, "counterparty")
    assert "4 of the 4 counterparties" in info["counterparty_hint"]
    assert "entities: {Seller: <column>}" in info["counterparty_hint"]


def test_sellers_mapped_as_entities_get_no_hint(tmp_path) -> None:
    info = _review_log(tmp_path, "entity")
    assert "counterparty_hint" not in info and info["nodes"]["Seller"] == 4


def test_the_text_attributes_made_features_are_in_the_info(tmp_path) -> None:
    from abusenet.pipeline.stages.data import ingest_stage, snapshot_stage
    from ingest.mapping import mapping_from_dict

    rows = "user,when,kind,result\n" + "".join(
        f"u{i % 3},2025-01-0{1 + i % 4}T10:00:00Z,login,{('ok', 'bad')[i % 2]}\n"
        for i in range(8))
    (tmp_path / "logins.csv").write_text(rows)
    mapping = mapping_from_dict({"columns": {"ts": "when", "account_id": "user",
                                             "event_type": "kind"},
                                 "attributes": {"result": "string"}})
    ingest_stage([str(tmp_path / "logins.csv")], mapping, None, tmp_path,
                 max_bad_fraction=0.0, progress=False)
    info = snapshot_stage(tmp_path / "events", mapping, tmp_path, progress=False)
    assert info["text_features"] == {"result": ["bad", "ok"]}
