"""ingest.run: the whole ingest stage end to end (row accounting, incremental runs, atomicity)."""

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

import ingest.readers as readers
import ingest.run as run
from ingest.mapping import MappingError, load_mapping, mapping_from_dict
from ingest.run import TooManyBadRows
from ingest.state import STATE_FILE
from ingest.store import count_events, event_files
from tests.ingest.helpers import (
    HEADER,
    ROWS,
    events_table,
    ingest,
    log_mapping,
    snapshot_of,
    write_csv,
)

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
ROOT = Path(__file__).resolve().parents[2]


def test_accounting_identity_with_bad_rows_and_duplicates(tmp_path):
    rows = ROWS + [
        ROWS[0],                                            # duplicate of line 2
        "a4,not-a-time,login,,,,,,",                        # unparseable ts
        ",2024-01-01T12:00:00Z,login,,,,,,",                # empty account
        "a5,2024-01-01T12:00:00Z,payment,ten,,,,,",         # non-numeric amount
        "a6,2024-01-01T12:00:00Z,login,,999.1.1.1,,,,",     # malformed ip
    ]
    src = write_csv(tmp_path / "day1.csv", rows)
    summary = ingest(src, tmp_path / "events", max_bad_fraction=0.5)
    assert (summary.rows_in, summary.accepted, summary.quarantined, summary.duplicates) == \
        (9, 4, 4, 1)
    assert summary.balanced
    assert summary.reasons == {"unparseable ts": 1, "empty account_id": 1,
                               "non-numeric amount": 1, "malformed ip": 1}
    assert summary.events_total == count_events(tmp_path / "events") == 4
    text = str(summary)
    assert "9 rows in = 4 accepted + 4 quarantined + 1 duplicates removed" in text

    quarantine = pd.read_parquet(tmp_path / "events" / "quarantine.parquet")
    assert quarantine["line"].tolist() == [7, 8, 9, 10]
    assert set(quarantine["source_file"]) == {str(src.resolve())}
    assert quarantine["reason"].tolist() == ["unparseable ts", "empty account_id",
                                             "non-numeric amount", "malformed ip"]
    assert quarantine["when"].tolist()[0] == "not-a-time"
    assert quarantine["amt"].tolist()[2] == "ten"


def test_reingesting_the_same_files_changes_nothing(tmp_path):
    src = write_csv(tmp_path / "day1.csv", ROWS + ["x,bad-ts,login,,,,,,"])
    first = ingest(src, tmp_path / "events", max_bad_fraction=0.5)
    before = snapshot_of(tmp_path / "events")
    again = ingest(src, tmp_path / "events", max_bad_fraction=0.5)
    assert (again.files_new, again.files_skipped, again.rows_in) == (0, 1, 0)
    assert again.events_total == first.events_total == 4
    after = snapshot_of(tmp_path / "events")
    assert {k: v for k, v in after.items() if k != STATE_FILE} == \
        {k: v for k, v in before.items() if k != STATE_FILE}


def test_same_rows_in_a_renamed_file_are_all_duplicates(tmp_path):
    ingest(write_csv(tmp_path / "day1.csv", ROWS), tmp_path / "events")
    copy = write_csv(tmp_path / "copy.csv.gz", ROWS)
    summary = ingest(copy, tmp_path / "events")
    assert (summary.files_new, summary.rows_in, summary.accepted, summary.duplicates) == \
        (1, 4, 0, 4)
    assert summary.events_total == 4


