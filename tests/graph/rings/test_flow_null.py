"""The money-flow null: chance explains schedules and busy accounts, not a quick one-off loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.rings.candidates import find_ring_candidates
from graph.rings.config import RingConfig
from graph.rings.flow_null import (
    Lives,
    alone,
    cash_out_log_chance,
    chain_log_chance,
    contributions,
    fan_log_chance,
    fisher_log10,
    habit_log_chance,
    hop_log_chance,
    money_log_chance,
    omnibus_log10,
    order_log_chance,
    price_log_share,
    routed_log_chance,
    schedule_log_chance,
    spread_log_chance,
    window_log_chance,
)

from .helpers import T0, snapshot

DAY = 86400.0


def _internal(cand, src, dst, ts, amount=None, count=None, last=None) -> pd.DataFrame:
    n = len(src)
    return pd.DataFrame({"cand": cand, "src": src, "dst": dst,
                         "count": count or [1] * n, "ts": ts, "last": last or ts,
                         "amount": amount or [100.0] * n})


def test_tree_links_inside_a_burst_are_unlikely_and_schedules_that_start_with_the_log_are_not():
    # 100 one-off pairs, one a day; 100 pairs lasting the whole log, all running when it
    # began. Group 0: 4 members joined by 3 one-off links within hours; group 1: by 3 schedules
    hour = 3600.0
    transfers = pd.DataFrame({"src": np.arange(200), "dst": np.arange(200, 400),
                              "ts": np.r_[np.arange(100) * DAY, np.zeros(100)],
                              "last": np.r_[np.arange(100) * DAY, np.full(100, 100 * DAY)]})
    internal = _internal([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [1, 2, 3, 1, 2, 3],
                         [50.5 * DAY, 50.5 * DAY + hour, 50.5 * DAY + 2 * hour, 0.0, 0.0, 0.0],
                         last=[50.5 * DAY, 50.5 * DAY + hour, 50.5 * DAY + 2 * hour]
                         + [100 * DAY] * 3)
    chance = window_log_chance(internal, pd.concat([transfers, internal[transfers.columns]]),
                               np.array([4, 4]))
    # of 103 one-off pairs, 3 start in the window: the likeliest link anchors it, the other
    # two are charged 3 / 103 each, and any of the 3 could have anchored it
    assert np.isclose(chance[0], 2 * np.log10(3 / 103) + np.log10(3))
    assert chance[1] == 0.0
    # a pair is its one link: nothing to charge
    assert window_log_chance(internal.head(1), transfers, np.array([2])).tolist() == [0.0]


def test_links_of_accounts_alive_only_around_their_window_start_there_by_no_chance():
    # 100 one-off pairs, one a day, and 3 links within hours on day 50 among accounts 0-3
    hour = 3600.0
    transfers = pd.DataFrame({"src": np.arange(10, 110), "dst": np.arange(110, 210),
                              "ts": np.arange(100) * DAY, "last": np.arange(100) * DAY})
    times = [50.5 * DAY, 50.5 * DAY + hour, 50.5 * DAY + 2 * hour]
    internal = _internal([0, 0, 0], [0, 1, 2], [1, 2, 3], times)
    every = pd.concat([transfers, internal[transfers.columns]])
    first, last = np.full(210, 1), np.full(210, 0)  # nobody's life is known ...
    log_wide = window_log_chance(internal, every, np.array([4]), Lives.of_activity(first, last))
    assert np.isclose(log_wide[0], 2 * np.log10(3 / 103) + np.log10(3))
    # ... or the four were alive the whole log: the same chance
    first[:4], last[:4] = 0, 99 * DAY
    assert window_log_chance(internal, every, np.array([4]), Lives.of_activity(first, last)
                             ) == pytest.approx(log_wide)
    # opened on day 48 and last seen on day 52: 3 of the 8 pairs starting then (days 48 to
    # 52's and the links) start in the window
    first[:4], last[:4] = 48 * DAY, 52 * DAY
    lived = window_log_chance(internal, every, np.array([4]), Lives.of_activity(first, last))
    assert np.isclose(lived[0], 2 * np.log10(3 / 8) + np.log10(3))
    # alive only during the window: no evidence at all
    first[:4], last[:4] = times[0], times[-1]
    assert window_log_chance(internal, every, np.array([4]), Lives.of_activity(first, last)
                             ).tolist() == [0.0]


def _beside_one_offs(internal: pd.DataFrame) -> pd.DataFrame:
    """The log's transfers: ``internal``'s (without ``cand``) after 100 one-off pairs of
    outsiders (accounts 100-299), one each day at noon, of 10 to 1,000."""
    one_offs = pd.DataFrame({"src": np.arange(100, 200), "dst": np.arange(200, 300),
                             "ts": np.arange(100) * DAY + 0.5 * DAY,
                             "last": np.arange(100) * DAY + 0.5 * DAY,
                             "amount": np.linspace(10.0, 1000.0, 100), "count": 1})
    return pd.concat([one_offs, internal.drop(columns=["cand"])], ignore_index=True)

def _settle_up_world(trip_days: tuple[float, float]
                     ) -> tuple[object, set[str], set[str]]:
    """A year of 600 one-off payments among 300 accounts using their devices all year; 8
    friends (``t*``) settling up in a loop over two days from day 105 (each pays the next an
    amount of their own, one of them passing on nearly what it got: a conserved hop by
    chance), their devices used from ``trip_days[0]`` to ``trip_days[1]``; 6 mules (``m*``,
    devices used all year) relaying 5,000 round a loop within hours on day 200, 2 % kept at
    each hop."""
    rng = np.random.default_rng(0)
    honest = [f"h{i}" for i in range(300)]
    a = rng.integers(0, 300, 600)
    b = (a + rng.integers(1, 299, 600)) % 300
    trip, mules = [f"t{i}" for i in range(8)], [f"m{i}" for i in range(6)]
    seconds = np.r_[rng.uniform(0, 360 * DAY, 600), 105 * DAY + np.sort(rng.uniform(0, 2 * DAY, 8)),
                    200 * DAY + np.cumsum(rng.uniform(1, 3, 6)) * 3600.0]
    when = T0 + pd.to_timedelta(seconds, unit="s")
    transfers = pd.DataFrame({
        "src": [honest[i] for i in a] + trip + mules,
        "dst": [honest[i] for i in b] + trip[1:] + trip[:1] + mules[1:] + mules[:1],
        "count": 1, "first_ts": when, "last_ts": when,
        "amount_sum": np.r_[np.round(rng.lognormal(4.0, 1.0, 600), 2),
                            [35.0, 120.0, 118.0, 64.0, 180.0, 42.0, 90.0, 150.0],
                            5000.0 * 0.98 ** np.arange(6)]})
    transfers = transfers.groupby(["src", "dst"], as_index=False).agg(
        count=("count", "sum"), first_ts=("first_ts", "min"), last_ts=("last_ts", "max"),
        amount_sum=("amount_sum", "sum"))
    lives = [(honest + mules, 0.0, 360.0), (trip, *trip_days)]
    devices = pd.concat([pd.DataFrame({
        "src": who, "dst": [f"d_{x}" for x in who], "count": 1,
        "first_ts": T0 + pd.Timedelta(days=start), "last_ts": T0 + pd.Timedelta(days=end),
        "amount_sum": 0.0}) for who, start, end in lives], ignore_index=True)
    return snapshot(TRANSACTED_WITH=transfers, USED_DEVICE=devices), set(trip), set(mules)


def _flow_surprise(candidates, members: set[str]) -> float:
    return next(c.features["flow_surprise"] for c in candidates if set(c.members) == members)


def test_a_trips_settle_up_loop_is_no_ring_and_a_relay_of_mules_still_is():
    # review R13 (session 23): the trip's loop was significant (surprise 6.7, robust 5.9:
    # reported without labels) on its window and its chance hop, judged against the year's
    # one-off payments though its accounts were alive only that week
    cfg = RingConfig(min_surprise=-np.inf, pairs=False)
    snap, trip, mules = _settle_up_world((100.0, 107.0))
    candidates = find_ring_candidates(snap, cfg)
    assert _flow_surprise(candidates, trip) < RingConfig().min_surprise
    relay = next(c for c in candidates if set(c.members) == mules)
    assert relay.features["flow_robust_surprise"] >= 10.0
    # the same loop among friends whose devices are in use all year is one the year's
    # payments rarely make: its timing is evidence again
    snap, trip, _ = _settle_up_world((0.0, 360.0))
    assert _flow_surprise(find_ring_candidates(snap, cfg), trip) >= RingConfig().min_surprise


def money_transfers(transfers: pd.DataFrame, internal: pd.DataFrame) -> pd.DataFrame:
    """Every transfer pair: the background's and the groups' own."""
    return pd.concat([transfers, internal[transfers.columns]])


def test_window_and_class_judge_only_a_group_its_transfers_tie_whole():
    # the same burst of three one-off links joins 4 accounts (group 0) and 4 of 8 (group 1)
    transfers = pd.DataFrame({"src": np.arange(100), "dst": np.arange(100, 200),
                              "count": np.ones(100, np.int64), "ts": np.arange(100) * DAY,
                              "last": np.arange(100) * DAY, "amount": np.full(100, 50.0)})
    burst = [50.5 * DAY, 50.5 * DAY + 60.0, 50.5 * DAY + 120.0]
    internal = _internal([0, 0, 0, 1, 1, 1], [0, 1, 2] * 2, [1, 2, 3] * 2, burst * 2)
    money = money_log_chance(internal, pd.concat([transfers, internal[transfers.columns]]),
                             np.array([4, 8]), 2 * DAY, 0.85, 1.02)
    assert money.links[0] < 0.0
    assert money.links[1] == 0.0, "evidence about 4 of its members, not about the group"
    # the two tests kept apart (null_model.robust_surprise caps each), both masked alike
    sizes = np.array([4, 8])
    assert money.window[0] == window_log_chance(internal, money_transfers(transfers, internal),
                                                sizes)[0] < 0.0
    assert np.allclose(money.links, money.window + money.habit)
    assert money.window[1] == money.habit[1] == 0.0


def test_a_link_of_the_class_its_payers_peers_rarely_make_is_unlikely():
    # twelve payers with one counterparty each, 3 of their pairs one-off, 9 repeated. Group 0
    # (3 members) is joined by two of the one-off pairs, group 1 by two repeated ones
    transfers = pd.DataFrame({"src": np.arange(10, 22), "dst": np.arange(30, 42),
                              "count": [1, 1, 1] + [5] * 9})
    internal = transfers.iloc[[0, 1, 3, 4]].assign(cand=[0, 0, 1, 1])
    chance = habit_log_chance(internal, transfers, np.array([3, 3]))
    # (3 / 12)^2, times the two classes a group could have been joined by
    assert np.isclose(chance[0], 2 * np.log10(3 / 12) + np.log10(2))
    assert chance[1] == 0.0
    # a pair of accounts: judged by what it shares, not here
    assert habit_log_chance(internal.head(1), transfers, np.array([2])).tolist() == [0.0]


def test_a_conserved_hop_is_timed_against_its_peers_and_a_late_or_unbalanced_one_is_no_hop():
    # one-off pairs start one a day over 100 days. Group 0: 100 in, 95 out a day later (a
    # hop); group 1: 95 out ten days later (no hop); group 2: 40 out a day later (unbalanced)
    transfers = pd.DataFrame({"src": np.arange(100), "dst": np.arange(100, 200),
                              "ts": np.arange(100) * DAY + 0.5 * DAY,
                              "last": np.arange(100) * DAY + 0.5 * DAY,
                              "amount": np.linspace(10.0, 1000.0, 100), "count": 1})
    internal = _internal([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1], [1, 2, 1, 2, 1, 2],
                         [0.0, DAY, 0.0, 10 * DAY, 0.0, DAY],
                         amount=[100.0, 95.0, 100.0, 95.0, 100.0, 40.0])
    pools = [np.linspace(10.0, 1000.0, 100), np.zeros(0)]
    chance = hop_log_chance(internal, transfers, pools, 2 * DAY, 0.85, 1.02, 3)
    # one of the 100 one-off pairs starts within that day; 95..100 holds one amount of 100
    assert np.isclose(chance[0], np.log10(1 / 100) + np.log10(1 / 100))
    assert chance[1:].tolist() == [0.0, 0.0]


def test_hops_of_a_loop_paid_in_no_order_say_no_more_than_their_order():
    # one-off pairs start one a day over 100 days. Group 0: six members relay 20.00 round a
    # loop an hour apart; group 1: six colleagues each pay the next 20.00 within one day, in
    # no order (a Secret Santa, R48): 11 and 13 pay after being paid, the other four before
    hour = 3600.0
    loop = [0, 1, 2, 3, 4, 5]
    relay = [50 * DAY + i * hour for i in range(6)]
    santa = [60 * DAY + h * hour for h in (0, 5, 1, 8, 3, 2)]
    internal = _internal([0] * 6 + [1] * 6, loop + [m + 10 for m in loop],
                         loop[1:] + loop[:1] + [m + 10 for m in loop[1:] + loop[:1]],
                         relay + santa, amount=[20.0] * 12)
    transfers = _beside_one_offs(internal)
    pools = [np.linspace(10.0, 1000.0, 100), np.zeros(0)]
    chance = hop_log_chance(internal, transfers, pools, 2 * DAY, 0.85, 1.02, 2)
    assert chance[0] < -5.0, "a relay keeps its hops' timing"
    # 2 of 5 after by chance (one early payer may have started the round):
    # P(Bin(5, 1/2) >= 2) = 26 / 32
    assert np.isclose(chance[1], np.log10(26 / 32))
    # the relay's own hops again, with the scrambled loop gone: unchanged
    alone = hop_log_chance(internal.head(6), transfers, pools, 2 * DAY, 0.85, 1.02, 1)
    assert np.isclose(alone[0], chance[0])


def test_a_first_transfer_stands_alone_once_or_a_year_apart_not_in_a_mule_loops_rounds():
    # once; five rounds within four days (a mule loop run round after round); twice a year apart
    pairs = pd.DataFrame({"count": [1, 5, 2], "ts": [0.0] * 3, "last": [0.0, 4 * DAY, 365 * DAY]})
    assert alone(pairs, 2 * DAY).tolist() == [True, False, True]


def test_the_order_of_hops_is_a_binomial_tail_and_no_bound_with_one_early_payer():
    assert np.allclose(order_log_chance(np.array([3, 5, 0, 4]), np.array([3, 0, 2, 1])),
                       [np.log10(16 / 32), -np.inf, 0.0, -np.inf])


def test_a_gathered_sum_passed_on_is_unlikely_and_a_weeks_takings_paid_out_weekly_are_not():
    # one-off pairs start one a day over 100 days, at noon. Group 0: three members pay a hub
    # 300 within four hours, which pays two others 291 four hours later (a gather-scatter: no
    # single transfer out matches one in); group 1: a marketplace takes 100 a day for a week
    # and pays its two sellers 90 % of the week's 700 on payday; group 2: the hub pays on 210
    hour = 3600.0
    transfers = pd.DataFrame({"src": np.arange(100), "dst": np.arange(100, 200),
                              "ts": np.arange(100) * DAY + 0.5 * DAY,
                              "last": np.arange(100) * DAY + 0.5 * DAY,
                              "amount": np.linspace(10.0, 1000.0, 100), "count": 1})
    t = 50 * DAY
    gather = ([0, 1, 2, 3, 3], [3, 3, 3, 4, 5],
              [t, t + 2 * hour, t + 4 * hour, t + 8 * hour, t + 10 * hour])
    market = ([10] * 7 + [17, 17], [17] * 7 + [18, 19],
              [40 * DAY + d * DAY for d in range(7)] + [47 * DAY] * 2)
    internal = _internal([0] * 5 + [1] * 9 + [2] * 5, gather[0] + market[0] + gather[0],
                         gather[1] + market[1] + gather[1], gather[2] + market[2] + gather[2],
                         amount=[100.0, 110.0, 90.0, 150.0, 141.0] + [100.0] * 7
                         + [315.0] * 2 + [100.0, 110.0, 90.0, 150.0, 60.0])
    pools = [np.linspace(10.0, 1000.0, 100), np.zeros(0)]
    chance = hop_log_chance(internal, transfers, pools, 2 * DAY, 0.85, 1.02, 3)
    # the last payment, 141, balances the sum at 150: one amount of 100 lies between; no
    # pair starts in the four hours between the last in and the first out (one pair's share);
    # the hub chose among its 3 x 2 (in, out) pairs and the gathered sum
    assert np.isclose(chance[0], np.log10(1 / 100) + np.log10(1 / 100) + np.log10(7))
    assert chance[1:].tolist() == [0.0, 0.0], "two days' takings are no week's payout"



def test_money_cashed_out_soon_in_a_conserved_amount_is_unlikely_and_a_card_in_use_is_not():
    # card payment pairs: 100 one-off ones, one a day at noon, amounts 10..1000; 100 cards in
    # use the whole log. Each group: member 0 pays member 1 100 at midnight of day 50; group 0's
    # member 1 pays 97 with a new card two hours later (a cash-out), group 1's with a card it
    # has used since the log began, group 2's with a new card three weeks later
    hour = 3600.0
    transfers = pd.DataFrame({"src": np.arange(100), "dst": np.arange(100, 200),
                              "ts": np.arange(100) * DAY + 0.5 * DAY,
                              "last": np.arange(100) * DAY + 0.5 * DAY,
                              "amount": np.linspace(10.0, 1000.0, 100), "count": 1})
    cards = pd.DataFrame({"src": np.r_[np.arange(1000, 1200), 1, 11, 21],
                          "count": np.r_[np.ones(100), np.full(100, 30), 1, 30, 1],
                          "ts": np.r_[np.arange(100) * DAY + 0.5 * DAY, np.zeros(100),
                                      50 * DAY + 2 * hour, 0.0, 71 * DAY],
                          "last": np.r_[np.arange(100) * DAY + 0.5 * DAY, np.full(100, 100 * DAY),
                                        50 * DAY + 2 * hour, 100 * DAY, 71 * DAY],
                          "amount": np.r_[np.linspace(10.0, 1000.0, 100), np.full(100, 40.0),
                                          97.0, 97.0, 97.0]})
    internal = _internal([0, 1, 2], [0, 10, 20], [1, 11, 21], [50 * DAY] * 3)
    chance, choices = cash_out_log_chance(internal, cards, 2 * DAY, 0.85, 1.02)
    # of the 102 one-off card pairs (groups 0 and 2 each add one) one starts in those two
    # hours (its own), and 97..100 holds three of their amounts (the two 97s and 100)
    assert chance.index.tolist() == [(0, 1)]
    assert np.isclose(chance.loc[(0, 1)], np.log10(1 / 102) + np.log10(3 / 102))
    assert choices.to_dict() == {(0, 1): 1.0, (1, 11): 1.0, (2, 21): 1.0}
    pools = [np.linspace(10.0, 1000.0, 100), np.zeros(0)]
    hops = hop_log_chance(internal, transfers, pools, 2 * DAY, 0.85, 1.02, 3, cards)
    assert np.isclose(hops[0], chance.loc[(0, 1)])
    assert hops[1:].tolist() == [0.0, 0.0], "a card in use or three weeks on is no cash-out"
    assert hop_log_chance(internal, transfers, pools, 2 * DAY, 0.85, 1.02, 3).tolist() == [
        0.0, 0.0, 0.0], "without card payments only transfers are judged"


def test_the_sum_of_what_came_in_cashed_out_is_unlikely_and_a_part_of_it_is_not():
    # card payment pairs as above, one-off ones only. Each group: members 0 and 1 pay member 2
    # 50 and 52 an hour apart (a bipartite flow's receiver); group 0's member 2 pays 100 with a
    # new card two hours after the second, group 1's 60
    hour, t = 3600.0, 50 * DAY
    cards = pd.DataFrame({"src": np.r_[np.arange(1000, 1100), 2, 12],
                          "count": np.ones(102),
                          "ts": np.r_[np.arange(100) * DAY + 0.5 * DAY, t + 3 * hour,
                                      t + 3 * hour],
                          "amount": np.r_[np.linspace(10.0, 1000.0, 100), 100.0, 60.0]})
    cards["last"] = cards["ts"]
    internal = _internal([0, 0, 1, 1], [0, 1, 10, 11], [2, 2, 12, 12],
                         [t, t + hour, t, t + hour], amount=[50.0, 52.0, 50.0, 52.0])
    chance, choices = cash_out_log_chance(internal, cards, 2 * DAY, 0.85, 1.02)
    # of the 102 card pairs two start in the two hours after the last transfer in, and
    # 100..102 holds two of their amounts (both 100s)
    assert chance.index.tolist() == [(0, 2)]
    assert np.isclose(chance.loc[(0, 2)], np.log10(2 / 102) + np.log10(2 / 102))
    # two (transfer, card payment) pairs, and the sum before the card payment
    assert choices.to_dict() == {(0, 2): 3.0, (1, 12): 3.0}

def test_takings_of_one_off_payers_passed_on_along_a_repeated_route_are_unlikely():
    # background: 100 one-off pairs and 100 pairs repeated 12 times over 77 days, one of each
    # starting a day at noon, amounts 10..1000. Group 0: a new payer pays member 1 500 each
    # week for 12 weeks (midnight), who pays member 2 97 % of it 6 h later on one route (the
    # pair table keeps its mean, first and last transfer only); group 1: a team's captain 12
    # paid by player 11 (a route funded by a repeated pair) pays the pitch 13 on (three days
    # later: no hop of first transfers); group 2: member 21 paid half as much as it passes on;
    # group 3: member 31 paid in its first six weeks only (nothing came in before its last);
    # group 4: a courier 41 paid by five customers 0.5-4.5 days before each weekly transfer,
    # all it was paid over the route's span passed on (97 %), most of it days after it came;
    # group 5: member 51 paid 20.00 by a colleague each year, paying 52 20.00 6 h later (a
    # price passed round); group 6: member 61 paid 400 and 600 by turns, passing all of it on
    # (a mean of 500 to the cent: a mule keeping its cut apart)
    hour, span = 3600.0, 77 * DAY
    days = np.arange(100) * DAY + 0.5 * DAY
    amounts = np.linspace(10.0, 1000.0, 100)
    weeks = np.arange(12) * 7 * DAY
    once = [(1000 + i, 1, 50 * DAY + w, 500.0) for i, w in enumerate(weeks)]
    once += [(1100 + i, 21, 70 * DAY + w, 250.0) for i, w in enumerate(weeks)]
    once += [(1200 + i, 31, 80 * DAY + w, 1000.0) for i, w in enumerate(weeks[:6])]
    once += [(1300 + 5 * i + j, 41, 90 * DAY + 6 * hour + w - (j + 0.5) * DAY, 97.0)
             for i, w in enumerate(weeks) for j in range(5)]
    courier = 0.97 * 97.0 * (5 * 11 + 2) / 12
    once += [(1400 + i, 51, 100 * DAY + w, 20.0) for i, w in enumerate((0.0, 77 * DAY))]
    once += [(1500 + i, 61, 110 * DAY + w, 400.0 + 200.0 * (i % 2)) for i, w in enumerate(weeks)]
    starts = np.array([50, 60, 63, 70, 80, 90, 100, 110]) * DAY + 6 * hour
    routes = _internal([0, 1, 1, 2, 3, 4, 5, 6], [1, 11, 12, 21, 31, 41, 51, 61],
                       [2, 12, 13, 22, 32, 42, 52, 62], list(starts),
                       amount=[485.0] * 5 + [courier, 20.0, 500.0], count=[12] * 6 + [2, 12],
                       last=list(starts + span))
    transfers = pd.concat([
        pd.DataFrame({"src": np.arange(100), "dst": np.arange(100, 200), "count": 1,
                      "ts": days, "last": days, "amount": amounts}),
        pd.DataFrame({"src": np.arange(200, 300), "dst": np.arange(300, 400), "count": 12,
                      "ts": days, "last": days + span, "amount": amounts}),
        pd.DataFrame({"src": [s for s, *_ in once], "dst": [d for _, d, *_ in once], "count": 1,
                      "ts": [t for *_, t, _ in once], "last": [t for *_, t, _ in once],
                      "amount": [x for *_, x in once]}),
        pd.DataFrame({"src": [400], "dst": [11], "count": [12], "ts": [60 * DAY],
                      "last": [60 * DAY + span], "amount": [500.0]}),
        routes.drop(columns="cand")], ignore_index=True)
    pools = [amounts, amounts]
    chance, choices = routed_log_chance(routes, transfers, pools, 2 * DAY, 0.85, 1.02)
    # of the 109 pairs repeated over 77 days one starts in the 6 h after member 1 was first
    # paid (its own); 485..500 holds two of the repeated amounts (490, 500)
    assert chance.index.tolist() == [(0, 1), (6, 61)]
    assert np.isclose(chance.loc[(0, 1)], np.log10(1 / 109) + np.log10(2 / 100))
    assert choices.to_dict() == {(0, 1): 1.0, (1, 11): 1.0, (1, 12): 1.0, (2, 21): 1.0,
                                 (3, 31): 1.0, (4, 41): 1.0, (5, 51): 1.0, (6, 61): 1.0}
    hops = hop_log_chance(routes, transfers, pools, 2 * DAY, 0.85, 1.02, 7)
    assert np.isclose(hops[0], chance.loc[(0, 1)]) and hops[6] < 0.0
    assert hops[1:6].tolist() == [0.0] * 5, "a repeated income, half of it, none late, a week's" \
        " takings, a price"


def test_many_ordinary_hops_combine_to_no_evidence_and_strong_ones_stay_strong():
    p_values = np.log10(np.r_[np.linspace(0.05, 1.0, 40), 1e-4, 1e-4])
    group = np.r_[np.zeros(40, np.int64), 1, 1]
    combined = fisher_log10(p_values, group, 3)
    assert combined[0] > -0.5, "40 ordinary p-values are no finding"
    assert combined[1] < -6.0 and combined[2] == 0.0


def test_a_fan_of_nearly_equal_amounts_is_unlikely_and_counts_each_transfer_once():
    # group 0: four senders pay account 9, 100.00-100.06; group 1: amounts across the range;
    # group 2: a loop 1 -> 2 -> 3 -> 1 of equal amounts (no member fans three transfers)
    internal = _internal([0] * 4 + [1] * 4 + [2] * 3, [1, 2, 3, 4] * 2 + [1, 2, 3],
                         [9] * 8 + [2, 3, 1], [0.0] * 11,
                         amount=[100.0, 100.02, 100.04, 100.06] + [10.0, 300.0, 600.0, 1000.0]
                         + [100.0] * 3)
    pools = [np.linspace(10.0, 1000.0, 100), np.zeros(0)]
    chance = fan_log_chance(internal, internal, pools, 3)
    # one fan: its own p-value, times the two tests it is the better of
    assert np.isclose(chance[0], np.log10(4) + 3 * np.log10(1 / 100) + np.log10(2))
    assert chance[1:].tolist() == [0.0, 0.0]



def test_amounts_within_a_cent_are_a_price_as_often_as_the_logs_other_hubs_bill_one():
    # 300 hubs each paid by 5 payers, 29 of them one price (42.00 each), the others amounts
    # apart; group 0: flatmates 1..5 pay landlord 9 500.00 each; group 1: 11..15 pay
    # landlord 19 500.00, one of them 450.00; group 2: mules 21..25 pay hub 29 500.01-500.05;
    # group 3: flatmates 31..33 split 1,600.00 evenly to landlord 39 (533.34, 533.33, 533.33)
    hub = np.repeat(np.arange(1_000, 1_300), 5)
    background = pd.DataFrame({
        "src": 5_000 + np.arange(1_500), "dst": hub, "count": 1, "ts": 0.0, "last": 0.0,
        "amount": np.where(hub < 1_029, 42.0, np.round(20.0 + 0.5 * (hub - 1_000)
                                                       + 0.09 * np.tile(np.arange(5), 300), 2))})
    internal = _internal([0] * 5 + [1] * 5 + [2] * 5 + [3] * 3,
                         [1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 21, 22, 23, 24, 25, 31, 32, 33],
                         [9] * 5 + [19] * 5 + [29] * 5 + [39] * 3, [0.0] * 18,
                         amount=[500.0] * 9 + [450.0] + [500.01, 500.02, 500.03, 500.04, 500.05]
                         + [533.34, 533.33, 533.33])
    transfers = money_transfers(background, internal)
    pool = np.sort(transfers["amount"].to_numpy())
    chance = fan_log_chance(internal, transfers, [pool, np.zeros(0)], 4)
    # of the 302 other hubs paid by 5 (or 4), 29 are paid one amount by 5 (29 + 1 by 4)
    assert np.isclose(chance[0], np.log10(29 / 302) + np.log10(2)), "rent: a price"
    # its two prices are a fan's: 2 q, q the pool's share from 450 to 500
    share = np.mean((pool >= 450.0) & (pool <= 500.0))
    assert np.isclose(chance[1], np.log10(30 / 302) + np.log10(2 * share) + np.log10(2))
    # amounts near each other, a few within a cent, stay a fan of nearly equal amounts
    spread = spread_log_chance(pool, np.array([500.05 / 500.01]), np.array([5]))[0]
    at_its_amounts = np.log10(5) + 4 * np.log10(5 / len(pool))
    assert np.isclose(chance[2], max(at_its_amounts, spread) + np.log10(2))
    assert chance[2] < chance[0] - 2.0
    # an even split is one price: of the 303 other hubs paid by 3, 29 + 2 by 3 within a cent
    assert np.isclose(chance[3], np.log10(31 / 303) + np.log10(2))
    # hub 9 against the others: 2 within a cent (29 + 19, 29, 39), 5, none paid by 6
    assert np.allclose(price_log_share(transfers, "dst", 3, np.array([2, 5, 6]),
                                       np.array([9, 9, 9])),
                       [np.log10(32 / 303), np.log10(29 / 302), -np.inf])
    assert price_log_share(background[background["dst"] >= 1_029], "dst", 3, np.array([2]),
                           np.array([1_029])).tolist() == [-np.inf], "no other hub bills"


def test_flatmates_paying_their_landlord_the_same_rent_are_no_money_flow_ring():
    # 10 households of 5 flatmates, each paid a salary, settling bills in a loop and paying
    # its landlord 500.00 once in a month, among 300 accounts making 2,000 transfers: each
    # landlord's fan-in had a robust surprise of 5.5 (reported without labels at 5)
    rng = np.random.default_rng(0)
    pairs, minutes, amounts = [], [], []

    def pay(src: str, dst: str, amount: float) -> None:
        pairs.append((src, dst))
        minutes.append(rng.uniform(0, 30 * 1440))
        amounts.append(amount)

    for house in range(10):
        mates = [f"rm{house}_{i}" for i in range(5)]
        for i, mate in enumerate(mates):
            pay(mate, mates[(i + 1) % 5], rng.uniform(20, 80))
            pay(mate, f"landlord{house}", 500.0)
            pay(f"employer{rng.integers(5)}", mate, rng.uniform(1_500, 3_000))
    for src, dst in rng.integers(300, size=(2_000, 2)):
        if src != dst:
            pay(f"p{src}", f"p{dst}", rng.lognormal(4, 1))
    table = pd.DataFrame({"src": [s for s, _ in pairs], "dst": [d for _, d in pairs],
                          "count": 1, "amount_sum": amounts,
                          "ts": [T0 + pd.Timedelta(minutes=m) for m in minutes]})
    table = table.groupby(["src", "dst"], as_index=False).agg(
        count=("count", "sum"), first_ts=("ts", "min"), last_ts=("ts", "max"),
        amount_sum=("amount_sum", "sum"))
    rent = [c for c in find_ring_candidates(snapshot(TRANSACTED_WITH=table))
            if "flow_fan_in" in c.kind and any(m.startswith("landlord") for m in c.members)]
    assert len(rent) == 10
    assert max(c.features["flow_robust_surprise"] for c in rent) < 5.0


def test_a_hub_paying_some_payees_once_and_some_again_is_one_fan():
    # a mule hub pays 10 mules 100.00-100.18 in bursts: 6 once, 4 again (repeated pairs);
    # judged by class it was a fan of 6 and a fan of 4, now one fan of 10 among every amount
    internal = _internal([0] * 10, [0] * 10, list(range(1, 11)), [0.0] * 10,
                         amount=list(100.0 + 0.02 * np.arange(10)), count=[1] * 6 + [2] * 4)
    pools = [np.linspace(10.0, 1000.0, 100), np.linspace(10.0, 1000.0, 100)]
    chance = fan_log_chance(internal, internal, pools, 3)
    # 2 of the 200 amounts of either class are 100: one p-value, times the two tests
    assert np.isclose(chance[0], np.log10(10) + 9 * np.log10(2 / 200) + np.log10(2))
    by_class = [fan_log_chance(internal[internal["count"] == c], internal, pools, 3)[0]
                for c in (1, 2)]
    assert chance[0] < min(by_class) - 5

def test_a_payroll_run_in_the_sparse_tail_of_the_amounts_is_no_fan_of_equal_amounts():
    # the log's amounts: mostly small payments, a few large; an employer pays 10 staff
    # 1,600-3,600 (a third either way of 2,400), where the pool is sparse, and a mule hub
    # pays 10 mules 240 +- 2 % where it is dense
    rng = np.random.default_rng(0)
    pool = np.sort(np.r_[rng.lognormal(4.0, 1.0, 9_800), rng.lognormal(7.8, 0.4, 200)])
    payroll = np.linspace(1_600.0, 3_600.0, 10)
    mules = np.linspace(235.0, 245.0, 10)
    internal = _internal([0] * 10 + [1] * 10, [0] * 10 + [20] * 10,
                         list(range(1, 11)) + list(range(21, 31)), [0.0] * 20,
                         amount=[*payroll, *mules])
    chance = fan_log_chance(internal, internal, [pool, np.zeros(0)], 2)
    at_its_amounts = np.log10(10) + 9 * np.log10(np.mean((pool >= 1_600) & (pool <= 3_600)))
    assert at_its_amounts < -15, "read where it fell, the payroll looked like a tight fan"
    assert chance[0] > -5, "a spread of pay a third either way is no rarity anywhere in the log"
    assert chance[1] < -10, "near-equal amounts stay unlikely"
    spread = spread_log_chance(pool, np.array([3_600 / 1_600, 245 / 235]), np.array([10, 10]))
    assert np.isclose(chance[0], spread[0] + np.log10(2))
    assert spread[1] < spread[0] <= 0.0


def test_a_fans_schedule_and_amounts_are_two_p_values_combined():
    # hub 0 is paid 100.00-100.08 by 1..5, every 44 days (the fan of the test above)
    fan, transfers = _scheduled_fan([0, 44, 88, 132, 176], np.arange(1, 21) + 0.5)
    internal = fan.assign(cand=0, count=1, last=fan["ts"], amount=100.0 + 0.02 * np.arange(5))
    pools = [np.linspace(10.0, 1000.0, 100), np.zeros(0)]
    amounts = np.log10(5) + 4 * np.log10(1 / 100)
    timed = _schedule(fan, transfers)
    expected = omnibus_log10(np.array([amounts, timed]), np.zeros(2, np.int64), 1)[0]
    chance = fan_log_chance(internal, transfers, pools, 1)[0]
    assert np.isclose(chance, expected)
    assert amounts + timed < chance < min(amounts, timed) + 2 * np.log10(2)


def test_one_strong_p_value_is_not_diluted_and_many_moderate_ones_still_add_up():
    # group 0: a schedule at 1e-6 beside unremarkable amounts; group 1: 40 p-values of 0.01
    p_values = np.log10(np.r_[1e-6, 1.0, np.full(40, 0.01)])
    group = np.r_[0, 0, np.ones(40, np.int64)]
    combined = omnibus_log10(p_values, group, 3)
    fisher = fisher_log10(p_values, group, 3)
    assert np.isclose(combined[0], -6 + 2 * np.log10(2)), "Bonferroni's: 2 x 1e-6, times 2"
    assert fisher[0] > combined[0] + 0.5, "Fisher's method dilutes it by about an order"
    assert np.isclose(combined[1], fisher[1] + np.log10(2)) and combined[1] < -35
    assert combined[2] == 0.0


def test_repeated_pairs_are_judged_against_repeated_pairs_amounts():
    # three repeated pairs averaging 500 are ordinary among repeated pairs averaging ~500,
    # though 500 is a rare amount for a single transfer
    transfers = pd.DataFrame({"src": np.arange(100), "dst": np.arange(100, 200),
                              "count": [1] * 50 + [10] * 50, "ts": np.zeros(100),
                              "last": np.zeros(100),
                              "amount": np.r_[np.linspace(10.0, 1000.0, 50),
                                              np.linspace(495.0, 505.0, 50)]})
    internal = _internal([0, 0, 0], [1, 2, 3], [9, 9, 9], [0.0, 0.0, 0.0],
                         amount=[499.0, 500.0, 501.0], count=[10, 10, 10])
    money = money_log_chance(internal, transfers, np.array([4]), 2 * DAY, 0.85, 1.02)
    # 499..501 holds 10 of the 50 repeated pairs' means: 3 (1/5)^2, times the two tests
    assert np.isclose(money.shape[0], np.log10(3) + 2 * np.log10(10 / 50) + np.log10(2))


def _laundering_world() -> tuple:
    """300 honest accounts paying 2 payees each on a schedule over 700 days (repeated pairs,
    started when the log began) and another once at a random time (a one-off pair), and 5
    mules passing money round a loop of one-off transfers within three days."""
    rng = np.random.default_rng(0)
    scheduled = [(f"h{i}", f"h{j}") for i in range(300)
                 for j in rng.choice(np.delete(np.arange(300), i), 3, replace=False)]
    loop = [(f"m{i}", f"m{(i + 1) % 5}") for i in range(5)]
    once = np.arange(len(scheduled)) % 3 == 2
    first = np.r_[np.where(once, rng.uniform(0, 700, len(scheduled)),
                           rng.uniform(0, 10, len(scheduled))), 300 + np.arange(5) * 0.6] * DAY
    last = np.r_[np.where(once, first[:len(scheduled)] / DAY,
                          rng.uniform(690, 700, len(scheduled))),
                 300 + np.arange(5) * 0.6] * DAY
    count = np.r_[np.where(once, 1, 24), np.ones(5)]
    table = pd.DataFrame({
        "src": [s for s, _ in scheduled + loop], "dst": [d for _, d in scheduled + loop],
        "count": count.astype(np.int64),
        "first_ts": T0 + pd.to_timedelta(first, unit="s"),
        "last_ts": T0 + pd.to_timedelta(last, unit="s"),
        "amount_sum": np.r_[count[:len(scheduled)] * rng.uniform(100.0, 1000.0, len(scheduled)),
                            900.0 * 0.9 ** np.arange(5)]})
    return snapshot(TRANSACTED_WITH=table), {f"m{i}" for i in range(5)}


def test_a_quick_loop_of_one_off_transfers_stands_out_of_honest_schedules():
    snap, mules = _laundering_world()
    everything = find_ring_candidates(snap, RingConfig(min_surprise=-np.inf, pairs=False))
    loop = [c for c in everything if set(c.members) == mules]
    assert loop and loop[0].features["flow_surprise"] >= RingConfig().min_surprise
    honest = [c for c in everything if not set(c.members) & mules]
    shapes = [c for c in honest if "flow_" in c.kind]
    assert shapes, "the flow searches themselves list honest fans and loops"
    assert max(c.features["flow_surprise"] for c in shapes) < RingConfig().min_surprise
    assert loop[0].features["surprise"] > max(c.features["surprise"] for c in honest)


def _scheduled_fan(fan_days, other_days, others_pay_hub: bool = True
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accounts 1.. pay hub 0 once each on ``fan_days`` (a fan-in); the hub has one-off pairs
    with accounts 100.. on ``other_days`` (they pay it, or it pays them); 400 one-off pairs
    between others, one a day."""
    fan = pd.DataFrame({"src": 1 + np.arange(len(fan_days)), "dst": 0,
                        "ts": np.asarray(fan_days, np.float64) * DAY})
    counterparty = 100 + np.arange(len(other_days))
    others = pd.DataFrame({"src": counterparty if others_pay_hub else 0,
                           "dst": 0 if others_pay_hub else counterparty,
                           "ts": np.asarray(other_days, np.float64) * DAY})
    pool = pd.DataFrame({"src": 1000 + np.arange(400), "dst": 2000 + np.arange(400),
                         "ts": np.arange(400) * DAY})
    transfers = pd.concat([fan, others, pool], ignore_index=True)
    return fan, transfers.assign(last=transfers["ts"], count=1)


