"""Labels for training and evaluation: filling in unlabelled accounts, stratified splits.

The one place that decides which accounts count as labelled and which labels are held back:
the pipeline's labels stage (training vs held-back evaluation labels) and the detectors
(training vs validation labels for early stopping) both split through :func:`stratified_split`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

#: ``unlabelled_as_negative`` settings: always, never, or when the labels name abusive accounts
#: only (AMLSim's alert lists).
UnlabelledAsNegative = bool | Literal["auto"]


def stratified_split(
    y: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation positions, ``val_fraction`` of each class in validation.

    Every class with at least two members keeps at least one member on each side.

    Parameters
    ----------
    y
        Class of each labelled item.
    val_fraction
        Share of each class that goes to validation (rounded).
    seed
        Seed of the draw; the same ``y``, fraction and seed give the same split.

    Returns
    -------
    tuple of numpy.ndarray
        Sorted positions into ``y``: ``(train, validation)``.
    """
    rng = np.random.default_rng(seed)
    val = []
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        take = int(round(val_fraction * len(members)))
        if len(members) > 1:
            take = min(max(take, 1), len(members) - 1)
        val.append(members[:take])
    val_pos = np.sort(np.concatenate(val)) if val else np.empty(0, dtype=np.int64)
    train_pos = np.setdiff1d(np.arange(len(y)), val_pos)
    return train_pos, val_pos


def holdout_split(
    labels: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``(kept, held back)`` rows of a labels table, by :func:`stratified_split` of ``label``.

    ``fraction`` of each class is held back, at least one of each class. Returns
    ``(labels, None)`` when ``fraction`` is 0 or a class has fewer than two members.

    Parameters
    ----------
    labels
        ``account_id, label[, ts]``.
    fraction
        Share of each class held back, in [0, 1).
    seed
        Seed of the split.

    Raises
    ------
    ValueError
        When ``fraction`` is outside [0, 1).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"labels.holdout_fraction must be in [0, 1), got {fraction}")
    counts = labels["label"].value_counts()
    if fraction == 0.0 or len(counts) < 2 or counts.min() < 2:
        return labels.reset_index(drop=True), None
    kept, held = stratified_split(labels["label"].to_numpy(), fraction, seed)
    return labels.iloc[kept].reset_index(drop=True), labels.iloc[held].reset_index(drop=True)


def accounts_beside_positives(
    ties: pd.DataFrame, positives: pd.Series, max_users: int
) -> pd.Series:
    """Accounts that share a rare entity with a labelled abusive account.

    Parameters
    ----------
    ties
        ``src`` (account id), ``dst`` (entity id, unique across entity types: prefix them) rows
        of the account -> entity relations.
    positives
        Ids of the accounts labelled abusive.
    max_users
        An entity used by at most this many accounts is rare; a hub (a merchant, a carrier's IP)
        ties nobody. 0 or less: none.

    Returns
    -------
    pandas.Series
        Sorted ids of the accounts on such an entity with a positive, positives excluded.
    """
    if max_users <= 0 or ties.empty or positives.empty:
        return pd.Series([], dtype=object)
    pairs = ties[["src", "dst"]].drop_duplicates()
    users = pairs.groupby("dst")["src"].transform("size")
    rare = pairs[users <= max_users]
    flagged = rare.loc[rare["src"].isin(positives), "dst"].unique()
    beside = rare.loc[rare["dst"].isin(flagged), "src"]
    return pd.Series(sorted(set(beside) - set(positives)), dtype=object)


def fills_unlabelled(labels: pd.DataFrame, unlabelled_as_negative: UnlabelledAsNegative) -> bool:
    """Whether :func:`fill_unlabelled` fills unlabelled accounts in for these ``labels`` (one
    per account): always with ``True``, with ``"auto"`` when every label is 1."""
    return unlabelled_as_negative is True or (
        unlabelled_as_negative == "auto" and bool((labels["label"] == 1).all()))


def fill_unlabelled(
    labels: pd.DataFrame, account_ids: pd.Series, unlabelled_as_negative: UnlabelledAsNegative,
    keep_unlabelled: pd.Series | None = None,
) -> tuple[pd.DataFrame, bool]:
    """One label per account, with every unlabelled account labelled 0 when asked.

    Parameters
    ----------
    labels
        ``account_id, label[, ts]``; of an account labelled twice the last label counts.
    account_ids
        Every account of the graph.
    unlabelled_as_negative
        ``True`` fills always, ``False`` never, ``"auto"`` when every given label is 1 (lists
        that name abusive accounts only). Filled rows have no ``ts``.
    keep_unlabelled
        Accounts never filled in (e.g. :func:`accounts_beside_positives`: a chargeback list
        names some of a ring; its other members are not legitimate for being unnamed).

    Returns
    -------
    tuple
        The labels table and whether unlabelled accounts were filled in.
    """
    labels = labels.drop_duplicates("account_id", keep="last").reset_index(drop=True)
    filled = fills_unlabelled(labels, unlabelled_as_negative)
    if filled:
        rest = account_ids[~account_ids.isin(labels["account_id"])]
        if keep_unlabelled is not None:
            rest = rest[~rest.astype(str).isin(keep_unlabelled.astype(str))]
        extra = pd.DataFrame({"account_id": rest.astype(str).to_numpy(), "label": np.int8(0)})
        if "ts" in labels.columns:
            extra["ts"] = pd.Series(pd.NaT, index=extra.index, dtype=labels["ts"].dtype)
        labels = pd.concat([labels, extra], ignore_index=True)
    return labels, filled
