from datetime import UTC, datetime

import pyarrow as pa
import pytest

from ingest.engine import connect
from ingest.mapping import mapping_from_dict
from ingest.readers import Chunk
from ingest.validate import (
    REASON_ACCOUNT,
    REASON_AMOUNT,
    REASON_EVENT_TYPE,
    REASON_IP,
    REASON_ROW_ORDER,
    REASON_TS,
    REASON_TS_AMBIGUOUS,
    REASON_TS_FUTURE,
    REASON_TS_ZERO,
    ROW_ORDER_MAX_LINES,
    event_schema,
    format_counts,
    transform_chunk,
    transform_sql,
)

COLUMNS = {"account_id": "uid", "ts": "when", "event_type": "action"}


#: The run's start in the tests that check the upper bound of plausible times.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def run(data: dict[str, list], columns: dict[str, str] | None = None,
        now: datetime | None = None, **extra) -> pa.Table:
    """Map and validate one hand-made chunk (``columns`` adds to the base mapping)."""
    mapping = mapping_from_dict({"columns": {**COLUMNS, **(columns or {})}, **extra})
    table = pa.table(data)
    chunk = Chunk(table, pa.array(range(1, table.num_rows + 1), pa.int64()))
    con = connect(keep_order=True)
    try:
        return transform_chunk(con, chunk, transform_sql(mapping, table.schema, now=now))
    finally:
        con.close()


def strings(n: int, value: str) -> list[str]:
    return [value] * n


UTC_10 = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "fmt", "expected"),
    [
        ("2024-01-01T10:00:00Z", None, UTC_10),
        ("2024-01-01T12:00:00+02:00", None, UTC_10),
        ("2024-01-01 10:00:00", None, UTC_10),
        (" 2024-01-01T10:00:00Z ", None, UTC_10),
        ("\u00a02024-01-01T10:00:00Z\u3000", None, UTC_10),  # Unicode spaces: trimmed
        (" 1704103200 ", None, UTC_10),
        ("1704103200", None, UTC_10),
        ("1704103200.0", None, UTC_10),
        ("1704103200000", None, UTC_10),
        ("01/01/2024 10h00", "%d/%m/%Y %Hh%M", UTC_10),
        ("1704103200000", "epoch_ms", UTC_10),
        ("1704103200000000", None, UTC_10),
        ("1704103200000000000", None, UTC_10),
        ("1704103200000000", "epoch_us", UTC_10),
        ("1704103200000000000", "epoch_ns", UTC_10),
        ("2024-13-01T10:00:00Z", None, None),
        ("yesterday", None, None),
        ("", None, None),
        ("2024-01-01T10:00:00Z", "%d/%m/%Y", None),
        ("1e300", None, None),
    ],
)
def test_timestamps_iso_epoch_and_formats(raw, fmt, expected):
    extra = {"timestamp_format": fmt} if fmt else {}
    out = run({"uid": ["a"], "when": [raw], "action": ["login"]}, **extra)
    assert out.column("ts").to_pylist() == [expected]
    assert out.column("_reason").to_pylist() == [None if expected else REASON_TS]


def test_typed_timestamps_and_epoch_numbers():
    stamps = pa.array([UTC_10.replace(tzinfo=None)], pa.timestamp("ms"))
    out = run({"uid": ["a"], "when": stamps, "action": ["x"]})
    assert out.column("ts").to_pylist() == [UTC_10]
    out = run({"uid": ["a", "b"], "when": pa.array([1704103200, 1704103200000]),
               "action": ["x", "x"]})
    assert out.column("ts").to_pylist() == [UTC_10, UTC_10]
    assert out.schema.field("ts").type == pa.timestamp("us", tz="UTC")


def test_each_bad_row_class_gets_its_reason():
    cols = {
        "uid": ["a", "", "c", "d", "e", "f", "g", "h"],
        "when": strings(8, "2024-01-01T10:00:00Z"),
        "action": ["pay", "pay", " ", "pay", "pay", "pay", "pay", "pay"],
        "amt": ["1.5", "1", "1", "12,5", "inf", "", "3", "4"],
        "ip": ["1.2.3.4", "", "", "", "", "300.1.2.3", "fe80::1ff:fe23:4567:890a", "1.2.3"],
    }
    out = run(cols, columns={"amount": "amt", "ip": "ip"})
    assert out.column("_reason").to_pylist() == [
        None, REASON_ACCOUNT, REASON_EVENT_TYPE, REASON_AMOUNT, REASON_AMOUNT, REASON_IP, None,
        REASON_IP,
    ]
    assert out.column("amount").to_pylist()[:1] == [1.5]
    assert out.column("_line").to_pylist() == list(range(1, 9))


