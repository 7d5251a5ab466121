"""abusenet.serve.validation: the Python path maps events exactly as the ingest's SQL does."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from abusenet.serve.validation import EventValidator, canonical_mapping
from ingest.mapping import load_mapping, mapping_from_dict
from ingest.run import ingest_logs
from ingest.state import IngestState
from ingest.store import QUARANTINE_FILE, event_files

NOW = datetime(2025, 2, 1, 12, tzinfo=UTC)
BASE = {"event_id": "e1", "ts": "2025-01-15T12:00:00Z", "account_id": "a1",
        "event_type": "login", "device_id": "d1", "ip": "10.1.2.3"}

#: Events the Python path takes (each must map as the SQL maps it).
PLAIN = [
    BASE,
    {**BASE, "ts": "2025-01-15 12:00:00.123456+05:30", "ip": "2001:db8::1"},
    {**BASE, "ts": "2025-01-15T23:59:59", "ip": None, "device_id": None},
    {**BASE, "event_type": "order", "amount": 38.35, "payment_id": "card_1"},
    {**BASE, "event_type": "transfer", "amount": 1e-05, "counterparty_id": "a2"},
    {**BASE, "amount": 7, "ip": "2001:DB8::2"},
    {**BASE, "amount": -0.0, "account_id": "quote's \"id\"; DROP TABLE x"},
    {**BASE, "amount": 1e16, "event_type": "Ünïcode"},
    {**BASE, "account_id": 12345, "device_id": True},
]
#: Events the SQL must decide (bad ones, or forms only the SQL reads).
OTHER = [
    {**BASE, "ts": "2025-01-15"},
    {**BASE, "ts": "1736942400"},
    {**BASE, "ts": "1/15/25 12:00"},
    {**BASE, "ts": "2025-13-15T12:00:00Z"},
    {**BASE, "ts": "1969-12-31T23:00:00Z"},
    {**BASE, "ts": "2030-01-01T00:00:00Z"},
    {**BASE, "ts": " 2025-01-15T12:00:00Z"},
    {**BASE, "ip": "732758368"},
    {**BASE, "ip": "300.1.1.1"},
    {**BASE, "ip": "01.2.3.4"},
    {**BASE, "amount": "1_000"},
    {**BASE, "amount": "NaN"},
    {**BASE, "amount": True},
    {**BASE, "amount": " 5"},
    {**BASE, "account_id": " a1 "},
    {**BASE, "account_id": ""},
    {**BASE, "event_type": None},
    {**BASE, "event_id": None},
    {**BASE, "device_id": {"nested": 1}},
    {**BASE, "device_id": "None"},  # words for a missing value are no ids: the SQL nulls them
    {**BASE, "device_id": "N/A"},
    {**BASE, "payment_id": "-", "event_type": "order"},
    {**BASE, "account_id": "unknown"},
    {**BASE, "ip": "0.0.0.0"},  # no IP
    {**BASE, "ip": "::"},
    {**BASE, "amount": 7, "ip": "::ffff:1.2.3.4"},  # read as 1.2.3.4 by the SQL
    {**BASE, "ts": "1970-01-01T00:00:00Z"},  # epoch 0: quarantined
]


@pytest.fixture(scope="module")
def validator() -> EventValidator:
    return EventValidator(canonical_mapping(IngestState()))


@pytest.mark.parametrize("event", PLAIN + OTHER)
def test_each_event_maps_as_the_sql_maps_it(validator, event):
    fast = validator.check([event], NOW)
    sql = validator.check([event], NOW, fast=False)
    assert fast.reasons == sql.reasons
    assert fast.events.equals(sql.events), (fast.events.to_pylist(), sql.events.to_pylist())


def test_plain_events_skip_the_sql_and_others_do_not(validator):
    assert validator._check_plain(PLAIN, NOW) is not None
    for event in OTHER:
        assert validator._check_plain([event], NOW) is None, event
    mixed = validator.check([*PLAIN, OTHER[8]], NOW)
    assert mixed.reasons[:-1] == [None] * len(PLAIN) and mixed.reasons[-1] == "malformed ip"


def test_a_mapping_timing_rows_by_their_lines_is_refused():
    """Served events carry their own time: a mapping whose times come from the rows' line
    numbers (``timestamps: {missing: row_order}``) would time a batch's events by position."""
    mapping = dataclasses.replace(canonical_mapping(IngestState()), row_order_times=True)
    with pytest.raises(ValueError, match="row_order"):
        EventValidator(mapping)


