"""The decisions file: append-only JSON lines, read back exactly, bad lines named."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from abusenet.cases.decisions import (
    Decision,
    DecisionsFileError,
    append_decision,
    decisions_path,
    new_decision,
    read_decisions,
)
from tests.graph.store.helpers import TRICKY_IDS

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _ring_decision(**changes: object) -> Decision:
    values: dict[str, object] = {
        "graph": "shop", "decision": "confirmed", "target_kind": "ring", "target_type": "Ring",
        "target_id": "r1", "analyst": "kim", "case": "CASE-7", "note": "same card, same night",
        "members": ("a1", "a2"), "decided_at": AT,
    }
    values.update(changes)
    return new_decision(**values)  # type: ignore[arg-type]


def test_decisions_round_trip_verbatim_in_a_0600_file(tmp_path: Path) -> None:
    path = tmp_path / "cases" / "decisions.jsonl"
    first = _ring_decision(analyst=TRICKY_IDS[0], note=TRICKY_IDS[2] + "\n" + TRICKY_IDS[7])
    second = _ring_decision(decision="dismissed", target_kind="entity", target_type="Device",
                            target_id=TRICKY_IDS[6], members=None, case=None, note=None)
    append_decision(first, path)
    append_decision(second, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_decisions(path) == [first, second]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["members"] == ["a1", "a2"]
    assert json.loads(lines[0])["decided_at"] == "2024-05-01T12:00:00+00:00"
    assert first.id != second.id and first.os_user


def test_appending_never_rewrites_earlier_lines(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    append_decision(_ring_decision(), path)
    before = path.read_bytes()
    append_decision(_ring_decision(target_id="r2"), path)
    assert path.read_bytes().startswith(before)


def test_the_default_file_is_under_the_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    assert decisions_path() == tmp_path / "cases" / "decisions.jsonl"
    assert read_decisions() == []  # no file yet: no decisions


def test_decided_at_is_kept_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    assert _ring_decision(decided_at=datetime(2024, 5, 1, 14, tzinfo=paris)).decided_at == AT


@pytest.mark.parametrize(("change", "message"), [
    ({"decision": "maybe"}, "decision must be 'confirmed' or 'dismissed'"),
    ({"target_kind": "card"}, "target_kind must be one of ring, account, event, entity"),
    ({"target_type": "Account"}, "a ring decision's target_type must be 'Ring'"),
    ({"analyst": "  "}, "analyst must name who decided"),
    ({"target_kind": "entity", "target_type": "Account"}, "use target_kind 'account'"),
])
def test_a_decision_that_means_nothing_is_refused(change: dict[str, object],
                                                   message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _ring_decision(**change)


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", r"line 2, column 2: not JSON"),
    ("[1, 2]", "line 2: not a JSON object"),
    ('{"id": 5}', "line 2: field 'id' must be text, got 5"),
])
def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "decisions.jsonl"
    append_decision(_ring_decision(), path)
    with path.open("a") as out:
        out.write(line + "\n")
    with pytest.raises(DecisionsFileError, match=message) as err:
        read_decisions(path)
    assert str(path) in str(err.value)


def test_a_field_of_the_wrong_kind_is_named(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    record = _ring_decision().to_record()
    for field, value, message in (("decided_at", "yesterday", "ISO-8601 time"),
                                  ("members", [1], "list of account ids"),
                                  ("note", 3, "'note' must be text or null")):
        path.write_text(json.dumps({**record, field: value}) + "\n")
        with pytest.raises(DecisionsFileError, match=f"line 1: .*{message}"):
            read_decisions(path)


def test_a_repeated_line_counts_once_but_a_reused_id_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    decision = _ring_decision()
    append_decision(decision, path)
    append_decision(decision, path)
    assert read_decisions(path) == [decision]
    append_decision(replace(decision, target_id="r9"), path)
    with pytest.raises(DecisionsFileError, match="line 3: decision id .* already used"):
        read_decisions(path)


def test_a_decisions_file_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    path.mkdir()  # a folder where the file should be: the open fails
    with pytest.raises(OSError) as failure:
        append_decision(_ring_decision(), path)
    assert str(path) in str(failure.value) and "audit log" not in str(failure.value)
