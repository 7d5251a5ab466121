"""abusenet.serve.writer: requests queued behind a write are applied as one group, exactly."""

from __future__ import annotations

import asyncio
import errno
import gc
import math
import os
import shutil
import threading
import time

import httpx
import numpy as np
import pytest

from abusenet.serve.app import create_app
from abusenet.serve.durable_log import read_segments, segment_files
from abusenet.serve.state import GraphState
from abusenet.serve.validation import EventValidator, canonical_mapping
from abusenet.serve.writer import (
    ACCEPTED,
    BUSY_SECONDS,
    DUPLICATE,
    REJECTED,
    EventWriter,
    LogFailed,
)
from graph.snapshot import ACCOUNT


def test_a_group_dedups_in_arrival_order_logs_once_and_scores_exactly(run_dir):
    state = GraphState.load(run_dir)
    validator = EventValidator(canonical_mapping(state.ingest_state))
    writer = EventWriter(state)
    member = state.nodes[ACCOUNT].ids[0]

    def event(event_id: str, account: str, **extra: object) -> dict[str, object]:
        return {"event_id": event_id, "account_id": account, "ts": "2025-01-20T10:00:00Z",
                "event_type": "login", **extra}

    requests = [
        [event("w1", "writer_a", device_id="dev-w"), event("w2", member, device_id="dev-w")],
        [event("w1", "writer_b"), event("w3", "writer_b", device_id="dev-w")],
        [event("w4", "writer_c", ip="999.1.1.1"), event("w4", "writer_c")],
    ]
    answers: dict[int, list[str]] = {}

    def submit(k: int) -> None:
        checked = validator.check(requests[k])
        answers[k] = writer.submit(checked.events, checked.reasons)

    with writer.held():  # the three requests queue, then are logged as one group
        threads = []
        for k in range(3):
            threads.append(threading.Thread(target=submit, args=(k,)))
            threads[-1].start()
            while writer.waiting < k + 1:  # arrival order = request order
                time.sleep(0.01)
        assert not answers
    for t in threads:
        t.join(30)
    assert answers == {0: [ACCEPTED, ACCEPTED], 1: [DUPLICATE, ACCEPTED],
                       2: [REJECTED, ACCEPTED]}
    assert writer.groups_written == 1 and len(segment_files(state.events_dir)) == 1
    writer.close()
    live = {a: state.account_view(a)["score"] for a in ("writer_a", "writer_b", member)}
    assert state.account_view("writer_c") is not None
    replayed = GraphState.load(run_dir)  # the segment replayed, the whole graph scored
    for account, score in live.items():
        assert abs(replayed.account_view(account)["score"] - score) < 1e-6, account
    rows = np.arange(replayed.num_accounts)
    assert np.isfinite(replayed.scorer.current(replayed.graph, rows)).all()


def test_views_asked_for_are_the_accounts_after_the_group(run_dir):
    state = GraphState.load(run_dir)
    validator = EventValidator(canonical_mapping(state.ingest_state))
    writer = EventWriter(state)
    member = state.nodes[ACCOUNT].ids[1]
    events = [{"event_id": "g1", "account_id": "viewer_a", "ts": "2025-01-20T10:00:00Z",
               "event_type": "login", "device_id": "dev-g"},
              {"event_id": "g2", "account_id": member, "ts": "2025-01-20T10:00:00Z",
               "event_type": "login", "device_id": "dev-g"},
              {"event_id": "g3", "account_id": "viewer_b", "ts": "2025-01-20T10:00:00Z",
               "event_type": "login", "ip": "999.1.1.1"}]
    checked = validator.check(events)
    views: list = []
    assert writer.submit(checked.events, checked.reasons, views) == [ACCEPTED, ACCEPTED,
                                                                      REJECTED]
    assert views[2] is None
    assert views[:2] == state.account_views(["viewer_a", member])
    assert views[0]["reasons"]["shared_entities"][0]["entity"] == "Device:dev-g"
    writer.close()


@pytest.fixture(scope="module")
def loaded(batch_run, tmp_path_factory) -> tuple[GraphState, EventValidator]:
    """One state for the tests below (each posts its own ids and accounts), and its validator."""
    run = tmp_path_factory.mktemp("writer") / "run"
    shutil.copytree(batch_run, run)
    state = GraphState.load(run)
    return state, EventValidator(canonical_mapping(state.ingest_state))


def _login(event_id: str, account: str, **extra: object) -> dict[str, object]:
    return {"event_id": event_id, "account_id": account, "ts": "2025-01-20T10:00:00Z",
            "event_type": "login", **extra}