def test_a_mapping_of_several_sources_is_refused():
    """A ``sources:`` mapping keeps its columns per file; a posted event comes from no file, so
    serve names the problem instead of checking events against an empty column map."""
    root = Path(__file__).resolve().parents[3]
    with pytest.raises(ValueError, match="sources:"):
        EventValidator(load_mapping(root / "configs" / "mappings" / "three_sources.yaml"))


def test_a_mapping_with_a_timezone_reads_zoneless_times_as_its_wall_time():
    """The plain path reads a time without a zone as UTC; with the mapping's ``timezone`` the
    SQL reads it as that zone's wall time, as ``abusenet ingest`` does."""
    zoned = EventValidator(dataclasses.replace(canonical_mapping(IngestState()),
                                               timezone="America/New_York"))
    event = {"event_id": "tz1", "account_id": "a", "ts": "2025-01-15 10:00:00",
             "event_type": "login"}
    checked = zoned.check([event], NOW)
    assert checked.reasons == [None]
    assert checked.events.column("ts").to_pylist()[0] == datetime(2025, 1, 15, 15, tzinfo=UTC)


def test_a_mapping_with_a_decimal_comma_reads_posted_amounts_as_the_ingest_does():
    """The plain path reads 1.500 as 1.5; with ``decimal_mark: ","`` the SQL reads 1500."""
    comma = EventValidator(dataclasses.replace(canonical_mapping(IngestState()),
                                               decimal_mark=","))
    events = [{"event_id": f"d{i}", "account_id": "a", "ts": "2025-01-15T10:00:00Z",
               "event_type": "pay", "amount": amount}
              for i, amount in enumerate(["1.500", "2,5", "1.5"])]
    checked = comma.check(events, NOW)
    assert checked.events.column("amount").to_pylist()[:2] == [1500.0, 2.5]
    assert checked.reasons == [None, None, "non-numeric amount"]
    alone = comma.check(events[:1], NOW)  # plainly valid to the plain path, alone
    assert alone.events.column("amount").to_pylist() == [1500.0]


def test_a_mapping_with_a_value_map_maps_posted_events_as_the_ingest_does(tmp_path):
    """An attribute's ``values:`` map is applied by the SQL, never skipped by the plain path:
    posted events get the numbers, and the quarantine reasons, that ``abusenet ingest`` gives
    the same rows."""
    raw = {"columns": {"event_id": "id", "account_id": "user", "ts": "at",
                       "event_type": "action"},
           "attributes": {"result": {"values": {"success": 0, "bad_password": 1}}}}
    mapping = mapping_from_dict(raw, "values.yaml")
    posted = [{"id": f"e{i}", "user": "a1", "at": "2025-01-15T12:00:00Z", "action": "login",
               "result": result}
              for i, result in enumerate(["success", "Bad_Password", None, "timeout"])]
    validator = EventValidator(mapping)
    assert validator.plain(posted[:1], NOW) is None
    served = validator.check(posted, NOW)
    lines = [",".join(str(e[c] or "") for c in ("id", "user", "at", "action", "result"))
             for e in posted]
    log = tmp_path / "logins.csv"
    log.write_text("id,user,at,action,result\n" + "\n".join(lines) + "\n")
    ingest_logs(log, mapping, tmp_path / "events", max_bad_fraction=0.5, progress=False)
    stored = pd.concat(pd.read_parquet(p) for p in event_files(tmp_path / "events"))
    quarantine = pd.read_parquet(tmp_path / "events" / QUARANTINE_FILE)
    good = [(e["event_id"], e["result"]) for e, r in
            zip(served.events.to_pylist(), served.reasons, strict=True) if r is None]
    assert good == [("e0", 0.0), ("e1", 1.0), ("e2", None)]
    assert good == [(i, None if pd.isna(r) else r)
                    for i, r in zip(stored["event_id"], stored["result"], strict=True)]
    assert [r for r in served.reasons if r] == quarantine["reason"].tolist() == [
        "result: 'timeout' not in values:"]


def test_posted_ips_name_the_same_address_as_the_ingest_does():
    """One client, one IP node: IPv6 in lower case, ::ffff:1.2.3.4 as 1.2.3.4, a port dropped,
    on the plain path as in the SQL."""
    validator = EventValidator(canonical_mapping(IngestState()))
    for posted, stored in [("2001:DB8::1", "2001:db8::1"), ("::ffff:1.2.3.4", "1.2.3.4"),
                           ("1.2.3.4:443", "1.2.3.4"), ("[2001:db8::1]:443", "2001:db8::1")]:
        event = {**BASE, "ip": posted}
        checked = validator.check([event], NOW)
        assert checked.reasons == [None], posted
        assert checked.events.column("ip").to_pylist() == [stored], posted
