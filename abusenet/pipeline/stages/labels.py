"""The labels stage: the snapshot's labels -> training and held-back evaluation labels.

Account labels are those given (the snapshot's ``labels.parquet``) and, with event labels, those
derived from them by the run config's ``labels.from_events`` rule
(:func:`account_labels_from_events`); a given label wins over a derived one
(:func:`merge_account_labels`). The snapshot's matched event and entity labels are copied as they
are into the stage's output (:data:`~abusenet.pipeline.stages.files.EVENT_LABELS`,
:data:`~abusenet.pipeline.stages.files.ENTITY_LABELS`): the tables the event and entity models
train on (:attr:`abusenet.pipeline.plan.PlannedRun.event_labels` and ``entity_labels``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from abusenet.pipeline.config import FromEvents
from abusenet.pipeline.stages.files import (
    ENTITY_LABELS,
    EVENT_LABELS,
    HOLDOUT_LABELS,
    TRAIN_LABELS,
)
from gnn.labels import (
    UnlabelledAsNegative,
    accounts_beside_positives,
    fill_unlabelled,
    fills_unlabelled,
    holdout_split,
)


def labels_stage(
    snapshot_dir: Path,
    out: Path,
    *,
    holdout_fraction: float,
    seed: int,
    unlabelled_as_negative: UnlabelledAsNegative = "auto",
    from_events: FromEvents = "none",
    rare_tie_users: int = 0,
) -> dict[str, Any]:
    """Split the account labels into training and held-back labels; pass on event and entity
    labels.

    With ``unlabelled_as_negative`` true (or ``"auto"`` and labels naming abusive accounts only),
    every account of the graph without a label is labelled 0 first
    (:func:`gnn.labels.fill_unlabelled`), but for those sharing an entity of at most
    ``rare_tie_users`` accounts with a labelled abusive account
    (:func:`gnn.labels.accounts_beside_positives`): they stay unlabelled. The split is stratified
    (:func:`gnn.labels.holdout_split`); ``holdout_fraction`` 0 keeps every label for training
    (and writes no held-back labels). Without account labels (none given, none derived) no
    split is written: only the event and entity labels.

    Returns
    -------
    dict
        ``labels``, ``positives``, ``unlabelled_as_negative``, ``train``, ``holdout``; when
        unlabelled accounts were filled in, ``filled_negatives`` (how many) and
        ``kept_unlabelled`` (left out beside positives); with event labels
        also ``derived_from_events`` (account labels derived) and ``event_labels``, with entity
        labels ``entity_labels`` (the snapshot manifest's facts: kept, positives, unmatched,
        skipped).

    Raises
    ------
    ValueError
        When account labels were given and none names an account of the graph.
    """
    from graph.snapshot import ACCOUNT, read_manifest, read_snapshot
    from graph.snapshot_labels import ENTITY_LABELS_FILE, EVENT_LABELS_FILE

    snapshot = read_snapshot(snapshot_dir, node_types=[ACCOUNT], relations=[])
    manifest = read_manifest(snapshot_dir)
    extra: dict[str, Any] = {}
    given = snapshot.labels
    if (snapshot_dir / ENTITY_LABELS_FILE).is_file():
        shutil.copyfile(snapshot_dir / ENTITY_LABELS_FILE, out / ENTITY_LABELS)
        extra["entity_labels"] = manifest["entity_labels"]
    if (snapshot_dir / EVENT_LABELS_FILE).is_file():
        shutil.copyfile(snapshot_dir / EVENT_LABELS_FILE, out / EVENT_LABELS)
        derived = account_labels_from_events(pd.read_parquet(out / EVENT_LABELS), from_events)
        extra = {"event_labels": manifest["event_labels"], **extra,
                 "derived_from_events": int(len(derived)), "from_events": from_events}
        if given is not None and given.empty:
            raise ValueError("the snapshot holds no labels of accounts in the graph")
        given = merge_account_labels(given, derived)
    if given is None or given.empty:
        if extra:
            return {"labels": 0, "positives": 0, "unlabelled_as_negative": False, "train": 0,
                    "holdout": 0, **extra}
        raise ValueError("the snapshot holds no labels of accounts in the graph")
    given = given.drop_duplicates("account_id", keep="last")
    beside = None
    if fills_unlabelled(given, unlabelled_as_negative):
        # the relations are read only when the setting is on (off by default)
        beside = (accounts_beside_positives(_entity_ties(snapshot_dir, manifest),
                                            given.loc[given["label"] == 1, "account_id"],
                                            rare_tie_users)
                  if rare_tie_users > 0 else pd.Series([], dtype=object))
    labels, filled = fill_unlabelled(given, snapshot.nodes[ACCOUNT]["id"], unlabelled_as_negative,
                                     keep_unlabelled=beside)
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
        **({"filled_negatives": int((~labels["account_id"].isin(given["account_id"])).sum()),
            "kept_unlabelled": int(len(beside) - beside.isin(given["account_id"]).sum())}
           if filled and beside is not None else {}),
        **extra,
    }


def account_labels_from_events(event_labels: pd.DataFrame, rule: FromEvents) -> pd.DataFrame:
    """Account labels (``account_id, label, ts``) derived from matched event labels.

    ``any``: an account with at least one event labelled 1 is abusive (``ts``: the earliest
    ``known_at`` of those events), an account whose labelled events are all 0 is legitimate
    (``ts``: the earliest ``known_at``); ``none``: no labels. Sorted by ``account_id``.
    """
    empty = pd.DataFrame({"account_id": pd.Series([], dtype=str),
                          "label": pd.Series([], dtype="int8"),
                          "ts": pd.Series([], dtype="datetime64[us, UTC]")})
    if rule == "none" or event_labels.empty:
        return empty
    labels = event_labels.groupby("account_id", sort=True)["label"].max().astype("int8")
    deciding = event_labels[event_labels["label"] == event_labels["account_id"].map(labels)]
    known = deciding.groupby("account_id", sort=True)["known_at"].min()
    known = pd.to_datetime(known.reindex(labels.index), utc=True).astype("datetime64[us, UTC]")
    # the Series, not to_numpy(): an all-NaT column (event labels without known_at) would come
    # out zone-naive, and casting that to UTC raises
    return pd.DataFrame({"account_id": labels.index.astype(str), "label": labels.to_numpy(),
                         "ts": known.reset_index(drop=True)})


def merge_account_labels(given: pd.DataFrame | None, derived: pd.DataFrame) -> pd.DataFrame:
    """``given`` account labels, then the ``derived`` ones of accounts ``given`` lacks: a given
    label wins over a derived one."""
    if given is None or given.empty:
        return derived.reset_index(drop=True)
    extra = derived[~derived["account_id"].isin(given["account_id"])]
    return pd.concat([given, extra], ignore_index=True)


def _entity_ties(snapshot_dir: Path, manifest: dict[str, Any]) -> pd.DataFrame:
    """``src`` (account id), ``dst`` (``type:id``) of every account -> entity relation."""
    from graph.snapshot import ACCOUNT

    frames = [
        pd.read_parquet(snapshot_dir / spec["file"], columns=["src", "dst"])
        .assign(dst=lambda t, kind=spec["dst"]: kind + ":" + t["dst"].astype(str))
        for spec in manifest["relations"].values()
        if spec["src"] == ACCOUNT and spec["dst"] != ACCOUNT
    ]
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame({"src": pd.Series(dtype=object), "dst": pd.Series(dtype=object)}))
