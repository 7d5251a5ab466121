from pathlib import Path

import numpy as np
import pandas as pd

from graph.rings.candidates import find_ring_candidates
from graph.rings.off_routine import event_transfer_times, known_transfer_times, off_routine_fans
from graph.rings.off_schedule import off_schedule_fans
from graph.rings.periodic import DAY_S

from .helpers import edges, snapshot


def _world(hubs: int = 30, weeks: int = 52, pool: int = 26, off_days: int = 6, seed: int = 0,
           gap: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, pd.Index]:
    """``hubs`` accounts each paying its ``pool`` routine payees in turn, one a week on one
    weekday (hub 0 on weekday 0), so each payee is paid ``weeks / pool`` times; hub 0 also
    pays ``off_days`` new one-shot payees once each on other weekdays, one every ``gap`` weeks.
    Returns every
    transfer (``src, dst, ts``), the pair table of them and the accounts."""
    rng = np.random.default_rng(seed)
    src, dst, ts = [], [], []
    payee = hubs
    for h in range(hubs):
        weekday = int(rng.integers(7)) if h else 0
        for w in range(weeks):
            src.append(h)
            dst.append(payee + w % pool)
            ts.append((7 * w + weekday) * DAY_S + 3600.0)
        payee += pool
    for d in range(off_days):
        src.append(0)
        dst.append(payee)
        ts.append((7 * (gap * d + 3) + 1 + d % 6) * DAY_S)
        payee += 1
    return _timed(src, dst, ts, 100.0, payee)


def _timed(src: list[int], dst: list[int], ts: list[float], amount: float, accounts: int
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Index]:
    """Every transfer (``src, dst, ts``), their pair table (each of ``amount``) and the
    ``accounts`` accounts."""
    times = pd.DataFrame({"src": src, "dst": dst, "ts": ts})
    pairs = times.groupby(["src", "dst"], as_index=False).agg(
        count=("ts", "size"), ts=("ts", "min"), last=("ts", "max"))
    pairs["amount"] = amount
    return times, pairs, pd.Index([str(i) for i in range(accounts)])


def test_known_times_are_each_pairs_first_and_last():
    pairs = pd.DataFrame({"src": [0, 0, 1], "dst": [1, 2, 2], "count": [1, 2, 5],
                          "ts": [10.0, 20.0, -1.0], "last": [10.0, 30.0, 50.0]})
    known = known_transfer_times(pairs)
    assert sorted(zip(known["src"], known["dst"], known["ts"], strict=True)) == [
        (0, 1, 10.0), (0, 2, 20.0), (0, 2, 30.0)]


