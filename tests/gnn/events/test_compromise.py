import numpy as np
import pandas as pd
import pytest

from gnn.events.compromise import (
    CompromiseIndex,
    CompromiseSettings,
    holder_column,
    holder_labels,
)
from tests.gnn.events.cards import card_world

DAY0 = pd.Timestamp("2024-03-01", tz="UTC")


def _at(day: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=day)


def _world():
    """Cards c1..c3 visit the skimmer T on day 1; c1 and c2 are defrauded on day 8 elsewhere
    (labels known on days 12.5 and 20.5); c4..c9 use the hub H (and c1..c3 too) every day."""
    rows = [(f"c{i}", "T", 1.4 + i / 100) for i in (1, 2, 3)]
    rows += [("c1", "X", 8.5), ("c2", "Y", 8.6)]
    rows += [(f"c{i}", "H", d + 0.3) for i in range(1, 10) for d in range(0, 25)]
    events = pd.DataFrame(rows, columns=["payment_id", "terminal_id", "day"])
    events = events.sort_values("day", kind="stable").reset_index(drop=True)
    events["event_id"] = [f"e{i}" for i in range(len(events))]
    events["ts"] = [_at(d) for d in events["day"]]
    events["account_id"] = "a" + events["payment_id"].str[1:]
    fraud = events["terminal_id"].isin(["X", "Y"])
    known = np.where(events["terminal_id"] == "X", 12.5, 20.5)
    labels = pd.DataFrame({"event_id": events["event_id"], "label": fraud.astype(int),
                           "known_at": [_at(k) if f else _at(d + 30) for k, f, d in
                                        zip(known, fraud, events["day"], strict=True)]})
    return events.drop(columns="day"), labels


def _index(events, labels, holder="payment_id", reports=None, **settings):
    """The index with 21-day lookback and recent windows unless ``settings`` say otherwise."""
    return CompromiseIndex(events, labels, holder=holder, points=["terminal_id"],
                           settings=CompromiseSettings(**{"lookback_days": 21,
                                                          "recent_days": 21, **settings}),
                           reports=reports)


def test_cards_count_only_once_their_fraud_is_known():
    events, labels = _world()
    index = _index(events, labels)
    assert index.at("terminal_id", _at(12)).loc["T", "cpc_cards"] == 0
    day13 = index.at("terminal_id", _at(13))
    assert day13.loc["T", "cpc_cards"] == 1 and day13.loc["X", "cpc_cards"] == 1
    day21 = index.at("terminal_id", _at(21))
    assert day21.loc["T", "cpc_cards"] == 2 and day21.loc["T", "cpc_visitors"] == 3
    assert day21.loc["T", "cpc_share"] == pytest.approx(2 / 3)
    # The hub had the same two cards, among nine visitors: far less surprising.
    assert day21.loc["H", "cpc_cards"] == 2
    assert day21.loc["T", "cpc_surprise"] > day21.loc["H", "cpc_surprise"] > 0


def test_visits_before_the_lookback_do_not_count():
    events, labels = _world()
    index = _index(events, labels, lookback_days=5)
    day21 = index.at("terminal_id", _at(21))
    assert day21.loc["T", "cpc_cards"] == 0 and day21.loc["H", "cpc_cards"] == 2


def test_visitors_and_cards_within_the_history_window():
    events, labels = _world()
    index = _index(events, labels, history_days=10)
    assert index.at("terminal_id", _at(5)).loc["T", "cpc_visitors"] == 3
    assert index.at("terminal_id", _at(5)).loc["H", "cpc_visitors"] == 9
    # The visits of day 1 have left the window by day 12 (the counted cards stay visitors).
    assert index.at("terminal_id", _at(12)).loc["T", "cpc_visitors"] == 0
    assert index.at("terminal_id", _at(14)).loc["T", "cpc_visitors"] == 1
    # A card counts while its first known fraud lies in the window: by day 21 both have faded.
    assert index.at("terminal_id", _at(21)).loc["T", "cpc_cards"] == 0


def _same_before(events, full, partial, cut) -> None:
    """``full`` and ``partial`` (one knowing less after ``cut``) give the same terminal
    evidence up to day 15 and the same event evidence before ``cut``, and differ later."""
    for day in range(0, 16):
        pd.testing.assert_frame_equal(full.at("terminal_id", _at(day)),
                                      partial.at("terminal_id", _at(day)))
    before = (events["ts"] < cut).to_numpy()
    a, b = full.event_evidence(), partial.event_evidence()
    for name in a:
        np.testing.assert_array_equal(a[name][before], b[name][before])
    assert not np.array_equal(a["cpc_terminal_id_cards"], b["cpc_terminal_id_cards"])


def test_a_label_known_later_changes_nothing_before_it():
    events, labels = _world()
    full = _index(events, labels)
    cut = _at(15)
    early = labels[labels["known_at"] < cut]
    partial = _index(events, early)
    _same_before(events, full, partial, cut)


def test_event_evidence_reads_the_cards_recent_points_as_of_the_event_day():
    events, labels = _world()
    evidence = _index(events, labels).event_evidence()
    day = (events["ts"] - DAY0).dt.days.to_numpy()
    card = events["payment_id"].to_numpy()
    recent = evidence["payment_id_recent_cpc_terminal_id_max"]
    surprise_t = _index(events, labels).at("terminal_id", _at(21)).loc["T", "cpc_surprise"]
    # c3 was never defrauded; on day 21 it visited T within 21 days, T now being a CPC.
    row = np.flatnonzero((card == "c3") & (day == 21))[0]
    assert recent[row] >= surprise_t > 0
    # On day 10 nothing was known yet.
    assert (recent[day == 10] == 0).all()
    own = evidence["cpc_terminal_id_surprise"]
    assert (own[(events["terminal_id"] == "H").to_numpy() & (day == 21)] > 0).all()