def _schedule(fan: pd.DataFrame, transfers: pd.DataFrame) -> float:
    n = len(fan)
    return schedule_log_chance(np.zeros(n, np.int64), np.zeros(n, np.int64),
                               fan["ts"].to_numpy(), np.zeros(n, np.int64), transfers, 1)[0]


def test_one_off_pairs_starting_on_a_schedule_are_unlikely_unless_the_hub_keeps_that_calendar():
    grid = [0, 44, 88, 132, 176]
    # the hub is paid 20 more times off the 44-day grid, between days 1 and 21
    fan, transfers = _scheduled_fan(grid, np.arange(1, 21) + 0.5)
    # each of the 3 inner starts: 2 of the 202 pairs starting from day 0 to 176 start on its
    # day (its own and one of the 400), in 3! orders; the calendar puts none of the hub's 20
    # other pairs on the grid (the stratum's share there, 3 x 2 / 202, its prior); the
    # likelier null counts, times 4 x 5 / 4 (a union bound over the step counts J >= 4 that
    # five starts can show, weighted 4 / (J (J + 1)))
    by_stratum = 3 * np.log10(2 / 202) + np.log10(6)
    by_calendar = 3 * np.log10(3 * 2 / 202 / 21)
    assert by_stratum > by_calendar
    assert np.isclose(_schedule(fan, transfers), by_stratum + np.log10(4 * 5 / 4))
    # a hub paid every 44 days after the fan keeps that calendar: no evidence
    assert _schedule(*_scheduled_fan(grid, 176 + 44 * np.arange(1, 21))) == 0.0
    # one that pays every 44 days does not explain when it is paid: its calendar of being
    # paid is the prior alone (2 of the 182 pairs starting in the window on each day)
    paying = _schedule(*_scheduled_fan(grid, 176 + 44 * np.arange(1, 21), False))
    assert np.isclose(paying, 3 * np.log10(3 * 2 / 182) + np.log10(4 * 5 / 4))
    assert paying < -3.0


