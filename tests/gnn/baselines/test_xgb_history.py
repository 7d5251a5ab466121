import numpy as np
import pandas as pd
import pytest

from gnn.baselines.xgb_history import XGBHistory, history_features
from tests.gnn.events.cards import card_world

T = pd.Timestamp("2024-01-01", tz="UTC")


def test_terminal_risk_uses_labels_older_than_the_delay_only():
    events = pd.DataFrame({
        "event_id": ["e1", "e2", "e3", "e4"],
        "ts": [T, T + pd.Timedelta(days=1), T + pd.Timedelta(days=9), T + pd.Timedelta(days=9)],
        "account_id": ["a", "b", "a", "c"],
        "terminal_id": ["t1", "t1", "t1", "t2"],
        "amount": [10.0, 20.0, 30.0, 40.0],
    })
    labels = pd.DataFrame({"event_id": ["e1", "e2"], "label": [1, 0]})
    features = history_features(events, labels, delay_days=7)
    row = dict(zip(features.names, features.x[2].tolist(), strict=True))
    # e3 at day 9: terminal t1's window (day 9 - 7 - w, day 9 - 7] holds e2 (day 1), and for
    # w >= 2 also e1 (day 0); the account's windows include e3 itself.
    assert row["terminal_id_n_1d"] == 1 and row["terminal_id_risk_1d"] == 0
    assert row["terminal_id_n_7d"] == 2 and row["terminal_id_risk_7d"] == 0.5
    assert row["acc_n_1d"] == 1 and row["acc_n_30d"] == 2
    assert row["acc_mean_amount_30d"] == pytest.approx(20.0)
    assert dict(zip(features.names, features.x[3].tolist(), strict=True))[
        "terminal_id_n_30d"] == 0


def test_fit_predict_save_load(tmp_path):
    events, labels = card_world(seed=3, customers=100, terminals=25, days=35)
    model = XGBHistory(n_estimators=40, n_jobs=1)
    table = model.event_features(events, labels)
    fitted = model.fit(table)
    scores = fitted.predict(table)
    assert list(scores.columns) == ["event_id", "account_id", "score", "payment_id",
                                    "terminal_id"]
    fitted.save(tmp_path / "baseline")
    loaded = XGBHistory.load(tmp_path / "baseline")
    np.testing.assert_allclose(loaded.predict_proba(table), scores["score"], atol=1e-6)


def test_known_at_only_leaves_out_a_fraud_learnt_after_the_delay():
    events = pd.DataFrame({
        "event_id": ["e1", "e2", "e3"],
        "ts": [T, T + pd.Timedelta(days=1), T + pd.Timedelta(days=9)],
        "account_id": ["a", "b", "c"],
        "terminal_id": ["t1", "t1", "t1"],
        "amount": [1.0, 1.0, 1.0],
    })
    labels = pd.DataFrame({
        "event_id": ["e1", "e2"], "label": [1, 1],
        "known_at": [T + pd.Timedelta(days=3), T + pd.Timedelta(days=20)],
    })
    risk = "terminal_id_risk_7d"
    handbook = history_features(events, labels)
    honest = history_features(events, labels, known_at_only=True)
    assert handbook.x[2, handbook.names.index(risk)] == 1.0
    # e2's fraud is learnt on day 21: at day 9 only e1 (learnt on day 3) counts.
    assert honest.x[2, honest.names.index(risk)] == 0.5