@pytest.mark.parametrize(
    "ip", ["0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::8a2e:370:7334",
           "::ffff:192.168.0.1", "2001:0DB8:0000:0000:0000:0000:0000:0001"],
)
def test_valid_ips_pass(ip):
    out = run({"uid": ["a"], "when": ["2024-01-01"], "action": ["x"], "ip": [ip]},
              columns={"ip": "ip"})
    assert out.column("_reason").to_pylist() == [None]


@pytest.mark.parametrize("ip", ["256.1.1.1", "1.2.3.4.5", "01.2.3.4", "2001:::1", "abc", "1:2"])
def test_malformed_ips_are_rejected(ip):
    out = run({"uid": ["a"], "when": ["2024-01-01"], "action": ["x"], "ip": [ip]},
              columns={"ip": "ip"})
    assert out.column("_reason").to_pylist() == [REASON_IP]


def test_event_id_given_or_derived_from_content():
    cols = {"uid": ["a", "a", "a", "b"], "when": strings(4, "2024-01-01"),
            "action": ["x", "x", "y", "x"], "id": ["e1", "", "e3", "e4"]}
    given = run(cols, columns={"event_id": "id"}).column("event_id").to_pylist()
    assert given[0] == "e1" and given[2:] == ["e3", "e4"]
    derived = run(cols).column("event_id").to_pylist()
    assert derived[0] == derived[1] == given[1]  # same content, same id
    assert len(set(derived)) == 3
    assert derived == run(cols).column("event_id").to_pylist()  # deterministic


def test_constants_attributes_entities_and_float_ids():
    cols = {
        "uid": pa.array([12.0, 7.5]),
        "when": ["2024-01-01", "2024-01-01"],
        "action": ["x", "x"],
        "mail": ["a@x", ""],
        "rating": ["-3", "lots"],
    }
    out = run(cols, constants={"payment_id": "card-1"}, entities={"Email": "mail"},
              attributes={"rating": "float"})
    assert out.column("account_id").to_pylist() == ["12", "7.5"]
    assert out.column("payment_id").to_pylist() == ["card-1", "card-1"]
    assert out.column("email_id").to_pylist() == ["a@x", None]
    assert out.column("rating").to_pylist() == [-3.0, None]
    assert out.column("_reason").to_pylist() == [None, "non-numeric rating"]


def test_words_for_a_missing_value_are_no_ids():
    # 'None' as a device id would be one device shared by every account without one
    words = ["None", "NULL", "nan", "N/A", " - ", "undefined", "Unknown", "nil", "Nonexistent"]
    n = len(words)
    out = run({"uid": ["a"] * n, "when": ["2024-01-01"] * n, "action": ["x"] * n,
               "dev": words, "ip": ["0.0.0.0", "::", "0", "None"] + ["1.2.3.4"] * (n - 4),
               "mail": words},
              columns={"device_id": "dev", "ip": "ip"}, entities={"Email": "mail"})
    assert out.column("device_id").to_pylist() == [None] * (n - 1) + ["Nonexistent"]
    assert out.column("email_id").to_pylist() == [None] * (n - 1) + ["Nonexistent"]
    assert out.column("ip").to_pylist() == [None] * 4 + ["1.2.3.4"] * (n - 4)
    assert out.column("_reason").to_pylist() == [None] * n
    out = run({"uid": ["None", "b"], "when": ["2024-01-01"] * 2, "action": ["x", "null"]})
    assert out.column("_reason").to_pylist() == [REASON_ACCOUNT, REASON_EVENT_TYPE]


def test_an_id_that_is_a_list_is_quarantined_and_an_empty_one_is_missing():
    # JSON arrays read as text, and pandas' repr of a list column: '[]' in every row without
    # a device would be one device shared by all of them
    devs = ['["d1", "d2"]', "['d1', 'd2']", '["d1"]', "[]", "{}", '{"id":"d9"}', "d[1]", "[d1",
            "[bot]", "[deleted]"]
    n = len(devs)
    out = run({"uid": ["a"] * n, "when": ["2024-01-01"] * n, "action": ["x"] * n, "dev": devs,
               "mail": ["m"] * (n - 1) + ["[a, b]"]},
              columns={"device_id": "dev"}, entities={"Email": "mail"})
    assert out.column("device_id").to_pylist()[3:] == [
        None, None, '{"id":"d9"}', "d[1]", "[d1", "[bot]", None]
    assert out.column("_reason").to_pylist() == (
        ["device_id holds a list, not one id"] * 3 + [None] * 6
        + ["email_id holds a list, not one id"])
    # Reddit's gone authors: a missing actor (quarantined as such), a missing counterparty
    out = run({"uid": ["[deleted]", "u1"], "when": ["2024-01-01"] * 2, "action": ["x"] * 2,
               "peer": ["u1", "[removed]"]}, columns={"counterparty_id": "peer"})
    assert out.column("_reason").to_pylist() == ["empty account_id", None]
    assert out.column("counterparty_id").to_pylist() == ["u1", None]
    out = run({"uid": ["[1, 2]"], "when": ["2024-01-01"], "action": ["x"], "id": ["[]"]},
              columns={"event_id": "id"})
    assert out.column("_reason").to_pylist() == ["account_id holds a list, not one id"]


