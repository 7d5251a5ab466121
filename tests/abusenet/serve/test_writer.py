"""abusenet.serve.writer: requests queued behind a write are applied as one group, exactly."""

from __future__ import annotations

import threading
import time

import numpy as np

from abusenet.serve.durable_log import segment_files
from abusenet.serve.state import GraphState
from abusenet.serve.validation import EventValidator, canonical_mapping
from abusenet.serve.writer import ACCEPTED, DUPLICATE, REJECTED, EventWriter
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

    with writer._io:  # a group in progress: the three requests queue into the next one
        threads = []
        for k in range(3):
            threads.append(threading.Thread(target=submit, args=(k,)))
            threads[-1].start()
            while len(writer._pending) < k + 1:  # arrival order = request order
                time.sleep(0.01)
        assert not answers
    for t in threads:
        t.join(30)
    assert answers == {0: [ACCEPTED, ACCEPTED], 1: [DUPLICATE, ACCEPTED],
                       2: [REJECTED, ACCEPTED]}
    assert writer.groups_written == 1 and len(segment_files(state.events_dir)) == 1
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
