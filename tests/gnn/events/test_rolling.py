import numpy as np
import pandas as pd
import pytest

from gnn.events.model import EventModel
from gnn.events.rolling import (
    _fold_rows,
    card_precision_at_k,
    daily_metrics,
    rolling_evaluation,
    rolling_folds,
    rolling_scores,
)
from tests.gnn.events.cards import card_world

T = pd.Timestamp("2024-01-01", tz="UTC")


def test_folds_leave_a_gap_and_move_a_week_on():
    folds = rolling_folds(T, T + pd.Timedelta(days=48), min_train_weeks=2, gap_days=7)
    assert [(f.train_end - T).days for f in folds] == [14, 21, 28, 35]
    for f in folds:
        assert f.train_start == T
        assert (f.test_start - f.train_end).days == 7 and (f.test_end - f.test_start).days == 7
    assert folds[-1].test_end <= T + pd.Timedelta(days=49)
    sliding = rolling_folds(T, T + pd.Timedelta(days=48), train_weeks=1, max_folds=2)
    assert [(f.train_end - f.train_start).days for f in sliding] == [7, 7]
    assert len(sliding) == 2 and sliding[-1] == folds[-1].__class__(
        T + pd.Timedelta(days=28), T + pd.Timedelta(days=35), T + pd.Timedelta(days=42),
        T + pd.Timedelta(days=49))


def test_card_precision_takes_each_cards_highest_score():
    cards = np.array(["a", "a", "b", "c", "c"])
    label = np.array([0, 1, 0, 0, 0])
    score = np.array([0.1, 0.2, 0.9, 0.3, 0.8])
    # card risk: a 0.2, b 0.9, c 0.8; compromised: a only.
    assert card_precision_at_k(cards, label, score, k=2) == 0.0
    assert card_precision_at_k(cards, label, score, k=3) == pytest.approx(1 / 3)
    assert card_precision_at_k(cards, label, score, k=10) == pytest.approx(1 / 10)


@pytest.fixture(scope="module")
def table():
    events, labels = card_world(seed=2, customers=120, terminals=30, days=42)
    return EventModel().event_features(events, labels)


def test_training_and_test_days_never_meet(table):
    ts = table.ids["ts"]
    for _, fold, train, test in _fold_rows(table, ts, 2, None, 7, 7, None):
        train_days = set(ts.iloc[train].dt.floor("D"))
        test_days = set(ts.iloc[test].dt.floor("D"))
        assert train_days and test_days and not train_days & test_days
        assert ts.iloc[train].max() < fold.train_end
        assert ts.iloc[test].min() >= fold.test_start
        assert (table.ids["known_at"].iloc[train] <= fold.test_start).all()


def test_rolling_evaluation_reports_every_test_day(table):
    result = rolling_evaluation(EventModel(n_estimators=40, n_jobs=1), table, max_folds=2)
    assert list(result["fold"].unique()) == [0, 1]
    assert len(result) == 14 and result["day"].is_unique
    with_fraud = result["fraud"] > 0
    assert result.loc[with_fraud, ["auroc", "auprc"]].notna().all().all()
    assert result.loc[~with_fraud, "auroc"].isna().all()
    assert result["card_precision_at_k"].between(0, 1).all()
    assert result.loc[with_fraud, "auroc"].mean() > 0.6


def test_rolling_scores_are_the_test_events_and_give_the_daily_metrics(table):
    model = EventModel(n_estimators=40, n_jobs=1)
    scores = rolling_scores(model, table, max_folds=2)
    ts = table.ids["ts"]
    expected = np.concatenate([test for *_, test in _fold_rows(table, ts, 2, None, 7, 7, 2)])
    assert scores["event_id"].tolist() == table.ids["event_id"].iloc[expected].tolist()
    assert scores["score"].between(0, 1).all()
    assert (scores["day"] == scores["ts"].dt.strftime("%Y-%m-%d")).all()
    pd.testing.assert_frame_equal(daily_metrics(scores),
                                  rolling_evaluation(model, table, max_folds=2))