def test_boolean_flags_are_numeric_attributes():
    # a login log's success flag: stored booleans (Parquet, JSON) and their texts (CSV)
    for ok in (pa.array([True, False, None]), ["true", "FALSE", ""]):
        out = run({"uid": ["a", "b", "c"], "when": ["2024-01-01"] * 3, "action": ["x"] * 3,
                   "ok": ok}, attributes={"ok": "float"})
        assert out.column("ok").to_pylist() == [1.0, 0.0, None]
        assert out.column("_reason").to_pylist() == [None] * 3
    out = run({"uid": ["a"], "when": ["2024-01-01"], "action": ["x"], "ok": ["yes"]},
              attributes={"ok": "float"})
    assert out.column("_reason").to_pylist() == ["non-numeric ok"]


def test_a_decimal_comma_reads_european_amounts_and_nothing_ambiguous():
    # a German export: 1.234,56; with decimal_mark "," a "." only groups thousands
    texts = ["1.234,56", "-0,5", "12", "1.234.567", "+3,25", "", "1.5", "1,2,3", "12.50",
             "1234,5.6"]
    n = len(texts)
    out = run({"uid": ["a"] * n, "when": ["2024-01-01"] * n, "action": ["x"] * n,
               "amt": texts, "fee": texts},
              columns={"amount": "amt"}, attributes={"fee": "float"}, decimal_mark=",")
    numbers = [1234.56, -0.5, 12.0, 1234567.0, 3.25, None, None, None, None, None]
    assert out.column("amount").to_pylist() == numbers
    assert out.column("fee").to_pylist() == numbers
    assert out.column("_reason").to_pylist() == [None] * 6 + [REASON_AMOUNT] * 4
    # stored numbers keep their value whatever the mark; the default reads no comma
    out = run({"uid": ["a", "b"], "when": ["2024-01-01"] * 2, "action": ["x"] * 2,
               "amt": pa.array([1.5, 2.0])}, columns={"amount": "amt"}, decimal_mark=",")
    assert out.column("amount").to_pylist() == [1.5, 2.0]
    out = run({"uid": ["a"], "when": ["2024-01-01"], "action": ["x"], "amt": ["1,5"]},
              columns={"amount": "amt"})
    assert out.column("_reason").to_pylist() == [REASON_AMOUNT]


def test_event_schema_lists_canonical_then_extra_columns():
    mapping = mapping_from_dict({"columns": COLUMNS, "entities": {"Email": "mail"},
                                 "attributes": {"rating": "float", "note": "string"}})
    schema = event_schema(mapping)
    assert schema.names == [
        "event_id", "ts", "account_id", "event_type", "device_id", "ip", "payment_id",
        "counterparty_id", "amount", "email_id", "rating", "note",
    ]
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("rating").type == pa.float64()


def reasons_of(times: list, now: datetime = NOW, **extra) -> list[str | None]:
    out = run({"uid": ["a"] * len(times), "when": times, "action": ["x"] * len(times)},
              now=now, **extra)
    return out.column("_reason").to_pylist()


def test_two_digit_years_are_ambiguous_without_a_format_never_the_year_1():
    # DuckDB's cast reads '1/1/15 18:52' as 0001-01-15 18:52 and '99-12-31' as the year 99.
    times = ["1/1/15 18:52", "12/1/15 9:00", "99-12-31", "15-01-01 10:00", "2015-01-01 18:52"]
    assert reasons_of(times) == [REASON_TS_AMBIGUOUS] * 4 + [None]