def test_irregular_starts_and_starts_together_are_no_schedule():
    others = np.arange(1, 21) + 0.5
    assert _schedule(*_scheduled_fan([0, 10, 15, 120, 176], others)) > -1.0
    # a payroll: every pair starts on the one payday (no schedule to judge)
    assert np.isnan(_schedule(*_scheduled_fan([0, 0, 44, 88, 132], others)))
    assert np.isnan(_schedule(*_scheduled_fan([0, 0.0001, 0.0002], others)))


def _loop(cand: int, base: int, amounts: np.ndarray, ts: np.ndarray | None = None
          ) -> pd.DataFrame:
    """A loop of one-off transfers, member ``base + i`` paying ``base + i + 1``."""
    k = len(amounts)
    return pd.DataFrame({"cand": cand, "src": base + np.arange(k),
                         "dst": base + (np.arange(k) + 1) % k, "count": 1,
                         "ts": np.zeros(k, np.int64) if ts is None else ts, "last": -1,
                         "amount": amounts})


def test_a_chain_of_conserved_amounts_counts_whatever_its_timing():
    # review R17: mules pass the last amount minus a cut; settle-ups net debts; a gift
    # exchange's equal amounts are a price, not a chain
    rng = np.random.default_rng(0)
    singles = np.sort(rng.uniform(10, 2000, 5000))
    laundered = 1000 * np.cumprod(np.r_[1, rng.uniform(0.96, 0.99, 7)])
    internal = pd.concat([_loop(0, 0, laundered), _loop(1, 100, rng.uniform(20, 200, 8)),
                          _loop(2, 200, np.full(8, 50.0)),
                          _loop(3, 300, np.r_[laundered[:4], [35.0, 180.0, 60.0, 120.0]])])
    chance = chain_log_chance(internal, singles, 0.85, 1.02, 5)
    assert chance[0] < -10
    assert chance[1] == 0.0 and chance[2] == 0.0 and chance[4] == 0.0
    # three conserved relays in a row: less than the whole loop's seven
    assert chance[0] < chance[3] < -3


