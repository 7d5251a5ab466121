"""The information ceiling of the card world: hand-made items, purchases and terminals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.cards_ceiling import (
    ceiling_auroc,
    ceiling_top_share,
    evident_under,
    purchase_evidence,
    terminal_evidence,
)
from gnn.events.compromise import CompromiseIndex

DAY0 = pd.Timestamp("2025-01-01", tz="UTC")


def _at(days: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=days)


def test_ceiling_auroc_ties_only_the_items_without_evidence() -> None:
    label = np.array([1, 1, 1, 0, 0, 0, 0])
    evident = np.array([True, False, False, True, False, False, True])
    # 2 blind positives x 2 blind negatives tied among 3 x 4 pairs.
    assert ceiling_auroc(label, evident) == pytest.approx(1 - 0.5 * 2 * 2 / 12)
    assert ceiling_auroc(label, np.ones(7, dtype=bool)) == 1.0
    assert ceiling_auroc(label, np.zeros(7, dtype=bool)) == 0.5
    assert np.isnan(ceiling_auroc(np.ones(3), np.ones(3, dtype=bool)))


def test_ceiling_top_share_fills_the_top_with_evident_targets_then_draws_blindly() -> None:
    day = np.array(["a"] * 8 + ["b"] * 4 + ["c"] * 4)
    target = np.array([1, 1, 0, 0, 0, 0, 0, 0] + [0] * 4 + [1, 1, 1, 0], dtype=bool)
    evident = np.array([1, 0, 0, 0, 0, 1, 1, 1] + [0] * 4 + [1, 1, 1, 0], dtype=bool)
    share = ceiling_top_share(day, target, evident, share=0.25)
    # a: 2 slots, the evident target and one of 4 blind items (1 target): (1 + 1/4) / 2.
    assert share["a"] == pytest.approx(0.625)
    assert np.isnan(share["b"])
    # c: 1 slot for 3 evident targets.
    assert share["c"] == pytest.approx(1 / 3)


def _world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Card C's fraud at t1 (day 0, charged back on day 14) after a visit to t3 on day 1;
    t4's fraud (day 2) is charged back on day 18, past the 7-day settlement; t2 is online,
    t5 honest."""
    rows = [  # event, day, terminal, card, channel, label, days to known
        ("e1", 0.5, "t1", "C", "pos", 1, 14),
        ("e2", 1.5, "t3", "C", "pos", 0, 7),
        ("e3", 1.0, "t2", "D", "online", 0, 7),
        ("e4", 2.0, "t4", "D", "pos", 1, 16),
        ("e5", 3.0, "t5", "E", "pos", 0, 7),
        ("e6", 4.0, "t5", "D", "pos", 0, 7),
        ("e7", 10.0, "t1", "E", "pos", 0, 7),
        ("e8", 15.5, "t1", "E", "pos", 0, 7),
        ("e9", 15.5, "t3", "E", "pos", 0, 7),
        ("e10", 15.5, "t4", "E", "pos", 0, 7),
    ]
    frame = pd.DataFrame(rows, columns=["event_id", "day", "terminal_id", "payment_id",
                                        "channel", "label", "delay"])
    frame["ts"] = [_at(d) for d in frame["day"]]
    frame["known_at"] = [_at(d + k) for d, k in zip(frame["day"], frame["delay"], strict=True)]
    events = frame[["event_id", "ts", "terminal_id", "payment_id", "channel"]]
    labels = frame[["event_id", "label", "known_at"]]
    reports = pd.DataFrame({"entity_id": ["E"], "label": [1], "known_at": [_at(30)]})
    return events, labels, reports


def _index(events: pd.DataFrame, labels: pd.DataFrame) -> CompromiseIndex:
    return CompromiseIndex(events, labels, holder="payment_id", points=["terminal_id"],
                           until=_at(40))


def test_terminal_evidence_sorts_each_terminal_by_what_is_known_at_scoring_time() -> None:
    events, labels, reports = _world()
    got = terminal_evidence(events, labels, _index(events, labels), _at(15), reports)
    assert got.loc["t1"].to_dict() == {"online": False, "own": True, "cpc": True,
                                       "linked": True, "timing": True, "handbook": True}
    assert got.loc["t2", "online"] and not got.loc["t2"].drop("online").any()
    # t3: visited by C a day after C's fraud, so outside the CPC lookback, but linked.
    assert got.loc["t3"].to_dict() == {"online": False, "own": False, "cpc": False,
                                       "linked": True, "timing": False, "handbook": False}
    # t4: its fraud is unlabelled past settlement (day 9), charged back only on day 18.
    assert got.loc["t4"].to_dict() == {"online": False, "own": False, "cpc": False,
                                       "linked": False, "timing": True, "handbook": True}
    assert not got.loc["t5"].any()
    later = terminal_evidence(events, labels, _index(events, labels), _at(35), reports)
    # E, reported on day 30, had visited t5 on day 3: linked then, never before.
    assert later.loc["t5", "linked"] and later.loc["t4", "own"]
    assert evident_under(got, ["online", "own"]).tolist() == [True, True, False, False, False]


def test_purchase_evidence_is_as_of_each_purchase() -> None:
    events, labels, reports = _world()
    got = purchase_evidence(events, labels, _index(events, labels), reports).set_axis(
        events["event_id"])
    # t1 on day 10: its fraud (day 0.5) not yet known, but unlabelled past settlement and
    # 7 days old for the handbook.
    assert got.loc["e7"].to_dict() == {"online": False, "own": False, "cpc": False,
                                       "linked": False, "timing": True, "handbook": True}
    assert not got.loc["e2"].drop("handbook").any()
    assert got.loc["e8", ["own", "cpc", "linked"]].all()
    assert got.loc["e9", "linked"] and not got.loc["e9", "cpc"]
    assert got.loc["e10", ["timing", "handbook"]].all() and not got.loc["e10", "own"]
    assert got.loc["e3", "online"] and not got.loc["e5"].any()


def test_causal_evidence_keeps_only_the_traces_of_the_compromise() -> None:
    events, labels, reports = _world()
    # e1 is t1's compromise fraud; D, skimmed at t2, is misused at t4 on day 2 (e4); E,
    # skimmed at t5, is only reported (day 30).
    kind = pd.Series(["compromised_terminal", "", "", "skimmed_card", "", "", "", "", "", ""])
    truth = (kind, pd.Series({"D": "t2", "E": "t5", "F": None}))
    index = _index(events, labels)
    got = terminal_evidence(events, labels, index, _at(15), reports, truth)
    causal = ["caused_chargeback", "caused_card", "caused_timing"]
    assert got.loc["t1", causal].tolist() == [True, False, True]
    assert got.loc["t2", causal].tolist() == [False, True, False]
    # t4's fraud is a card's misuse, not its own compromise; t3 is only a chance link.
    assert not got.loc[["t3", "t4", "t5"], causal].any().any()
    assert terminal_evidence(events, labels, index, _at(35), reports, truth).loc[
        "t5", "caused_card"]
    by_purchase = purchase_evidence(events, labels, index, reports, truth).set_axis(
        events["event_id"])
    assert by_purchase.loc["e7", causal].tolist() == [False, False, True]
    assert by_purchase.loc["e8", causal].tolist() == [True, False, True]
    assert not by_purchase.loc["e3", "caused_card"]


def test_evident_under_names_an_unknown_kind() -> None:
    events, labels, reports = _world()
    got = terminal_evidence(events, labels, _index(events, labels), _at(15), reports)
    with pytest.raises(ValueError, match="unknown evidence kind"):
        evident_under(got, ["own", "gossip"])
