"""`abusenet serve` end to end: a real subprocess on a free port, exercised over HTTP.

The HTTP checks share one service on one copy of the batch run (a start costs ~8 CPU s): each
uses ids of its own and asserts on what it changed, so they hold in any order; the first one
also sees the service as it started, the last one kills it with SIGKILL and restarts it. The
reload from a plain to a boosted model starts a service of its own.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from abusenet.serve.durable_log import segment_files
from abusenet.serve.state import GraphState, model_version, run_paths
from abusenet.validation.challenger import read_published
from gnn.data.snapshot_graph import snapshot_to_heterodata
from gnn.detector import AccountDetector
from graph.build import build_snapshot
from graph.snapshot import read_snapshot
from ingest.run import ingest_logs
from tests.abusenet.serve.conftest import SYNTH_MAPPING, TOKEN, Service, start_service

WEIRD = "a'); MATCH (n) DETACH DELETE n; DROP TABLE x; --\"`{}"


def ring_member_and_device(run_dir) -> tuple[str, str, str]:
    """A ring of the run, one member and a device that member used."""
    rings = pd.read_parquet(run_dir / "rings.parquet")
    edges = pd.read_parquet(run_paths(run_dir)["snapshot"] / "edges" / "USED_DEVICE.parquet")
    for ring_id, members in zip(rings["ring_id"], rings["members"], strict=True):
        for member in members:
            devices = edges.loc[edges["src"] == member, "dst"].tolist()
            if devices:
                return ring_id, member, devices[0]
    raise AssertionError("no ring member with a device")


@pytest.fixture(scope="module")
def _shared(batch_run, tmp_path_factory) -> Iterator[dict]:
    """The module's service and its copy of the batch run (see :func:`shared`)."""
    run_dir = tmp_path_factory.mktemp("app") / "run"
    shutil.copytree(batch_run, run_dir)
    held = {"service": start_service(run_dir), "run_dir": run_dir}
    yield held
    held["service"].stop()


@pytest.fixture
def shared(_shared) -> tuple[Service, Path]:
    """One service for the module's HTTP checks, on a copy of the batch run of its own; started
    again if an earlier check killed it (the kill -9 check, run out of file order: --ff)."""
    if _shared["service"].process.poll() is not None:
        _shared["service"] = start_service(_shared["run_dir"])
    return _shared["service"], _shared["run_dir"]


def stored_events(run_dir: Path) -> pd.DataFrame:
    """Every event the service stored in the run's event store, in order."""
    files = segment_files(run_paths(run_dir)["events"])
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True) \
        if files else pd.DataFrame(columns=["account_id", "counterparty_id"])


def new_accounts(run_dir: Path) -> set[str]:
    """Accounts the service's stored events name that the batch run's graph lacks."""
    stored = stored_events(run_dir)
    named = set(stored["account_id"]) | set(stored["counterparty_id"].dropna())
    return named - set(read_snapshot(run_paths(run_dir)["snapshot"]).nodes["Account"]["id"])


