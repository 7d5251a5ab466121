"""A string attribute with few values becomes per-value share features of the accounts."""

from __future__ import annotations

import logging

import pytest

from graph.build import BuildError, build_snapshot
from graph.snapshot_sql import MAX_ATTRIBUTE_VALUES, attribute_share_features
from ingest.run import ingest_logs
from tests.ingest.helpers import log_mapping, write_csv

HEADER = "uid,when,action,amt,ipaddr,dev,card,peer,note,result"
#: a1: 1 success, 2 bad passwords, one login without a result; a2: 1 success and an order
#: (no result); a3: one login of result "Bad Password!" (another text, its own value);
#: a4 only receives a transfer.
ROWS = ["a1,2024-01-01T10:00:00Z,login,,,d1,,,,success",
        "a1,2024-01-01T10:05:00Z,login,,,d1,,,,bad_password",
        "a1,2024-01-01T10:06:00Z,login,,,d1,,,,bad_password",
        "a1,2024-01-01T10:07:00Z,login,,,d1,,,,",
        "a2,2024-01-01T11:00:00Z,login,,,d1,,,,success",
        "a2,2024-01-01T11:30:00Z,transfer,5,,d1,,a4,,",
        "a3,2024-01-01T12:00:00Z,login,,,d2,,,,Bad Password!"]


def shares_snapshot(tmp_path, rows=ROWS, result="string", **kwargs):
    mapping = log_mapping(attributes={"result": result})
    src = write_csv(tmp_path / "logins.csv", rows, header=HEADER)
    ingest_logs(src, mapping, tmp_path / "events", progress=False)
    return build_snapshot(tmp_path / "events", tmp_path / "snap", mapping=mapping,
                          progress=False, **kwargs)


def test_each_value_gives_the_share_of_the_accounts_events_with_a_value(tmp_path):
    snap = shares_snapshot(tmp_path)
    columns = {"bad_password": "attr_result_is_bad_password_share",
               "success": "attr_result_is_success_share",
               "Bad Password!": "attr_result_is_bad_password_2_share"}
    assert snap.meta["attribute_shares"] == {"result": columns}
    accounts = snap.nodes["Account"].set_index("id")
    got = accounts[list(columns.values())].to_dict("index")
    assert got == {
        "a1": dict(zip(columns.values(), [2 / 3, 1 / 3, 0.0], strict=True)),
        "a2": dict(zip(columns.values(), [0.0, 1.0, 0.0], strict=True)),
        "a3": dict(zip(columns.values(), [0.0, 0.0, 1.0], strict=True)),
        "a4": dict(zip(columns.values(), [0.0, 0.0, 0.0], strict=True)),
    }
    assert set(columns.values()) <= set(snap.feature_columns("Account"))


def test_featurize_false_and_a_value_map_make_no_share_features(tmp_path):
    off = shares_snapshot(tmp_path / "off", result={"type": "string", "featurize": False})
    assert "attribute_shares" not in off.meta
    assert not [c for c in off.nodes["Account"].columns if c.endswith("_share")]
    mapped = shares_snapshot(tmp_path / "values", rows=ROWS[:6],
                             result={"values": {"success": 0, "bad_password": 1}})
    assert "attribute_shares" not in mapped.meta
    assert mapped.nodes["Account"].set_index("id").loc["a1", "attr_result_mean"] == 2 / 3


def test_an_attribute_with_many_values_is_skipped_with_one_warning(tmp_path, caplog):
    many = MAX_ATTRIBUTE_VALUES + 3
    rows = [f"a{i % 5},2024-01-01T10:{i:02d}:00Z,login,,,d1,,,,agent-{i}" for i in range(many)]
    with caplog.at_level(logging.WARNING, logger="graph.build"):
        snap = shares_snapshot(tmp_path, rows=rows)
    assert "attribute_shares" not in snap.meta
    assert not [c for c in snap.nodes["Account"].columns if c.startswith("attr_result")]
    warned = [r.getMessage() for r in caplog.records if "result" in r.getMessage()]
    assert len(warned) == 1
    assert f"attribute result has {many} distinct values, more than 16" in warned[0]


def test_given_shares_fix_the_columns_whatever_the_events_hold(tmp_path):
    model = {"result": {"success": "attr_result_is_success_share",
                        "locked": "attr_result_is_locked_share"}}
    snap = shares_snapshot(tmp_path, attribute_shares=model)
    assert snap.meta["attribute_shares"] == model
    accounts = snap.nodes["Account"].set_index("id")
    # bad_password is a value the model never saw: counted in a1's denominator, in no share
    assert accounts.loc["a1", "attr_result_is_success_share"] == pytest.approx(1 / 3)
    assert accounts["attr_result_is_locked_share"].eq(0.0).all()
    assert "attr_result_is_bad_password_share" not in accounts.columns
    with pytest.raises(BuildError, match="no attribute 'reason'"):
        build_snapshot(tmp_path / "events", tmp_path / "other", progress=False,
                       attribute_shares={"reason": {"x": "attr_reason_is_x_share"}})


def test_share_feature_names_are_unique_and_plain():
    names = attribute_share_features({"a": ["OK", "ok", "", "é/é"], "b_is_ok": ["x"]})
    assert names == {"a": {"OK": "attr_a_is_ok_share", "ok": "attr_a_is_ok_2_share",
                           "": "attr_a_is_blank_share", "é/é": "attr_a_is_blank_2_share"},
                     "b_is_ok": {"x": "attr_b_is_ok_is_x_share"}}
