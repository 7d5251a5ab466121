"""Append-only JSON lines: one line per record, never rewritten, created private."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from abusenet.append_log import append_json_line, os_user


@pytest.mark.parametrize("sync", [False, True])
def test_records_are_appended_one_line_each_in_a_0600_file(tmp_path: Path, sync: bool) -> None:
    path = tmp_path / "new" / "log.jsonl"
    assert append_json_line({"a": 1, "text": "line\nbreak é"}, path, sync=sync) == path
    before = path.read_bytes()
    append_json_line({"a": 2}, path, sync=sync)
    assert path.read_bytes().startswith(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [{"a": 1, "text": "line\nbreak é"}, {"a": 2}]


def test_a_file_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.mkdir()
    with pytest.raises(OSError, match="log.jsonl"):
        append_json_line({"a": 1}, path)


def test_os_user_names_someone() -> None:
    assert os_user().strip()