def test_incremental_append_only_reads_the_new_day(tmp_path, monkeypatch):
    day1 = write_csv(tmp_path / "logs" / "day1.csv", ROWS)
    ingest(tmp_path / "logs", tmp_path / "events")
    old_files = {p: p.read_bytes() for p in event_files(tmp_path / "events")}
    write_csv(tmp_path / "logs" / "day2.csv", ["a9,2024-01-03T08:00:00Z,login,,,d9,,,"])
    read = []
    original = readers.csv_scan_sql
    monkeypatch.setattr(readers, "csv_scan_sql", lambda p, *a, **k: read.append(p.name)
                        or original(p, *a, **k))
    summary = ingest(tmp_path / "logs", tmp_path / "events")
    assert read == ["day2.csv"]
    assert (summary.files_new, summary.files_skipped, summary.accepted) == (1, 1, 1)
    assert summary.events_total == 5
    assert all(p.read_bytes() == b for p, b in old_files.items())
    assert (tmp_path / "events" / "day=2024-01-03").is_dir()
    state = json.loads((tmp_path / "events" / STATE_FILE).read_text())
    assert sorted(Path(f["path"]).name for f in state["files"].values()) == \
        ["day1.csv", "day2.csv"]
    assert day1.exists()


def test_too_many_bad_rows_abort_and_write_nothing(tmp_path):
    src = write_csv(tmp_path / "day1.csv", ROWS + ["x,never,login,,,,,,", "y,never,login,,,,,,"])
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events", max_bad_fraction=0.1)
    text = str(err.value)
    assert "2 of 6 rows" in text and "unparseable ts" in text and "line 6" in text
    assert "Nothing was written" in text
    assert list((tmp_path / "events").iterdir()) == []


def test_schema_error_stops_before_any_work(tmp_path):
    good = write_csv(tmp_path / "logs" / "a.csv", ROWS)
    bad = write_csv(tmp_path / "logs" / "b.csv", ["a,2024-01-01"], header="user,when")
    with pytest.raises(MappingError) as err:
        ingest([good, bad], tmp_path / "events")
    assert "b.csv" in str(err.value) and "columns.account_id" in str(err.value)
    assert "'user', 'when'" in str(err.value)
    assert not (tmp_path / "events").exists()


def test_a_failure_while_storing_leaves_the_events_untouched(tmp_path, monkeypatch):
    ingest(write_csv(tmp_path / "day1.csv", ROWS), tmp_path / "events")
    before = snapshot_of(tmp_path / "events")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(run, "store_events", crash)
    day2 = write_csv(tmp_path / "day2.csv", ["a9,2024-01-03T08:00:00Z,login,,,d9,,,",
                                             "a9,broken,login,,,d9,,,"])
    with pytest.raises(OSError, match="disk full"):
        ingest(day2, tmp_path / "events", max_bad_fraction=1.0)
    assert snapshot_of(tmp_path / "events") == before
    assert not list((tmp_path / "events").glob(".*"))


def test_a_schema_unlike_the_canonical_one(tmp_path):
    """JSON lines with other names, a day-first time format, constants, entities, attributes."""
    path = tmp_path / "orders.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"customer": {"id": 1}, "placed": "31/01/2024 23:30", "email": "a@x.org", '
                 '"fp": "dev-9", "stars": 4, "total": "19.99"}\n')
        fh.write('{"customer": "c2", "placed": "01/02/2024 00:10", "email": "a@x.org", '
                 '"stars": "n/a", "total": 5}\n')
        fh.write('{"customer": "c3", "placed": "01/02/2024 00:20", "email": "b@x.org", '
                 '"stars": 2, "total": 1}\n')
    mapping_file = tmp_path / "orders.yaml"
    mapping_file.write_text(
        "columns:\n  account_id: email\n  ts: placed\n  device_id: fp\n  amount: total\n"
        "constants:\n  event_type: order\n"
        "timestamp_format: '%d/%m/%Y %H:%M'\n"
        "entities:\n  Customer: {column: customer, relation: ACTS_FOR}\n"
        "attributes:\n  stars: float\n"
    )
    summary = ingest(path, tmp_path / "events", load_mapping(mapping_file),
                     max_bad_fraction=0.5)
    assert (summary.accepted, summary.quarantined) == (2, 1)
    assert summary.reasons == {"non-numeric stars": 1}
    table = events_table(tmp_path / "events").sort_values("ts")
    assert table["customer_id"].tolist() == ['{"id":1}', "c3"]
    assert table["event_type"].tolist() == ["order", "order"]
    assert table["stars"].tolist() == [4.0, 2.0]
    assert str(table["ts"].iloc[0]) == "2024-01-31 23:30:00+00:00"
    state = json.loads((tmp_path / "events" / STATE_FILE).read_text())
    assert state["entities"] == {"Customer": {"column": "customer_id", "relation": "ACTS_FOR"}}
    assert state["attributes"] == {"stars": "float"}


