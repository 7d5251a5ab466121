"""Decisions -> account, event and entity labels: latest wins, rings label their members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from abusenet.cases.decisions import append_decision, new_decision
from abusenet.cases.labels import (
    ACCOUNT_LABELS_SCHEMA,
    ENTITY_LABELS_SCHEMA,
    EVENT_LABELS_SCHEMA,
    decisions_to_labels,
)

T0 = datetime(2024, 5, 1, tzinfo=UTC)
KIND_TYPES = {"ring": "Ring", "account": "Account", "event": "Event"}


def _day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def _decide(path: Path, day: int, decision: str, kind: str, target: str, *,
            members: tuple[str, ...] | None = None, graph: str = "shop") -> None:
    node_type, _, target_id = target.partition(":") if kind == "entity" else ("", "", target)
    append_decision(new_decision(
        graph=graph, decision=decision, target_kind=kind,
        target_type=node_type or KIND_TYPES[kind], target_id=target_id, analyst="kim",
        members=members, decided_at=_day(day)), path)


def _rows(table) -> list[tuple[object, ...]]:
    return [tuple(row.values()) for row in table.to_pylist()]


def test_each_level_gets_its_own_labels(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    _decide(path, 0, "confirmed", "account", "a1")
    _decide(path, 1, "dismissed", "account", "a2")
    _decide(path, 2, "confirmed", "event", "tx-1")
    _decide(path, 3, "dismissed", "event", "tx-2")
    _decide(path, 4, "confirmed", "entity", "Terminal:t:9")  # ids may hold ':'
    _decide(path, 5, "dismissed", "entity", "Device:d1")
    _decide(path, 6, "confirmed", "account", "other-graph", graph="bank")
    accounts, events, entities = decisions_to_labels(path, "shop")
    assert accounts.schema == ACCOUNT_LABELS_SCHEMA
    assert events.schema == EVENT_LABELS_SCHEMA and entities.schema == ENTITY_LABELS_SCHEMA
    assert _rows(accounts) == [("a1", 1, _day(0)), ("a2", 0, _day(1))]
    assert _rows(events) == [("tx-1", 1, _day(2)), ("tx-2", 0, _day(3))]
    assert _rows(entities) == [("Device", "d1", 0, _day(5)), ("Terminal", "t:9", 1, _day(4))]


def test_the_latest_decision_on_a_target_wins_whatever_the_file_order(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    _decide(path, 5, "dismissed", "account", "a1")
    _decide(path, 2, "confirmed", "account", "a1")  # appended later, decided earlier
    _decide(path, 1, "confirmed", "entity", "Device:d1")
    _decide(path, 3, "dismissed", "entity", "Device:d1")
    _decide(path, 3, "confirmed", "entity", "Device:d1")  # same instant: appended later wins
    accounts, _, entities = decisions_to_labels(path, "shop")
    assert _rows(accounts) == [("a1", 0, _day(5))]
    assert _rows(entities) == [("Device", "d1", 1, _day(3))]


def test_a_confirmed_ring_labels_its_members_from_its_earliest_standing_confirmation(
        tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    _decide(path, 1, "confirmed", "ring", "r1", members=("a1", "a2"))
    _decide(path, 2, "confirmed", "ring", "r2", members=("a2", "a3"))
    accounts, _, _ = decisions_to_labels(path, "shop")
    assert _rows(accounts) == [("a1", 1, _day(1)), ("a2", 1, _day(1)), ("a3", 1, _day(2))]


def test_a_dismissed_ring_labels_nobody_but_overrides_its_confirmation(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    _decide(path, 1, "confirmed", "ring", "r1", members=("a1", "a2"))
    _decide(path, 2, "dismissed", "ring", "r1", members=("a1", "a2"))
    _decide(path, 3, "dismissed", "ring", "r2", members=("a3",))
    accounts, _, _ = decisions_to_labels(path, "shop")
    assert accounts.num_rows == 0


def test_a_decision_on_the_account_beats_one_on_its_ring(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    _decide(path, 1, "dismissed", "account", "a1")
    _decide(path, 2, "confirmed", "ring", "r1", members=("a1", "a2"))
    _decide(path, 3, "confirmed", "account", "a3")
    _decide(path, 4, "dismissed", "ring", "r2", members=("a3",))
    accounts, _, _ = decisions_to_labels(path, "shop")
    assert _rows(accounts) == [("a1", 0, _day(1)), ("a2", 1, _day(2)), ("a3", 1, _day(3))]


def test_no_decision_about_the_graph_gives_empty_tables(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    _decide(path, 1, "confirmed", "account", "a1", graph="bank")
    tables = decisions_to_labels(path, "shop")
    assert [t.num_rows for t in tables] == [0, 0, 0]
    assert [t.schema for t in tables] == [ACCOUNT_LABELS_SCHEMA, EVENT_LABELS_SCHEMA,
                                          ENTITY_LABELS_SCHEMA]


def test_a_missing_file_says_how_decisions_are_made(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="abusenet case confirm"):
        decisions_to_labels(tmp_path / "none.jsonl", "shop")
