"""The honest population and look-alikes of the shapes worlds plant what they say."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.shapes.population import DAY, HOUR, PROMOS, WELCOME, World


def _lookalike(world: World, kind: str) -> np.ndarray:
    return next(g.members for g in world.lookalikes if g.kind == kind)


def _first_use(world: World, users: np.ndarray, log: str, column: str) -> pd.Series:
    rows = world.table(log)
    return rows[rows["user"].isin(users)].groupby("user")[column].first()


def test_university_students_arrive_fresh_in_one_week_behind_two_ips(mixed: World) -> None:
    students = _lookalike(mixed, "university_nat")
    signups = mixed.table("signups").set_index("user").loc[students]
    assert mixed.fresh[students].all()
    assert signups["ts"].between(14 * DAY, 21 * DAY).all()
    # front-loaded: most arrive in the first two days
    assert (signups["ts"] < 16 * DAY).mean() > 0.7
    assert signups["ip"].nunique() == 2
    # each student on an own device and an own card
    assert signups["device"].nunique() == len(students)
    cards = _first_use(mixed, students, "orders", "card")
    assert cards.nunique() == len(cards) > 0.5 * len(students)
    # active afterwards
    logins = mixed.table("logins")
    assert (logins[logins["user"].isin(students)]["ts"] > 21 * DAY).sum() > len(students)


def test_families_of_four_share_a_laptop_and_a_card(mixed: World) -> None:
    members = _lookalike(mixed, "family")
    orders = mixed.table("orders")
    cards = orders[orders["user"].isin(members)].groupby("card")["user"].nunique()
    assert len(cards) == len(members) // 4
    assert (cards <= 4).all() and (cards >= 2).all()
    logins = mixed.table("logins")
    laptop = logins[logins["user"].isin(members)].groupby("device")["user"].nunique()
    assert (laptop == 4).sum() >= len(members) // 4 - 1


def test_corporate_vpn_logins_in_office_hours_through_three_ips(mixed: World) -> None:
    staff = _lookalike(mixed, "corporate_vpn")
    vpn = next(g.info["ips"] for g in mixed.lookalikes if g.kind == "corporate_vpn")
    logins = mixed.table("logins")
    mine = logins[logins["user"].isin(staff)]
    office = mine[mine["ip"].isin(vpn)]
    hour, weekday = (office["ts"] % DAY) / HOUR, (office["ts"] // DAY) % 7
    assert len(vpn) == 3 and office["user"].nunique() > 0.8 * len(staff)
    assert ((hour >= 9) & (hour < 17) & (weekday < 5)).all()
    assert not mixed.fresh[staff].any()


def test_kiosk_customers_sign_up_in_business_hours_on_many_days(mixed: World) -> None:
    customers = _lookalike(mixed, "kiosk")
    signups = mixed.table("signups").set_index("user").loc[customers]
    assert signups["device"].nunique() == 1 and signups["ip"].nunique() == 1
    hour = (signups["ts"] % DAY) / HOUR
    assert hour.between(10, 18).all()
    assert (signups["ts"] // DAY).nunique() > 0.5 * len(customers)
    # afterwards each on an own device
    logins = mixed.table("logins")
    later = logins[logins["user"].isin(customers)]
    assert not later["device"].isin(signups["device"]).any()
    assert later.groupby("device")["user"].nunique().max() == 1


def test_flash_sale_buyers_come_within_one_hour_on_own_cards(mixed: World) -> None:
    sale = next(g for g in mixed.lookalikes if g.kind == "flash_sale")
    orders = mixed.table("orders")
    bought = orders[orders["seller"] == sale.info["seller"]]
    assert bought["user"].nunique() == sale.info["fresh"] + sale.info["existing"]
    assert bought["ts"].max() - bought["ts"].min() <= HOUR
    assert bought["card"].nunique() == len(bought)
    fresh = bought[mixed.fresh[bought["user"]]]
    assert len(fresh) == sale.info["fresh"]


def test_carrier_nat_accounts_use_only_its_six_ips(mixed: World) -> None:
    group = next(g for g in mixed.lookalikes if g.kind == "carrier_nat")
    logins = mixed.table("logins")
    assert logins[logins["user"].isin(group.members)]["ip"].isin(group.info["ips"]).all()
    assert len(group.info["ips"]) == 6


def test_hubs_are_recorded_with_their_accounts(mixed: World) -> None:
    kinds = {g.id: g for g in mixed.lookalikes}
    assert {f"promo_{p}" for p in PROMOS} <= set(kinds)
    assert len(kinds["popular_seller"].members) > 50
    orders = mixed.table("orders")
    welcome = set(orders[orders["promo"] == PROMOS.index(WELCOME)]["user"])
    planted = set(np.concatenate([g.members for g in mixed.groups]))
    # the hub's honest redeemers; the farms planted after it redeem the same code
    assert welcome - planted == set(kinds[f"promo_{WELCOME}"].members)
    assert welcome & planted


def test_at_daytime_keeps_times_in_their_interval() -> None:
    world = World(seed=1)
    lo = np.array([0.0, 5 * DAY, 10 * DAY + 3 * HOUR])
    hi = np.array([DAY, 5 * DAY + 60, 30 * DAY])
    for _ in range(50):
        t = world.at_daytime(lo, hi)
        assert ((t >= lo) & (t < hi)).all()


def test_drive_bys_sign_up_act_at_most_once_and_leave(mixed: World) -> None:
    users = _lookalike(mixed, "drive_by")
    assert len(users) > 20 and mixed.fresh[users].all()
    signed = mixed.table("signups").set_index("user").loc[users, "ts"]
    only = {}
    for log in ("logins", "orders", "reviews"):
        rows = mixed.table(log)
        mine = rows[rows["user"].isin(users)]
        assert mine.groupby("user").size().max() == 1
        assert (mine["ts"].to_numpy() - signed.loc[mine["user"]].to_numpy() <= DAY).all()
        only[log] = set(mine["user"])
    if "orders" in only:
        orders = mixed.table("orders")
        assert (orders[orders["user"].isin(users)]["promo"] == PROMOS.index(WELCOME)).all()
    # some only review once, some only redeem once: the honest twins of the abuse shapes
    assert only["reviews"] - only["orders"] - only["logins"]
    assert only["orders"] - only["reviews"] - only["logins"]


def test_computer_lab_students_sign_up_on_one_pc_within_an_hour(mixed: World) -> None:
    lab = next(g for g in mixed.lookalikes if g.kind == "computer_lab")
    signups = mixed.table("signups").set_index("user").loc[lab.members]
    assert len(lab.members) == 30 and (signups["device"] == lab.info["device"]).all()
    assert signups["ts"].max() - signups["ts"].min() <= HOUR
    logins = mixed.table("logins")
    later = logins[logins["user"].isin(lab.members)]
    assert later["user"].nunique() == 30 and not (later["device"] == lab.info["device"]).any()


def test_store_opening_morning_then_steady(mixed: World) -> None:
    store = next(g for g in mixed.lookalikes if g.kind == "store_opening")
    signups = mixed.table("signups").set_index("user").loc[store.members]
    assert signups["device"].nunique() == 1
    first = signups["ts"] < (store.info["day"] + 1) * DAY
    assert first.sum() == store.info["opening"] == 60
    assert (signups["ts"][first] % DAY).between(9 * HOUR, 12 * HOUR).all()
    assert (signups["ts"][~first] // DAY).nunique() > 20


def test_viral_seller_gains_fresh_reviewers_within_a_day_who_stay(mixed: World) -> None:
    viral = next(g for g in mixed.lookalikes if g.kind == "viral_seller")
    reviews = mixed.table("reviews")
    mine = reviews[reviews["seller"] == viral.info["seller"]]
    assert mine["user"].nunique() == len(viral.members) == 200
    assert mixed.fresh[viral.members].all()
    assert mine["ts"].max() - mine["ts"].min() <= DAY + HOUR
    signups = mixed.table("signups").set_index("user").loc[viral.members]
    assert signups["device"].nunique() == 200 and signups["ip"].nunique() == 200
    logins = mixed.table("logins")
    assert logins["user"].isin(viral.members).sum() >= 200


def test_new_families_sign_up_together_on_their_laptop(mixed: World) -> None:
    group = next(g for g in mixed.lookalikes if g.kind == "new_family")
    signups = mixed.table("signups").set_index("user").loc[group.members]
    per = signups.groupby("device")["ts"].agg(["size", "min", "max"])
    assert len(per) == group.info["families"] and (per["size"] == 5).all()
    assert (per["max"] - per["min"] <= 15 * 60).all()


def test_vpn_subscribers_come_out_of_the_tool_exit_on_their_own_devices(
        stuffing_real: World) -> None:
    users = _lookalike(stuffing_real, "vpn_exit")
    exit_ip = next(g.info["ip"] for g in stuffing_real.lookalikes if g.kind == "vpn_exit")
    tool = next(g for g in stuffing_real.groups if g.info["ips"] == [exit_ip])
    logins = stuffing_real.table("logins")
    out = logins[logins["ip"] == exit_ip]
    honest = out[out["user"].isin(users)]
    assert len(users) == 20 and set(honest["user"]) == set(users)
    assert (honest.groupby("user").size() == 2).all() and (honest["failed"] == 0).all()
    # each on the device it used before (its own), none on the tool's fingerprints
    own = logins[logins["user"].isin(users) & (logins["ip"] != exit_ip)]
    assert set(zip(honest["user"], honest["device"], strict=True)) <= set(
        zip(own["user"], own["device"], strict=True))
    assert not honest["device"].isin(tool.info["devices"]).any()
    assert honest["ts"].between(tool.info["day"] * DAY, (tool.info["day"] + 1) * DAY).all()