def test_the_next_group_is_logged_during_an_apply_and_answered_after_it(loaded):
    state, validator = loaded
    writer = EventWriter(state)
    answers: dict[int, list[str]] = {}
    requests = [[_login("p1", "pipe_a", device_id="dev-p")],
                [_login("p2", "pipe_b", device_id="dev-p"), _login("p1", "pipe_a")],
                [_login("p3", "pipe_c", device_id="dev-p")]]

    def submit(k: int) -> None:
        checked = validator.check(requests[k])
        answers[k] = writer.submit(checked.events, checked.reasons, [])

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(3)]
    before = len(segment_files(state.events_dir))
    with state.lock:  # the apply thread blocks inside the first group's update
        threads[0].start()
        while len(segment_files(state.events_dir)) < before + 1:
            time.sleep(0.01)
        for thread in threads[1:]:
            thread.start()
        while not writer._logged or writer.waiting + sum(
                len(g.requests) for g in writer._logged) < 2 or len(
                segment_files(state.events_dir)) < before + 2:
            time.sleep(0.01)
        # the next group logged (durable) while the first is still being applied; the
        # request after it waits for the apply (the log thread runs one group ahead at most)
        assert len(segment_files(state.events_dir)) == before + 2
        assert not answers
        assert all(a not in state.nodes[ACCOUNT].row for a in ("pipe_b", "pipe_c"))
    for thread in threads:
        thread.join(30)
    assert answers == {0: [ACCEPTED], 1: [ACCEPTED, DUPLICATE], 2: [ACCEPTED]}
    assert writer.groups_written == len(segment_files(state.events_dir)) - before
    entity = state.entity_view("Device", "dev-p")
    assert entity["accounts"] == ["pipe_a", "pipe_b", "pipe_c"]
    writer.close()


def test_a_few_events_linger_for_more_and_a_batch_does_not(loaded):
    state, validator = loaded
    writer = EventWriter(state, linger=0.5, linger_events=4, linger_busy=(-1.0, 0.0))
    answers: list[list[str]] = []

    def submit(events: list[dict[str, object]]) -> None:
        checked = validator.check(events)
        answers.append(writer.submit(checked.events, checked.reasons))

    first = threading.Thread(target=submit, args=([_login("l1", "linger_a")],))
    first.start()
    time.sleep(0.05)  # within the first one's linger: logged in its group
    submit([_login("l2", "linger_b")])
    first.join(30)
    assert answers == [[ACCEPTED], [ACCEPTED]] and writer.groups_written == 1
    writer.linger = 30.0
    began = time.perf_counter()
    submit([_login(f"l{k}", f"linger_{k}") for k in range(3, 7)])  # 4 events: at once
    assert time.perf_counter() - began < 10 and writer.groups_written == 2
    writer.close()
    with pytest.raises(ValueError, match="linger"):
        EventWriter(state, linger=-1.0)


def test_a_single_event_lingers_only_while_the_apply_thread_is_busy(loaded):
    state, validator = loaded
    writer = EventWriter(state, linger=30.0, linger_events=4, linger_busy=(0.5, 0.75))

    def took(event: dict[str, object]) -> float:
        checked = validator.check([event])
        began = time.perf_counter()
        assert writer.submit(checked.events, checked.reasons) == [ACCEPTED]
        return time.perf_counter() - began

    assert writer.busy < 0.5 and took(_login("b1", "busy_a")) < 10  # idle: logged at once
    writer.linger = 0.5
    with writer._cond:
        writer._took(2.0)  # as if it had just applied for two seconds
    assert writer.busy > 0.75
    assert took(_login("b2", "busy_b")) >= 0.45  # busy: the lone event waited for company
    assert writer._linger() == 0.5
    writer._applying = 0.625 * BUSY_SECONDS * math.exp((time.perf_counter() - writer._applied)
                                                        / BUSY_SECONDS)
    assert writer._linger() == pytest.approx(0.25, abs=0.01)  # half way: half the linger
    writer.close()
    with pytest.raises(ValueError, match="linger_busy"):
        EventWriter(state, linger_busy=(0.9, 0.6))


def test_a_failed_log_answers_the_error_and_applies_nothing(loaded):
    state, validator = loaded
    writer = EventWriter(state)
    blocker = state.events_dir / "day=2024-11-30"  # a file where the day's folder goes
    assert not blocker.exists()
    blocker.write_text("not a folder")
    checked = validator.check([{**_login("f1", "failed_a"), "ts": "2024-11-30T10:00:00Z"}])
    with pytest.raises(OSError):
        writer.submit(checked.events, checked.reasons)
    assert "failed_a" not in state.nodes[ACCOUNT].row
    blocker.unlink()
    assert writer.submit(checked.events, checked.reasons) == [ACCEPTED]  # the id released
    assert "failed_a" in state.nodes[ACCOUNT].row
    writer.close()


