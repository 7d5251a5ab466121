"""The labels stage: the snapshot's labels -> training and held-back evaluation labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from abusenet.pipeline.stages.files import HOLDOUT_LABELS, TRAIN_LABELS
from gnn.labels import UnlabelledAsNegative, fill_unlabelled, holdout_split


def labels_stage(
    snapshot_dir: Path,
    out: Path,
    *,
    holdout_fraction: float,
    seed: int,
    unlabelled_as_negative: UnlabelledAsNegative = "auto",
) -> dict[str, Any]:
    """Split the snapshot's labels into training and held-back evaluation labels.

    With ``unlabelled_as_negative`` true (or ``"auto"`` and labels naming abusive accounts only),
    every account of the graph without a label is labelled 0 first
    (:func:`gnn.labels.fill_unlabelled`). The split is stratified
    (:func:`gnn.labels.holdout_split`); ``holdout_fraction`` 0 keeps every label for training
    (and writes no held-back labels).
    """
    from graph.snapshot import ACCOUNT, read_snapshot

    snapshot = read_snapshot(snapshot_dir, node_types=[ACCOUNT], relations=[])
    if snapshot.labels is None or snapshot.labels.empty:
        raise ValueError("the snapshot holds no labels of accounts in the graph")
    labels, filled = fill_unlabelled(snapshot.labels, snapshot.nodes[ACCOUNT]["id"],
                                     unlabelled_as_negative)
    train, holdout = holdout_split(labels, holdout_fraction, seed)
    train.to_parquet(out / TRAIN_LABELS, index=False)
    if holdout is not None:
        holdout.to_parquet(out / HOLDOUT_LABELS, index=False)
    return {
        "labels": int(len(labels)),
        "positives": int(labels["label"].sum()),
        "unlabelled_as_negative": filled,
        "train": int(len(train)),
        "holdout": 0 if holdout is None else int(len(holdout)),
    }
