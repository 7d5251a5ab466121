import pyarrow as pa
import pytest

from ingest.labels import LABELS_SCHEMA, LabelsError, read_labels
from ingest.mapping import MappingError, mapping_from_dict
from tests.ingest.helpers import write_csv

BASE = {"columns": {"account_id": "uid", "ts": "when", "event_type": "action"}}


def test_canonical_labels_file_needs_no_section(tmp_path):
    path = write_csv(tmp_path / "labels.csv", ["b,0", "a,1", "a,0", ",1"],
                     header="account_id,label")
    table = read_labels(path, None)
    assert table.schema == LABELS_SCHEMA
    assert table.column("account_id").to_pylist() == ["a", "b"]
    assert table.column("label").to_pylist() == [1, 0]  # any 1 wins
    assert table.column("ts").null_count == 2


def test_constant_label_and_ts_column(tmp_path):
    path = write_csv(tmp_path / "alerts.csv", ["1,x,2024-01-02", "2,y,1704103200"],
                     header="acct,kind,seen")
    mapping = mapping_from_dict({**BASE, "labels": {"account_id": "acct", "ts": "seen",
                                                    "constants": {"label": 1}}})
    table = read_labels(path, mapping)
    assert table.column("label").to_pylist() == [1, 1]
    assert [t.isoformat() for t in table.column("ts").to_pylist()] == [
        "2024-01-02T00:00:00+00:00", "2024-01-01T10:00:00+00:00"]


def test_boolean_labels_are_read(tmp_path):
    path = write_csv(tmp_path / "l.csv", ["a,True", "b,false"], header="account_id,label")
    assert read_labels(path, None).column("label").to_pylist() == [1, 0]


def test_a_label_that_is_not_0_or_1_is_an_error_naming_the_line(tmp_path):
    path = write_csv(tmp_path / "l.csv", ["a,1", "b,-1"], header="account_id,label")
    with pytest.raises(LabelsError, match=r"line 3: label '-1' is not 0 or 1"):
        read_labels(path, None)


def test_missing_labels_column_is_a_mapping_error(tmp_path):
    path = write_csv(tmp_path / "l.csv", ["a,1"], header="user,flag")
    with pytest.raises(MappingError, match="'user', 'flag'"):
        read_labels(path, None)
    mapping = mapping_from_dict({**BASE, "labels": {"account_id": "user", "label": "flagged"}})
    with pytest.raises(MappingError, match="labels.label"):
        read_labels(path, mapping)


def test_empty_labels_file(tmp_path):
    path = write_csv(tmp_path / "l.csv", [], header="account_id,label")
    assert read_labels(path, None) == pa.table(
        {n: pa.array([], t) for n, t in zip(LABELS_SCHEMA.names, LABELS_SCHEMA.types,
                                             strict=True)}
    )