def test_the_skimmers_of_a_card_world_rank_first():
    events, labels = card_world(seed=1)
    index = CompromiseIndex(events, labels, holder="payment_id", points=["terminal_id"])
    fraud = events.merge(labels, on="event_id")
    # A skimmer's purchases are all fraud for a week: far more frauds than the cards' later
    # uses spread over the other terminals.
    per_terminal = fraud.groupby("terminal_id")["label"].sum()
    skimmers = set(per_terminal[per_terminal >= 20].index)
    top = index.at("terminal_id", events["ts"].max()).nlargest(len(skimmers), "cpc_surprise")
    assert len(skimmers) >= 5 and set(top.index) == skimmers


def test_holder_and_errors():
    assert holder_column(["device_id", "payment_id"]) == "payment_id"
    assert holder_column(["device_id"]) == "account_id"
    events, labels = _world()
    by_account = _index(events, labels, holder="account_id")
    assert by_account.at("terminal_id", _at(21)).loc["T", "cpc_cards"] == 2
    with pytest.raises(ValueError, match="holder column 'payment_id'"):
        CompromiseIndex(events, labels, holder="payment_id", points=["payment_id"])
    with pytest.raises(ValueError, match=r"lack column\(s\) \['device_id'\]"):
        CompromiseIndex(events, labels, holder="payment_id", points=["device_id"])
    bad = labels.assign(label=labels["label"].replace({1: 2}))
    with pytest.raises(ValueError, match="0 or 1; offending event ids"):
        _index(events, bad)
    with pytest.raises(ValueError, match="lookback_days must be > 0"):
        CompromiseSettings(lookback_days=0)
    without = _index(events, None).at("terminal_id", _at(21))
    assert (without["cpc_cards"] == 0).all() and (without["cpc_surprise"] == 0).all()


def _reports(*rows):
    """Card reports ``(card, label, known day)``."""
    return pd.DataFrame([(c, lab, _at(k) if k is not None else pd.NaT) for c, lab, k in rows],
                        columns=["entity_id", "label", "known_at"])


def test_a_reported_card_anchors_its_recent_visits_from_its_report_on():
    events, labels = _world()
    # c3 visited T on day 1 and was never defrauded; reported compromised on day 9.5.
    index = _index(events, labels, report_lookback_days=10,
                   reports=_reports(("c3", 1, 9.5), ("c4", 0, 3.0)))
    assert index.at("terminal_id", _at(9)).loc["T", "cpc_cards"] == 0
    day10 = index.at("terminal_id", _at(10))
    assert day10.loc["T", "cpc_cards"] == 1 and day10.loc["T", "cpc_surprise"] > 0
    # c1's fraud known on day 12.5 adds c1; c3 counts once whichever way it was found.
    assert index.at("terminal_id", _at(13)).loc["T", "cpc_cards"] == 2
    # A cleared card (label 0) and an undated report anchor nothing.
    quiet = _index(events, None, reports=_reports(("c3", 0, 2.0), ("c2", 1, None)))
    assert (quiet.at("terminal_id", _at(20))["cpc_cards"] == 0).all()


def test_the_report_lookback_bounds_the_visits_counted():
    events, labels = _world()
    short = _index(events, None, report_lookback_days=5, reports=_reports(("c3", 1, 9.5)))
    day10 = short.at("terminal_id", _at(10))
    # The visit to T was 8 days before the report; the daily hub visits are within 5 days.
    assert day10.loc["T", "cpc_cards"] == 0 and day10.loc["H", "cpc_cards"] == 1


def test_a_report_known_later_changes_nothing_before_it():
    events, labels = _world()
    reports = _reports(("c3", 1, 9.5), ("c5", 1, 16.2))
    full = _index(events, labels, reports=reports)
    cut = _at(15)
    partial = _index(events, labels, reports=reports[reports["known_at"] < cut])
    _same_before(events, full, partial, cut)


def test_holder_labels_and_report_errors():
    entity_labels = pd.DataFrame({"node_type": ["PaymentMethod", "Terminal", "Account"],
                                  "entity_id": ["c3", "T", "a3"], "label": [1, 1, 1],
                                  "known_at": [_at(9.5)] * 3})
    cards = holder_labels(entity_labels, "payment_id")
    assert cards["entity_id"].tolist() == ["c3"] and "node_type" not in cards
    assert holder_labels(entity_labels, "account_id")["entity_id"].tolist() == ["a3"]
    assert holder_labels(None, "payment_id") is None
    with pytest.raises(ValueError, match=r"lack column\(s\) \['node_type'\]"):
        holder_labels(entity_labels.drop(columns="node_type"), "payment_id")
    events, labels = _world()
    with pytest.raises(ValueError, match=r"card reports: labels must be 0 or 1; offending "
                                         r"entity ids \['c3'\]"):
        _index(events, labels, reports=_reports(("c3", 3, 9.5)))
    with pytest.raises(ValueError, match="report_lookback_days must be > 0"):
        CompromiseSettings(report_lookback_days=0)
