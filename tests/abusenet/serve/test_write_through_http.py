"""`abusenet serve --neo4j-uri`: accepted changes reach Neo4j; a dead server only shows in
/readyz. The service runs as a real subprocess, the store is the test session's server."""

from __future__ import annotations

import time

import httpx

from graph.store.server import free_port
from tests.abusenet.serve.conftest import start_service


def _ready(service, until, seconds: float = 60.0) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        neo4j = httpx.get(f"{service.url}/readyz").json()["neo4j"]
        if until(neo4j) or time.monotonic() > deadline:
            return neo4j


def test_accepted_changes_are_written_through(run_dir, neo4j_settings, neo4j_driver,
                                              monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.password)
    service = start_service(run_dir, "--neo4j-uri", neo4j_settings.uri, "--graph", "live-test")
    try:
        events = [{"event_id": f"wt-{i}", "account_id": f"new-{i % 2}",
                   "ts": "2025-01-15T00:00:00Z", "event_type": "login",
                   "device_id": "wt-shared-device", "ip": "10.9.9.9"} for i in range(4)]
        answer = service.client.post("/v1/events", json={"events": events}).json()
        assert answer["accepted"] == 4
        neo4j = _ready(service, lambda n: n["rows_written"] >= 5 and n["pending"] == 0)
        assert neo4j["state"] == "ok" and neo4j["graph"] == "live-test", neo4j
        scores = {a: service.client.get(f"/v1/accounts/{a}").json()["score"]
                  for a in ("new-0", "new-1")}
        with neo4j_driver.session() as session:
            rows = session.run(
                "MATCH (a:Account {graph: 'live-test'})-[r:USED_DEVICE]->"
                "(d:Device {graph: 'live-test', id: 'wt-shared-device'}) "
                "RETURN a.id AS id, a.risk_score AS score, a.model_version AS version, "
                "r.graph AS rg ORDER BY id").data()
        assert [r["id"] for r in rows] == ["new-0", "new-1"]
        for row in rows:
            assert abs(row["score"] - scores[row["id"]]) < 1e-6
            assert row["version"] and row["rg"] == "live-test"
    finally:
        service.stop()


def test_a_dead_neo4j_leaves_the_service_answering(run_dir, monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", "not-this-secret")
    service = start_service(run_dir, "--neo4j-uri", f"bolt://127.0.0.1:{free_port()}")
    try:
        started = time.perf_counter()
        event = {"event_id": "dead-1", "account_id": "x1", "ts": "2025-01-15T00:00:00Z",
                 "event_type": "login", "device_id": "d-dead"}
        assert service.client.post("/v1/events", json=event).json()["accepted"] == 1
        assert time.perf_counter() - started < 5
        neo4j = _ready(service, lambda n: n["state"] == "down")
        assert neo4j["state"] == "down" and neo4j["pending"] >= 2, neo4j
        assert "not-this-secret" not in str(neo4j)
        assert service.client.get("/v1/accounts/x1").status_code == 200
    finally:
        service.stop()
