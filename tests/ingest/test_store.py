"""ingest.store: day partitions, event_id deduplication against the run and the store."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.engine import connect
from ingest.store import event_files, repeats_ids
from tests.ingest.helpers import ROWS, events_table, ingest, log_mapping, write_csv


def test_events_are_canonical_and_partitioned_by_utc_day(tmp_path):
    ingest(write_csv(tmp_path / "day1.csv", ROWS), tmp_path / "events")
    days = sorted(p.parent.name for p in event_files(tmp_path / "events"))
    assert days == ["day=2024-01-01", "day=2024-01-02"]
    table = events_table(tmp_path / "events")
    assert sorted(table["account_id"]) == ["a1", "a1", "a2", "a3"]
    schema = pq.read_schema(event_files(tmp_path / "events")[0])
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    transfer = table[table["event_type"] == "transfer"].iloc[0]
    assert transfer["counterparty_id"] == "a3" and transfer["amount"] == 7.0
    assert "note" not in table.columns  # unmapped columns are not kept


def test_event_id_dedup_keeps_the_first_occurrence(tmp_path):
    mapping = log_mapping(columns={"event_id": "id", "account_id": "uid", "ts": "when",
                                   "event_type": "action"})
    src = write_csv(tmp_path / "d.csv", ["e1,a,2024-01-01,login", "e1,b,2024-01-01,login",
                                         "e2,c,2024-01-01,login"], header="id,uid,when,action")
    summary = ingest(src, tmp_path / "events", mapping)
    assert (summary.accepted, summary.duplicates) == (2, 1)
    table = events_table(tmp_path / "events").sort_values("event_id")
    assert table["account_id"].tolist() == ["a", "c"]


def test_a_re_delivered_event_is_a_duplicate_whatever_day_it_is_stored_on(tmp_path):
    mapping = log_mapping(columns={"event_id": "id", "account_id": "uid", "ts": "when",
                                   "event_type": "action"})
    header = "id,uid,when,action"
    ingest(write_csv(tmp_path / "d1.csv", ["e1,a,2024-01-01,login", "e2,b,2024-01-02,login"],
                     header=header), tmp_path / "events", mapping)
    # e1 comes back with another day's timestamp, next to a new event of that day.
    summary = ingest(write_csv(tmp_path / "d2.csv", ["e1,a,2024-01-05,login",
                                                     "e3,c,2024-01-05,login"], header=header),
                     tmp_path / "events", mapping)
    assert (summary.rows_in, summary.accepted, summary.duplicates) == (2, 1, 1)
    table = events_table(tmp_path / "events")
    assert sorted(table["event_id"]) == ["e1", "e2", "e3"]
    assert str(table.set_index("event_id").loc["e1", "ts"].date()) == "2024-01-01"


@pytest.mark.parametrize("bad_rows", [0, 1], ids=["direct", "staged"])
def test_day_files_keep_dictionaries_for_small_vocabularies_only(tmp_path, bad_rows):
    rows = [f"a{i},2024-01-01T10:00:00Z,{('login', 'payment')[i % 2]},,,,,," for i in range(1500)]
    rows += ["a0,not-a-time,login,,,,,,"] * bad_rows
    ingest(write_csv(tmp_path / "logs.csv", rows), tmp_path / "events", max_bad_fraction=0.5)
    (day_file,) = event_files(tmp_path / "events")
    chunks = pq.ParquetFile(day_file).metadata.row_group(0)
    dictionary = {chunks.column(i).path_in_schema: chunks.column(i).has_dictionary_page
                  for i in range(chunks.num_columns)}
    # Two event types: a dictionary; 1,500 distinct accounts and ids: plain.
    assert dictionary["event_type"]
    assert not dictionary["account_id"] and not dictionary["event_id"]


@pytest.mark.parametrize(("ids", "repeated"), [(["e1", "e2", "e3"], False),
                                               (["e1", "e2", "e1"], True), (["e1"], False)])
def test_repeated_event_ids_are_found_through_their_hashes(ids, repeated):
    con = connect()
    try:
        con.execute("CREATE TABLE t (event_id VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?)", [[i] for i in ids])
        assert repeats_ids(con, "t") is repeated
    finally:
        con.close()