def test_attribute_type_may_not_change_between_runs(tmp_path):
    mapping = log_mapping(attributes={"note": "string"})
    ingest(write_csv(tmp_path / "d1.csv", ROWS), tmp_path / "events", mapping)
    with pytest.raises(MappingError, match="attributes.note"):
        ingest(write_csv(tmp_path / "d2.csv", ROWS[:1]), tmp_path / "events",
               log_mapping(attributes={"note": "float"}))


def test_labels_are_converted_with_the_mapping(tmp_path):
    labels = write_csv(tmp_path / "gt.csv", ["a1,-1", "a2,+1", "a1,-1"], header=None)
    mapping = log_mapping(labels={"header": ["node", "flag"], "account_id": "node",
                                  "label": "flag", "values": {"-1": 1, "+1": 0}})
    summary = ingest(write_csv(tmp_path / "d1.csv", ROWS), tmp_path / "events", mapping,
                     labels=labels)
    assert (summary.labels, summary.label_positives) == (2, 1)
    table = pd.read_parquet(tmp_path / "events" / "labels.parquet")
    assert table["account_id"].tolist() == ["a1", "a2"]
    assert table["label"].tolist() == [1, 0]


@pytest.mark.skipif(not (DATASETS / "amlsim-10k").is_dir(), reason="needs ../shared/datasets")
def test_real_amlsim_slice(tmp_path):
    with gzip.open(DATASETS / "amlsim-10k" / "transactions.csv.gz", "rt") as fh:
        lines = [next(fh) for _ in range(2001)]
    src = tmp_path / "transactions.csv.gz"
    with gzip.open(src, "wt") as fh:
        fh.writelines(lines)
    summary = ingest(src, tmp_path / "events", load_mapping(ROOT / "configs/mappings/amlsim.yaml"),
                     labels=DATASETS / "amlsim-10k" / "alert_accounts.csv.gz")
    assert (summary.rows_in, summary.accepted, summary.quarantined) == (2000, 2000, 0)
    assert summary.labels == 742 and summary.label_positives == 742
    table = events_table(tmp_path / "events")
    assert not {"is_sar", "alert_id"} & set(table.columns)
    assert table["event_id"].nunique() == 2000
    assert table["counterparty_id"].notna().all()
    assert str(table["ts"].min()) == "2017-01-01 00:00:00+00:00"


def test_an_event_repeated_across_clean_files_of_one_run_keeps_the_first_file(tmp_path):
    """The fast path finds the repeat after writing, then the run is staged: no stray files."""
    mapping = log_mapping(columns={"event_id": "id", "account_id": "uid", "ts": "when",
                                   "event_type": "action"})
    header = "id,uid,when,action"
    first = write_csv(tmp_path / "logs" / "a.csv", ["e1,a,2024-01-01,login"], header=header)
    write_csv(tmp_path / "logs" / "b.csv", ["e1,b,2024-01-02,login", "e2,c,2024-01-02,login"],
              header=header)
    summary = ingest(tmp_path / "logs", tmp_path / "events", mapping)
    assert (summary.rows_in, summary.accepted, summary.duplicates) == (3, 2, 1)
    table = events_table(tmp_path / "events").sort_values("event_id")
    assert table["account_id"].tolist() == ["a", "c"]
    assert count_events(tmp_path / "events") == 2
    assert not list((tmp_path / "events").glob(".*"))
    assert first.exists()


