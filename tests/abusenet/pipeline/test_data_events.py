"""The candidate stage hands the canonical events to the pair test (every episode counts) and
to the off-routine fans (every transfer of a busy hub)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abusenet.pipeline.stages.data import CANDIDATES, candidates_stage, read_candidates
from graph.rings.config import RingConfig
from graph.rings.periodic import DAY_S
from graph.snapshot import write_snapshot
from ingest.state import IngestState
from tests.graph.rings.helpers import edges, snapshot
from tests.graph.rings.test_off_routine import _events as off_routine_events
from tests.graph.rings.test_off_routine import _world as off_routine_world


@pytest.mark.slow
def test_a_pair_meeting_within_minutes_episode_after_episode_is_found_with_the_events(tmp_path):
    """Two colluders share one device and one card (what a household shares) and use them
    within two minutes of each other on eight days; 150 households share a device and a card
    at times of their own. First and last uses cannot tell them apart; every episode can."""
    day, rng = 86_400, np.random.default_rng(1)
    rows = []
    for k, episode in enumerate(range(2, 30, 3)):
        at = episode * day + (2 * k + 3) * 3600
        rows += [("c0", at, "dx", "cx"), ("c1", at + 100, "dx", "cx")]
    for h in range(150):
        for member in (f"h{h}a", f"h{h}b"):
            for _ in range(6):
                rows.append((member, int(rng.integers(0, 30 * day)), f"dh{h}", f"ch{h}"))
    rows += [(f"u{i}", int(rng.integers(0, 30 * day)), f"du{i}", f"cu{i}") for i in range(1000)]
    events = pd.DataFrame(rows, columns=["account_id", "ts", "device_id", "payment_id"])
    events["ts"] = pd.to_datetime(events["ts"], unit="s", utc=True)
    events.to_parquet(tmp_path / "events.parquet")
    tables = {}
    for relation, column in (("USED_DEVICE", "device_id"), ("PAID_WITH", "payment_id")):
        used = events.groupby(["account_id", column])["ts"]
        table = used.agg(first_ts="min", last_ts="max", count="size").reset_index()
        tables[relation] = table.rename(columns={"account_id": "src", column: "dst"}).assign(
            amount_sum=0.0)
    write_snapshot(snapshot(**tables), tmp_path / "snap")
    found = {}
    # events that are not there (a snapshot built elsewhere): first and last uses
    for name, given in (("events", tmp_path / "events.parquet"), ("first and last", None),
                        ("missing", tmp_path / "gone")):
        candidates_stage(tmp_path / "snap", RingConfig(), tmp_path / name, events=given)
        found[name] = {tuple(c.members): c for c in
                       read_candidates(tmp_path / name / "candidates.parquet")}
    pair = found["events"][("c0", "c1")]
    assert pair.features["surprise"] >= RingConfig().min_surprise
    assert any(e.startswith("Together:") for e in pair.evidence)
    assert ("c0", "c1") not in found["first and last"]
    assert set(found["events"]) == {("c0", "c1")}
    assert found["missing"].keys() == found["first and last"].keys()


def test_the_stage_reads_the_transfers_the_snapshot_times_at_their_ends_only(tmp_path):
    """A routine hub pays each of its payees several times (the snapshot keeps each pair's
    first and last time) and six new payees on days off its routine: the stage reads the
    hub's transfers from the events and finds that fan; without the events it cannot."""
    times, pairs, accounts = off_routine_world(pool=8)
    ids = pairs.assign(src=accounts[pairs["src"]], dst=accounts[pairs["dst"]])
    table = edges(list(zip(ids["src"], ids["dst"], strict=True)), counts=ids["count"].tolist())
    table["first_ts"] = pd.to_datetime(ids["ts"].to_numpy(), unit="s", utc=True)
    table["last_ts"] = pd.to_datetime(ids["last"].to_numpy(), unit="s", utc=True)
    write_snapshot(snapshot(TRANSACTED_WITH=table), tmp_path / "snap")
    events = off_routine_events(times, tmp_path / "events")
    found = {}
    for name, given in (("events", events), ("none", None)):
        candidates_stage(tmp_path / "snap", RingConfig(), tmp_path / name, events=given)
        found[name] = [sorted(c.members) for c in read_candidates(tmp_path / name / CANDIDATES)
                       if any(e.startswith("OffRoutine:") for e in c.evidence)]
    off = times.loc[times["src"].eq(0) & (times["ts"] // DAY_S % 7 != 0), "dst"]
    assert found == {"events": [sorted(["0", *off.astype(str)])], "none": []}


def test_the_stage_reads_the_failed_attempts_the_mapping_declared(tmp_path):
    """300 accounts live two months on their own devices (half buy a new phone); on day 40 a
    tool logs in to 30 of them from one device fingerprint, each after a failed attempt. The
    stage reads the failures the ingest state declares and finds the takeover; with
    ``rings.takeovers`` off, or no declaration, it does not."""
    day, rng = 86_400, np.random.default_rng(2)
    rows = [(f"a{i}", 0, f"dev{i}", 0.0) for i in range(300)]
    rows += [(f"a{i}", 60 * day, f"dev{i}", 0.0) for i in range(300)]
    rows += [(f"a{i}", int(rng.uniform(20, 50) * day), f"phone{i}", 0.0)
             for i in range(1, 300, 2)]
    for i in range(0, 60, 2):
        at = 40 * day + int(rng.uniform(0, 3600))
        rows += [(f"a{i}", at, "toolfp", 1.0), (f"a{i}", at + 40, "toolfp", 0.0)]
    events = pd.DataFrame(rows, columns=["account_id", "ts", "device_id", "result"])
    events["ts"] = pd.to_datetime(events["ts"], unit="s", utc=True)
    (tmp_path / "events").mkdir()
    events.to_parquet(tmp_path / "events" / "part.parquet")
    used = events.groupby(["account_id", "device_id"])["ts"]
    table = used.agg(first_ts="min", last_ts="max", count="size").reset_index()
    table = table.rename(columns={"account_id": "src", "device_id": "dst"}).assign(amount_sum=0.0)
    write_snapshot(snapshot(USED_DEVICE=table), tmp_path / "snap")
    found = {}
    for name, config, failures in (("undeclared", RingConfig(), None),
                                   ("on", RingConfig(), [1.0]),
                                   ("off", RingConfig(takeovers=False), [1.0])):
        if failures:
            IngestState(attributes={"result": "float"},
                        failures={"result": failures}).save(tmp_path / "events")
        candidates_stage(tmp_path / "snap", config, tmp_path / name, events=tmp_path / "events")
        found[name] = [c.members for c in read_candidates(tmp_path / name / CANDIDATES)
                       if "account_takeover" in c.kind]
    assert found == {"on": [sorted(f"a{i}" for i in range(0, 60, 2))], "off": [],
                     "undeclared": []}
