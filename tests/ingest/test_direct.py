from collections import Counter

import pyarrow.parquet as pq

from ingest.direct import MAX_FILES, direct_candidates, write_clean_csv
from ingest.engine import connect
from ingest.plan import IngestPlan
from ingest.validate import event_schema
from tests.ingest.helpers import ROWS, log_mapping, write_csv


def _write(tmp_path, files):
    con = connect()
    try:
        return write_clean_csv(con, files, IngestPlan.of(log_mapping()), tmp_path / "out", "run")
    finally:
        con.close()


def _days(tmp_path):
    rows = Counter()
    for path in (tmp_path / "out").glob("day=*/*.parquet"):
        rows[path.parent.name] += pq.read_table(path).num_rows
    return dict(rows)


def test_clean_files_are_written_by_day_with_their_row_counts(tmp_path):
    first = write_csv(tmp_path / "a.csv", ROWS)
    second = write_csv(tmp_path / "b.csv.gz", ["a9,2024-01-03T08:00:00Z,login,,,d9,,,"])
    result = _write(tmp_path, [first, second])
    assert result.clean and result.rows == [4, 1]
    assert _days(tmp_path) == {"day=2024-01-01": 3, "day=2024-01-02": 1, "day=2024-01-03": 1}
    schema = pq.read_schema(next((tmp_path / "out").glob("day=*/*.parquet")))
    assert schema.names == event_schema(log_mapping()).names


def test_bad_and_rejected_rows_mark_their_file_dirty_and_are_not_written(tmp_path):
    clean = write_csv(tmp_path / "a.csv", ROWS[:1])
    bad = write_csv(tmp_path / "b.csv", ROWS[1:] + ["a4,not-a-time,login,,,,,,"])
    ragged = write_csv(tmp_path / "c.csv", ["a5,2024-01-05T00:00:00Z,login,,,,,,x,y"])
    result = _write(tmp_path, [clean, bad, ragged])
    assert result.dirty == {1, 2} and result.rows == [1, 4, 1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["day=2024-01-01",
                                                                 "day=2024-01-02"]
    assert sum(_days(tmp_path).values()) == 4


def test_only_a_few_csv_files_take_the_fast_path(tmp_path):
    csv = write_csv(tmp_path / "a.csv", ROWS)
    assert direct_candidates([csv])
    assert not direct_candidates([])
    assert not direct_candidates([tmp_path / "a.parquet"])
    assert not direct_candidates([csv] * (MAX_FILES + 1))
