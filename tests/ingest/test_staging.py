"""ingest.staging: which files are numbered in file order, and files streamed in chunks."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ingest.readers as readers
from ingest.mapping import mapping_from_dict
from tests.ingest.helpers import ROWS, events_table, ingest, write_csv


@pytest.mark.parametrize(("extra", "scans"), [
    ([], [False]),                                      # clean: one parallel scan, written
    (["a4,not-a-time,login,,,,,,"], [False, True]),     # bad row: staged numbered at once
    (["a1,2024-01-01,login,,,,,,x,y"], [False, True]),  # rejected by the CSV reader
    ([ROWS[0]], [False, False, True]),                  # repeated event: first wins
])
def test_csv_files_are_numbered_in_file_order_only_when_lines_matter(
    tmp_path, monkeypatch, extra, scans
):
    seen = []
    original = readers.csv_scan_sql

    def scan(path, *args, **kwargs):
        seen.append(kwargs["numbered"])
        return original(path, *args, **kwargs)

    monkeypatch.setattr(readers, "csv_scan_sql", scan)
    summary = ingest(write_csv(tmp_path / "day1.csv", ROWS + extra), tmp_path / "events",
                     max_bad_fraction=0.5)
    assert seen == scans
    assert summary.balanced and summary.rows_in == len(ROWS) + len(extra)
    assert summary.accepted == len(ROWS)
    if summary.quarantined:
        quarantine = pd.read_parquet(tmp_path / "events" / "quarantine.parquet")
        assert quarantine["line"].tolist() == [len(ROWS) + 2]


def test_parquet_input(tmp_path):
    path = tmp_path / "logs.parquet"
    pq.write_table(pa.table({"uid": ["a", "b"], "when": pa.array([1704103200, 1704189600]),
                             "action": ["login", "login"], "amt": [1.0, None]}), path)
    mapping = mapping_from_dict({"columns": {"account_id": "uid", "ts": "when",
                                             "event_type": "action", "amount": "amt"}})
    summary = ingest(path, tmp_path / "events", mapping)
    assert summary.accepted == 2
    assert sorted(events_table(tmp_path / "events")["amount"].fillna(-1)) == [-1.0, 1.0]
