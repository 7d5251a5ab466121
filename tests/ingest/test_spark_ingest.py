"""The Spark ingest (ingest/spark_ingest.py) and snapshot give the DuckDB engine's tables.

One local[2] session serves the module. The dirty logs have bad and future timestamps, a
missing account, a non-numeric amount, short rows (one with the delimiter inside quotes, which
only the quote-aware count tells from a full row), a quoted field with the delimiter inside,
repeated event ids (within the run and against a previous run) and an extra entity type.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graph.build import write_snapshot_files
from ingest.run import TooManyBadRows, ingest_logs
from ingest.store import QUARANTINE_FILE, event_files
from tests.spark_local import local_spark

pytestmark = [
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore::FutureWarning:pyspark"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

MAPPING = """
columns:
  event_id: eid
  account_id: user
  ts: when
  event_type: action
  device_id: dev
  ip: addr
  amount: amt
  counterparty_id: peer
entities:
  Email: mail
"""

LOGS = """eid,user,when,action,dev,addr,amt,mail,peer
e1,u1,2025-03-01T23:59:59.250Z,login,d1,1.2.3.4,,a@x.org,
e2,u1,2025-03-02T00:00:00.750Z,buy,d1,1.2.3.4,12.5,a@x.org,u2
e3,u1,2025-03-02T08:15:00Z,buy,d2,,7.25,,u9
e4,u2,2025-03-01T10:00:00Z,login,d1,10.0.0.1,,b@x.org,
e4,u2,2025-03-01T10:00:30Z,login,d1,10.0.0.1,,b@x.org,
e5,u2,not a time,buy,d3,,100,b@x.org,u1
e6,,2025-03-03T03:00:00Z,buy,d3,,100,b@x.org,u1
e7,u3,2025-03-01T12:00:00Z,login,d3,300.1.1.1,,c@x.org,
e8,u3,2025-03-05T12:00:00Z,buy,d3,,lots,c@x.org,u9
e9,u3,2999-03-05T12:00:00Z,buy,d3,,1,c@x.org,u9
e10,u4,2025-03-04T18:30:00Z,login,,732758368,,a@x.org
e11,u4,2025-03-04T18:31:00Z,login,d4,732758368,,a@x.org,
e13,u5,2025-03-02T10:00:00Z,"log,in",d5,,,"e@x.org",
e14,"u5",2025-03-02T11:00:00Z,login,"d,5",,,
"""

LATER = """eid,user,when,action,dev,addr,amt,mail,peer
e11,u4,2025-03-04T18:31:00Z,login,d4,732758368,,a@x.org,
e12,u5,2025-03-06T01:00:00Z,buy,d4,,3,d@x.org,u1
"""


@pytest.fixture(scope="module")
def spark():
    yield from local_spark(2)


def _both(tmp_path: Path, spark, logs: list[str]) -> tuple[Path, Path, list, list]:
    """Ingest ``logs`` (one file per run) with both engines; return the events dirs and the
    summaries of each engine's runs."""
    from ingest.spark_ingest import ingest_logs_spark

    (tmp_path / "mapping.yaml").write_text(MAPPING)
    duck, sparked = tmp_path / "duckdb", tmp_path / "spark"
    runs_duck, runs_spark = [], []
    for i, text in enumerate(logs):
        path = tmp_path / f"logs-{i}.csv"
        path.write_text(text)
        runs_duck.append(ingest_logs(path, tmp_path / "mapping.yaml", duck, progress=False,
                                     max_bad_fraction=1.0))
        runs_spark.append(ingest_logs_spark(path, tmp_path / "mapping.yaml", sparked,
                                            max_bad_fraction=1.0, spark=spark))
    return duck, sparked, runs_duck, runs_spark


