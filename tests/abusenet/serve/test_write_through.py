"""The serve write-through: batching, retry, status; a fake store, a real server, a dead one."""

from __future__ import annotations

import threading
import time

import pytest

from abusenet.serve.write_through import BEHIND, DOWN, OK, OVERFLOW, STOPPED, WriteThrough
from graph.store import Neo4jSettings, connect
from graph.store.live_write import LiveChange
from graph.store.server import free_port


class FlakyStore:
    """A recording store whose writes fail while ``failing`` is set (or block while
    ``gate`` is clear)."""

    def __init__(self) -> None:
        self.writes: list[list] = []
        self.failing = False
        self.gate = threading.Event()
        self.gate.set()

    def write(self, statements, *, on_retry=None):
        self.gate.wait(10)
        if self.failing:
            raise ConnectionError("server at neo4j://neo4j:s3cret@db:7687 unavailable")
        self.writes.append(list(statements))
        return []


def _change(*ids: str, score: float = 0.5) -> LiveChange:
    change = LiveChange()
    for i in ids:
        change.add_node("Account", i, {"risk_score": score})
    return change


def _ids(statements) -> list[str]:
    return [row["id"] for _, params in statements for row in params["rows"]]


def test_changes_arriving_while_a_write_runs_go_together_coalesced() -> None:
    store = FlakyStore()
    writer = WriteThrough(store, "g", interval=0.0).start()
    store.gate.clear()
    writer.submit(_change("a1"))
    time.sleep(0.1)  # the first write is under way, blocked
    writer.submit(_change("a2", score=0.1))
    writer.submit(_change("a2", score=0.9))
    writer.submit(_change("a3"))
    store.gate.set()
    assert writer.flush(5)
    assert [_ids(w) for w in store.writes] == [["a1"], ["a2", "a3"]]
    assert store.writes[1][0][1]["rows"][0]["props"] == {"risk_score": 0.9}
    assert writer.status()["state"] == OK and writer.rows_written == 3
    assert writer.close()
    assert writer.status()["state"] == STOPPED


def test_a_failed_write_is_kept_and_retried_and_the_status_says_down() -> None:
    store = FlakyStore()
    store.failing = True
    writer = WriteThrough(store, "g", interval=0.0, retry_min=0.05, retry_max=0.1).start()
    started = time.perf_counter()
    writer.submit(_change("a1"))  # never waits on the store
    assert time.perf_counter() - started < 0.05
    assert not writer.flush(0.3)
    status = writer.status()
    assert status["state"] == DOWN and status["failures"] >= 2 and status["pending"] == 1
    assert "s3cret" not in status["last_error"] and "unavailable" in status["last_error"]
    writer.submit(_change("a1", score=0.8))  # newer than the failed change: wins
    store.failing = False
    assert writer.flush(5)
    assert store.writes[-1][0][1]["rows"] == [{"id": "a1", "props": {"risk_score": 0.8}}]
    status = writer.status()
    assert status["state"] == OK and status["last_error"] is None and status["pending"] == 0
    writer.close()


def test_behind_then_overflow_drops_the_backlog_and_says_so() -> None:
    now = [0.0]
    store = FlakyStore()
    store.gate.clear()
    writer = WriteThrough(store, "g", interval=0.0, max_pending=3, lag_warning=5.0,
                          clock=lambda: now[0]).start()
    writer.submit(_change("a1"))
    time.sleep(0.1)  # a1 is being written (blocked)
    writer.submit(_change("a2", "a3"))
    now[0] = 6.0
    assert writer.status()["state"] == BEHIND
    writer.submit(_change("a4", "a5"))  # 4 pending > 3
    status = writer.status()
    assert status["state"] == OVERFLOW and status["rows_dropped"] == 4
    store.gate.set()
    assert writer.close()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="retry_min"):
        WriteThrough(FlakyStore(), "g", retry_min=0)


def test_writes_reach_the_real_server(store) -> None:
    writer = WriteThrough(store, "live", interval=0.05).start()
    for i in range(20):
        change = _change(f"a{i}")
        change.add_node("Device", "shared")
        change.add_rel("Account", "USES_DEVICE", "Device", f"a{i}", "shared")
        writer.submit(change)
    assert writer.close(20)
    rows = store.read("MATCH (a:Account {graph: 'live'})-[:USES_DEVICE]->(d:Device) "
                      "RETURN count(a) AS n, count(DISTINCT d) AS d")
    assert rows.records == [(20, 1)]
    assert writer.rows_written >= 21


def test_a_dead_server_is_reported_not_waited_for() -> None:
    settings = Neo4jSettings(uri=f"bolt://127.0.0.1:{free_port()}", password="hunter2-secret",
                             retry_seconds=0.2, connect_timeout=0.2)
    with connect(settings) as dead:
        writer = WriteThrough(dead, "g", retry_min=0.05, retry_max=0.2).start()
        started = time.perf_counter()
        writer.submit(_change("a1"))
        assert time.perf_counter() - started < 0.05
        deadline = time.monotonic() + 15
        while writer.status()["state"] != DOWN and time.monotonic() < deadline:
            time.sleep(0.05)
        status = writer.status()
        assert status["state"] == DOWN, status
        assert "hunter2" not in status["last_error"]
        assert not writer.close(0.5)  # not written: said so