def purchase_log(path: Path, times: list[str]) -> Path:
    """A purchase log in the style that was stored as the year 1: ``1/1/15 18:52``."""
    rows = [f"u{i % 7},{t},purchase,{i}.5,,,,," for i, t in enumerate(times)]
    return write_csv(path, rows)


def test_two_digit_years_never_become_the_year_1(tmp_path):
    times = ["1/1/15 18:52", "1/2/15 9:03", "2/1/15 10:00", "2015-01-03T10:00:00Z"]
    src = purchase_log(tmp_path / "buys.csv", times)
    summary = ingest(src, tmp_path / "events", max_bad_fraction=1.0)
    assert (summary.accepted, summary.quarantined) == (1, 3)
    assert summary.reasons == {"ambiguous ts": 3}
    stored = events_table(tmp_path / "events")
    assert stored["ts"].dt.year.tolist() == [2015]
    quarantine = pd.read_parquet(tmp_path / "events" / "quarantine.parquet")
    assert quarantine["when"].tolist() == times[:3]


def test_too_many_bad_times_suggest_the_format_that_reads_them(tmp_path):
    times = [f"{m}/{d}/15 18:52" for m in range(1, 4) for d in range(10, 20)]
    src = purchase_log(tmp_path / "buys.csv", times)
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events")
    text = str(err.value)
    assert "read as ISO-8601 (a four-digit year first) and epoch seconds, milli-" in text
    assert "timestamp_format '%m/%d/%y %H:%M' parses 30" in text
    assert "cannot tell" not in text and "--" not in text
    summary = ingest(src, tmp_path / "events",
                     log_mapping(timestamp_format="%m/%d/%y %H:%M"))
    assert summary.accepted == 30
    assert events_table(tmp_path / "events")["ts"].min().isoformat() == \
        "2015-01-10T18:52:00+00:00"


def test_day_month_order_the_samples_cannot_tell_is_called_ambiguous(tmp_path):
    src = purchase_log(tmp_path / "buys.csv", ["1/2/15 18:52", "3/4/15 10:00", "5/6/15 1:00"])
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events")
    text = str(err.value)
    assert "'%m/%d/%y %H:%M' parses 3, but '%d/%m/%y %H:%M' parses as many" in text
    assert "cannot tell the order of day and month apart" in text


def test_a_wrong_format_is_named_and_unreadable_times_get_no_guess(tmp_path):
    src = purchase_log(tmp_path / "buys.csv", ["2015-01-01 10:00", "2015-01-02 11:00"])
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events", log_mapping(timestamp_format="%d/%m/%Y"))
    assert "read as timestamp_format '%d/%m/%Y'" in str(err.value)
    assert "timestamp_format '%Y-%m-%d %H:%M' parses 2;" in str(err.value)
    src = purchase_log(tmp_path / "b.csv", ["soon", "later"])
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events2")
    assert "None of the common formats parses the 2 sampled failing values" in str(err.value)


def test_times_read_but_out_of_range_get_range_advice_not_a_format(tmp_path):
    # 2100, 2128 and 2200: parsed, but after the run's start
    src = purchase_log(tmp_path / "buys.csv", ["4102444800", "5000000000", "7258118400"])
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events")
    text = str(err.value)
    assert "ts in the future 3" in text
    assert "were read as times, but outside the plausible range, from 1970-01-01 to" in text
    assert "widen 'timestamps: {min: ..., max_future: ...}'" in text
    assert "epoch_s, epoch_ms, epoch_us, epoch_ns" in text
    assert "None of the common formats" not in text


def test_a_file_of_compact_dates_stops_before_any_work_with_the_format(tmp_path):
    # 20250301 read as epoch seconds is 1970-08-23: plausible, and wrong
    src = purchase_log(tmp_path / "buys.csv", [f"202503{d:02d}" for d in range(1, 29)])
    with pytest.raises(MappingError, match=r"holds compact dates \('20250301'.*"
                                           r"timestamp_format: \"%Y%m%d\""):
        ingest(src, tmp_path / "events")
    summary = ingest(src, tmp_path / "events", log_mapping(timestamp_format="%Y%m%d"))
    assert summary.accepted == 28
    assert events_table(tmp_path / "events")["ts"].min().isoformat() == \
        "2025-03-01T00:00:00+00:00"


