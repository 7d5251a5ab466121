"""ingest.quarantine: rejected rows kept with file, line and reason, across runs."""

import bz2

import pandas as pd
import pytest

from ingest.readers import WRONG_COLUMN_COUNT
from tests.ingest.helpers import ROWS, events_table, ingest, write_csv


def test_quarantine_accumulates_across_runs_and_is_replaced_atomically(tmp_path):
    ingest(write_csv(tmp_path / "d1.csv", ROWS + ["x,never,login,,,,,,"]), tmp_path / "events",
           max_bad_fraction=0.5, quarantine_path=tmp_path / "out" / "quarantine.parquet")
    summary = ingest(write_csv(tmp_path / "d2.csv", ["y,never,login,,,,,,", ROWS[0]]),
                     tmp_path / "events", max_bad_fraction=1.0,
                     quarantine_path=tmp_path / "out" / "quarantine.parquet")
    quarantine = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    assert quarantine["uid"].tolist() == ["x", "y"]
    assert summary.quarantine_path == str(tmp_path / "out" / "quarantine.parquet")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["quarantine.parquet"]


def test_no_quarantine_file_when_nothing_is_rejected(tmp_path):
    summary = ingest(write_csv(tmp_path / "d1.csv", ROWS), tmp_path / "events")
    assert summary.quarantine_path is None
    assert not (tmp_path / "events" / "quarantine.parquet").exists()


@pytest.mark.parametrize("suffix", [".csv", ".csv.bz2"])  # DuckDB's reader; pyarrow's
def test_csv_rows_with_the_wrong_number_of_columns_are_quarantined(tmp_path, suffix):
    # Past the first block too, so ragged rows are found while rows stream into staging.
    good = [f"a{i},2024-01-01T10:00:00Z,login,,,,,," for i in range(40_000)]
    rows = good[:2] + ["a,b", "b,never,login,,,,,,"] + good[2:] + \
        ["z,2024-01-01T10:00:00Z,login,,,,,,,extra,more"]
    src = tmp_path / f"d1{suffix}"
    text = "\n".join(["uid,when,action,amt,ipaddr,dev,card,peer,note", *rows]) + "\n"
    src.write_bytes(bz2.compress(text.encode()) if suffix.endswith("bz2") else text.encode())
    summary = ingest(src, tmp_path / "events")
    assert (summary.rows_in, summary.accepted, summary.quarantined) == (40_003, 40_000, 3)
    assert summary.reasons == {WRONG_COLUMN_COUNT: 2, "unparseable ts": 1} and summary.balanced
    quarantine = pd.read_parquet(tmp_path / "events" / "quarantine.parquet")
    assert quarantine["line"].tolist() == [4, 5, 40_004]
    assert set(quarantine["source_file"]) == {str(src.resolve())}
    assert quarantine["uid"].tolist() == ["a", "b", "z"] and quarantine["when"][0] == "b"
    assert set(events_table(tmp_path / "events")["account_id"]) == {f"a{i}" for i in range(40_000)}
