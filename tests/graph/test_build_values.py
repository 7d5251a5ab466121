"""A text attribute mapped to numbers (``values:``) becomes account features like a float one."""

from __future__ import annotations

from graph.build import build_snapshot
from ingest.run import ingest_logs
from tests.ingest.helpers import log_mapping, write_csv


def test_a_value_mapped_attribute_feeds_the_accounts_mean(tmp_path):
    mapping = log_mapping(attributes={"result": {"values": {"success": 0, "bad_password": 1}}})
    rows = ["a1,2024-01-01T10:00:00Z,login,,,d1,,,,success",
            "a1,2024-01-01T10:05:00Z,login,,,d1,,,,bad_password",
            "a1,2024-01-01T10:06:00Z,login,,,d1,,,,bad_password",
            "a2,2024-01-01T11:00:00Z,login,,,d1,,,,success"]
    src = write_csv(tmp_path / "logins.csv", rows,
                    header="uid,when,action,amt,ipaddr,dev,card,peer,note,result")
    ingest_logs(src, mapping, tmp_path / "events", progress=False)
    snap = build_snapshot(tmp_path / "events", tmp_path / "snap", progress=False)
    accounts = snap.nodes["Account"].set_index("id")
    assert accounts.loc["a1", "attr_result_mean"] == 2 / 3
    assert accounts.loc["a2", "attr_result_mean"] == 0.0