def _sorted(table: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    return table.sort_values(key).reset_index(drop=True)


def _events(events_dir: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(p).assign(day=p.parent.name) for p in event_files(events_dir)]
    return _sorted(pd.concat(frames, ignore_index=True), ["event_id"])


def assert_same_tables(left: pd.DataFrame, right: pd.DataFrame) -> None:
    assert list(left.columns) == list(right.columns)
    assert left.dtypes.to_dict() == right.dtypes.to_dict()
    assert len(left) == len(right) > 0
    for column in left.columns:
        if pd.api.types.is_float_dtype(left[column]):
            np.testing.assert_allclose(left[column], right[column], rtol=1e-9, atol=1e-9,
                                       err_msg=column)
        else:
            assert left[column].fillna("<null>").equals(right[column].fillna("<null>")), column


def test_dirty_logs_give_the_same_events_quarantine_and_counts(spark, tmp_path):
    duck, sparked, runs_duck, runs_spark = _both(tmp_path, spark, [LOGS, LATER])
    for a, b in zip(runs_duck, runs_spark, strict=True):
        assert (a.rows_in, a.accepted, a.quarantined, a.duplicates, a.reasons) == (
            b.rows_in, b.accepted, b.quarantined, b.duplicates, b.reasons)
    first = runs_spark[0]
    assert (first.rows_in, first.accepted, first.quarantined, first.duplicates) == (14, 6, 7, 1)
    assert runs_spark[1].duplicates == 1 and runs_spark[1].accepted == 1
    assert_same_tables(_events(duck), _events(sparked))
    events = _events(sparked)
    assert events.loc[events.event_id == "e4", "ts"].dt.second.tolist() == [0]
    assert events.loc[events.event_id == "e11", "ip"].tolist() == ["43.173.1.96"]
    assert events.loc[events.event_id == "e13", "event_type"].tolist() == ["log,in"]
    quarantine_spark = _assert_same_quarantine(duck, sparked)
    assert set(quarantine_spark["reason"]) == {
        "unparseable ts", "empty account_id", "malformed ip", "non-numeric amount",
        "ts in the future", "wrong number of columns"}


def test_row_order_times_are_refused_before_spark_starts(tmp_path):
    from ingest.readers import InputError
    from ingest.spark_ingest import ingest_logs_spark

    (tmp_path / "m.yaml").write_text("columns: {account_id: user, event_type: action}\n"
                                     "timestamps: {missing: row_order}\n")
    path = tmp_path / "reviews.csv"
    path.write_text("user,action\nu1,review\n")
    with pytest.raises(InputError, match="use --engine duckdb"):
        ingest_logs_spark(path, tmp_path / "m.yaml", tmp_path / "out")
    (tmp_path / "z.yaml").write_text("columns: {account_id: user, event_type: action, ts: t}\n"
                                     "timezone: Europe/Berlin\n")
    with pytest.raises(InputError, match="timezone is read by the DuckDB engine only"):
        ingest_logs_spark(path, tmp_path / "z.yaml", tmp_path / "out")
    (tmp_path / "d.yaml").write_text("columns: {account_id: user, event_type: action, ts: t}\n"
                                     "decimal_mark: ','\n")
    with pytest.raises(InputError, match="decimal_mark is read by the DuckDB engine only"):
        ingest_logs_spark(path, tmp_path / "d.yaml", tmp_path / "out")
    (tmp_path / "v.yaml").write_text("columns: {account_id: user, event_type: action, ts: t}\n"
                                     "attributes: {result: {values: {ok: 0, bad: 1}}}\n")
    with pytest.raises(InputError, match="values: .* DuckDB engine only"):
        ingest_logs_spark(path, tmp_path / "v.yaml", tmp_path / "out")
    (tmp_path / "s.yaml").write_text(
        "sources:\n  reviews:\n    files: 'reviews*.csv'\n"
        "    columns: {account_id: user, event_type: action, ts: t}\n")
    with pytest.raises(InputError, match="'sources:' .* DuckDB engine only"):
        ingest_logs_spark(path, tmp_path / "s.yaml", tmp_path / "out")


@pytest.mark.parametrize("split_bytes", [64, 16])
def test_lines_read_in_many_partitions_keep_their_numbers(spark, tmp_path, split_bytes):
    """A file read in many partitions (64-byte splits: 13; 16-byte splits: 49, most without
    a line): the bad rows' line numbers, from their positions and the rows per partition."""
    from ingest.spark_session import session_conf

    conf = {"spark.sql.files.maxPartitionBytes": str(split_bytes),
            "spark.sql.files.openCostInBytes": "0"}
    with session_conf(spark, conf):
        duck, sparked, runs_duck, runs_spark = _both(tmp_path, spark, [LOGS])
    assert runs_duck[0].reasons == runs_spark[0].reasons
    _assert_same_quarantine(duck, sparked)


def test_rerun_of_the_same_file_changes_nothing(spark, tmp_path):
    from ingest.spark_ingest import ingest_logs_spark

    _, sparked, _, _ = _both(tmp_path, spark, [LATER])
    before = _events(sparked)
    again = ingest_logs_spark(tmp_path / "logs-0.csv", tmp_path / "mapping.yaml", sparked,
                              spark=spark)
    assert (again.files_new, again.files_skipped, again.rows_in) == (0, 1, 0)
    assert_same_tables(before, _events(sparked))


def test_too_many_bad_rows_write_nothing(spark, tmp_path):
    from ingest.spark_ingest import ingest_logs_spark

    (tmp_path / "mapping.yaml").write_text(MAPPING)
    (tmp_path / "logs.csv").write_text(LOGS)
    with pytest.raises(TooManyBadRows, match=r"first at .*logs.csv, line 7 \(unparseable ts\)"):
        ingest_logs_spark(tmp_path / "logs.csv", tmp_path / "mapping.yaml", tmp_path / "ev",
                          spark=spark)
    assert not event_files(tmp_path / "ev")
    assert not (tmp_path / "ev" / QUARANTINE_FILE).exists()


@pytest.mark.slow
def test_files_of_one_run_give_one_file_a_day_and_no_bad_folder(spark, tmp_path):
    from ingest.spark_ingest import ingest_logs_spark

    (tmp_path / "mapping.yaml").write_text(MAPPING)
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    paths[0].write_text(LOGS)
    paths[1].write_text(LOGS.replace("\ne", "\nf"))
    summary = ingest_logs_spark(paths, tmp_path / "mapping.yaml", tmp_path / "ev",
                                max_bad_fraction=1.0, spark=spark)
    assert (summary.rows_in, summary.accepted, summary.quarantined) == (28, 12, 14)
    days = sorted((tmp_path / "ev").glob("day=*"))
    assert [d.name for d in days] == [f"day=2025-03-0{i}" for i in (1, 2, 4)]
    assert [len(list(d.glob("*.parquet"))) for d in days] == [1, 1, 1]
    assert sorted(p.name for p in (tmp_path / "ev").iterdir() if not p.name.startswith("day="))\
        == ["_ingest_state.json", "quarantine.parquet"]


@pytest.mark.slow
def test_snapshot_of_spark_events_equals_the_duckdb_one(spark, tmp_path):
    from graph.snapshot import read_snapshot
    from graph.spark_build import write_snapshot_spark

    duck, sparked, _, _ = _both(tmp_path, spark, [LOGS, LATER])
    write_snapshot_files(duck, tmp_path / "snap-duckdb", progress=False)
    write_snapshot_spark(sparked, tmp_path / "snap-spark", spark=spark)
    a, b = read_snapshot(tmp_path / "snap-duckdb"), read_snapshot(tmp_path / "snap-spark")
    assert a.node_types == b.node_types and set(a.relations) == set(b.relations)
    assert "Email" in b.node_types
    for t in a.node_types:
        assert_same_tables(_sorted(a.nodes[t], ["id"]), _sorted(b.nodes[t], ["id"]))
    for r in a.relations:
        assert_same_tables(_sorted(a.edges[r], ["src", "dst"]), _sorted(b.edges[r], ["src", "dst"]))


def test_cli_ingest_with_the_spark_engine(spark, tmp_path):
    from typer.testing import CliRunner

    from abusenet.cli import app

    (tmp_path / "mapping.yaml").write_text(MAPPING)
    (tmp_path / "logs.csv").write_text(LOGS)
    result = CliRunner().invoke(app, [
        "ingest", "-i", str(tmp_path / "logs.csv"), "-m", str(tmp_path / "mapping.yaml"),
        "-o", str(tmp_path / "out"), "--engine", "spark", "--max-bad-fraction", "1",
        "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "14 rows in = 6 accepted + 7 quarantined + 1 duplicates removed" in result.output
    assert "Snapshot written to" in result.output
    manifest = (tmp_path / "out" / "snapshot" / "manifest.json").read_text()
    assert '"engine": "spark' in manifest
    assert len(pd.read_parquet(tmp_path / "out" / "quarantine.parquet")) == 7


def test_cli_refuses_an_unknown_engine(tmp_path):
    from typer.testing import CliRunner

    from abusenet.cli import app

    result = CliRunner().invoke(app, ["ingest", "-i", "x.csv", "-m", "m.yaml", "-o",
                                      str(tmp_path), "--engine", "flink"])
    assert result.exit_code == 2
    assert "--engine must be duckdb or spark" in result.output


def test_pipeline_stages_run_on_the_spark_engine(spark, tmp_path):
    from abusenet.pipeline.errors import PipelineError
    from abusenet.pipeline.stages import data
    from ingest.mapping import load_mapping

    (tmp_path / "mapping.yaml").write_text(MAPPING)
    (tmp_path / "logs.csv").write_text(LOGS)
    mapping = load_mapping(tmp_path / "mapping.yaml")
    info = data.ingest_stage([str(tmp_path / "logs.csv")], mapping, None, tmp_path,
                             max_bad_fraction=1.0, engine="spark")
    assert (info["accepted"], info["quarantined"], info["duplicates"]) == (6, 7, 1)
    with pytest.raises(PipelineError, match="event or entity labels"):
        data.snapshot_stage(tmp_path / "events", mapping, tmp_path, engine="spark",
                            event_labels=tmp_path / "logs.csv")
    info = data.snapshot_stage(tmp_path / "events", mapping, tmp_path, engine="spark")
    assert info["nodes"]["Account"] == 5 and "Email" in info["nodes"]  # u1, u2, u4, u5, u9


def _assert_same_quarantine(duck: Path, sparked: Path) -> pd.DataFrame:
    """Both engines' quarantine tables equal, rows matched by file and line; Spark's table."""
    key = ["source_file", "line"]
    quarantine_duck = pd.read_parquet(duck / QUARANTINE_FILE)
    quarantine_spark = pd.read_parquet(sparked / QUARANTINE_FILE)
    quarantine_duck["source_file"] = quarantine_duck["source_file"].str.replace(
        str(duck), str(sparked))
    assert_same_tables(_sorted(quarantine_duck, key), _sorted(quarantine_spark, key))
    return quarantine_spark
