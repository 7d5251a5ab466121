import pytest

from ingest.event_labels import (
    ENTITY_LABELS_SCHEMA,
    EVENT_LABELS_SCHEMA,
    ContradictoryLabels,
    load_entity_labels,
    load_event_labels,
)
from ingest.labels import LabelsError
from ingest.mapping import MappingError, mapping_from_dict
from tests.ingest.helpers import write_csv

BASE = {"columns": {"account_id": "uid", "ts": "when", "event_type": "action"}}


def test_canonical_event_labels_need_no_section_and_ids_are_trimmed(tmp_path):
    path = write_csv(tmp_path / "e.csv", [" e2 ,0", "e1,1", "e1,1", ",1", "e3,"],
                     header="event_id,label")
    rows = load_event_labels(path, None)
    assert rows.table.schema == EVENT_LABELS_SCHEMA
    assert rows.table.column("event_id").to_pylist() == ["e1", "e2"]  # a repeat is fine
    assert rows.table.column("label").to_pylist() == [1, 0]
    assert (rows.without_label, rows.without_id, rows.lines_without_label) == (1, 1, (6,))
    assert rows.skipped == 2


def test_event_labels_section_with_values_and_known_at(tmp_path):
    path = write_csv(tmp_path / "cb.csv",
                     ["t1,chargeback,2024-01-05", "t1,chargeback,2024-01-02", "t2,ok,"],
                     header="txn,status,reported")
    mapping = mapping_from_dict({**BASE, "event_labels": {
        "event_id": "txn", "label": "status", "known_at": "reported",
        "values": {"chargeback": 1, "ok": 0}}})
    table = load_event_labels(path, mapping).table
    assert table.column("label").to_pylist() == [1, 0]
    known = table.column("known_at").to_pylist()
    assert known[0].isoformat() == "2024-01-02T00:00:00+00:00" and known[1] is None


def test_contradictory_event_labels_name_the_rows(tmp_path):
    path = write_csv(tmp_path / "e.csv", ["e1,1", "e2,1", "e1,0", "e2,1", "e3,0", "e3,1"],
                     header="event_id,label")
    with pytest.raises(ContradictoryLabels,
                       match=r"2 contradictory labels.*'e1' is 1 on line 2 and 0 on line 4; "
                             r"'e3' is 1 on line 7 and 0 on line 6"):
        load_event_labels(path, None)


def test_an_implausible_known_at_names_the_line(tmp_path):
    path = write_csv(tmp_path / "e.csv", ["e1,1,2024-01-01", "e2,1,1/1/15 18:52"],
                     header="event_id,label,known_at")
    mapping = mapping_from_dict({**BASE, "event_labels": {
        "event_id": "event_id", "label": "label", "known_at": "known_at"}})
    with pytest.raises(LabelsError, match=r"line 3: known_at '1/1/15 18:52' is not a time"):
        load_event_labels(path, mapping)


def test_a_label_that_is_not_0_or_1_names_the_line_and_the_section(tmp_path):
    path = write_csv(tmp_path / "e.csv", ["e1,1", "e2,fraud"], header="event_id,label")
    with pytest.raises(LabelsError, match=r"line 3: label 'fraud'.*event_labels: \{values"):
        load_event_labels(path, None)


def test_entity_labels_with_a_constant_node_type_of_an_extra_entity(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["T9,yes", "T1,no", "T1,no"], header="terminal,bad")
    mapping = mapping_from_dict({**BASE, "entities": {"Terminal": "term"}, "entity_labels": {
        "entity_id": "terminal", "label": "bad", "values": {"yes": 1, "no": 0},
        "constants": {"node_type": "Terminal"}}})
    table = load_entity_labels(path, mapping).table
    assert table.schema == ENTITY_LABELS_SCHEMA
    assert table.to_pydict() == {"node_type": ["Terminal", "Terminal"],
                                 "entity_id": ["T1", "T9"], "label": [0, 1],
                                 "known_at": [None, None]}


def test_entity_labels_with_a_node_type_column(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["Device,d1,1", "IP,d1,0", "PaymentMethod,c1,1"],
                     header="node_type,entity_id,label")
    table = load_entity_labels(path, None).table
    assert table.column("node_type").to_pylist() == ["Device", "IP", "PaymentMethod"]
    assert table.column("label").to_pylist() == [1, 0, 1]  # same id, other type: no clash


def test_an_unknown_node_type_is_an_error_naming_the_allowed_ones(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["Device,d1,1", "Terminal,t1,1"],
                     header="node_type,entity_id,label")
    with pytest.raises(LabelsError, match=r"line 3: node_type 'Terminal' is not a node type.*"
                                          r"allowed: Device, IP, PaymentMethod"):
        load_entity_labels(path, None)
    with pytest.raises(MappingError, match=r"constants.node_type 'Terminal'.*allowed: Device, "
                                           r"IP, PaymentMethod, Email"):
        mapping_from_dict({**BASE, "entities": {"Email": "mail"}, "entity_labels": {
            "entity_id": "t", "label": "l", "constants": {"node_type": "Terminal"}}})


def test_contradictory_entity_labels_name_the_rows(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["Device,d1,1", "Device,d1,0"],
                     header="node_type,entity_id,label")
    with pytest.raises(ContradictoryLabels, match=r"'Device:d1' is 1 on line 2 and 0 on line 3"):
        load_entity_labels(path, None)


def test_missing_columns_are_named(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["d1,1"], header="dev,flag")
    with pytest.raises(MappingError, match=r"lacks column 'entity_id'.*'entity_labels:'"):
        load_entity_labels(path, None)
    mapping = mapping_from_dict({**BASE, "entity_labels": {
        "entity_id": "dev", "label": "flag", "node_type": "kind"}})
    with pytest.raises(MappingError, match=r"entity_labels.node_type names source column 'kind'"):
        load_entity_labels(path, mapping)
    with pytest.raises(MappingError, match=r"event_labels.event_id is required"):
        mapping_from_dict({**BASE, "event_labels": {"label": "flag"}})
