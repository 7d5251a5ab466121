import pyarrow as pa
import pytest

from ingest.labels import LABELS_SCHEMA, LabelsError, load_labels, read_labels
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


def test_numeric_translations_match_the_files_spelling_of_the_number(tmp_path):
    # Bitcoin-OTC's otc_gt.csv says '+1'; YAML's {-1: 1, 1: 0} has the keys '-1' and '1'
    path = write_csv(tmp_path / "gt.csv", ["a,+1", "b,-1", "c,1.0", "d, -1 "],
                     header="node,label")
    mapping = mapping_from_dict({**BASE, "labels": {"account_id": "node", "label": "label",
                                                    "values": {-1: 1, 1: 0}}})
    table = read_labels(path, mapping)
    assert dict(zip(table.column("account_id").to_pylist(),
                    table.column("label").to_pylist(), strict=True)) == {
        "a": 0, "b": 1, "c": 0, "d": 1}


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


def test_empty_label_values_are_skipped_and_counted_never_given_a_class(tmp_path):
    path = write_csv(tmp_path / "l.csv", ["a,1", "b,", "c, ", "d,0", ",1", "b,0"],
                     header="account_id,label")
    rows = load_labels(path, None)
    assert rows.table.column("account_id").to_pylist() == ["a", "b", "d"]
    assert rows.table.column("label").to_pylist() == [1, 0, 0]  # b: from its line 7 only
    assert (rows.without_label, rows.without_account) == (2, 1)
    assert rows.lines_without_label == (3, 4)
    assert rows.describe_skipped() == \
        "2 rows without a label value (lines 3, 4) and 1 without an account id skipped"


def test_an_explicit_translation_of_the_empty_value_is_honoured(tmp_path):
    path = write_csv(tmp_path / "l.csv", ["a,yes", "b,"], header="account_id,label")
    mapping = mapping_from_dict({**BASE, "labels": {"account_id": "account_id",
                                                    "label": "label",
                                                    "values": {"yes": 1, "": 0}}})
    rows = load_labels(path, mapping)
    assert rows.table.column("label").to_pylist() == [1, 0]
    assert rows.without_label == 0


def test_unknown_label_values_are_listed_without_advising_a_class(tmp_path):
    path = write_csv(tmp_path / "l.csv", ["a,fraud", "b,", "c,ok", "d,fraud"],
                     header="account_id,label")
    with pytest.raises(LabelsError) as err:
        read_labels(path, None)
    text = str(err.value)
    assert "line 2: label 'fraud' is not 0 or 1 (other such values: 'ok')" in text
    assert "'fraud': <1 or 0>" in text and "'': 1" not in text and "'fraud': 1}" not in text


@pytest.mark.parametrize(("value", "line"), [("1/1/15", 3), ("1960-01-01", 3), ("2999-01-01", 3),
                                             ("someday", 3)])
def test_an_implausible_label_time_is_an_error_naming_the_line(tmp_path, value, line):
    path = write_csv(tmp_path / "l.csv", ["a,1,2024-01-02", f"b,0,{value}", "c,1,"],
                     header="acct,label,seen")
    mapping = mapping_from_dict({**BASE, "labels": {"account_id": "acct", "label": "label",
                                                    "ts": "seen"}})
    with pytest.raises(LabelsError, match=rf"line {line}: ts '{value}' is not a time from "
                                          "1970-01-01"):
        read_labels(path, mapping)


def test_label_times_in_a_format_of_their_own_are_read_with_the_sections_timestamp_format(
        tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("acct,flag,seen\na1,1,07.12.2023\na2,0,08.12.2023\n")
    raw = {"columns": {"account_id": "u", "ts": "t"}, "constants": {"event_type": "x"},
           "labels": {"account_id": "acct", "label": "flag", "ts": "seen"}}
    with pytest.raises(LabelsError, match=r"unless 'labels.timestamp_format' says their format"):
        load_labels(path, mapping_from_dict(raw))
    raw["labels"]["timestamp_format"] = "%d.%m.%Y"
    table = load_labels(path, mapping_from_dict(raw)).table.to_pandas()
    assert table["ts"].dt.day.tolist() == [7, 8] and table["ts"].dt.month.tolist() == [12, 12]
