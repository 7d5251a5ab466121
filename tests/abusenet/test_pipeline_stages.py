"""Stage functions on hand-made data: the label split and the positives-only labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abusenet.pipeline.stages import HOLDOUT_LABELS, TRAIN_LABELS, labels_stage, stratified_split
from graph.snapshot import ACCOUNT, Snapshot, write_snapshot


def labels_table(positives: int, negatives: int, with_ts: bool = True) -> pd.DataFrame:
    table = pd.DataFrame({
        "account_id": [f"p{i}" for i in range(positives)] + [f"n{i}" for i in range(negatives)],
        "label": np.r_[np.ones(positives), np.zeros(negatives)].astype(np.int8),
    })
    if with_ts:
        table["ts"] = pd.Timestamp("2025-01-02", tz="UTC")
    return table


def test_split_holds_back_the_fraction_of_each_class_and_is_seeded():
    labels = labels_table(20, 80)
    train, held = stratified_split(labels, 0.25, seed=3)
    assert (held["label"] == 1).sum() == 5 and (held["label"] == 0).sum() == 20
    assert set(train["account_id"]).isdisjoint(held["account_id"])
    assert len(train) + len(held) == 100
    again, _ = stratified_split(labels, 0.25, seed=3)
    pd.testing.assert_frame_equal(train, again)


@pytest.mark.parametrize(("positives", "fraction"), [(1, 0.2), (10, 0.0)])
def test_split_keeps_everything_when_it_cannot_hold_back(positives, fraction):
    train, held = stratified_split(labels_table(positives, 30), fraction, seed=0)
    assert held is None and len(train) == positives + 30


def test_split_refuses_a_fraction_of_one():
    with pytest.raises(ValueError, match="holdout_fraction"):
        stratified_split(labels_table(5, 5), 1.0, seed=0)


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
    train = pd.read_parquet(out / TRAIN_LABELS)
    held = pd.read_parquet(out / HOLDOUT_LABELS)
    assert len(train) + len(held) == 50 and held["label"].sum() == 2


def test_mixed_labels_stay_as_given_unless_asked(tmp_path):
    accounts = [f"p{i}" for i in range(5)] + [f"n{i}" for i in range(5)] + ["u0", "u1"]
    snap = snapshot_with(tmp_path, labels_table(5, 5), accounts)
    out = tmp_path / "out"
    out.mkdir()
    assert labels_stage(snap, out, holdout_fraction=0.2, seed=0)["labels"] == 10
    assert labels_stage(snap, out, holdout_fraction=0.2, seed=0,
                        unlabelled_as_negative=True)["labels"] == 12