def test_money_judges_a_loop_at_random_times_by_its_chain_when_asked():
    rng = np.random.default_rng(1)
    laundered = 1000 * np.cumprod(np.r_[1, rng.uniform(0.96, 0.99, 7)])
    # the transfers at random times over a week, not in loop order: few are hops
    times = (rng.permutation(8) * 86400 * 0.8).astype(np.int64)
    internal = _loop(0, 0, laundered, times)
    transfers = pd.concat([internal[["src", "dst", "count", "ts", "last", "amount"]],
                           pd.DataFrame({"src": np.arange(1000, 3000), "dst": np.arange(3000, 5000),
                                         "count": 1, "ts": rng.integers(0, 60 * 86400, 2000),
                                         "last": -1, "amount": rng.uniform(10, 2000, 2000)})])
    # the mules live that week only; everyone else the whole log
    first = np.zeros(5000, np.int64)
    last = np.full(5000, 60 * 86400, np.int64)
    last[:8] = 7 * 86400
    lives = Lives.of_activity(first, last)
    off = money_log_chance(internal, transfers, np.array([8]), 2 * 86400, 0.85, 1.02,
                           lives=lives)
    on = money_log_chance(internal, transfers, np.array([8]), 2 * 86400, 0.85, 1.02,
                          lives=lives, chains=True)
    assert on.shape[0] < -10
    assert on.shape[0] < off.shape[0] - 3


