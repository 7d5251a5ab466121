import pytest

from ingest.mapping import MappingError, mapping_from_dict
from ingest.state import STATE_FILE, IngestState

BASE = {"columns": {"account_id": "uid", "ts": "when", "event_type": "action"}}


def test_state_round_trips_and_is_empty_when_absent(tmp_path):
    assert IngestState.load(tmp_path) == IngestState()
    state = IngestState()
    state.add_schema(mapping_from_dict({**BASE, "entities": {"Email": "mail"},
                                        "attributes": {"stars": "float"}}))
    state.files["abc:123"] = {"path": "x.csv", "rows_in": 3}
    state.save(tmp_path)
    assert IngestState.load(tmp_path) == state
    assert state.entities == {"Email": {"column": "email_id", "relation": "USED_EMAIL"}}
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]


def test_conflicting_entity_relation_is_refused():
    state = IngestState()
    state.add_schema(mapping_from_dict({**BASE, "entities": {"Email": "mail"}}))
    with pytest.raises(MappingError, match="USED_EMAIL"):
        state.add_schema(mapping_from_dict(
            {**BASE, "entities": {"Email": {"column": "mail", "relation": "HAS_EMAIL"}}}))


def test_failed_attempts_are_recorded_and_a_contradiction_refused(tmp_path):
    declared = {"result": {"values": {"ok": 0, "bad": 1, "locked": 2}, "failed": ["bad"]}}
    state = IngestState()
    state.add_schema(mapping_from_dict({**BASE, "attributes": declared}))
    assert state.failures == {"result": [1.0]}
    state.save(tmp_path)
    assert IngestState.load(tmp_path).failures == {"result": [1.0]}
    with pytest.raises(MappingError, match=r"attributes.result.failed reads as \[1.0, 2.0\]"):
        state.add_schema(mapping_from_dict({**BASE, "attributes": {"result": {
            "values": {"ok": 0, "bad": 1, "locked": 2}, "failed": ["bad", "locked"]}}}))