def test_row_order_times_are_line_numbers_in_hours():
    mapping = mapping_from_dict({"columns": {"account_id": "uid", "event_type": "action"},
                                 "timestamps": {"missing": "row_order"}})
    table = pa.table({"uid": ["a", "b", "c"], "action": ["x"] * 3})
    lines = pa.array([2, 3, ROW_ORDER_MAX_LINES + 1], pa.int64())
    con = connect(keep_order=True)
    try:
        out = transform_chunk(con, Chunk(table, lines), transform_sql(mapping, table.schema))
    finally:
        con.close()
    assert out.column("ts").to_pylist()[:2] == [datetime(1970, 1, 1, 2, tzinfo=UTC),
                                                datetime(1970, 1, 1, 3, tzinfo=UTC)]
    assert out.column("_reason").to_pylist() == [None, None, REASON_ROW_ORDER]


def test_a_timezone_reads_times_that_carry_none_as_its_wall_time():
    # New York is UTC-5 in winter: 10:00 local is 15:00 UTC
    raw = ["2024-01-01 10:00:00", "2024-01-01", "2024-01-01T10:00:00Z",
           "2024-01-01T10:00:00+02:00", "2024-01-01 10:00:00 UTC", "1704103200"]
    out = run({"uid": ["a"] * 6, "when": raw, "action": ["x"] * 6},
              timezone="America/New_York")
    assert out.column("ts").to_pylist() == [
        datetime(2024, 1, 1, 15, tzinfo=UTC), datetime(2024, 1, 1, 5, tzinfo=UTC),
        UTC_10, datetime(2024, 1, 1, 8, tzinfo=UTC), UTC_10, UTC_10]
    out = run({"uid": ["a"], "when": ["01/01/2024 10:00"], "action": ["x"]},
              timezone="Asia/Kolkata", timestamp_format="%d/%m/%Y %H:%M")
    assert out.column("ts").to_pylist() == [datetime(2024, 1, 1, 4, 30, tzinfo=UTC)]
    stamps = pa.array([datetime(2024, 7, 1, 10)], pa.timestamp("us"))
    out = run({"uid": ["a"], "when": stamps, "action": ["x"]}, timezone="Europe/Berlin")
    assert out.column("ts").to_pylist() == [datetime(2024, 7, 1, 8, tzinfo=UTC)]


def test_a_two_digit_year_with_its_format_is_read():
    out = run({"uid": ["a", "b"], "when": ["1/1/15 18:52", "1/13/15 8:05"],
               "action": ["x", "x"]}, timestamp_format="%m/%d/%y %H:%M")
    assert out.column("_reason").to_pylist() == [None, None]
    assert out.column("ts").to_pylist() == [datetime(2015, 1, 1, 18, 52, tzinfo=UTC),
                                            datetime(2015, 1, 13, 8, 5, tzinfo=UTC)]


def test_times_before_1970_or_over_a_day_ahead_are_quarantined():
    times = ["1969-12-31T23:59:59Z", "1970-01-01T00:00:01Z", "-1", "0015-01-01",
             "2026-06-02T11:59:00Z", "2026-06-02T12:01:00Z", "2100-01-01"]
    assert reasons_of(times) == ["ts before 1970-01-01", None, "ts before 1970-01-01",
                                 "ts before 1970-01-01", None, REASON_TS_FUTURE,
                                 REASON_TS_FUTURE]


def test_epoch_zero_is_a_missing_time_in_any_form():
    # AMLSim's accounts.csv: open_dt 0 for every account (the simulation's first step)
    times = ["0", "0.0", "1970-01-01T00:00:00Z", "1970-01-01", "1"]
    assert reasons_of(times) == [REASON_TS_ZERO] * 4 + [None]
    out = run({"uid": ["a"], "when": pa.array([0]), "action": ["x"]}, now=NOW)
    assert out.column("_reason").to_pylist() == [REASON_TS_ZERO]
    assert reasons_of(["0"], timestamps={"min": "1900-01-01"}) == [REASON_TS_ZERO]


def test_an_explicit_format_that_reads_an_early_year_is_quarantined():
    assert reasons_of(["15-01-01"], timestamp_format="%Y-%m-%d") == ["ts before 1970-01-01"]


def test_typed_times_are_bounded_too():
    stamps = pa.array([datetime(1960, 1, 1), datetime(2024, 1, 1), datetime(2030, 1, 1)],
                      pa.timestamp("us"))
    out = run({"uid": ["a", "b", "c"], "when": stamps, "action": ["x"] * 3}, now=NOW)
    assert out.column("_reason").to_pylist() == ["ts before 1970-01-01", None, REASON_TS_FUTURE]


