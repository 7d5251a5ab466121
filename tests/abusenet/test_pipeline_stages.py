"""The labels stage on hand-made data: the split files and the positives-only labels."""

from __future__ import annotations

import pandas as pd
import pytest

from abusenet.pipeline.stages.files import HOLDOUT_LABELS, TRAIN_LABELS
from abusenet.pipeline.stages.labels import labels_stage
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
