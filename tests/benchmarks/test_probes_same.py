"""The reviewer's same-bits check (benchmarks.probes_same): the comparison of two runs."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.probes_same import compare_outputs, compare_tables


def test_compare_tables_names_a_float_difference_and_treats_nan_as_equal():
    a = pd.DataFrame({"id": ["x", "y"], "score": [0.5, np.nan]})
    assert compare_tables(a, a.copy()) == []
    b = a.assign(score=[0.5 + 1e-12, np.nan])
    assert compare_tables(a, b) == ["score: 1 rows, largest difference 1e-12"]
    assert compare_tables(a, a.assign(id=["x", "z"])) == ["id: 1 rows differ"]
    assert compare_tables(a, a.iloc[:1]) == ["rows 2 vs 1"]


def test_compare_outputs_reads_every_parquet_the_work_folder_too(tmp_path):
    for side, members in (("A", [["1", "2"]]), ("B", [["1", "3"]])):
        (tmp_path / side / ".work").mkdir(parents=True)
        table = pa.table({"members": members, "score": [0.9]})
        pq.write_table(table, tmp_path / side / "rings.parquet")
        pq.write_table(pa.table({"x": [1.0]}), tmp_path / side / ".work" / "cands.parquet")
    assert compare_outputs(tmp_path / "A", tmp_path / "B") == ["rings.parquet: members: 1 rows "
                                                               "differ"]
    pq.write_table(pa.table({"x": [1.5]}), tmp_path / "B" / ".work" / "cands.parquet")
    assert (".work/cands.parquet: x: 1 rows, largest difference 0.5"
            in compare_outputs(tmp_path / "A", tmp_path / "B"))
    pq.write_table(pa.table({"x": [1]}), tmp_path / "A" / "extra.parquet")
    assert compare_outputs(tmp_path / "A", tmp_path / "A") == []
    assert "only in A: extra.parquet" in compare_outputs(tmp_path / "A", tmp_path / "B")


def test_compare_tables_matches_rows_on_their_key_and_missing_equals_missing():
    a = pd.DataFrame({"account_id": ["x", "y"], "ring_id": [None, "r1"], "score": [0.1, 0.2]})
    b = a.iloc[::-1].reset_index(drop=True)
    assert compare_tables(a, b) == []
    assert compare_tables(a, b.assign(ring_id=[np.nan, None])) == ["ring_id: 1 rows differ"]


def test_compare_outputs_reads_a_partitioned_folder_as_one_table(tmp_path):
    for side, names in (("A", ["part-1.parquet", "part-2.parquet"]), ("B", ["part-9.parquet"])):
        folder = tmp_path / side / "events" / "day=1"
        folder.mkdir(parents=True)
        rows = [pa.table({"x": [1.0]}), pa.table({"x": [2.0]})]
        if side == "B":
            rows = [pa.table({"x": [2.0, 1.0]})]
        for name, table in zip(names, rows, strict=True):
            pq.write_table(table, folder / name)
    assert compare_outputs(tmp_path / "A", tmp_path / "B") == []
    pq.write_table(pa.table({"x": [2.0, 1.5]}), tmp_path / "B" / "events" / "day=1" /
                   "part-9.parquet")
    assert compare_outputs(tmp_path / "A", tmp_path / "B") == [
        "events/day=1: x: 1 rows, largest difference 0.5"]
