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


def test_savings_circles_pay_the_organiser_one_fee_and_the_pot_goes_round() -> None:
    frame, groups = _events("rosca")
    org, *members = groups["rosca0"]
    paid = _transfers(frame, members)
    assert set(paid["peer"]) == {org} and paid["amt"].nunique() == 1
    pots = frame[(frame["user"] == org) & (frame["action"] == "transfer")]
    assert set(pots["amt"]) == {paid["amt"].iloc[0] * len(members)}
    assert set(pots["peer"]) == set(members)


def test_office_collections_go_to_a_colleague_within_two_days_from_the_office_ip() -> None:
    frame, groups = _events("gift_pool")
    team = groups["office0"]
    paid = _transfers(frame, team)
    assert set(paid["peer"]) <= set(team) and paid["ipaddr"].nunique() == 1
    assert paid["amt"].between(5, 20).all() and paid["peer"].nunique() > 1
    gifts = frame[frame["user"].isin(team) & (frame["action"] == "purchase")
                  & frame["card"].notna() & frame["dev"].isna()]
    assert len(gifts) == 12


def test_a_recall_refunds_each_buyer_the_price_they_paid() -> None:
    frame, groups = _events("refunds")
    shop, *buyers = groups["recall0"]
    refunds = frame[(frame["user"] == shop) & (frame["action"] == "transfer")]
    bought = frame[(frame["peer"] == shop) & (frame["action"] == "purchase")]
    assert sorted(refunds["peer"]) == sorted(buyers) == sorted(bought["user"])
    assert refunds["amt"].nunique() == 1 and set(refunds["amt"]) == set(bought["amt"])
    assert refunds["t"].max() - refunds["t"].min() <= DAY


def test_remittances_come_from_abroad_and_are_shared_at_home() -> None:
    frame, groups = _events("remit")
    hub, *rest = groups["family0"]
    abroad, home = rest[:6], rest[6:]
    assert set(_transfers(frame, abroad)["peer"]) == {hub}
    passed = frame[(frame["user"] == hub) & (frame["action"] == "transfer")]
    assert set(passed["peer"]) == set(home)


def test_secret_santa_is_one_loop_of_twenty_a_year_paid_in_no_order() -> None:
    frame, groups = _events("secret_santa")
    team = groups["santa0"]
    paid = _transfers(frame, team)
    assert len(paid) == 2 * len(team) and set(paid["amt"]) == {20.0}
    for _, year in paid.groupby(paid["t"] // (365 * DAY)):
        step = dict(zip(year["user"], year["peer"], strict=True))
        member, seen = team[0], set()
        while member not in seen:
            seen.add(member)
            member = step[member]
        assert seen == set(team)
        assert year["t"].max() - year["t"].min() <= 2 * DAY


@pytest.mark.parametrize(("name", "low", "high"), [("lunch_club", 8, 18),
                                                    ("coop_weekly", 40, 140),
                                                    ("football", 5, 10)])
def test_weekly_collections_pay_one_payee_each_week(name, low, high) -> None:
    frame, groups = _events(name)
    members = next(iter(groups.values()))
    if name != "coop_weekly":
        members = members[:-1]      # the restaurant / pitch is the group's last account
    shares = _transfers(frame, members)
    shares = shares[shares["peer"].isin(members)]
    assert shares["amt"].between(low, high).all()
    spent = _transfers(frame, members)
    spent = spent[~spent["peer"].isin(members) | (spent["amt"] > high)]
    assert spent["peer"].nunique() == 1
    assert spent["t"].diff().dropna().between(5 * DAY, 9 * DAY).all()
    turns = shares["peer"].nunique()
    assert turns == 1 if name == "football" else turns == len([m for m in members
                                                               if m in set(shares["user"])])


def test_caterer_and_wholesaler_are_one_account_for_every_group() -> None:
    for name in ("lunch_caterer", "coop_weekly"):
        frame, groups = _events(name)
        payees = set()
        for members in groups.values():
            paid = _transfers(frame, members)
            payees |= set(paid[~paid["peer"].isin(members)]["peer"])
        assert len(payees) == 1
