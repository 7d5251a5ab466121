"""The PySpark path (graph/spark_build.py) builds the same snapshot as graph/build.py (DuckDB).

Spark runs in local mode with one core and no UI; one session serves the whole module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graph.build import BuildError, build_snapshot
from graph.snapshot import read_snapshot
from graph.spark_build import build_snapshot_spark
from ingest.run import ingest_logs
from ingest.synth import generate
from tests.spark_local import local_spark

MAPPINGS = Path(__file__).resolve().parents[2] / "configs" / "mappings"

pytestmark = [
    pytest.mark.spark,
    # PySpark's notes about pandas 3 (it still converts correctly; the tables are compared).
    pytest.mark.filterwarnings("ignore::FutureWarning:pyspark"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def spark():
    yield from local_spark(1)


def assert_same_snapshot(path_a, path_b) -> None:
    """Tables of two snapshots are equal: same rows, columns and types; floats to 1e-9."""
    a, b = read_snapshot(path_a), read_snapshot(path_b)
    assert a.node_types == b.node_types
    assert sorted(a.relations) == sorted(b.relations)
    assert a.relations == b.relations
    for t in a.node_types:  # node tables in the same (id) order, row for row
        assert a.nodes[t]["id"].tolist() == b.nodes[t]["id"].tolist(), t
    pairs = [(a.nodes[t], b.nodes[t], ["id"]) for t in a.node_types]
    pairs += [(a.edges[r], b.edges[r], ["src", "dst"]) for r in a.relations]
    for left, right, key in pairs:
        assert list(left.columns) == list(right.columns)
        assert left.dtypes.to_dict() == right.dtypes.to_dict()
        assert len(left) == len(right) > 0
        left = left.sort_values(key).reset_index(drop=True)
        right = right.sort_values(key).reset_index(drop=True)
        for column in left.columns:
            if pd.api.types.is_float_dtype(left[column]):
                np.testing.assert_allclose(left[column], right[column], rtol=1e-9, atol=1e-9,
                                           err_msg=column)
            else:
                assert (left[column] == right[column]).all(), column
    if a.labels is None:
        assert b.labels is None
    else:
        pd.testing.assert_frame_equal(
            a.labels.sort_values("account_id").reset_index(drop=True),
            b.labels.sort_values("account_id").reset_index(drop=True))


@pytest.mark.slow
def test_generated_logs_give_the_same_snapshot(spark, tmp_path):
    logs = generate(tmp_path / "logs", n_accounts=200, seed=4, progress=False)
    events = tmp_path / "events"
    ingest_logs(logs.events_dir, MAPPINGS / "synth.yaml", events,
                labels=logs.labels_path, progress=False)
    build_snapshot(events, tmp_path / "duckdb", progress=False)
    spark_snapshot = build_snapshot_spark(events, tmp_path / "spark", spark=spark)
    assert_same_snapshot(tmp_path / "duckdb", tmp_path / "spark")
    assert spark_snapshot.meta["events"]["count"] == logs.n_events
    assert set(spark_snapshot.edges) == {"USED_DEVICE", "USED_IP", "PAID_WITH", "TRANSACTED_WITH"}


MAPPING = """
columns:
  account_id: user
  ts: when
  event_type: action
  device_id: dev
  amount: amt
  counterparty_id: peer
entities:
  Email: mail
attributes:
  rating: float