def test_a_group_is_applied_during_its_fsync_and_answered_after_it(loaded, monkeypatch):
    state, validator = loaded
    writer = EventWriter(state)
    release = threading.Event()
    fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        release.wait(30)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    checked = validator.check([_login("o1", "overlap_a", device_id="dev-o")])
    before = len(segment_files(state.events_dir))
    answers: list[list[str]] = []
    thread = threading.Thread(target=lambda: answers.append(
        writer.submit(checked.events, checked.reasons, [])))
    thread.start()
    while "overlap_a" not in state.nodes[ACCOUNT].row:  # applied while the fsync waits
        time.sleep(0.01)
    time.sleep(0.05)
    assert not answers and len(segment_files(state.events_dir)) == before
    release.set()
    thread.join(30)
    assert answers == [[ACCEPTED]] and len(segment_files(state.events_dir)) == before + 1
    writer.close()


def test_a_segment_that_cannot_be_made_durable_stops_the_writer(loaded, monkeypatch):
    state, validator = loaded
    writer = EventWriter(state)

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    before = segment_files(state.events_dir)
    monkeypatch.setattr(os, "fsync", failing_fsync)
    checked = validator.check([_login("e1", "unlogged_a")])
    with pytest.raises(LogFailed, match="restarted"):
        writer.submit(checked.events, checked.reasons)
    monkeypatch.undo()
    assert isinstance(writer.broken, LogFailed)
    # applied but not in the log (nor a temporary file left): a restart replays without it
    assert segment_files(state.events_dir) == before
    assert not list(state.events_dir.rglob(".part-serve-*"))
    assert "unlogged_a" not in read_segments(state.events_dir, state.schema).column(
        "account_id").to_pylist()
    later = validator.check([_login("e2", "unlogged_b")])
    with pytest.raises(LogFailed):
        writer.submit(later.events, later.reasons)
    assert "unlogged_b" not in state.nodes[ACCOUNT].row
    writer.close()


def test_the_service_answers_503_once_its_log_failed(loaded, monkeypatch):
    state, validator = loaded
    service = create_app(state, validator, "t0ken")

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    async def requests() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service),
                                     base_url="http://serve",
                                     headers={"Authorization": "Bearer t0ken"}) as client:
            with monkeypatch.context() as patch:
                patch.setattr(os, "fsync", failing_fsync)
                failed = await client.post("/v1/events", json=_login("s1", "unlogged_s"))
            later = await client.post("/v1/events", json=_login("s2", "unlogged_t"))
            return failed, await client.get("/readyz"), later

    failed, ready, later = asyncio.run(requests())
    assert failed.status_code == 503 and "restarted" in failed.json()["detail"]
    assert ready.status_code == 503 and later.status_code == 503
    service.state.writer.close()


def test_post_awaits_the_same_answer_on_an_event_loop(loaded):
    state, validator = loaded
    writer = EventWriter(state)
    checked = validator.check([_login("a1", "async_a", device_id="dev-a"),
                               _login("a1", "async_a")])

    async def post() -> tuple[list[str], list]:
        views: list = []
        return await writer.post(checked.events, checked.reasons, views), views

    status, views = asyncio.run(post())
    assert status == [ACCEPTED, DUPLICATE]
    assert views == state.account_views(["async_a", "async_a"])
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(checked.events, checked.reasons)


def test_an_answer_that_cannot_be_delivered_stops_nothing(loaded):
    state, validator = loaded
    writer = EventWriter(state)

    def closed_loop(error: BaseException | None) -> None:
        raise RuntimeError("Event loop is closed")  # as call_soon_threadsafe at shutdown

    lost = validator.check([_login("d1", "deaf_a")])
    writer._enqueue(lost.events, lost.reasons, None, closed_loop)
    heard = validator.check([_login("d2", "deaf_b")])
    assert writer.submit(heard.events, heard.reasons) == [ACCEPTED]
    assert "deaf_a" in state.nodes[ACCOUNT].row  # applied, only its answer was lost
    writer.close()


def test_the_apply_thread_collects_and_freezes_between_groups(loaded):
    state, validator = loaded
    writer = EventWriter(state, freeze_every=0.0)
    gc.unfreeze()
    checked = validator.check([_login("g1", "gc_a")])
    assert writer.submit(checked.events, checked.reasons) == [ACCEPTED]
    writer.close()
    assert writer.collections == 1 and writer.full_collections == 0  # after the one group
    assert gc.get_freeze_count() > 0  # the survivors frozen: no later collection scans them
    full = EventWriter(state, freeze_every=0.0, unfreeze_every=0.0)
    checked = validator.check([_login("g2", "gc_b")])
    assert full.submit(checked.events, checked.reasons) == [ACCEPTED]
    full.close()
    assert full.full_collections == 1  # everything taken in once (then frozen again)
    gc.unfreeze()
