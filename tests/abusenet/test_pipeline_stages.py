"""The labels stage on hand-made data: the split files, the positives-only labels, and account
labels derived from event labels."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from abusenet.pipeline.plan import _describe_labels
from abusenet.pipeline.stages.files import EVENT_LABELS, HOLDOUT_LABELS, TRAIN_LABELS
from abusenet.pipeline.stages.labels import (
    account_labels_from_events,
    labels_stage,
    merge_account_labels,
)
from graph.snapshot import ACCOUNT, Snapshot, write_snapshot
from tests.gnn.test_labels import labels_table


def snapshot_with(tmp_path, labels: pd.DataFrame, accounts: list[str]):
    ts = pd.Timestamp("2025-01-01", tz="UTC")
    nodes = {ACCOUNT: pd.DataFrame({"id": accounts, "first_ts": ts, "last_ts": ts})}
    return write_snapshot(Snapshot(nodes=nodes, edges={}, relations={}, labels=labels),
                          tmp_path / "snap")


@pytest.mark.parametrize("with_ts", [True, False])
def test_positives_only_labels_make_every_other_account_legitimate(tmp_path, with_ts):
    accounts = [f"p{i}" for i in range(10)] + [f"u{i}" for i in range(40)]
    snap = snapshot_with(tmp_path, labels_table(10, 0, with_ts), accounts)
    out = tmp_path / "out"
    out.mkdir()
    info = labels_stage(snap, out, holdout_fraction=0.2, seed=0)
    assert info["unlabelled_as_negative"] is True
    assert info["labels"] == 50 and info["positives"] == 10
    assert info["filled_negatives"] == 40
    assert "40 unlabelled accounts taken as legitimate" in _describe_labels(info)
    train = pd.read_parquet(out / TRAIN_LABELS)
    held = pd.read_parquet(out / HOLDOUT_LABELS)
    assert len(train) + len(held) == 50 and held["label"].sum() == 2


def test_a_rings_unnamed_members_are_not_filled_in_as_legitimate(tmp_path):
    """With ``rare_tie_users`` 10: a chargeback list names p0 and p1; u0 and u1 paid with their
    card (4 users), the shop has all 50 accounts: u0 and u1 stay unlabelled, every other unnamed
    account is filled. Off by default."""
    from graph.snapshot import DEVICE, PAYMENT_METHOD, RelationSpec

    accounts = [f"p{i}" for i in range(10)] + [f"u{i}" for i in range(40)]
    ts = pd.Timestamp("2025-01-01", tz="UTC")
    edge = {"count": 1, "first_ts": ts, "last_ts": ts, "amount_sum": 1.0}
    paid = pd.DataFrame({"src": ["p0", "p1", "u0", "u1"], "dst": "card", **edge})
    shop = pd.DataFrame({"src": accounts, "dst": "shop", **edge})
    nodes = {ACCOUNT: pd.DataFrame({"id": accounts, "first_ts": ts, "last_ts": ts}),
             PAYMENT_METHOD: pd.DataFrame({"id": ["card"], "first_ts": ts, "last_ts": ts}),
             DEVICE: pd.DataFrame({"id": ["shop"], "first_ts": ts, "last_ts": ts})}
    relations = {"PAID_WITH": RelationSpec("PAID_WITH", ACCOUNT, PAYMENT_METHOD),
                 "USED_DEVICE": RelationSpec("USED_DEVICE", ACCOUNT, DEVICE)}
    snap = write_snapshot(Snapshot(nodes=nodes, edges={"PAID_WITH": paid, "USED_DEVICE": shop},
                                   relations=relations, labels=labels_table(10, 0)),
                          tmp_path / "snap")
    out = tmp_path / "out"
    out.mkdir()
    info = labels_stage(snap, out, holdout_fraction=0.2, seed=0, rare_tie_users=10)
    assert info["filled_negatives"] == 38 and info["kept_unlabelled"] == 2
    assert "2 left unlabelled for sharing a rare entity" in _describe_labels(info)
    every = pd.concat([pd.read_parquet(out / TRAIN_LABELS), pd.read_parquet(out / HOLDOUT_LABELS)])
    assert not every["account_id"].isin(["u0", "u1"]).any() and len(every) == 48
    info = labels_stage(snap, out, holdout_fraction=0.2, seed=0)  # the default: off
    assert info["filled_negatives"] == 40 and info["kept_unlabelled"] == 0


def test_mixed_labels_stay_as_given_unless_asked(tmp_path):
    accounts = [f"p{i}" for i in range(5)] + [f"n{i}" for i in range(5)] + ["u0", "u1"]
    snap = snapshot_with(tmp_path, labels_table(5, 5), accounts)
    out = tmp_path / "out"
    out.mkdir()
    assert labels_stage(snap, out, holdout_fraction=0.2, seed=0)["labels"] == 10
    assert labels_stage(snap, out, holdout_fraction=0.2, seed=0,
                        unlabelled_as_negative=True)["labels"] == 12


def snapshot_with_event_labels(tmp_path, labels: pd.DataFrame | None):
    """A snapshot of accounts a, b, c whose events e1..e4 are labelled (a: 0, 1; b: 0, 0)."""
    from graph.snapshot import read_manifest
    from graph.snapshot_labels import EVENT_LABELS_FILE

    snap = snapshot_with(tmp_path, labels, ["a", "b", "c"])
    utc = pd.Timestamp("2024-01-01", tz="UTC")
    events = pd.DataFrame({
        "event_id": ["e1", "e2", "e3", "e4"], "account_id": ["a", "a", "b", "b"],
        "ts": utc, "label": pd.array([0, 1, 0, 0], dtype="int8"),
        "known_at": [utc, utc + pd.Timedelta(days=3), utc + pd.Timedelta(days=1), pd.NaT],
    }).astype({"known_at": "datetime64[us, UTC]"})
    events.to_parquet(snap / EVENT_LABELS_FILE, index=False)
    manifest = read_manifest(snap)
    manifest["event_labels"] = {"file": EVENT_LABELS_FILE, "count": 4, "positives": 1,
                                "unmatched": 2, "skipped": 0}
    (snap / "manifest.json").write_text(json.dumps(manifest))
    return snap


def test_account_labels_are_derived_from_event_labels_and_event_labels_passed_on(tmp_path):
    snap = snapshot_with_event_labels(tmp_path, None)
    out = tmp_path / "out"
    out.mkdir()
    info = labels_stage(snap, out, holdout_fraction=0.0, seed=0, from_events="any")
    assert info["derived_from_events"] == 2 and info["event_labels"]["unmatched"] == 2
    train = pd.read_parquet(out / TRAIN_LABELS)
    assert train[["account_id", "label"]].values.tolist() == [["a", 1], ["b", 0]]
    utc = pd.Timestamp("2024-01-01", tz="UTC")
    assert train["ts"].tolist() == [utc + pd.Timedelta(days=3), utc + pd.Timedelta(days=1)]
    assert pd.read_parquet(out / EVENT_LABELS)["event_id"].tolist() == ["e1", "e2", "e3", "e4"]


def test_given_account_labels_win_over_derived_ones(tmp_path):
    given = pd.DataFrame({"account_id": ["a", "c"], "label": pd.array([0, 1], dtype="int8"),
                          "ts": pd.Series([pd.NaT] * 2, dtype="datetime64[us, UTC]")})
    snap = snapshot_with_event_labels(tmp_path, given)
    out = tmp_path / "out"
    out.mkdir()
    labels_stage(snap, out, holdout_fraction=0.0, seed=0, from_events="any")
    train = pd.read_parquet(out / TRAIN_LABELS).sort_values("account_id")
    assert train[["account_id", "label"]].values.tolist() == [["a", 0], ["b", 0], ["c", 1]]


def test_event_labels_without_derived_account_labels_write_no_split(tmp_path):
    snap = snapshot_with_event_labels(tmp_path, None)
    out = tmp_path / "out"
    out.mkdir()
    info = labels_stage(snap, out, holdout_fraction=0.2, seed=0, from_events="none")
    assert (info["labels"], info["derived_from_events"]) == (0, 0)
    assert sorted(p.name for p in out.iterdir()) == [EVENT_LABELS]
    assert account_labels_from_events(pd.read_parquet(out / EVENT_LABELS), "none").empty


def test_an_account_only_split_keeps_its_info_keys(tmp_path):
    snap = snapshot_with(tmp_path, labels_table(5, 5), [f"a{i}" for i in range(12)])
    out = tmp_path / "out"
    out.mkdir()
    info = labels_stage(snap, out, holdout_fraction=0.2, seed=0)
    assert sorted(info) == ["holdout", "labels", "positives", "train", "unlabelled_as_negative"]
    assert sorted(p.name for p in out.iterdir()) == [HOLDOUT_LABELS, TRAIN_LABELS]


def test_account_labels_from_event_labels_without_known_at_have_no_time():
    # an event labels file without a known_at column: every known_at is NaT (a TypeError before)
    events = pd.DataFrame({
        "event_id": ["e1", "e2", "e3"], "account_id": ["a", "a", "b"], "label": [0, 1, 0],
        "known_at": pd.Series([pd.NaT] * 3, dtype="datetime64[us, UTC]")})
    derived = account_labels_from_events(events, "any")
    assert derived[["account_id", "label"]].values.tolist() == [["a", 1], ["b", 0]]
    assert str(derived["ts"].dtype) == "datetime64[us, UTC]" and derived["ts"].isna().all()


def test_account_labels_from_events_by_rule():
    utc = pd.Timestamp("2024-01-01", tz="UTC")
    events = pd.DataFrame({
        "event_id": ["e1", "e2", "e3", "e4"], "account_id": ["a", "a", "b", "b"],
        "label": [0, 1, 0, 0],
        "known_at": [utc, utc + pd.Timedelta(days=3), utc + pd.Timedelta(days=1), pd.NaT],
    })
    derived = account_labels_from_events(events, "any")
    assert derived[["account_id", "label"]].values.tolist() == [["a", 1], ["b", 0]]
    assert derived["ts"].tolist() == [utc + pd.Timedelta(days=3), utc + pd.Timedelta(days=1)]
    assert account_labels_from_events(events, "none").empty
    given = pd.DataFrame({"account_id": ["a", "c"], "label": [0, 1]}).astype({"label": "int8"})
    merged = merge_account_labels(given, derived)
    assert merged[["account_id", "label"]].values.tolist() == [["a", 0], ["c", 1], ["b", 0]]