"""

# Sub-second times, a day boundary, missing amounts and entities, an odd event type name, a
# counterparty that never acts itself (u9).
LOGS = """user,when,action,dev,amt,mail,rating,peer
u1,2025-03-01T23:59:59.250Z,login,d1,,a@x.org,,
u1,2025-03-02T00:00:00.750Z,buy,d1,12.5,a@x.org,4.0,u2
u1,2025-03-02T08:15:00Z,buy,d2,7.25,,3.5,u9
u2,2025-03-01T10:00:00Z,login,d1,,b@x.org,,
u2,2025-03-01T10:00:30.5Z,card-add,,,b@x.org,,
u2,2025-03-03T03:00:00Z,buy,d3,100,b@x.org,1.0,u1
u3,2025-03-01T12:00:00Z,login,d3,,c@x.org,,
u3,2025-03-05T12:00:00Z,buy,d3,0.01,c@x.org,5.0,u9
u4,2025-03-04T18:30:00Z,login,,,a@x.org,,
"""


def test_hand_made_logs_with_an_extra_entity_give_the_same_snapshot(spark, tmp_path):
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    (tmp_path / "logs.csv").write_text(LOGS)
    events = tmp_path / "events"
    ingest_logs(tmp_path / "logs.csv", tmp_path / "mapping.yaml", events, progress=False)
    build_snapshot(events, tmp_path / "duckdb", progress=False)
    snapshot = build_snapshot_spark(events, tmp_path / "spark", spark=spark)
    assert_same_snapshot(tmp_path / "duckdb", tmp_path / "spark")
    assert set(snapshot.nodes) == {"Account", "Device", "Email"}
    accounts = snapshot.nodes["Account"].set_index("id")
    assert accounts.loc["u1", "n_events"] == 3
    assert accounts.loc["u1", "active_days"] == 2
    assert accounts.loc["u9", "n_in_events"] == 2 and accounts.loc["u9", "n_events"] == 0
    assert "attr_rating_mean" in accounts.columns


def test_logs_without_counterparties_give_the_same_snapshot(spark, tmp_path):
    mapping = "\n".join(line for line in MAPPING.splitlines() if "peer" not in line)
    (tmp_path / "mapping.yaml").write_text(mapping)
    (tmp_path / "logs.csv").write_text(LOGS)
    events = tmp_path / "events"
    ingest_logs(tmp_path / "logs.csv", tmp_path / "mapping.yaml", events, progress=False)
    build_snapshot(events, tmp_path / "duckdb", progress=False)
    build_snapshot_spark(events, tmp_path / "spark", spark=spark)
    assert_same_snapshot(tmp_path / "duckdb", tmp_path / "spark")


def test_empty_events_directory_is_a_clear_error(spark, tmp_path):
    with pytest.raises(BuildError, match="holds no events"):
        build_snapshot_spark(tmp_path, tmp_path / "out", spark=spark)



RESULTS = ["result", "success", "bad_password", "", "success", "Bad Password", "success", "null",
           "bad_password", "locked"]


@pytest.mark.parametrize("fixed", [None, {"result": {
    "success": "attr_result_is_success_share", "expired": "attr_result_is_expired_share"}}])
def test_a_string_attribute_gives_the_same_share_features(spark, tmp_path, fixed):
    """A string attribute with few values: the same values found (most frequent first, ties
    by value) and the same shares on both engines; or the same given ones (a model's)."""
    lines = LOGS.strip().splitlines()
    (tmp_path / "logs.csv").write_text("\n".join(
        f"{line},{result}" for line, result in zip(lines, RESULTS, strict=True)) + "\n")
    (tmp_path / "mapping.yaml").write_text(MAPPING + "  result: string\n")
    events = tmp_path / "events"
    ingest_logs(tmp_path / "logs.csv", tmp_path / "mapping.yaml", events, progress=False)
    duckdb = build_snapshot(events, tmp_path / "duckdb", progress=False, attribute_shares=fixed)
    snapshot = build_snapshot_spark(events, tmp_path / "spark", spark=spark,
                                    attribute_shares=fixed)
    assert_same_snapshot(tmp_path / "duckdb", tmp_path / "spark")
    assert snapshot.meta["attribute_shares"] == duckdb.meta["attribute_shares"]
    if fixed is None:
        assert list(snapshot.meta["attribute_shares"]["result"]) == [
            "success", "bad_password", "Bad Password", "locked"]
    accounts = snapshot.nodes["Account"].set_index("id")
    assert accounts.loc["u1", "attr_result_is_success_share"] == 0.5
