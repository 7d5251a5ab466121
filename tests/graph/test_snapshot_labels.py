import pandas as pd
import pytest

from graph.build import write_snapshot_files
from graph.snapshot import read_manifest
from graph.snapshot_labels import snapshot_labels
from ingest.labels import LabelsError


def test_given_labels_get_canonical_types_and_a_null_time(tmp_path):
    given = pd.DataFrame({"account_id": [7, 8], "label": [1, 0], "extra": ["x", "y"]})
    table = snapshot_labels(tmp_path, given, None)
    assert list(table.columns) == ["account_id", "label", "ts"]
    assert table["account_id"].tolist() == ["7", "8"]
    assert str(table["label"].dtype) == "int8"
    assert str(table["ts"].dtype) == "datetime64[us, UTC]" and table["ts"].isna().all()
    assert "extra" in given.columns and given["account_id"].tolist() == [7, 8]  # not changed


def test_no_labels_given_and_none_in_the_events_directory(tmp_path):
    assert snapshot_labels(tmp_path, None, None) is None


# --- event and entity labels --------------------------------------------------------------

@pytest.fixture(scope="module")
def events(tmp_path_factory):
    from tests.graph.test_build import ingest_rows

    return ingest_rows(tmp_path_factory.mktemp("events"))


def _event_ids(events) -> pd.DataFrame:
    return pd.read_parquet(events, columns=["event_id", "account_id", "ts", "event_type"])


def test_event_labels_are_matched_to_events_and_the_others_counted(events, tmp_path):
    ids = _event_ids(events).sort_values("ts")
    first, second = ids.iloc[0], ids.iloc[-1]
    given = pd.DataFrame({"event_id": [first.event_id, second.event_id, "nope"],
                          "label": [1, 0, 1]})
    manifest = write_snapshot_files(events, tmp_path / "snap", event_labels=given,
                                    progress=False)
    assert manifest["event_labels"] == {"file": "event_labels.parquet", "count": 2,
                                        "positives": 1, "unmatched": 1, "skipped": 0}
    kept = pd.read_parquet(tmp_path / "snap" / "event_labels.parquet")
    assert list(kept.columns) == ["event_id", "account_id", "ts", "label", "known_at"]
    row = kept.set_index("event_id").loc[first.event_id]
    assert (row.account_id, row.ts, row.label) == (first.account_id, first.ts, 1)
    assert read_manifest(tmp_path / "snap")["event_labels"]["unmatched"] == 1


def test_event_labels_naming_no_event_say_that_event_ids_must_be_mapped(events, tmp_path):
    given = pd.DataFrame({"event_id": ["txn-1", "txn-2"], "label": [1, 0]})
    with pytest.raises(LabelsError, match=r"none of the 2 event labels.*derived from their "
                                          r"content.*columns: \{event_id"):
        write_snapshot_files(events, tmp_path / "snap", event_labels=given, progress=False)
    assert not (tmp_path / "snap").exists()


def test_entity_labels_are_matched_by_type_and_id(events, tmp_path):
    given = pd.DataFrame({"node_type": ["Device", "Device", "IP", "PaymentMethod"],
                          "entity_id": ["d1", "d9", "1.2.3.4", "d1"], "label": [1, 0, 0, 1]})
    manifest = write_snapshot_files(events, tmp_path / "snap", entity_labels=given,
                                    progress=False)
    assert manifest["entity_labels"]["count"] == 2
    assert manifest["entity_labels"]["unmatched"] == 2
    assert manifest["entity_labels"]["unmatched_by_type"] == {"Device": 1, "PaymentMethod": 1}
    kept = pd.read_parquet(tmp_path / "snap" / "entity_labels.parquet")
    assert kept[["node_type", "entity_id", "label"]].values.tolist() == [
        ["Device", "d1", 1], ["IP", "1.2.3.4", 0]]


def test_a_build_without_event_or_entity_labels_writes_neither(events, tmp_path):
    manifest = write_snapshot_files(events, tmp_path / "snap", progress=False)
    assert "event_labels" not in manifest and "entity_labels" not in manifest
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == [
        "edges", "manifest.json", "nodes"]
