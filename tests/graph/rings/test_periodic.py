import numpy as np
import pandas as pd

from graph.rings.periodic import (
    longest_progressions,
    periodic_fans,
    progression_count,
    progression_log_chance,
)

DAY = 86400.0


def _transfers(rows: list[tuple[int, int, float]], counts: list[int] | None = None
               ) -> pd.DataFrame:
    return pd.DataFrame({
        "src": [s for s, _, _ in rows], "dst": [d for _, d, _ in rows],
        "count": counts or [1] * len(rows), "ts": [t for _, _, t in rows],
        "last": [t for _, _, t in rows], "amount": 500.0,
    })


def test_progression_count_matches_enumeration():
    for span in (5, 12, 30):
        for m in (3, 4, 5):
            found = sum(1 for a in range(span) for s in range(1, span)
                        if a + (m - 1) * s < span)
            assert progression_count(span, m) == found


def test_longest_progression_per_hub():
    hub = np.array([0, 0, 0, 0, 0, 7, 7, 7, 9])
    day = np.array([1, 4, 5, 7, 10, 2, 3, 9, 4])
    hubs, length, start, step = longest_progressions(hub, day)
    assert hubs.tolist() == [0, 7, 9]
    assert length.tolist() == [4, 2, 1]
    assert (start[0], step[0]) == (1, 3)


def test_chance_falls_with_length_and_rises_with_busier_days():
    # m terms over 140 days, k of the hub's days within them, its span 300 days
    assert progression_log_chance(8, 8, 140, 300) < progression_log_chance(5, 5, 140, 300) < 0
    assert progression_log_chance(5, 20, 140, 300) > progression_log_chance(5, 5, 140, 300)
    # a burst: every day within the progression taken
    assert progression_log_chance(7, 7, 7, 300) == 0.0


def _world(schedule_days: list[int], habit_days: list[int] = ()) -> tuple[pd.DataFrame, pd.Index]:
    # hub 0 is paid once each by accounts 1.. on ``schedule_days``; 200 other hubs are paid once
    # each by three accounts on scattered days
    rng = np.random.default_rng(0)
    rows = [(1 + i, 0, d * DAY + 3600.0 * i) for i, d in enumerate(schedule_days)]
    nxt = 100
    for h in range(1000, 1200):
        for d in rng.choice(300, size=3, replace=False):
            rows.append((nxt, h, float(d) * DAY))
            nxt += 1
    counts = [1] * len(rows)
    for d in habit_days:  # the hub's repeated pairs, starting on given days
        rows.append((nxt, 0, d * DAY))
        counts.append(5)
        nxt += 1
    accounts = pd.Index([str(i) for i in range(max(nxt, 1200))])
    return _transfers(rows, counts), accounts


def test_a_fan_on_a_schedule_is_found_with_its_chance_and_scattered_hubs_are_not():
    transfers, accounts = _world([10 + 30 * k for k in range(7)] + [95, 171])
    found = periodic_fans(transfers, accounts, 3, 50, 64)
    assert len(found) == 1
    fan = found[0]
    assert fan.kind == "flow_periodic_fan"
    assert sorted(fan.rows.tolist()) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert fan.log_chance < -np.log10(fan.tests) - 1.0
    # three days each cannot make a chance that small: only the hub itself is counted
    assert fan.tests == 1
    assert fan.evidence[0] == "Hub:0" and "every 30d" in fan.evidence[1]


def test_a_schedule_that_is_the_hubs_habit_is_not_a_fan():
    schedule = [10 + 30 * k for k in range(7)]
    transfers, accounts = _world(schedule, habit_days=[40 + 30 * k for k in range(8)])
    assert periodic_fans(transfers, accounts, 3, 50, 64) == []


def test_a_run_longer_than_a_ring_or_a_busy_hub_is_not_a_fan():
    transfers, accounts = _world([10 + 5 * k for k in range(12)])
    assert periodic_fans(transfers, accounts, 3, 11, 64) == []
    assert periodic_fans(transfers, accounts, 3, 50, 11) == []


def test_hubs_that_could_be_as_unlikely_are_charged():
    # hub 0: six payers 50 days apart and one off the grid; 100 hubs paid on eight scattered
    # days over 300 could each have come out that unlikely, 100 paid on three could not
    rng = np.random.default_rng(1)
    rows, nxt = [], 10
    for h in range(1000, 1200):
        for d in rng.choice(300, size=8 if h < 1100 else 3, replace=False):
            rows.append((nxt, h, float(d) * DAY))
            nxt += 1
    for i, d in enumerate([0, 50, 100, 150, 200, 250, 299]):
        rows.append((1 + i, 0, d * DAY))
    accounts = pd.Index([str(i) for i in range(max(nxt, 1200))])
    found = periodic_fans(_transfers(rows), accounts, 3, 50, 64)
    assert [sorted(f.rows.tolist()) for f in found] == [[0, 1, 2, 3, 4, 5, 6]]
    assert 1 < found[0].tests <= 101
