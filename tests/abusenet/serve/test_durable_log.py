"""abusenet.serve.durable_log: group commit writes concurrent appends once, all durable."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from abusenet.serve.durable_log import GroupCommitLog, read_segments, segment_files
from abusenet.serve.validation import canonical_mapping
from ingest.state import IngestState
from ingest.validate import event_schema

SCHEMA = event_schema(canonical_mapping(IngestState()))


def event(i: int) -> pa.Table:
    row = {f.name: None for f in SCHEMA}
    row.update(event_id=f"g{i}", ts=datetime(2025, 1, 3, 4, tzinfo=UTC), account_id=f"a{i}",
               event_type="login")
    return pa.Table.from_pylist([row], schema=SCHEMA)


def append_all(log: GroupCommitLog, count: int) -> tuple[list[threading.Thread], list]:
    errors: list[BaseException] = []

    def append(i: int) -> None:
        try:
            log.append(event(i))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    return threads, errors


def test_appends_waiting_for_a_write_share_one_segment(tmp_path):
    log = GroupCommitLog(tmp_path)
    with log._io:  # a write in progress: every append queues behind it
        threads, errors = append_all(log, 8)
        deadline = time.monotonic() + 10
        while len(log._pending) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(t.is_alive() for t in threads)  # nobody answered before the write
    for t in threads:
        t.join(10)
    assert not errors
    assert log.groups_written == 1 and len(segment_files(tmp_path)) == 1
    stored = read_segments(tmp_path, SCHEMA).column("event_id").to_pylist()
    assert sorted(stored) == sorted(f"g{i}" for i in range(8))
    assert log._results == {}


def test_a_failed_write_reaches_every_member(tmp_path):
    blocked = tmp_path / "store"
    blocked.write_text("a file where the store's folders should go")
    log = GroupCommitLog(blocked)
    with log._io:
        threads, errors = append_all(log, 3)
        while len(log._pending) < 3:
            time.sleep(0.01)
    for t in threads:
        t.join(10)
    assert len(errors) == 3 and all(isinstance(e, OSError) for e in errors)
    with pytest.raises(OSError):
        log.append(event(9))