def _collections(base: int, collectors: tuple[int, int], days: tuple[float, float]
                 ) -> tuple[list[int], list[int], list[float], list[float]]:
    """Members ``base .. base + 3``: on each day the others pay the collector 10, 12 and 15
    within four hours."""
    hour = 3600.0
    src, dst, ts, amount = [], [], [], []
    for collector, day in zip(collectors, days, strict=True):
        payers = [base + m for m in range(4) if base + m != collector]
        src += payers
        dst += [collector] * 3
        ts += [day * DAY + h * hour for h in (0, 2, 4)]
        amount += [10.0, 12.0, 15.0]
    return src, dst, ts, amount


def test_a_collection_in_turn_from_members_with_lives_of_their_own_is_contributions():
    # group 0: an office of four, two collections, the collector turning (R46's gift pool);
    # group 1: the same, but member 21 was paid 20 an hour before it paid in (money it could
    # pass on); group 2: three payers pay two receivers that never pay (a bipartite flow);
    # group 3: the same as 0, members whose life came after (day 300). Members of 0-2 pay
    # shops 500 each on day 50
    office, relayed, nolife = (_collections(b, (b, b + 1), (10, 100)) for b in (0, 20, 30))
    bipartite = ([10, 11, 12] * 2, [13] * 3 + [14] * 3,
                 [10 * DAY + h * 3600.0 for h in (0, 2, 4)] * 2, [10.0, 12.0, 15.0] * 2)
    parts = (office, relayed, bipartite, nolife)
    internal = _internal([g for g, part in enumerate(parts) for _ in part[0]],
                         sum((part[0] for part in parts), []), sum((part[1] for part in parts), []),
                         sum((part[2] for part in parts), []), sum((part[3] for part in parts), []))
    lives = [*range(4), *range(10, 15), *range(20, 24)]
    later = list(range(30, 34))
    elsewhere = pd.DataFrame({"src": lives + later + [60], "dst": 50, "count": 1,
                              "ts": [50 * DAY] * len(lives) + [300 * DAY] * 4
                              + [100 * DAY - 3600.0],
                              "amount": [500.0] * (len(lives) + 4) + [20.0]})
    elsewhere.loc[elsewhere["src"] == 60, "dst"] = 21
    elsewhere["last"] = elsewhere["ts"]
    transfers = pd.concat([internal.drop(columns=["cand"]), elsewhere], ignore_index=True)
    found = contributions(internal, transfers, 2 * DAY, 0.85, 1.02, 3)
    group = internal["cand"].to_numpy()
    assert found[group == 0].all()
    # 21 paid collector 20 on day 100 just after being paid 20 (of 12.0: at least 0.85 of it)
    passed = (group == 1) & (internal["src"] == 21).to_numpy() & (internal["ts"] > 50 * DAY)
    assert not found[passed].any() and found[(group == 1) & ~passed].all()
    assert not found[group == 2].any(), "the roles do not turn"
    assert not found[group == 3].any(), "no life of their own while they collected"
    # no collector: one payment a day
    spread = internal[group == 0].assign(ts=np.arange(6) * 3 * DAY)
    assert not contributions(spread, transfers, 2 * DAY, 0.85, 1.02, 3).any()


