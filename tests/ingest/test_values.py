"""Attributes given as ``{values: {text: number}}``: a text column mapped to numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from ingest.mapping import MappingError, mapping_from_dict
from ingest.store import QUARANTINE_FILE
from tests.ingest.helpers import events_table, ingest, log_mapping, write_csv

RESULT = {"values": {"success": 0, "Bad_Password": 1, "locked": 1.5, 401: 1}}
HEADER = "uid,when,action,amt,ipaddr,dev,card,peer,note,result"


def test_a_value_map_makes_a_float_attribute_with_lower_case_keys():
    mapping = log_mapping(attributes={"result": RESULT, "note": "string"})
    assert mapping.attributes == {"result": "float", "note": "string"}
    assert mapping.attribute_values == {
        "result": {"success": 0.0, "bad_password": 1.0, "locked": 1.5, "401": 1.0}}
    plain = log_mapping(attributes={"result": "float", "note": "string"})
    assert plain.attribute_values == {}
    other = log_mapping(attributes={"result": {"values": {"success": 1}}, "note": "string"})
    assert len({mapping.fingerprint(), plain.fingerprint(), other.fingerprint()}) == 3


@pytest.mark.parametrize(("values", "match"), [
    ({}, "non-empty dictionary"),
    (["success"], "non-empty dictionary"),
    ({"success": "zero"}, "not a finite number"),
    ({"success": True}, "not a finite number"),
    ({"success": float("nan")}, "not a finite number"),
    ({True: 1}, "quote it"),
    ({" ": 1}, "must be a text"),
    ({"OK": 0, "ok": 1}, "two keys read as 'ok'"),
])
def test_bad_value_maps_are_refused_naming_the_attribute(values, match):
    with pytest.raises(MappingError, match=f"attributes.result.values.*{match}"):
        log_mapping(attributes={"result": {"values": values}})


def test_a_value_map_takes_no_other_key():
    with pytest.raises(MappingError, match="attributes.result."):
        log_mapping(attributes={"result": {"values": {"a": 1}, "type": "float"}})
    with pytest.raises(MappingError, match="float | string | {values"):
        log_mapping(attributes={"result": "number"})


def test_texts_are_mapped_and_a_text_the_map_lacks_is_quarantined(tmp_path):
    rows = ["a1,2024-01-01T10:00:00Z,login,,,d1,,,,success",
            "a1,2024-01-01T10:05:00Z,login,,,d1,,,, BAD_password ",
            "a2,2024-01-01T11:00:00Z,login,,,d1,,,,401",
            "a2,2024-01-01T11:05:00Z,login,,,d1,,,,null",
            "a2,2024-01-01T11:10:00Z,login,,,d1,,,,",
            "a3,2024-01-01T12:00:00Z,login,,,d2,,,,timeout"]
    src = write_csv(tmp_path / "logins.csv", rows, header=HEADER)
    summary = ingest(src, tmp_path / "events", log_mapping(attributes={"result": RESULT}),
                     max_bad_fraction=0.5)
    assert (summary.accepted, summary.quarantined) == (5, 1)
    events = events_table(tmp_path / "events").sort_values("ts")
    assert events["result"].tolist()[:3] == [0.0, 1.0, 1.0]
    assert events["result"].isna().tolist()[3:] == [True, True]
    quarantine = pd.read_parquet(tmp_path / "events" / QUARANTINE_FILE)
    assert quarantine["reason"].tolist() == ["result: 'timeout' not in values:"]


def test_sources_may_map_one_attribute_by_values_in_one_and_as_a_number_in_another():
    logins = {"files": "logins*.csv", "columns": {"account_id": "u", "ts": "t"},
              "constants": {"event_type": "login"}, "attributes": {"result": RESULT}}
    api = {"files": "api*.csv", "columns": {"account_id": "u", "ts": "t"},
           "constants": {"event_type": "call"}, "attributes": {"result": "float"}}
    mapping = mapping_from_dict({"sources": {"logins": logins, "api": api}})
    assert mapping.attributes == {"result": "float"}
    assert mapping.sources[0].mapping.attribute_values["result"]["success"] == 0.0
    with pytest.raises(MappingError, match="'float' in another source"):
        mapping_from_dict({"sources": {"logins": logins,
                                       "api": {**api, "attributes": {"result": "string"}}}})


def test_failed_names_the_texts_that_are_failed_attempts():
    failed = {**RESULT, "failed": ["BAD_password", "locked", 401]}
    mapping = log_mapping(attributes={"result": failed, "note": "string"})
    assert mapping.attribute_failures == {"result": (1.0, 1.5)}
    assert log_mapping(attributes={"result": RESULT, "note": "string"}).attribute_failures == {}
    # the events are the same: the fingerprint does not change
    assert mapping.fingerprint() == log_mapping(
        attributes={"result": RESULT, "note": "string"}).fingerprint()


@pytest.mark.parametrize(("failed", "match"), [
    ([], "non-empty list"),
    ({"bad_password": 1}, "non-empty list"),
    (["wrong"], "'wrong' is not a text of the 'values:' map"),
    # 401 has bad_password's number but is not named failed
    (["bad_password"], "'401' has the number of a failed attempt"),
])
def test_bad_failed_lists_are_refused_naming_the_attribute(failed, match):
    with pytest.raises(MappingError, match=f"attributes.result.failed.*{match}"):
        log_mapping(attributes={"result": {**RESULT, "failed": failed}})