def test_token_health_and_limits(shared):
    service, run_dir = shared
    assert httpx.get(f"{service.url}/healthz").json() == {"status": "ok"}
    published = read_published(run_paths(run_dir)["model"])["candidate"]
    assert httpx.get(f"{service.url}/readyz").json()["scores"] == published
    assert httpx.get(f"{service.url}/v1/rings/x").status_code == 401
    wrong = httpx.get(f"{service.url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert TOKEN not in service.process.stdout.readline()
    big = service.client.post("/v1/events", content=b"x" * 1_100_000)
    assert big.status_code == 413
    many = {"events": [{"account_id": "a", "ts": "2025-01-02T00:00:00Z",
                        "event_type": "login"}] * 1001}
    assert service.client.post("/v1/events", json=many).status_code == 413
    text = service.client.get("/metrics").text
    # none applied when this test runs first (file order); the module's others add their own
    applied, accounts = len(stored_events(run_dir)), 400 + len(new_accounts(run_dir))
    for name in ("abusenet_request_seconds_bucket", f"abusenet_events_applied_total {applied}",
                 f'abusenet_graph_size{{kind="nodes",name="Account"}} {accounts}',
                 "abusenet_model_info"):
        assert name in text


def test_bad_events_get_422_and_change_nothing(shared):
    service, run_dir = shared
    before = stored_events(run_dir)
    batch = {"events": [
        {"account_id": "fresh_1", "ts": "2025-01-10T10:00:00Z", "event_type": "login"},
        {"account_id": "fresh_2", "ts": "1/1/15 18:52", "event_type": "login"},
        {"account_id": "fresh_3", "ts": "2025-01-10T10:00:00Z", "event_type": "login",
         "ip": "999.1.1.1"},
        {"account_id": "", "ts": "2025-01-10T10:00:00Z", "event_type": "login"},
    ], "atomic": True}
    answer = service.client.post("/v1/events", json=batch)
    assert answer.status_code == 422
    assert [(e["index"], e["reason"]) for e in answer.json()["errors"]] == [
        (1, "ambiguous ts"), (2, "malformed ip"), (3, "empty account_id")]
    assert service.client.get("/v1/accounts/fresh_1").status_code == 404
    pd.testing.assert_frame_equal(stored_events(run_dir), before)
    batch["atomic"] = False
    partial = service.client.post("/v1/events", json=batch).json()
    assert partial["accepted"] == 1
    assert [r["status"] for r in partial["results"]] == ["accepted", "rejected", "rejected",
                                                         "rejected"]
    assert service.client.get("/v1/accounts/fresh_1").status_code == 200


def test_scores_match_batch_scoring_of_the_same_events(shared):
    service, run_dir = shared
    ring_id, member, device = ring_member_and_device(run_dir)
    batch = {"events": [
        {"event_id": "e1", "account_id": "joiner", "ts": "2025-01-20T09:00:00Z",
         "event_type": "signup", "device_id": device, "ip": "10.0.0.1", "channel": "web"},
        {"event_id": "e2", "account_id": WEIRD, "ts": 1737363600, "event_type": "transfer",
         "counterparty_id": member, "amount": "125.5", "payment_id": "card_new",
         "status": "declined"},
        # the synth mapping's string attributes feed share features: a value the snapshot
        # lacks counts in none of them but in the denominator, as a rebuild counts it
        {"event_id": "e3", "account_id": member, "ts": "2025-01-21T03:00:00Z",
         "event_type": "payment", "payment_id": "card_new", "amount": 40,
         "status": "timeout"},
    ]}
    answer = service.client.post("/v1/events", json=batch)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["accepted"] * 3
    joiner = results[0]["account"]
    assert joiner["ring"]["ring_id"] == ring_id or joiner["ring"]["membership"] == "joins"
    assert joiner["ring"]["via"] is not None
    assert any(s["entity"] == f"Device:{device}" for s in joiner["reasons"]["shared_entities"])
    again = service.client.post("/v1/events", json=batch).json()
    assert again["accepted"] == 0
    assert {r["status"] for r in again["results"]} == {"duplicate"}

    events = run_paths(run_dir)["events"]
    snapshot = build_snapshot(events, run_dir / "check-snapshot", progress=False)
    shares = read_snapshot(run_paths(run_dir)["snapshot"]).meta["attribute_shares"]
    assert list(shares) == ["channel", "status"]
    assert "timeout" not in shares["status"] and "timeout" in snapshot.meta[
        "attribute_shares"]["status"]
    batch_scores = AccountDetector.load(run_dir / "model").score_accounts(snapshot)
    batch_scores = batch_scores.set_index("account_id")["score"]
    assert {"joiner", WEIRD} <= new_accounts(run_dir)
    assert len(batch_scores) == 400 + len(new_accounts(run_dir))
    touched = ["joiner", WEIRD, member, *batch_scores.index[:20]]
    for account in touched:
        live = service.client.get(f"/v1/accounts/{quote(account, safe='')}").json()
        assert live["account_id"] == account
        assert abs(live["score"] - batch_scores[account]) < 1e-5, account


def test_ids_are_stored_verbatim(shared):
    service, run_dir = shared
    event = {"account_id": WEIRD, "ts": "2025-01-15T00:00:00Z", "event_type": "login",
             "device_id": "dev' OR 1=1 --", "ip": "10.1.2.3"}
    assert service.client.post("/v1/events", json=event).json()["accepted"] == 1
    account = service.client.get(f"/v1/accounts/{quote(WEIRD, safe='')}").json()
    assert account["account_id"] == WEIRD
    entity = service.client.get(f"/v1/entities/Device/{quote(event['device_id'], safe='')}")
    assert entity.json()["accounts"] == [WEIRD]
    stored = stored_events(run_dir)
    assert stored.loc[stored["device_id"] == event["device_id"], "account_id"].tolist() == [WEIRD]


def test_reload_under_load_drops_no_request(shared):
    service, _ = shared
    codes: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=service.url, headers=service.client.headers,
                          timeout=60) as client:
            i = 0
            while not stop.is_set():
                event = {"event_id": f"load{threading.get_ident()}-{i}",
                         "account_id": f"load_{i % 7}", "ts": "2025-01-25T00:00:00Z",
                         "event_type": "login"}
                codes.append(client.post("/v1/events", json=event).status_code)
                codes.append(client.get("/v1/accounts/load_0").status_code
                             if i else 200)
                i += 1

    workers = [threading.Thread(target=load) for _ in range(2)]
    for w in workers:
        w.start()
    version = service.client.get("/readyz").json()["model_version"]
    for _ in range(2):
        assert service.client.post("/admin/reload").json()["model_version"] == version
    service.process.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    stop.set()
    for w in workers:
        w.join()
    assert len(codes) > 4 and set(codes) == {200}
    assert service.process.poll() is None