def test_a_lunch_order_is_contributions_however_thin_its_payers_lives():
    # review R55: offices of four collecting in turn for a lunch order every 20 days, their
    # members' lives in the log thinner than what they pay in. Group 0: each member paid 15,
    # 15 and 2 elsewhere meanwhile, its median payment no less than any share (10-15):
    # everyday money; group 1: 5, 5 and 5 (the shares are more than they spend: mules moving
    # money); group 2: as group 0, each collector paying the sum half a day later to member
    # 70, who pays no member (the restaurant, inside the candidate); group 3: as group 2
    # (member 71), its members paying 5, 5 and 500 elsewhere (a life, but the shares are more
    # than its median payment: a mule group's own cash-out)
    days = (10, 30, 50, 70)
    parts = [_collections(b, tuple(range(b, b + 4)), days) for b in (0, 10, 20, 30)]
    spend = ([20, 21, 22, 23, 30, 31, 32, 33], [70] * 4 + [71] * 4,
             [(d + 0.5) * DAY for d in days] * 2, [37.0] * 8)
    rows = [*parts, spend]
    internal = _internal([g for g in range(4) for _ in range(12)] + [2] * 4 + [3] * 4,
                         *(sum((p[i] for p in rows), []) for i in range(4)))
    paid = {0: [15.0, 15.0, 2.0], 10: [5.0] * 3, 20: [15.0, 15.0, 2.0], 30: [5.0, 5.0, 500.0]}
    elsewhere = pd.DataFrame([(b + m, x) for b, xs in paid.items() for m in range(4) for x in xs],
                             columns=["src", "amount"]).assign(count=1, ts=40 * DAY)
    elsewhere["dst"] = 100 + np.arange(len(elsewhere))
    elsewhere["last"] = elsewhere["ts"]
    transfers = pd.concat([internal.drop(columns=["cand"]), elsewhere], ignore_index=True)
    found = contributions(internal, transfers, 2 * DAY, 0.85, 1.02, 3)
    group = internal["cand"].to_numpy()
    assert found[group == 0].all()
    assert not found[group == 1].any(), "shares above a thin life's payments"
    assert found[(group == 2) & (internal["dst"] != 70).to_numpy()].all()
    assert not found[internal["dst"].isin([70, 71]).to_numpy()].any()
    assert not found[group == 3].any(), "a mule group's own cash-out is a relay"


