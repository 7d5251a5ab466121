"""Rolling time-split evaluation of event models: train on weeks 1..k, a gap, test the next week.

The field's protocol for transaction fraud (the fraud-detection handbook, chapter 5): a model
is trained on the events before a cut, the labels of a gap after the cut are not yet known, and
it is tested on the week after the gap; the cut then moves a week on. Each test day is scored on
its own: transaction AUROC and AUPRC, and card precision@k (the share of truly compromised
cards among the ``k`` riskiest cards of the day, a card's risk being the highest score of its
events that day, a card compromised when one of its events that day is fraud).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gnn.evaluate import auprc, auroc
from gnn.events.booster import EventBooster
from gnn.events.source import Events, Labels
from gnn.events.table import EventFeatures

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Fold:
    """One rolling split: train on ``[train_start, train_end)``, test on
    ``[test_start, test_end)``; the gap ``[train_end, test_start)`` is neither."""

    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def rolling_folds(
    first_ts: pd.Timestamp,
    last_ts: pd.Timestamp,
    *,
    min_train_weeks: int = 2,
    train_weeks: int | None = None,
    gap_days: int = 7,
    test_days: int = 7,
    max_folds: int | None = None,
) -> list[Fold]:
    """The rolling splits of the days from ``first_ts`` to ``last_ts`` (UTC days).

    Parameters
    ----------
    min_train_weeks
        Weeks of training before the first test.
    train_weeks
        Weeks of training of every fold (a sliding window); ``None``: all weeks so far.
    gap_days
        Days between training and test (labels not known yet).
    test_days
        Days tested per fold; the next fold's cut is that many days later.
    max_folds
        Keep only the last ``max_folds`` folds.

    Returns
    -------
    list[Fold]
        Folds whose test days lie wholly within the data, oldest first.
    """
    start = pd.Timestamp(first_ts).floor("D")
    end = pd.Timestamp(last_ts).floor("D") + DAY
    folds = []
    cut = start + pd.Timedelta(weeks=min_train_weeks)
    while cut + pd.Timedelta(days=gap_days + test_days) <= end:
        train_start = start if train_weeks is None else max(
            start, cut - pd.Timedelta(weeks=train_weeks))
        test_start = cut + pd.Timedelta(days=gap_days)
        folds.append(Fold(train_start, cut, test_start, test_start + pd.Timedelta(days=test_days)))
        cut += pd.Timedelta(days=test_days)
    return folds[-max_folds:] if max_folds else folds


def card_precision_at_k(
    cards: np.ndarray, label: np.ndarray, score: np.ndarray, k: int = 100
) -> float:
    """Share of compromised cards among the ``k`` riskiest cards of one day.

    A card's risk is the highest score of its events; a card is compromised when one of its
    events is fraud. The count is divided by ``k`` even when the day has fewer cards (the
    investigators' budget is ``k`` cards a day).
    """
    frame = pd.DataFrame({"card": cards, "label": label, "score": score})
    per_card = frame.groupby("card", sort=True).agg(label=("label", "max"), score=("score", "max"))
    top = per_card.sort_values(["score"], ascending=False, kind="stable").head(k)
    return float(top["label"].sum() / k)


def rolling_scores(
    model: EventBooster,
    events: Events | EventFeatures,
    event_labels: Labels | None = None,
    *,
    min_train_weeks: int = 2,
    train_weeks: int | None = None,
    gap_days: int = 7,
    test_days: int = 7,
    max_folds: int | None = None,
) -> pd.DataFrame:
    """The test events' scores of every rolling fold (a fresh copy of ``model`` per fold).

    Parameters
    ----------
    model
        An unfitted event model (:class:`~gnn.events.model.EventModel`,
        :class:`~gnn.baselines.xgb_history.XGBHistory`); its parameters are copied per fold.
    events
        Events (directory or table) with ``event_labels``, or a feature table already built
        by ``model.event_features`` (its features are computed once for all folds: each
        event's features use only labels known before it, so no fold sees its future).
    event_labels
        ``event_id, label, known_at``; needed unless ``events`` is a feature table.
    min_train_weeks, train_weeks, gap_days, test_days, max_folds
        The splits (:func:`rolling_folds`).

    Returns
    -------
    pandas.DataFrame
        One row per labelled test event: ``fold``, ``day`` (UTC date, ISO text), the ids of
        the feature table (``event_id``, ``ts``, ``account_id``, entity columns, ``label``,
        ``known_at``) and ``score``. Training uses the labelled events before the cut whose
        label was known by the test start; a label known later is left out.
    """
    table = events if isinstance(events, EventFeatures) else model.event_features(
        events, event_labels)
    frames = []
    for number, _fold, train, test in _fold_rows(table, table.ids["ts"], min_train_weeks,
                                                train_weeks, gap_days, test_days, max_folds):
        fitted = type(model)(**model.get_params()).fit(table.take(train))
        tested = table.take(test)
        frame = tested.ids.copy()
        frame.insert(0, "day", frame["ts"].dt.floor("D").dt.date.astype(str))
        frame.insert(0, "fold", number)
        frame["score"] = fitted.predict_proba(tested)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["fold", "day", *table.ids.columns, "score"])


def daily_metrics(scores: pd.DataFrame, *, card_column: str = "payment_id",
                  k: int = 100) -> pd.DataFrame:
    """Per test day quality of :func:`rolling_scores`' output.

    Returns
    -------
    pandas.DataFrame
        One row per test day: ``fold``, ``day``, ``events``, ``fraud``, ``auroc``, ``auprc``
        (``nan`` on a day without fraud), ``card_precision_at_k`` (cards of ``card_column``,
        ``account_id`` when the scores have no such column).
    """
    card = card_column if card_column in scores else "account_id"
    rows = []
    for (fold, day), group in scores.groupby(["fold", "day"], sort=True):
        y = group["label"].to_numpy()
        score = group["score"].to_numpy()
        rows.append({
            "fold": fold, "day": day, "events": len(group), "fraud": int(y.sum()),
            "auroc": auroc(y, score), "auprc": auprc(y, score),
            "card_precision_at_k": card_precision_at_k(group[card].to_numpy(), y, score, k),
        })
    return pd.DataFrame(rows, columns=["fold", "day", "events", "fraud", "auroc", "auprc",
                                       "card_precision_at_k"])


def rolling_evaluation(
    model: EventBooster,
    events: Events | EventFeatures,
    event_labels: Labels | None = None,
    *,
    card_column: str = "payment_id",
    k: int = 100,
    min_train_weeks: int = 2,
    train_weeks: int | None = None,
    gap_days: int = 7,
    test_days: int = 7,
    max_folds: int | None = None,
) -> pd.DataFrame:
    """Rolling time-split quality of ``model``: :func:`daily_metrics` of :func:`rolling_scores`.

    Parameters
    ----------
    model, events, event_labels, min_train_weeks, train_weeks, gap_days, test_days, max_folds
        As for :func:`rolling_scores`.
    card_column
        The card (for card precision@k); ``account_id`` when the events have no such column.
    k
        Cards checked per day.

    Returns
    -------
    pandas.DataFrame
        One row per test day: ``fold``, ``day``, ``events``, ``fraud``, ``auroc``, ``auprc``,
        ``card_precision_at_k``. Test days use every labelled event.
    """
    scores = rolling_scores(model, events, event_labels, min_train_weeks=min_train_weeks,
                            train_weeks=train_weeks, gap_days=gap_days, test_days=test_days,
                            max_folds=max_folds)
    return daily_metrics(scores, card_column=card_column, k=k)


def _fold_rows(
    table: EventFeatures, ts: pd.Series, min_train_weeks: int, train_weeks: int | None,
    gap_days: int, test_days: int, max_folds: int | None,
) -> Iterator[tuple[int, Fold, np.ndarray, np.ndarray]]:
    """Each fold with the positions of its training and its test events."""
    labelled = table.ids["label"].notna().to_numpy()
    known_at = table.ids["known_at"]
    folds = rolling_folds(ts.min(), ts.max(), min_train_weeks=min_train_weeks,
                          train_weeks=train_weeks, gap_days=gap_days, test_days=test_days,
                          max_folds=max_folds)
    for number, fold in enumerate(folds):
        in_train = ((ts >= fold.train_start) & (ts < fold.train_end)).to_numpy()
        known = (known_at.isna() | (known_at <= fold.test_start)).to_numpy()
        in_test = ((ts >= fold.test_start) & (ts < fold.test_end)).to_numpy()
        yield (number, fold, np.flatnonzero(in_train & labelled & known),
               np.flatnonzero(in_test & labelled))