def test_reload_from_a_plain_to_a_boosted_model_keeps_scores_exact(small_world, run_dir,
                                                                    tmp_path):
    """The service starts on a plain model, takes events, reloads a residual model whose
    trees also read the neighbours (labels without times: one hop), and takes events on the
    biggest device (a hub: its degree is in every member's trees' input) and from new
    accounts; every score equals batch scoring of the same events."""
    snapshot = read_snapshot(run_paths(run_dir)["snapshot"])
    labels = pd.read_csv(small_world / "labels.csv")
    # Every account's truth, without times: trees with many splits, one hop.
    truth = pd.read_parquet(small_world / "truth_accounts.parquet")
    truth = pd.DataFrame({"account_id": truth["account_id"],
                          "label": truth["is_abusive"].astype(int)})
    tiny = {"max_epochs": 2, "hidden_channels": 16, "patience": 1}
    plain_dir, boosted_dir = tmp_path / "plain", tmp_path / "boosted"
    for directory, settings, rows in ((plain_dir, {"boost": None}, labels),
                                      (boosted_dir, {"boost": "residual"}, truth)):
        shutil.copytree(run_dir / "model", directory)
        AccountDetector(**tiny, **settings).fit(snapshot, rows).save(directory)
    assert AccountDetector.load(boosted_dir).boost_.hops == 1
    edges = pd.read_parquet(run_paths(run_dir)["snapshot"] / "edges" / "USED_DEVICE.parquet")
    hub = edges["dst"].value_counts().index[0]
    members = sorted(edges.loc[edges["dst"] == hub, "src"])
    assert len(members) >= 3
    service = start_service(run_dir, "--model", str(plain_dir))
    try:
        first = {"event_id": "p1", "account_id": members[0], "ts": "2025-01-20T09:00:00Z",
                 "event_type": "login", "device_id": hub, "ip": "10.0.0.9"}
        assert service.client.post("/v1/events", json=first).json()["accepted"] == 1
        answer = service.client.post("/admin/reload", params={"model": str(boosted_dir)})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == model_version(boosted_dir)
        batch = {"events": [
            {"event_id": "b1", "account_id": "hub_joiner", "ts": "2025-01-21T09:00:00Z",
             "event_type": "signup", "device_id": hub, "ip": "10.0.0.10"},
            {"event_id": "b2", "account_id": members[1], "ts": "2025-01-21T10:00:00Z",
             "event_type": "payment", "payment_id": "card_hub", "amount": 75,
             "device_id": hub},
            {"event_id": "b3", "account_id": "loner", "ts": "2025-01-21T11:00:00Z",
             "event_type": "signup", "device_id": "dev_loner"},
        ]}
        batch["events"] += [
            {"event_id": f"h{i}", "account_id": f"hub_joiner_{i}", "ts": "2025-01-22T09:00:00Z",
             "event_type": "signup", "device_id": hub} for i in range(40)]
        assert service.client.post("/v1/events", json=batch).json()["accepted"] == 43
        boosted = AccountDetector.load(boosted_dir)
        check = build_snapshot(run_paths(run_dir)["events"], tmp_path / "check", progress=False)
        scores = boosted.score_accounts(check).set_index("account_id")["score"]
        accounts = [*members, "hub_joiner", "hub_joiner_7", "loner", *scores.index[:20]]
        for account in accounts:
            live = service.client.get(f"/v1/accounts/{quote(account, safe='')}").json()
            assert abs(live["score"] - scores[account]) < 1e-5, account
    finally:
        service.stop()
    # The column kept event by event (the logged events replayed into the run's graph as one
    # update) equals the batch column, and the hub's growth moved its members' columns.
    state = GraphState.load(run_dir, model_dir=boosted_dir)
    column = pd.Series(boosted.boosted_column(snapshot_to_heterodata(check, boosted.scaler_)[0]),
                       index=check.nodes["Account"]["id"].astype(str))
    rows = [state.nodes["Account"].row[a] for a in column.index]
    kept = state.graph.features("Account", np.array(rows))[:, -1]
    np.testing.assert_allclose(kept, column.to_numpy(), atol=1e-6)
    before = pd.Series(boosted.boosted_column(snapshot_to_heterodata(snapshot,
                                                                     boosted.scaler_)[0]),
                       index=snapshot.nodes["Account"]["id"].astype(str))
    assert (before[members[2:]] != column[members[2:]]).any()