def test_seconds_since_a_logs_start_that_read_as_dates_by_chance_are_seconds(tmp_path):
    # review H3: 5 % of 20000000 + 5003 i (i < 2000) read as %Y%m%d; all are seconds
    src = purchase_log(tmp_path / "rel.csv", [str(20_000_000 + 5003 * i) for i in range(2000)])
    summary = ingest(src, tmp_path / "events")
    assert (summary.accepted, summary.quarantined) == (2000, 0)


def test_epoch_zero_times_are_called_missing(tmp_path):
    src = purchase_log(tmp_path / "accounts.csv", ["0", "0", "0"])
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events")
    assert "ts is epoch 0 3" in str(err.value)
    assert "what exports write for a missing time" in str(err.value)


def test_a_log_without_times_is_read_in_file_order_with_a_warning(tmp_path, caplog):
    # YelpChi: user product rating label date, space-separated, 'None' for the date
    src = tmp_path / "metadata.gz"
    with gzip.open(src, "wt") as fh:
        fh.write("201 0 None 1 None\n202 0 None -1 None\n201 1 None 1 None\n")
    mapping = mapping_from_dict({
        "header": ["user", "product", "rating", "label", "date"], "delimiter": " ",
        "columns": {"account_id": "user"}, "constants": {"event_type": "review"},
        "entities": {"Product": "product"}, "timestamps": {"missing": "row_order"}})
    with caplog.at_level("WARNING", logger="ingest.run"):
        summary = ingest(src, tmp_path / "events", mapping)
    assert summary.accepted == 3
    assert "validation.out_of_time_days=0" in caplog.text
    stored = events_table(tmp_path / "events").sort_values("ts")
    assert stored["account_id"].tolist() == ["201", "202", "201"]
    assert [t.hour for t in stored["ts"]] == [1, 2, 3]


def test_too_many_bad_values_show_a_few_of_them(tmp_path):
    rows = ['a1,2024-01-01T10:00:00Z,buy,"$1,234.50",,,,,',
            "a2,2024-01-01T10:00:00Z,buy,12 EUR,,,,,",
            "a3,2024-01-01T10:00:00Z,login,,unknown-ip,,,,"]
    src = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events")
    text = str(err.value)
    assert "Failing amt values (non-numeric amount): '$1,234.50', '12 EUR'." in text
    assert "Failing ipaddr values (malformed ip): 'unknown-ip'." in text


def test_amounts_with_a_decimal_comma_name_the_mapping_key_that_reads_them(tmp_path):
    rows = ['a1,2024-01-01T10:00:00Z,buy,"1.234,50",,,,,',
            'a2,2024-01-01T10:00:00Z,buy,"0,99",,,,,']
    src = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events")
    assert "decimal comma: say 'decimal_mark: \",\"' in the mapping" in str(err.value)
    ingest(src, tmp_path / "events", log_mapping(decimal_mark=","))
    assert sorted(events_table(tmp_path / "events")["amount"]) == [0.99, 1234.5]