def test_payments_off_a_routine_of_repeated_payees_are_a_fan():
    times, pairs, accounts = _world()
    # the pair-level search never judges the hub: it has 6 one-off pairs, not 10; each routine
    # payee is paid twice, so the pair table keeps every transfer's time
    assert not off_schedule_fans(pairs, accounts, min_fan=3, max_size=50, min_surprise=2.0)
    for given in (None, times):
        groups = off_routine_fans(pairs, accounts, min_fan=3, max_size=50, min_surprise=2.0,
                                  times=given,
                                  timed=np.arange(len(accounts)))
        assert len(groups) == 1
        group = groups[0]
        assert group.kind == "flow_fan_out"
        off = times.loc[times["src"].eq(0) & (times["ts"] // DAY_S % 7 != 0), "dst"]
        assert sorted(group.rows.tolist()) == sorted([0, *off.tolist()])
        assert group.evidence[0] == "Hub:0"
        assert group.evidence[1].startswith("OffRoutine:6 payees on 6 of its")
        assert -group.log_chance > np.log10(group.tests) + np.log10(2.0) + 2.0


def test_from_the_pair_table_only_hubs_whose_every_time_it_keeps_are_judged():
    """Payees paid 6-7 times: the pair table keeps their first and last times only (no sample
    of the hub's days), so only every transfer's time finds the fan."""
    times, pairs, accounts = _world(pool=8)
    assert off_routine_fans(pairs, accounts, min_fan=3, max_size=50, min_surprise=2.0) == []
    groups = off_routine_fans(pairs, accounts, min_fan=3, max_size=50, min_surprise=2.0,
                              times=times, timed=np.array([0]))
    assert [g.evidence[0] for g in groups] == ["Hub:0"]


def test_a_hub_that_never_leaves_its_routine_is_no_fan():
    _, pairs, accounts = _world(off_days=0)
    assert off_routine_fans(pairs, accounts, min_fan=3, max_size=50, min_surprise=2.0) == []


def test_hubs_the_pair_level_search_judges_are_not_judged_again():
    """A hub whose pairs are all one-off has the same days in both searches: only
    :mod:`graph.rings.off_schedule` judges it."""
    times, pairs, accounts = _world(pool=10_000)
    assert off_schedule_fans(pairs, accounts, min_fan=3, max_size=50, min_surprise=2.0)
    assert off_routine_fans(pairs, accounts, min_fan=3, max_size=50, min_surprise=2.0,
                            times=times, timed=np.arange(len(accounts))) == []


def test_honest_hubs_slipping_at_their_own_rates_make_no_fan():
    """Every hub slips off its weekday at its own rate (Beta(0.3, 30)); the slips' payees are
    the routine ones."""
    rng = np.random.default_rng(3)
    src, dst, ts = [], [], []
    for h in range(200):
        weekday, rate = int(rng.integers(7)), rng.beta(0.3, 30.0)
        for w in range(52):
            day = 7 * w + (weekday + (int(rng.integers(1, 7)) if rng.random() < rate else 0)) % 7
            src.append(h)
            dst.append(200 + 10 * h + int(rng.integers(10)))
            ts.append(day * DAY_S)
    times = pd.DataFrame({"src": src, "dst": dst, "ts": ts})
    pairs = times.groupby(["src", "dst"], as_index=False).agg(
        count=("ts", "size"), ts=("ts", "min"), last=("ts", "max"))
    accounts = pd.Index([str(i) for i in range(2200)])
    for given in (None, times):
        groups = off_routine_fans(pairs, accounts, min_fan=3, max_size=50, min_surprise=2.0,
                                  times=given,
                                  timed=np.arange(len(accounts)))
        assert all(-g.log_chance - np.log10(g.tests) - np.log10(2.0) < 2.0 for g in groups)


def _events(times: pd.DataFrame, path: Path) -> Path:
    """``times`` (account rows as ids) written as canonical events under ``path``, with an
    event of no counterparty."""
    stamps = pd.to_datetime(times["ts"].to_numpy(), unit="s", utc=True)
    events = pd.DataFrame({"account_id": times["src"].astype(str),
                           "counterparty_id": times["dst"].astype(str), "ts": stamps})
    login = pd.DataFrame({"account_id": ["0"], "counterparty_id": [None], "ts": stamps[:1]})
    path.mkdir()
    pd.concat([events, login]).to_parquet(path / "part-0.parquet", index=False)
    return path


def test_event_times_are_the_wanted_accounts_transfers(tmp_path):
    times, _, accounts = _world(hubs=3, weeks=10, pool=4, off_days=2)
    read = event_transfer_times(_events(times, tmp_path / "events"))
    found = read(accounts, np.array([accounts.get_loc("1")]))
    wanted = times[times["src"].eq(1) | times["dst"].eq(1)]
    assert sorted(zip(found["src"], found["dst"], found["ts"], strict=True)) == sorted(
        zip(wanted["src"], wanted["dst"], wanted["ts"].astype(np.int64), strict=True))
    assert read(accounts, np.array([], np.int64)).empty


def test_the_candidate_search_reads_the_times_the_snapshot_does_not_keep(tmp_path):
    times, pairs, accounts = _world(pool=8)
    ids = pairs.assign(src=accounts[pairs["src"]], dst=accounts[pairs["dst"]])
    table = edges(list(zip(ids["src"], ids["dst"], strict=True)), counts=ids["count"].tolist())
    table["first_ts"] = pd.to_datetime(ids["ts"].to_numpy(), unit="s", utc=True)
    table["last_ts"] = pd.to_datetime(ids["last"].to_numpy(), unit="s", utc=True)
    snap = snapshot(TRANSACTED_WITH=table)
    read = event_transfer_times(_events(times, tmp_path / "events"))

    def off_routine(candidates: list) -> list:
        return [c for c in candidates if any(e.startswith("OffRoutine:") for e in c.evidence)]

    assert off_routine(find_ring_candidates(snap)) == []
    found = off_routine(find_ring_candidates(snap, transfer_times=read))
    off = times.loc[times["src"].eq(0) & (times["ts"] // DAY_S % 7 != 0), "dst"]
    assert [sorted(c.members) for c in found] == [sorted(["0", *off.astype(str)])]


def _run_at_the_end(run_onward: float | None, onward: float | None = 2.0, pool: int = 10
                    ) -> list:
    """Every hub of a 30-week world pays its ``pool`` routine payees in turn (each 3 times at
    10, so only every transfer's time tells the hub's days), and each routine payee pays on
    once ``onward`` days after it is paid (never when ``None``); hub 0 also pays 8 new payees
    once each on weekday 3 in its last 8 weeks, who pay on ``run_onward`` days after, while
    the log lasts."""
    times, _, accounts = _world(off_days=0, weeks=30, pool=pool)
    run = pd.DataFrame({"src": 0, "dst": np.arange(8) + len(accounts),
                        "ts": (7 * (22 + np.arange(8)) + 3) * DAY_S + 7200.0})
    sink = len(accounts) + 8
    passed = [pd.DataFrame({"src": paid["dst"].to_numpy(), "dst": sink,
                            "ts": paid["ts"].to_numpy() + after * DAY_S})
              for paid, after in ((times, onward), (run, run_onward)) if after is not None]
    every = pd.concat([times, run, *passed], ignore_index=True)
    every = every[every["ts"] < 7 * 30 * DAY_S]
    pairs = every.groupby(["src", "dst"], as_index=False).agg(
        count=("ts", "size"), ts=("ts", "min"), last=("ts", "max"))
    pairs["amount"] = 100.0
    return off_routine_fans(pairs, pd.Index([str(i) for i in range(sink + 1)]), 3, 50, 2.0,
                            times=every, timed=np.arange(sink + 1))


def test_a_run_paying_quiet_accounts_at_the_end_is_off_the_routine():
    # review F7 (session 19) at the hubs judged here: a run on a fixed other weekday in a
    # hub's last weeks reaches the end of its life, as a pay day added there would; its
    # payees stay quiet after being paid, the routine's pay on two days later
    groups = _run_at_the_end(run_onward=None)
    assert len(groups) == 1 and groups[0].evidence[1].startswith(
        "OffRoutine:8 payees on 8 of its 38 transfer days")
    # a pay day added there paying payees that pay on like the routine's is one
    assert _run_at_the_end(run_onward=2.0) == []


def test_a_payee_the_hub_pays_again_is_not_busy_for_that():
    # the routine pays 3 payees in turn (each again 21 days later) who do nothing else, the
    # days added at the end 8 new ones who do nothing either: alike, a pay day added; were
    # the hub's own payments counted, the routine's would never be quiet and the added day
    # a run
    assert _run_at_the_end(run_onward=None, onward=None, pool=3) == []


def test_hubs_that_could_not_reach_as_low_a_chance_are_not_charged():
    # 60 more routine hubs of 12 days each, 4 payees in turn: with at most 6 of their days off
    # (more, and a hub keeps no routine) none could reach hub 0's 10 ** -7.6, nor could the
    # 29 others of 52 days with at most 26; counted as if all their days could be off, the
    # fan was charged for 90 hubs
    times, _, accounts = _world(off_days=3)
    rows = [(len(accounts) + h, len(accounts) + 60 + 4 * h + w % 4, 7 * w + h % 7)
            for h in range(60) for w in range(12)]
    extra = pd.DataFrame({"src": [r[0] for r in rows], "dst": [r[1] for r in rows],
                          "ts": np.array([r[2] for r in rows]) * DAY_S + 3600.0})
    every = pd.concat([times, extra], ignore_index=True)
    pairs = every.groupby(["src", "dst"], as_index=False).agg(
        count=("ts", "size"), ts=("ts", "min"), last=("ts", "max"))
    pairs["amount"] = 100.0
    ids = pd.Index([str(i) for i in range(len(accounts) + 300)])
    groups = off_routine_fans(pairs, ids, 3, 50, 2.0, times=every, timed=np.arange(len(ids)))
    assert [(g.evidence[0], g.tests) for g in groups] == [("Hub:0", 1)]


def _landlords(landlords: int = 30, months: int = 24, tenants: int = 4, seed: int = 0
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Index]:
    """``landlords`` accounts each paid rent by its ``tenants`` flatmates every 30 days, each
    flatmate on its own day of the month give or take two days (review R1, session 23)."""
    rng = np.random.default_rng(seed)
    src, dst, ts = [], [], []
    payer = landlords
    for h in range(landlords):
        for t in range(tenants):
            own = int(rng.integers(30))
            for m in range(months):
                src.append(payer + t)
                dst.append(h)
                ts.append((30 * m + own + int(rng.integers(-2, 3)) + 3) * DAY_S + 3600.0)
        payer += tenants
    return _timed(src, dst, ts, 500.0, payer)


def test_flatmates_paying_rent_on_their_own_days_are_no_fan():
    for seed in range(3):
        times, pairs, accounts = _landlords(seed=seed)
        assert not off_routine_fans(pairs, accounts, min_fan=3, max_size=50, min_surprise=2.0,
                                    times=times, timed=np.arange(len(accounts)))