def test_the_mapping_widens_the_plausible_range():
    times = ["1950-06-01", "2100-01-01", "1899-12-31"]
    extra = {"timestamps": {"min": "1900-01-01", "max_future": None}}
    assert reasons_of(times, **extra) == [None, None, "ts before 1900-01-01"]
    ahead = {"timestamps": {"max_future": "400 days"}}
    assert reasons_of(["2027-06-01", "2027-07-10"], **ahead) == [None, REASON_TS_FUTURE]


def test_the_future_bound_follows_the_run_start_not_the_clock():
    assert reasons_of(["2030-01-01"], now=datetime(2029, 12, 31, 12, tzinfo=UTC)) == [None]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("732758368", "43.173.1.96"), (" 16777216 ", "1.0.0.0"), ("4294967295", "255.255.255.255"),
     ("3232235777", "192.168.1.1"), ("1.2.3.4", "1.2.3.4"), ("::1", "::1")],
)
def test_ipv4_exported_as_a_number_is_read_as_its_address(raw, expected):
    out = run({"uid": ["a"], "when": ["2024-01-01"], "action": ["x"], "ip": [raw]},
              columns={"ip": "ip"})
    assert out.column("_reason").to_pylist() == [None]
    assert out.column("ip").to_pylist() == [expected]


@pytest.mark.parametrize(("raw", "expected"), [
    ("1.2.3.4:443", "1.2.3.4"), ("[2001:db8::1]:8080", "2001:db8::1"), ("[::1]", "::1"),
    ("2001:DB8::1", "2001:db8::1"), ("::ffff:1.2.3.4", "1.2.3.4"), ("::FFFF:1.2.3.4", "1.2.3.4"),
    ("[::]:80", None), ("0.0.0.0:80", None), ("::ffff:0.0.0.0", None)])
def test_one_client_is_one_ip_whatever_the_port_case_or_ipv6_wrapping(raw, expected):
    # a load balancer's client:port, a dual-stack socket's ::ffff:, IPv6 in capitals
    out = run({"uid": ["a"], "when": ["2024-01-01"], "action": ["x"], "ip": [raw]},
              columns={"ip": "ip"})
    assert out.column("ip").to_pylist() == [expected]
    assert out.column("_reason").to_pylist() == [None]


@pytest.mark.parametrize("raw", ["4294967296", "-1", "732758368.5", "12345678901", "5",
                                 "16777215"])
def test_numbers_that_are_no_ipv4_address_stay_malformed(raw):
    out = run({"uid": ["a"], "when": ["2024-01-01"], "action": ["x"], "ip": [raw]},
              columns={"ip": "ip"})
    assert out.column("_reason").to_pylist() == [REASON_IP]


@pytest.mark.parametrize("values", [pa.array([732758368], pa.int64()),
                                    pa.array([732758368.0], pa.float64())])
def test_numeric_ip_columns_are_read_as_addresses(values):
    out = run({"uid": ["a"], "when": ["2024-01-01"], "action": ["x"], "ip": values},
              columns={"ip": "ip"})
    assert out.column("ip").to_pylist() == ["43.173.1.96"]


def test_format_counts_rank_formats_and_keep_ties():
    mapping = mapping_from_dict({"columns": COLUMNS})
    con = connect()
    try:
        tie = format_counts(con, ["1/2/15 18:52", "3/4/15 09:00"], mapping, NOW)
        clear = format_counts(con, ["1/2/15 18:52", "1/13/15 09:00"], mapping, NOW)
        none = format_counts(con, ["soon", "1/2/3/4"], mapping, NOW)
    finally:
        con.close()
    assert list(tie.items())[:2] == [("%m/%d/%y %H:%M", 2), ("%d/%m/%y %H:%M", 2)]
    assert list(clear.items())[0] == ("%m/%d/%y %H:%M", 2)
    assert clear["%d/%m/%y %H:%M"] == 1
    assert none == {}


def test_rfc_2822_times_of_http_and_mail_logs_are_suggested_and_read():
    mapping = mapping_from_dict({"columns": COLUMNS})
    con = connect()
    try:
        found = format_counts(con, ["Mon, 01 Jan 2024 10:00:00 GMT",
                                    "Tue, 02 Jan 2024 12:00:00 +0200"], mapping, NOW)
    finally:
        con.close()
    assert found == {"%a, %d %b %Y %H:%M:%S %Z": 1, "%a, %d %b %Y %H:%M:%S %z": 1}
    out = run({"uid": ["a"], "when": ["Mon, 01 Jan 2024 10:00:00 GMT"], "action": ["x"]},
              timestamp_format="%a, %d %b %Y %H:%M:%S %Z")
    assert out.column("ts").to_pylist() == [UTC_10]
