import numpy as np
import pandas as pd

from graph.rings.flows import (
    burst_stars,
    clock_step,
    counterparty_degree,
    fan_stars,
    transfer_table,
    windowed_cycles,
)
from graph.rings.projection import account_index

from .helpers import edges, snapshot


def _flows():
    cycle = [("c0", "c1"), ("c1", "c2"), ("c2", "c3"), ("c3", "c0")]
    fan = [(f"l{i}", "hub") for i in range(5)]
    # a busy merchant: many counterparties, so it is never a star leaf
    busy = [(f"p{i}", "shop") for i in range(20)] + [("shop", "hub")]
    late_cycle = [("z0", "z1"), ("z1", "z2"), ("z2", "z0")]
    minutes = [0, 60, 120, 180] + [0] * 5 + [0] * 21 + [0, 60 * 24 * 60, 60 * 24 * 120]
    repeated = [1] * 30 + [1, 1, 1]
    rows = cycle + fan + busy + late_cycle
    snap = snapshot(TRANSACTED_WITH=edges(rows, [float(m) for m in minutes], repeated))
    accounts = account_index(snap)
    return snap, accounts, transfer_table(snap, accounts)


def test_fan_in_star_keeps_leaves_and_drops_hub_counterparties():
    _, accounts, transfers = _flows()
    stars = fan_stars(transfers, len(accounts), 2, 5, 3, 50)
    found = {(g.kind, frozenset(accounts[g.rows])) for g in stars}
    assert ("flow_fan_in", frozenset({"hub", "l0", "l1", "l2", "l3", "l4"})) in found


def test_cycle_inside_a_window_is_found_and_a_slow_one_is_not():
    _, accounts, transfers = _flows()
    cycles = [set(accounts[g.rows]) for g in windowed_cycles(
        transfers, len(accounts), 2, 30 * 86400.0, 3, 50)]
    assert {"c0", "c1", "c2", "c3"} in cycles
    assert not any("z0" in c for c in cycles)


def test_counterparty_degree_counts_distinct_counterparties_either_direction():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 40, 500)
    dst = rng.integers(0, 40, 500)  # repeats, both directions and some self-payments
    pairs = np.unique(np.sort(np.column_stack([src, dst]), axis=1), axis=0)
    expected = np.bincount(pairs.ravel(), minlength=45)
    got = counterparty_degree(pd.DataFrame({"src": src, "dst": dst}), 45)
    assert got.tolist() == expected.tolist()
    assert counterparty_degree(pd.DataFrame({"src": [], "dst": []}), 3).tolist() == [0, 0, 0]


def _burst(minutes: list[float], amounts: tuple[float, ...] = (950.0, 960.0, 940.0, 970.0)
           ) -> tuple[pd.Index, pd.DataFrame]:
    """Four senders paying ``hub`` twice each (``amounts``, starting at ``minutes``); s2 and s3
    also pay 8 others each."""
    rows = [(f"s{i}", "hub") for i in range(4)]
    rows += [(f"s{i}", f"o{i}_{j}") for i in (2, 3) for j in range(8)]
    times = minutes + [0.0] * 16
    table = edges(rows, [60.0 * 24 * 20 + m for m in times], [2] * 20)
    table["amount_sum"] = 2.0 * np.r_[amounts, np.full(16, 50.0)]
    snap = snapshot(TRANSACTED_WITH=table)
    accounts = account_index(snap)
    return accounts, transfer_table(snap, accounts)


def test_a_burst_of_pairs_to_one_hub_is_a_star_even_with_busy_leaves():
    accounts, transfers = _burst([0.0, 2.0, 3.0, 5.0])
    stars = fan_stars(transfers, len(accounts), None, 5, 3, 50, min_pair_count=2)
    fans_in = [set(accounts[g.rows]) for g in stars if g.kind == "flow_fan_in"]
    # the star leaves out the busy senders (9 counterparties over the cap of 5): a fan of 2
    assert fans_in == [{"hub", "s0", "s1", "s2", "s3"}]
    assert not any(g.kind == "flow_fan_in" for g in fan_stars(
        transfers, len(accounts), None, 5, 3, 50, min_pair_count=2, burst_s=0.0))
    # a burst of 3 leaves that fit under the cap is the star's, not listed again
    degree = counterparty_degree(transfers, len(accounts))
    assert burst_stars(transfers, degree, "flow_fan_in", "dst", "src", 10, 60, 1800.0, 3,
                       50) == []


def test_pairs_starting_hours_apart_or_of_amounts_apart_are_no_burst():
    for accounts, transfers in (_burst([0.0, 2.0, 60.0 * 5, 60.0 * 10]),
                                _burst([0.0, 2.0, 3.0, 5.0], (950.0, 960.0, 300.0, 970.0))):
        stars = fan_stars(transfers, len(accounts), None, 5, 3, 50, min_pair_count=2)
        assert not any(g.kind == "flow_fan_in" for g in stars)


def test_a_burst_paid_again_together_a_period_later_is_a_routine_file():
    # review F5 (session 19): a payroll file paying the same staff again two weeks later
    accounts, transfers = _burst([0.0, 2.0, 3.0, 5.0])
    hub = transfers["dst"] == accounts.get_loc("hub")

    def fans_in(last: pd.Series, leaf_max_degree: int = 5) -> list:
        return [g for g in fan_stars(transfers.assign(last=last), len(accounts), None,
                                     leaf_max_degree, 3, 50, min_pair_count=2)
                if g.kind == "flow_fan_in"]

    assert len(fans_in(transfers["last"])) == 1
    paid_again = transfers["last"].where(~hub, transfers["ts"] + 14 * 86400.0)
    assert fans_in(paid_again) == []
    # the same with quiet senders (a star, not a burst star)
    assert len(fans_in(transfers["last"], 60)) == 1 and fans_in(paid_again, 60) == []
    # paid again within days (a ring's next episode), or at scattered times: still a burst
    assert len(fans_in(transfers["last"].where(~hub, transfers["ts"] + 2 * 86400.0))) == 1
    scattered = transfers["ts"] + 14 * 86400.0 + 7200.0 * np.arange(len(transfers))
    assert len(fans_in(transfers["last"].where(~hub, scattered))) == 1


def test_a_log_whose_clock_ticks_in_days_makes_no_burst():
    accounts, transfers = _burst([0.0, 2.0, 3.0, 5.0])
    assert clock_step(transfers["ts"].to_numpy()) == 60
    # the same transfers on a clock of whole days (the hub's pairs on one day, others the next)
    daily = transfers.assign(ts=transfers["ts"] // 86400 * 86400
                             + 86400 * (transfers["dst"] != transfers["dst"].iloc[0]))
    assert clock_step(daily["ts"].to_numpy()) % 86400 == 0
    stars = fan_stars(daily, len(accounts), None, 5, 3, 50, min_pair_count=2)
    assert not any(g.kind == "flow_fan_in" for g in stars)
    assert clock_step(np.array([-1, 5])) == 0 and clock_step(np.array([7, 7])) == 0
