"""The reviewer's mule worlds of benchmarks.probes_flows plant what they say."""

import pandas as pd
import pytest

from benchmarks.probes_flows import build


def _frame(name: str) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    log = build(name, 0, n_base=40)
    return log.frame(), log.groups


@pytest.mark.parametrize("name", ["mule_bills_rich", "mule_bills_spender", "mule_weekly_spender"])
def test_five_groups_of_eight_mules_pass_victims_money_to_a_collector(name):
    frame, groups = _frame(name)
    assert len(groups) == 5
    *mules, sink = groups["mules0"]
    assert len(mules) == 8
    inside = frame[(frame["action"] == "transfer") & frame["user"].isin(mules)]
    outside = inside[~inside["peer"].isin([*mules, sink])]
    assert outside["amt"].isin([500.0, 600.0, 700.0]).all()  # rent, where they pay one
    assert (inside["peer"] == sink).sum() == 12  # one cash-out a week


@pytest.mark.parametrize("name", ["mule_bills_spender", "mule_weekly_spender"])
def test_spending_mules_buy_big_at_shops(name):
    frame, groups = _frame(name)
    mules = groups["mules0"][:-1]
    bought = frame[(frame["action"] == "purchase") & frame["user"].isin(mules)]
    assert bought.groupby("user").size().min() > 50
    assert 100 < bought["amt"].median() < 220 and (bought["amt"] > 260).mean() > 0.15


def test_rich_mules_are_salaried_and_pay_rent():
    frame, groups = _frame("mule_bills_rich")
    mules = groups["mules0"][:-1]
    paid_in = frame[(frame["action"] == "transfer") & frame["peer"].isin(mules)
                    & (frame["amt"] >= 1800)]
    assert set(paid_in["peer"]) == set(mules)
    rent = frame[(frame["action"] == "transfer") & frame["user"].isin(mules)
                 & frame["amt"].isin([500.0, 600.0, 700.0])]
    assert rent["user"].nunique() == len(mules)


@pytest.mark.parametrize("name", ["launder_week", "launder_week_order"])
def test_launder_loops_pass_a_victims_money_once_round_keeping_96_to_99_percent(name):
    log = build(name, 0, n_base=40)
    frame = log.frame()
    frame["t"] = pd.to_datetime(frame["when"])
    assert len(log.groups) == 20
    for loop in list(log.groups.values())[:5]:
        mine = frame[frame["user"].isin(loop)]
        assert mine["t"].max() - mine["t"].min() <= pd.Timedelta(days=7)
        moved = mine[mine["action"] == "transfer"].set_index("user").loc[loop]
        assert list(moved["peer"]) == [*loop[1:], loop[0]]
        ratios = moved["amt"].to_numpy()[1:] / moved["amt"].to_numpy()[:-1]
        assert ((ratios > 0.955) & (ratios < 0.995)).all()
        in_order = moved["t"].is_monotonic_increasing
        assert in_order if name == "launder_week_order" else True
        if name == "launder_week_order":
            assert moved["t"].max() - moved["t"].min() < pd.Timedelta(hours=12)


def test_santa_forward_offices_pay_the_price_on_in_loop_order():
    log = build("santa_forward", 0, n_base=40)
    frame = log.frame()
    gifts = frame[(frame["action"] == "transfer") & (frame["amt"] == 20.0)]
    assert len(gifts) == 20 * 12 * 2 and not log.groups
    assert (gifts.groupby("user").size() == 2).all()
    year = gifts[gifts["when"] < "2025-09-01"].set_index("user")
    payer, seen = year.index[0], []  # the first payer's office, followed round its loop
    for _ in range(12):
        seen.append(year.loc[payer, "when"])
        payer = year.loc[payer, "peer"]
    assert payer == year.index[0] and seen == sorted(seen)  # round once, each after being paid


def test_smurfs_spend_at_the_logs_shops_not_one_giftcard_shop():
    log = build("mule_kitty_smurf_shops", 0, n_base=40)
    frame = log.frame()
    mules = set().union(*map(set, log.groups.values()))
    big = frame[(frame["action"] == "purchase") & frame["user"].isin(mules)
                & (frame["amt"] > 1000)]
    assert 5 * 12 <= len(big) <= 5 * 12 + 3 and big["peer"].nunique() > 10
    assert not log.victims


def test_couriers_remit_the_weeks_takings_less_a_fee_to_their_shop():
    log = build("couriers_cod", 0, n_base=200)
    frame = log.frame()
    moved = frame[frame["action"] == "transfer"]
    remits = moved[moved["amt"] > 0].groupby(["user", "peer"]).size()
    routes = remits[remits == 20]  # each courier's weekly route to its shop, and the shops'
    assert len(routes) == 10 * 6 + 10
    shops = set(routes.index.get_level_values(0))  # the shops pay on a route too
    courier, shop = next(pair for pair in routes.index if pair[1] in shops)
    paid_in = moved[moved["peer"] == courier]["amt"].sum()
    passed = moved[(moved["user"] == courier) & (moved["peer"] == shop)]["amt"].sum()
    assert abs(passed / paid_in - 0.97) < 0.01


@pytest.mark.parametrize(("name", "size", "weeks"), [("mule_kitty_smurf_long", 8, 30),
                                                     ("mule_kitty_smurf_small", 4, 12),
                                                     ("mule_kitty_smurf_shops_long", 8, 30)])
def test_longer_or_smaller_kitties_meet_each_collector_three_times(name, size, weeks):
    log = build(name, 0, n_base=40)
    frame = log.frame()
    mules = log.groups["mules0"]
    assert len(log.groups) == 5 and len(mules) == size
    paid = frame[(frame["action"] == "transfer") & frame["user"].isin(mules)
                 & frame["peer"].isin(mules)]
    assert len(paid) == weeks * (size - 1)
    assert paid.groupby(["user", "peer"]).size().min() >= 3


def test_daily_couriers_remit_each_days_takings_within_hours():
    log = build("couriers_daily", 0, n_base=200)
    moved = log.frame()
    moved = moved[moved["action"] == "transfer"].assign(t=pd.to_datetime(moved["when"]))
    remits = moved.groupby(["user", "peer"]).size()
    couriers = [pair for pair in remits[remits == 8 * 6].index]
    assert len(couriers) == 10 * 6
    courier, shop = couriers[0]
    out = moved[(moved["user"] == courier) & (moved["peer"] == shop)].set_index("t")["amt"]
    came = moved[moved["peer"] == courier].set_index("t")["amt"]
    for at, sent in out.items():  # the day's payments: the 12 hours before the remittance
        got = came[(came.index < at) & (came.index > at - pd.Timedelta(hours=12))]
        assert len(got) >= 1 and abs(sent - 0.97 * got.sum()) < 0.011


def test_whole_mules_pass_on_every_cent_that_came_in():
    log = build("mule_bills_whole", 0, n_base=40)
    frame = log.frame()
    *mules, sink = log.groups["mules0"]
    moved = frame[frame["action"] == "transfer"]
    collector = mules[0]
    for mule in mules[1:3]:
        came = moved[moved["peer"] == mule]["amt"].sum()
        passed = moved[(moved["user"] == mule) & (moved["peer"] == collector)]["amt"].sum()
        assert abs(came - passed) < 0.01 * 12
