"""The honest money-flow worlds plant what they say; the scorer counts what rings hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.honest_flows import DAY, SPAN, WORLDS, build, score, write
from ingest.mapping import load_mapping


def _events(name: str, seed: int = 0) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    log = build(name, seed, n_base=50)
    frame = log.frame()
    frame["t"] = (pd.to_datetime(frame["when"], utc=True)
                  - pd.Timestamp("2024-09-01", tz="UTC")).dt.total_seconds()
    return frame, log.groups


def _transfers(frame: pd.DataFrame, members: list[str]) -> pd.DataFrame:
    return frame[(frame["action"] == "transfer") & frame["user"].isin(members)]


def test_flatmates_pay_one_rent_within_two_days_of_each_due_day_and_share_a_wifi() -> None:
    frame, groups = _events("flatmates")
    assert len(groups) == 50
    landlord, *mates = groups["flat0"]
    rent = _transfers(frame, mates)
    rent = rent[rent["peer"] == landlord]
    assert rent["amt"].nunique() == 1 and len(rent) == 4 * (SPAN // 30)
    due = np.round(rent["t"] / (30 * DAY)) * 30 * DAY
    assert (np.abs(rent["t"] - due) <= 2 * DAY).all()
    assert rent["ipaddr"].nunique() == 1
    # bill shares go to a flatmate, not to the landlord
    bills = _transfers(frame, mates)
    assert set(bills[bills["peer"] != landlord]["peer"]) <= set(mates)


def test_trip_groups_live_one_week_and_settle_up_in_one_loop() -> None:
    frame, groups = _events("trips")
    mates = groups["trip0"]
    mine = frame[frame["user"].isin(mates)]
    assert mine["t"].max() - mine["t"].min() <= 8 * DAY
    loop = _transfers(frame, mates)
    assert len(loop) == len(mates) == 8
    assert dict(zip(loop["user"], loop["peer"], strict=True)) == {
        a: b for a, b in zip(mates, mates[1:] + mates[:1], strict=True)}


def test_couples_share_a_laptop_a_card_and_an_ip_and_pay_each_other() -> None:
    frame, groups = _events("couples")
    a, b = groups["couple0"]
    mine = frame[frame["user"].isin([a, b])]
    assert mine.groupby("dev")["user"].nunique().max() == 2
    assert mine.dropna(subset=["card"]).groupby("card")["user"].nunique().max() == 2
    pay = _transfers(frame, [a, b])
    assert len(pay) == 20 and set(pay["peer"]) <= {a, b}


def test_employers_pay_each_employee_one_salary_on_one_day_a_month() -> None:
    frame, groups = _events("salaries")
    boss, *team = groups["employer0"]
    pay = frame[(frame["user"] == boss) & (frame["action"] == "transfer")]
    assert set(pay["peer"]) == set(team)
    assert (pay.groupby("peer")["amt"].nunique() == 1).all()
    assert ((pay["t"] // DAY) % 30 == 25).all()


def test_platforms_pay_a_third_of_their_sellers_every_week() -> None:
    frame, groups = _events("payouts")
    platform, *sellers = groups["platform0"]
    pay = frame[(frame["user"] == platform) & (frame["action"] == "transfer")]
    per_week = pay.groupby(pay["t"] // (7 * DAY))["peer"].nunique()
    assert (per_week == len(sellers) // 3).all() and len(per_week) == SPAN // 7


@pytest.mark.parametrize("name", list(WORLDS))
def test_a_world_is_seeded_and_its_files_read_with_its_mapping(name, tmp_path) -> None:
    out = write(build(name, 3, n_base=30), tmp_path / name)
    again = build(name, 3, n_base=30).frame()
    written = pd.read_csv(out / "logs" / "events.csv")
    assert len(written) == len(again)
    assert written["user"].tolist() == again["user"].tolist()
    mapping = load_mapping(out / "mapping.yaml")
    assert mapping.columns["counterparty_id"] == "peer"


def test_an_unknown_world_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown world 'rent'"):
        build("rent", 0)


def test_score_counts_rings_their_accounts_and_the_groups_they_touch() -> None:
    rings = pd.DataFrame({"members": [["a", "b", "c"], ["c", "d"]],
                          "kind": ["flow_fan_in", "pair"]})
    figures = score(rings, {"g1": ["a", "x"], "g2": ["y"], "g3": ["d"]})
    assert figures["rings"] == 2 and figures["honest_in_rings"] == 4
    assert figures["touched"] == ["g1", "g3"] and figures["groups_in_rings"] == 2
    assert figures["kinds"] == ["flow_fan_in", "pair"]
    empty = score(pd.DataFrame({"members": [], "kind": []}), {"g1": ["a"]})
    assert empty["rings"] == 0 and empty["honest_in_rings"] == 0