def test_amounts_that_all_read_as_dotted_thousands_need_the_mapping_to_say_its_mark(tmp_path):
    # a German export of whole amounts: 1.500 is 1500 there, 1.5 with a decimal point
    amounts = ["1.500", "2.250", "12", "1.000", "3.750", "12.000", "7"]
    rows = [f"a{i},2024-01-01T10:00:00Z,buy,{a},,,,," for i, a in enumerate(amounts)]
    src = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(MappingError) as err:
        ingest(src, tmp_path / "events")
    assert "'1.500', '2.250', '1.000', ... 5 of its first 7 values" in str(err.value)
    assert "'decimal_mark: \",\"' (1.500 is 1500) or 'decimal_mark: \".\"'" in str(err.value)
    ingest(src, tmp_path / "comma", log_mapping(decimal_mark=","))
    assert sorted(events_table(tmp_path / "comma")["amount"]) == [7, 12, 1000, 1500, 2250, 3750,
                                                                  12000]
    ingest(src, tmp_path / "point", log_mapping(decimal_mark="."))
    assert sorted(events_table(tmp_path / "point")["amount"]) == [1, 1.5, 2.25, 3.75, 7, 12, 12]
    # one amount that is no grouping (12.5), or four dotted ones only, say the point: no question
    for more in (["12.5"], []):
        few = rows[:4] + [f"b{i},2024-01-01T10:00:00Z,buy,{a},,,,," for i, a in enumerate(more)]
        ingest(write_csv(tmp_path / f"few{len(more)}.csv", few), tmp_path / f"few{len(more)}")


def test_unquoted_decimal_commas_in_a_comma_delimited_file_are_named(tmp_path):
    rows = ["a1,2024-01-01T10:00:00Z,buy,1,5,1.2.3.4,d1,c1,b1,x",
            'a2,2024-01-01T10:00:00Z,buy,"2,5",1.2.3.4,d1,c1,b1,x']
    with pytest.raises(TooManyBadRows) as err:
        ingest(write_csv(tmp_path / "d.csv", rows), tmp_path / "events",
               log_mapping(decimal_mark=","))
    assert "wrong number of columns" in str(err.value)
    assert "must be quoted (\"1,5\")" in str(err.value) and "'delimiter: \";\"'" in str(err.value)


def test_several_currencies_in_a_currency_attribute_are_warned_of(tmp_path, caplog):
    rows = ["a1,2024-01-01T10:00:00Z,buy,10,,,,,EUR", "a2,2024-01-01T10:00:00Z,buy,1500,,,,,JPY"]
    src = write_csv(tmp_path / "d.csv", rows, header=HEADER.replace("note", "txn_currency"))
    with caplog.at_level("WARNING", logger="ingest.run"):
        summary = ingest(src, tmp_path / "events",
                         log_mapping(attributes={"txn_currency": "string"}))
    assert summary.warnings == [
        "attribute 'txn_currency' holds several currencies (EUR, JPY): amounts are taken as "
        "written and never converted, so every amount feature and money-flow judgement adds "
        "them as one currency; convert the amounts to one currency before the ingest"]
    assert "several currencies" in caplog.text
    # one currency, or a name that is no currency's, says nothing
    one = write_csv(tmp_path / "e.csv", rows[:1], header=HEADER.replace("note", "currency"))
    assert ingest(one, tmp_path / "one", log_mapping(attributes={"currency": "string"})
                  ).warnings == []
    page = write_csv(tmp_path / "f.csv", rows, header=HEADER.replace("note", "current_page"))
    assert ingest(page, tmp_path / "page", log_mapping(attributes={"current_page": "string"})
                  ).warnings == []


def test_rows_that_are_not_utf8_say_how_to_convert_the_file(tmp_path):
    src = tmp_path / "d.csv"
    src.write_bytes((HEADER + "\nMüller,2024-01-01T10:00:00Z,login,,,,,,\n").encode("cp1252"))
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events")
    assert "invalid encoding" in str(err.value) and "iconv -f CP1252 -t UTF-8" in str(err.value)


def test_other_reasons_get_no_timestamp_advice(tmp_path):
    src = write_csv(tmp_path / "d.csv", ROWS + [",2024-01-01T12:00:00Z,login,,,,,,"])
    with pytest.raises(TooManyBadRows) as err:
        ingest(src, tmp_path / "events")
    assert "empty account_id" in str(err.value) and "timestamps were read" not in str(err.value)


