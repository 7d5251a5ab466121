"""Analysts' decisions merged into a run's labels: a decision wins over a given label, each level
gets its own file, and the mapping keeps the sections of levels without decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from abusenet.cases.decisions import CONFIRMED, DISMISSED, append_decision, new_decision
from abusenet.pipeline.decision_labels import merge_decision_labels
from ingest.event_labels import load_entity_labels
from ingest.labels import read_labels
from ingest.mapping import load_mapping

MAPPING = {
    "columns": {"event_id": "id", "ts": "time", "account_id": "user", "event_type": "kind"},
    "entities": {"Terminal": "terminal"},
    "labels": {"account_id": "user", "label": "fraud"},
    "entity_labels": {"entity_id": "term", "label": "bad", "constants": {"node_type": "Terminal"}},
}
WHEN = datetime(2025, 2, 1, tzinfo=UTC)


@pytest.fixture
def given(tmp_path: Path) -> tuple[Path, Path, Path]:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(MAPPING))
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("user,fraud\nu1,1\nu2,0\nu3,0\n")
    terminals = tmp_path / "terminals.csv"
    terminals.write_text("term,bad\nt1,0\nt2,1\n")
    return mapping, accounts, terminals


def decide(path: Path, graph: str, decision: str, kind: str, target: str,
           target_type: str = "Account") -> None:
    append_decision(new_decision(graph=graph, decision=decision, target_kind=kind,
                                 target_type=target_type, target_id=target, analyst="kim",
                                 decided_at=WHEN), path)


def test_a_decision_wins_over_a_given_label_of_its_level(given, tmp_path):
    mapping, accounts, terminals = given
    decisions = tmp_path / "decisions.jsonl"
    decide(decisions, "cards", CONFIRMED, "account", "u2")       # was 0
    decide(decisions, "cards", CONFIRMED, "account", "u9")       # new
    decide(decisions, "cards", CONFIRMED, "entity", "t1", "Terminal")  # was 0
    decide(decisions, "other", DISMISSED, "account", "u1")       # another graph: ignored
    merged = merge_decision_labels(
        mapping, {"accounts": accounts, "events": None, "entities": terminals}, "cards",
        tmp_path / "work", decisions)
    assert merged.used == {"accounts": 2, "events": 0, "entities": 1}
    assert merged.overridden == {"accounts": 1, "events": 0, "entities": 1}
    assert "2 accounts, 0 events, 1 entities" in merged.describe()
    assert merged.files["events"] is None

    # the merged files read as canonical labels through the mapping copy
    copy = load_mapping(merged.mapping)
    assert copy.labels.columns["ts"] == "ts" and copy.entity_labels.columns["known_at"]
    assert [e.node_type for e in copy.entities] == ["Terminal"]
    labels = read_labels(merged.files["accounts"], copy).to_pandas().set_index("account_id")
    assert labels["label"].to_dict() == {"u1": 1, "u2": 1, "u3": 0, "u9": 1}
    assert labels.loc["u2", "ts"] == pd.Timestamp(WHEN)
    entities = load_entity_labels(merged.files["entities"], copy).table.to_pandas()
    assert dict(zip(entities["entity_id"], entities["label"], strict=True)) == {"t1": 1, "t2": 1}


def test_without_decisions_the_given_files_and_mapping_stay(given, tmp_path):
    mapping, accounts, terminals = given
    files = {"accounts": accounts, "events": None, "entities": terminals}
    merged = merge_decision_labels(mapping, files, "cards", tmp_path / "work",
                                   tmp_path / "none.jsonl")
    assert (merged.mapping, merged.files) == (mapping, files)
    decisions = tmp_path / "decisions.jsonl"
    decide(decisions, "cards", CONFIRMED, "account", "u3")
    merged = merge_decision_labels(mapping, files, "cards", tmp_path / "work", decisions)
    # only the account level changed: the entity labels keep their file and section
    assert merged.files["entities"] == terminals
    copy = load_mapping(merged.mapping)
    assert copy.entity_labels.constants == {"node_type": "Terminal"}
    assert copy.labels.columns["account_id"] == "account_id"


def test_a_broken_decisions_file_is_an_error_naming_the_line(given, tmp_path):
    mapping, accounts, _ = given
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text("not json\n")
    with pytest.raises(ValueError, match="line 1"):
        merge_decision_labels(mapping, {"accounts": accounts, "events": None,
                                        "entities": None}, "cards", tmp_path / "work", decisions)
