import numpy as np
import pandas as pd

from graph.rings.off_schedule import off_schedule_fans, routines
from graph.rings.periodic import DAY_S


def _world(hubs: int = 30, weeks: int = 100, off_days: int = 6, seed: int = 0
           ) -> tuple[pd.DataFrame, pd.Index]:
    """``hubs`` accounts each paying a new payee once a week on one weekday for ``weeks``
    weeks (hub 0 on weekday 0); hub 0 also pays ``off_days`` new payees once each on weekday
    3."""
    rng = np.random.default_rng(seed)
    src, dst, ts = [], [], []
    payee = hubs
    for h in range(hubs):
        weekday = int(rng.integers(7)) if h else 0
        for w in range(weeks):
            src.append(h)
            dst.append(payee)
            ts.append((7 * w + weekday) * DAY_S + 3600.0)
            payee += 1
    for d in range(off_days):
        src.append(0)
        dst.append(payee)
        ts.append((7 * (10 * d + 3) + 3) * DAY_S)
        payee += 1
    transfers = pd.DataFrame({"src": src, "dst": dst, "count": 1, "ts": ts})
    transfers["last"] = transfers["ts"]
    transfers["amount"] = 100.0
    return transfers, pd.Index([str(i) for i in range(payee)])


def test_routines_find_the_weekly_step():
    hub = np.zeros(20, np.int64)
    day = np.arange(20) * 7 + 2
    n, step, residue, on = routines(hub, day, 1)
    assert (n[0], step[0], residue[0] % step[0], on[0]) == (20, 7, 2, 20)


def test_payments_off_a_hubs_routine_are_a_fan():
    transfers, accounts = _world(seed=1)
    groups = off_schedule_fans(transfers, accounts, min_fan=3, max_size=50, min_surprise=2.0)
    assert len(groups) == 1
    group = groups[0]
    assert group.kind == "flow_fan_out"
    off = transfers.loc[transfers["src"].eq(0) & (transfers["ts"] // DAY_S % 7 == 3), "dst"]
    assert sorted(group.rows.tolist()) == sorted([0, *off.tolist()])
    assert group.evidence[0] == "Hub:0"
    assert group.evidence[1].startswith("OffSchedule:6 one-off payees on 6 of its 106 days")
    assert group.log_chance < -np.log10(group.tests) - np.log10(2.0)


def test_no_routine_no_fan():
    # the same payments on random days: no hub keeps a routine
    transfers, accounts = _world(seed=2)
    rng = np.random.default_rng(3)
    transfers["ts"] = rng.integers(0, 700, len(transfers)) * DAY_S
    assert off_schedule_fans(transfers, accounts, 3, 50, 2.0) == []
    # a hub keeping its routine without leaving it is no fan either
    transfers, accounts = _world(off_days=0)
    assert off_schedule_fans(transfers, accounts, 3, 50, 2.0) == []


def test_one_shot_counterparties_off_the_routine_add_their_evidence():
    transfers, accounts = _world(seed=1)
    routine = transfers["ts"] // DAY_S % 7 != 3
    alone = off_schedule_fans(transfers, accounts, 3, 50, 2.0)[0]
    # the routine's payees pay on elsewhere (a second transfer each); the off-routine ones never
    onward = transfers[routine].assign(src=transfers.loc[routine, "dst"], dst=len(accounts))
    more = pd.concat([transfers, onward], ignore_index=True)
    both = off_schedule_fans(more, accounts.append(pd.Index([str(len(accounts))])), 3, 50,
                             2.0)[0]
    assert sorted(both.rows.tolist()) == sorted(alone.rows.tolist())
    assert both.evidence[2].startswith("OffScheduleOneShot:6 of them have no other transfer")
    assert both.log_chance < alone.log_chance