def test_integer_ips_are_stored_as_addresses(tmp_path):
    src = write_csv(tmp_path / "d.csv", ["a1,2024-01-01T10:00:00Z,login,,732758368,d1,,,"])
    summary = ingest(src, tmp_path / "events")
    assert summary.accepted == 1
    assert events_table(tmp_path / "events")["ip"].tolist() == ["43.173.1.96"]


def test_empty_label_values_are_skipped_and_counted(tmp_path):
    src = write_csv(tmp_path / "d.csv", ROWS)
    labels = write_csv(tmp_path / "labels.csv", ["a1,1", "a2,", "a3,0"],
                       header="account_id,label")
    summary = ingest(src, tmp_path / "events", labels=labels)
    assert (summary.labels, summary.label_positives, summary.labels_skipped) == (2, 1, 1)
    assert "1 row without a label value (line 3) skipped" in str(summary)


def test_ingest_arguments_are_checked_and_resolved(tmp_path):
    src = write_csv(tmp_path / "logs" / "day1.csv", ROWS)
    args = run.check_ingest_arguments(str(src), log_mapping(), tmp_path / "events", 0.0, None)
    assert args.files == [src]
    assert args.quarantine == tmp_path / "events" / "quarantine.parquet"
    with pytest.raises(ValueError, match=r"max_bad_fraction must be within \[0, 1\], got 1.5"):
        run.check_ingest_arguments(src, log_mapping(), tmp_path / "events", 1.5, None)


def test_row_order_times_take_one_file_only_and_lose_nothing(tmp_path):
    """Line n of every file would get the same time: identical rows at one line of two files
    would be taken for one event (a login log dealt into 20 files lost 9 % of its rows, review
    H4). One file is ingested; a second, in the same run or a later one, is refused whole."""
    mapping = mapping_from_dict({"columns": {"account_id": "user", "event_type": "action",
                                             "device_id": "dev"},
                                 "timestamps": {"missing": "row_order"}})
    first = write_csv(tmp_path / "a.csv", ["u1,login,d1", "u2,login,d2"],
                      header="user,action,dev")
    second = write_csv(tmp_path / "b.csv", ["u1,login,d1", "u3,login,d3"],
                       header="user,action,dev")
    with pytest.raises(readers.InputError, match="row_order times the lines of one file"):
        ingest([first, second], tmp_path / "both", mapping)
    assert not (tmp_path / "both").exists()
    assert ingest([first], tmp_path / "ev", mapping).accepted == 2
    before = snapshot_of(tmp_path / "ev")
    assert ingest([first], tmp_path / "ev", mapping).accepted == 0  # a rerun: nothing new
    with pytest.raises(readers.InputError, match="would hold 2 files"):
        ingest([second], tmp_path / "ev", mapping)
    assert snapshot_of(tmp_path / "ev") == before


def test_a_simulations_steps_stop_before_any_work_and_read_as_hours_when_told(tmp_path):
    # PaySim-like `step` (hours since the start, 1..743) read as epoch seconds would put every
    # event within 12 minutes of 1970-01-01: one lockstep window for the whole log
    src = purchase_log(tmp_path / "steps.csv", [str(step) for step in range(1, 744, 9)])
    with pytest.raises(MappingError, match=r"holds small numbers \(1 to 739 .*within 0\.205 "
                                           r"hours of 1970-01-01.*timestamp_format: epoch_h"):
        ingest(src, tmp_path / "events")
    assert not (tmp_path / "events").exists()
    summary = ingest(src, tmp_path / "events", log_mapping(timestamp_format="epoch_h"))
    times = events_table(tmp_path / "events")["ts"]
    assert summary.accepted == 83
    assert (times.min().isoformat(), times.max().isoformat()) == (
        "1970-01-01T01:00:00+00:00", "1970-01-31T19:00:00+00:00")
    days = ingest(src, tmp_path / "days", log_mapping(timestamp_format="epoch_d"))
    assert days.accepted == 83
    assert events_table(tmp_path / "days")["ts"].max().isoformat() == "1972-01-10T00:00:00+00:00"
