import numpy as np
import pandas as pd

from graph.rings.flows import counterparty_degree, fan_stars, transfer_table, windowed_cycles
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
