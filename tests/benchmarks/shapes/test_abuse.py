"""The abuse shapes plant what they say: sizes, freshness, sharing and timing."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.shapes.population import DAY, HOUR, World


def _group(world: World, group_id: str):
    return next(g for g in world.groups if g.id == group_id)


@pytest.mark.parametrize("size", [30, 60])
def test_promo_farm_fresh_accounts_on_few_entities_redeem_then_quiet(mixed: World,
                                                                     size: int) -> None:
    farm = _group(mixed, f"promo_farm_{size}")
    assert len(farm.members) == size and mixed.fresh[farm.members].all()
    signups = mixed.table("signups").set_index("user").loc[farm.members]
    assert signups["device"].nunique() == farm.info["devices"] == max(2, size // 25)
    assert signups["ip"].nunique() <= farm.info["ips"]
    orders = mixed.table("orders")
    mine = orders[orders["user"].isin(farm.members)]
    assert len(mine) == size and (mine["promo"] == 0).all()
    assert mine["card"].nunique() <= farm.info["cards"]
    # then quiet: nothing later than a day after the last signup
    for log in ("logins", "orders", "reviews"):
        rows = mixed.table(log)
        assert (rows[rows["user"].isin(farm.members)]["ts"] < signups["ts"].max() + DAY).all()


def test_proxy_farm_each_account_its_own_ip_one_card_per_8_to_13(mixed: World) -> None:
    farm = _group(mixed, "proxy_farm_40")
    assert mixed.fresh[farm.members].all()
    ips = set()
    for log in ("signups", "logins", "orders"):
        rows = mixed.table(log)
        mine = rows[rows["user"].isin(farm.members)]
        assert mine.groupby("user")["ip"].nunique().max() == 1
        ips |= set(mine["ip"])
        # nobody else ever uses a farm account's IP
        assert not rows[~rows["user"].isin(farm.members)]["ip"].isin(mine["ip"]).any()
    assert len(ips) == len(farm.members)
    orders = mixed.table("orders")
    per_card = orders[orders["user"].isin(farm.members)].groupby("card")["user"].nunique()
    assert per_card.iloc[:-1].between(8, 13).all() and per_card.max() <= 13
    assert farm.info["devices"] == 3


def test_one_device_fifty_fresh_accounts_in_three_fifteen_minute_bursts(mixed: World) -> None:
    group = _group(mixed, "one_device_50")
    signups = mixed.table("signups").set_index("user").loc[group.members]
    assert len(group.members) == 50 and signups["device"].nunique() == 1
    assert signups["ip"].nunique() == 50
    ts = np.sort(signups["ts"].to_numpy())
    gaps = np.flatnonzero(np.diff(ts) > HOUR)
    assert len(gaps) == 2
    for burst in np.split(ts, gaps + 1):
        assert burst[-1] - burst[0] <= 15 * 60


def test_stuffing_hits_existing_accounts_from_few_ips_within_hours(mixed: World) -> None:
    for size in (20, 30):
        group = _group(mixed, f"stuffing_{size}")
        assert len(group.members) == size and not mixed.fresh[group.members].any()
        logins = mixed.table("logins")
        attack = logins[logins["ip"].isin(group.info["ips"])]
        assert set(attack["user"]) == set(group.members)
        assert len(group.info["ips"]) == 3
        assert set(attack["device"]) == set(group.info["devices"])
        assert not logins[~logins["ip"].isin(group.info["ips"])]["device"].isin(
            group.info["devices"]).any()
        assert attack["ts"].max() - attack["ts"].min() <= 5 * HOUR + 120
        last = attack.sort_values("ts").groupby("user").last()
        assert (last["failed"] == 0).all() and (attack["failed"] == 1).sum() >= size
        # honest logins of the same accounts exist (they have a history)
        assert (logins["user"].isin(group.members) & ~logins.index.isin(attack.index)).any()


def test_realistic_stuffing_gets_into_few_at_the_first_try_and_comes_back(
        stuffing_real: World) -> None:
    logins = stuffing_real.table("logins")
    for tried, ips in ((120, 6), (60, 1)):
        group = _group(stuffing_real, f"stuffing_real_{tried}")
        attacked = next(g for g in stuffing_real.lookalikes
                        if g.id == f"stuffing_real_{tried}_attacked")
        assert len(group.members) + len(attacked.members) == tried
        assert 0 < len(group.members) < 0.3 * tried
        assert not stuffing_real.fresh[group.members].any()
        attack = logins[logins["device"].isin(group.info["devices"])]
        assert len(group.info["ips"]) == ips and set(attack["ip"]) <= set(group.info["ips"])
        taken = attack[attack["user"].isin(group.members)]
        # in at the first try, and once more 1-3 hours later on the same IP and fingerprint
        assert (taken["failed"] == 0).all()
        again = taken.groupby("user").agg(n=("ts", "size"), span=("ts", np.ptp),
                                          ips=("ip", "nunique"), devices=("device", "nunique"))
        assert (again["n"] == 2).all() and again["span"].between(HOUR, 3 * HOUR).all()
        assert (again["ips"] == 1).all() and (again["devices"] == 1).all()
        # the wrong passwords fail once or twice and never get in
        tried_only = attack[attack["user"].isin(attacked.members)]
        assert (tried_only["failed"] == 1).all()
        assert tried_only.groupby("user").size().between(1, 2).all()
        assert set(tried_only["user"]) == set(attacked.members)
        first = attack["ts"].min()
        assert attack.loc[attack["failed"] == 1, "ts"].max() - first <= 3 * HOUR + 60


def test_review_burst_history_less_accounts_rate_one_seller_within_a_day(mixed: World) -> None:
    bursts = [g for g in mixed.groups if g.kind == "review_burst"]
    assert len(bursts) == 2
    reviews = mixed.table("reviews")
    for group in bursts:
        assert 20 <= len(group.members) <= 25 and mixed.fresh[group.members].all()
        mine = reviews[reviews["user"].isin(group.members)]
        assert (mine["seller"] == group.info["seller"]).all() and (mine["stars"] == 5).all()
        assert mine["ts"].max() - mine["ts"].min() <= DAY
        # history-less: a signup and the review, nothing else
        for log in ("logins", "orders"):
            rows = mixed.table(log)
            assert not rows["user"].isin(group.members).any()
        honest = reviews[(reviews["seller"] == group.info["seller"])
                         & ~reviews["user"].isin(group.members)]
        assert honest["user"].nunique() >= 3