def test_a_circle_collecting_in_turn_round_after_round_is_contributions():
    # groups of four, no life besides: each week one member in turn collects 60 from the
    # others within four hours (the pair table keeps a pair's count, first and last). Group
    # 0 runs 12 weeks (each collects three times: a co-op's buyer in turn); group 1 runs 8
    # (twice each: a twelve-week kitty of mules turns no more)
    hour = 3600.0
    rows = []
    for group, (base, weeks) in enumerate(((0, 12), (10, 8))):
        for a in range(base, base + 4):
            for b in range(base, base + 4):
                if a != b:
                    turns = [k for k in range(weeks) if base + k % 4 == b]
                    first, final = ((10 + 7 * turns[i]) * DAY + (a - base) * hour
                                    for i in (0, -1))
                    rows.append((group, a, b, len(turns), first, final, 60.0))
    internal = pd.DataFrame(rows, columns=["cand", "src", "dst", "count", "ts", "last",
                                           "amount"])
    found = contributions(internal, internal.drop(columns=["cand"]), 2 * DAY, 0.85, 1.02, 3)
    group = internal["cand"].to_numpy()
    assert found[group == 0].all(), "three turns each: the circle meets again"
    assert not found[group == 1].any(), "two turns each and no life besides"


def test_money_judged_without_contributions_is_never_less_likely():
    # an office of four, two collections, each spent by card on its sum within a day (a
    # cash-out), beside 100 one-off pairs a day apart: the collections' money is no evidence
    office = _collections(0, (0, 1), (10, 60))
    internal = _internal([0] * 6, *office)
    # group 1: the same transfers, not taken for contributions
    twice = pd.concat([internal, internal.assign(cand=1)], ignore_index=True)
    transfers = _beside_one_offs(internal)
    # besides the collectors' two, 100 card payments a day apart, by others
    cards = pd.DataFrame({"src": np.r_[0, 1, np.arange(300, 400)], "card": "c", "count": 1,
                          "ts": np.r_[10.5, 60.5, np.arange(100) + 0.25] * DAY,
                          "amount": np.r_[37.0, 37.0, np.linspace(10.0, 1000.0, 100)]})
    cards["last"] = cards["ts"]
    sizes = np.array([4, 4])
    before = money_log_chance(twice, transfers, sizes, 2 * DAY, 0.85, 1.02, 3, cards)
    after = money_log_chance(twice, transfers, sizes, 2 * DAY, 0.85, 1.02, 3, cards,
                             collected=np.r_[np.ones(6, dtype=bool), np.zeros(6, dtype=bool)])
    assert before.shape[0] < -1.0, "the cash-outs of the collected sums stand out"
    assert after.shape[0] == after.window[0] == after.habit[0] == 0.0
    # a group without contributions is judged as before
    assert after.shape[1] == before.shape[1] == before.shape[0]
    assert after.window[1] == before.window[1] and after.habit[1] == before.habit[1]


def test_a_relay_whose_members_front_the_next_hop_keeps_its_hops():
    # review R49: six mules pass 1,000 on down a chain, 97 % of it each time, 2-10 h after they
    # are paid; mules 2 and 4 pay on 6 h before they are paid (a float the relay pays back
    # that day). Paid back what they passed on before the cut, they are no early payers of a
    # price (a Secret Santa's), so the hops keep their timing; one-off pairs start one a day
    hour = 3600.0
    chain = [0, 1, 2, 3, 4, 5]
    paid = [50 * DAY + h * hour for h in (0, 4, 12, 18, 28)]
    amount = [1000.0 * 0.97 ** i for i in range(5)]
    # mule 2 pays mule 3 at 6 h before 1 pays it, mule 4 pays 5 likewise
    ts = [paid[0], paid[1], paid[1] - 6 * hour, paid[3], paid[3] - 6 * hour]
    internal = _internal([0] * 5, chain[:-1], chain[1:], ts, amount=amount)
    transfers = _beside_one_offs(internal)
    pools = [np.linspace(10.0, 1000.0, 100), np.zeros(0)]
    chance = hop_log_chance(internal, transfers, pools, 2 * DAY, 0.85, 1.02, 1)
    assert chance[0] < -3.0
