import pandas as pd

from graph.snapshot_labels import snapshot_labels


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
