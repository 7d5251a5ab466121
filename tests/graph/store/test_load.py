"""The front door of a load: the modes, and which path ``auto`` takes."""

import pytest

from graph.store import load_snapshot

from .helpers import RecordingRunner, investigation_snapshot


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        load_snapshot(RecordingRunner(), investigation_snapshot(), mode="fast")


def test_auto_mode_uses_the_driver_without_a_local_server() -> None:
    summary = load_snapshot(RecordingRunner(), investigation_snapshot(), progress=False)
    assert summary.mode == "driver"


def test_auto_mode_bulk_imports_only_a_big_first_load_on_a_local_server(monkeypatch) -> None:
    from graph.store import load

    runner = RecordingRunner()  # answers 0 to "count(n)": an empty database
    snapshot = investigation_snapshot()
    assert not load._bulk_fits(runner, snapshot)  # no local server behind it
    runner.server = object()
    monkeypatch.setattr(load, "BULK_MIN_RELATIONSHIPS", 10)
    assert not load._bulk_fits(runner, snapshot)  # 9 relationships
    monkeypatch.setattr(load, "BULK_MIN_RELATIONSHIPS", 9)
    assert load._bulk_fits(runner, snapshot)