def test_kill_9_then_restart_replays_every_accepted_event(shared):
    """Last in the module: it kills the shared service and restarts one on the same run, which
    replays every event the module's other checks stored too."""
    first, run_dir = shared
    accepted = []
    for i in range(5):
        event = {"event_id": f"k{i}", "account_id": f"killed_{i % 2}",
                 "ts": f"2025-01-2{i}T12:00:00Z", "event_type": "order",
                 "device_id": "shared-dev", "amount": i}
        assert first.client.post("/v1/events", json=event).json()["accepted"] == 1
        accepted.append(event)
    before = {a: first.client.get(f"/v1/accounts/{a}").json()["score"]
              for a in ("killed_0", "killed_1")}
    first.stop(signal.SIGKILL)
    second = start_service(run_dir)
    try:
        after = {a: second.client.get(f"/v1/accounts/{a}").json()["score"] for a in before}
        # the same graph, scored whole at start rather than locally per event: float32 sums
        assert after == pytest.approx(before, abs=1e-6)
        entity = second.client.get("/v1/entities/Device/shared-dev").json()
        assert entity["accounts"] == ["killed_0", "killed_1"]
    finally:
        second.stop()
    # the next batch ingest of the same events finds them stored: all duplicates
    logs = run_dir / "again.parquet"
    columns = ["event_id", "ts", "account_id", "event_type", "device_id", "ip", "payment_id",
               "counterparty_id", "amount", "channel", "status"]
    rows = {c: pa.array([None if e.get(c) is None else str(e[c]) for e in accepted], pa.string())
            for c in columns}
    pq.write_table(pa.table(rows), logs)
    summary = ingest_logs(logs, SYNTH_MAPPING, run_paths(run_dir)["events"], progress=False)
    assert (summary.accepted, summary.duplicates) == (0, 5)
