import numpy as np
import pandas as pd
import pytest

from gnn.events.features import event_features

T = pd.Timestamp("2024-01-01", tz="UTC")


def _events() -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": ["e1", "e2", "e3", "e4", "e5"],
        "ts": [T + pd.Timedelta(hours=h) for h in (10, 34, 58, 98, 120)],
        "account_id": ["a", "b", "a", "b", "c"],
        "payment_id": ["c1", "c2", "c1", "c2", "c3"],
        "terminal_id": ["t1", "t1", "t2", "t2", "t2"],
        "amount": [10.0, 20.0, 30.0, 40.0, 50.0],
    })


def _labels(known_hours=(36, 48, 200)) -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": ["e1", "e2", "e3"], "label": [1, 0, 1],
        "known_at": [T + pd.Timedelta(hours=h) for h in known_hours],
    })


def _row(features, event_id: str) -> dict[str, float]:
    i = int(np.flatnonzero(features.ids["event_id"] == event_id)[0])
    return dict(zip(features.names, features.x[i].tolist(), strict=True))


def test_entity_columns_are_found_in_the_table():
    features = event_features(_events(), _labels())
    assert features.entity_columns == ["payment_id", "terminal_id"]
    assert "terminal_id_accounts_7d" in features.names
    assert list(features.ids["event_id"]) == ["e1", "e2", "e3", "e4", "e5"]


def test_history_strictly_before_the_event():
    features = event_features(_events(), _labels())
    e3, e5 = _row(features, "e3"), _row(features, "e5")
    assert e3["acc_n_prior"] == 1 and e3["acc_n_1d"] == 0 and e3["acc_n_7d"] == 1
    assert e3["acc_mean_amount_7d"] == pytest.approx(10.0)
    assert e3["acc_first_payment_id"] == 0 and e3["acc_first_terminal_id"] == 1
    assert e3["acc_log_seconds_since_prev"] == pytest.approx(np.log1p(48 * 3600), rel=1e-5)
    assert e5["terminal_id_n_prior"] == 2 and e5["terminal_id_accounts_7d"] == 2
    assert _row(features, "e1")["terminal_id_n_prior"] == 0


def test_fraud_counts_only_once_known():
    features = event_features(_events(), _labels())
    # e1 (account a, card c1, terminal t1) is fraud, known at hour 36.
    assert _row(features, "e2")["terminal_id_known_fraud"] == 0  # hour 34: not yet known
    e3 = _row(features, "e3")  # hour 58
    assert e3["acc_known_fraud"] == 1 and e3["payment_id_known_fraud_share"] == 1.0
    # b visited t1 at hour 34; t1's fraud is known from hour 36: a risky visit for e4.
    e4 = _row(features, "e4")
    assert e4["acc_via_terminal_id_risky_30d"] == 1
    assert e4["acc_via_terminal_id_risky_30d_share"] == 1.0
    # a (fraud known at 36) visited t2 at hour 58: t2's later events see a risky customer.
    assert e4["terminal_id_via_acc_risky_30d"] == 1
    assert _row(features, "e5")["terminal_id_via_payment_id_risky_30d_share"] == 0.5


def test_a_label_known_after_the_event_does_not_change_its_features():
    before = event_features(_events(), _labels())
    flipped = _labels()
    flipped.loc[flipped["event_id"] == "e3", "label"] = 0  # e3's label is known at hour 200
    after = event_features(_events(), flipped)
    np.testing.assert_array_equal(before.x, after.x)
    # The same change known before e4 and e5 does change them: the test can fail.
    early = event_features(_events(), _labels(known_hours=(36, 48, 60)))
    assert not np.array_equal(before.x[3:], early.x[3:], equal_nan=True)
    np.testing.assert_array_equal(before.x[:3], early.x[:3])


def test_without_labels_the_risk_features_are_zero():
    features = event_features(_events(), None)
    risk = [j for j, n in enumerate(features.names) if n.endswith("known_fraud") or "risky" in n]
    assert np.nansum(features.x[:, risk]) == 0
    assert features.ids["label"].isna().all()


def test_unknown_entity_column_is_named():
    with pytest.raises(ValueError, match=r"\['device_id'\] not in the events"):
        event_features(_events(), None, entity_columns=["device_id"])


def test_a_card_report_feeds_the_compromise_features_only_once_known():
    # Card c2 is reported compromised at hour 60 (day 2): its visit to t1 (hour 34) lies in
    # the report's lookback, so t1 is a point of compromise from day 3 on.
    reports = pd.DataFrame({"node_type": ["PaymentMethod", "Terminal"],
                            "entity_id": ["c2", "t1"], "label": [1, 1],
                            "known_at": [T + pd.Timedelta(hours=60)] * 2})
    plain = event_features(_events(), None)
    reported = event_features(_events(), None, entity_labels=reports)
    assert plain.names == reported.names
    j = plain.names.index("cpc_terminal_id_cards")
    # Day 0-2 events (before the report's day ends) are unchanged: only known_at < day start.
    np.testing.assert_array_equal(plain.x[:3], reported.x[:3])
    # e4 (hour 98, day 4) sees t2 with c2's report: c2 visited t2 only at hour 98, after the
    # report, so t2 has no card; e5 (hour 120, t2) neither; t1's card is c2.
    assert reported.x[3, j] == 0 and plain.x[3, j] == 0
    k = plain.names.index("payment_id_recent_cpc_terminal_id_max")
    # c2 visited t1 (now a point with one reported card of its two) in the 14 days before e4.
    assert reported.x[3, k] > 0 and plain.x[3, k] == 0
    # The terminal's own report is no card report: the terminals' labels anchor nothing.
    only_terminal = event_features(_events(), None, entity_labels=reports.iloc[[1]])
    np.testing.assert_array_equal(plain.x, only_terminal.x)
