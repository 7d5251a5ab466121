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
    model = XGBHistory(history="known", n_estimators=40, n_jobs=1)
    table = model.event_features(events, labels)
    fitted = model.fit(table)
    scores = fitted.predict(table)
    assert list(scores.columns) == ["event_id", "account_id", "score", "payment_id",
                                    "terminal_id"]
    fitted.save(tmp_path / "baseline")
    loaded = XGBHistory.load(tmp_path / "baseline")
    assert loaded.history == "known"
    np.testing.assert_allclose(loaded.predict_proba(table), scores["score"], atol=1e-6)


def test_a_model_saved_with_known_at_only_loads_in_its_mode(tmp_path):
    import json

    events, labels = card_world(seed=3, customers=100, terminals=25, days=35)
    model = XGBHistory(history="own_event_delay", n_estimators=10, n_jobs=1)
    model.fit(model.event_features(events, labels)).save(tmp_path / "old")
    meta_path = tmp_path / "old" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    del meta["params"]["history"]
    for flag, mode in ((True, "own_event_delay"), (False, "handbook")):
        meta["params"]["known_at_only"] = flag
        meta_path.write_text(json.dumps(meta))
        assert XGBHistory.load(tmp_path / "old").history == mode


def test_own_event_delay_leaves_out_a_fraud_learnt_after_the_delay():
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
    honest = history_features(events, labels, history="own_event_delay")
    assert handbook.x[2, handbook.names.index(risk)] == 1.0
    # e2's fraud is learnt on day 21: at day 9 only e1 (learnt on day 3) counts.
    assert honest.x[2, honest.names.index(risk)] == 0.5


def _risk(features, row: int, name: str = "terminal_id_risk_7d") -> float:
    return float(features.x[row, features.names.index(name)])


def test_known_counts_a_fraud_from_the_time_its_label_is_known_whatever_its_age():
    day = pd.Timedelta(days=1)
    events = pd.DataFrame({
        "event_id": ["e1", "e2", "e3", "e4", "e5", "e6"],
        "ts": [T, T + 2 * day, T + 3 * day, T + 4 * day, T + 4 * day, T + 4 * day],
        "account_id": ["a", "b", "c", "d", "e", "f"],
        "terminal_id": ["t1", "t1", "t1", "t1", "t2", None],
        "amount": [1.0] * 6,
    })
    # e1 is a fraud charged back 3 days after it; e2 a genuine purchase settled at once.
    labels = pd.DataFrame({"event_id": ["e1", "e2"], "label": [1, 0],
                           "known_at": [T + 3 * day, T + 2 * day]})
    got = {history: history_features(events, labels, windows=(7,), delay_days=1,
                                     history=history)
           for history in ("handbook", "own_event_delay", "known")}
    n = got["known"].names.index("terminal_id_n_7d")
    # Windows [t - 8 days, t - 1 day]: e2 (day 2) holds e1; e3 (day 3) e1, e2; e4 e1 to e3.
    assert got["known"].x[[1, 2, 3, 4], n].tolist() == [1, 2, 3, 0]
    # Purchase 2 days after the fraud: not yet known; at 3 days (known_at == ts) and 4: known.
    assert [_risk(got["known"], r) for r in (1, 2, 3, 4)] == pytest.approx([0, 1 / 2, 1 / 3, 0])
    # The handbook counts it before it is known; the own-event delay (1 day) never does.
    assert [_risk(got["handbook"], r) for r in (1, 2, 3)] == pytest.approx([1, 1 / 2, 1 / 3])
    assert [_risk(got["own_event_delay"], r) for r in (1, 2, 3)] == [0.0, 0.0, 0.0]
    # No terminal: no terminal features; the rest of the table is the same in all modes.
    assert np.isnan(_risk(got["known"], 5))
    other = [j for j, name in enumerate(got["known"].names) if "risk" not in name]
    np.testing.assert_array_equal(got["known"].x[:, other], got["handbook"].x[:, other])


def test_known_takes_the_same_window_as_the_handbook_for_an_old_label():
    # Frauds known long before the purchase: "known" equals the handbook (delay 7 default).
    events, labels = card_world(seed=3, customers=60, terminals=15, days=30)
    labels = labels.assign(known_at=pd.to_datetime(
        events.set_index("event_id")["ts"].reindex(labels["event_id"]).to_numpy(), utc=True))
    known = history_features(events, labels, history="known")
    handbook = history_features(events, labels)
    np.testing.assert_array_equal(known.x, handbook.x)
    assert (known.x[:, known.names.index("terminal_id_risk_30d")] > 0).any()


def test_unknown_history_is_refused():
    with pytest.raises(ValueError, match="history must be one of"):
        history_features(pd.DataFrame(), None, history="known_at_only")
