"""Off-routine transfers: a hub's payments (or receipts) on days off its own routine, judged
per transfer, where its one-off pairs are too few for :mod:`graph.rings.off_schedule`.

:mod:`graph.rings.off_schedule` reads the days a hub's *one-off* pairs start. A hub that pays
the same payees again and again (AMLSim's hubs 715, 895, 198 and 387, seed 0: routine payees
paid on one weekday, twice or more over the year) has only 2-4 one-off pairs and is never
judged there, though each of its laundering payments is off its weekday. Here every transfer
counts, one day per transfer: every transfer's time where the caller gives them (the ingest
store's events hold them; the snapshot keeps a pair's count and its first and last time only),
else what the pair table keeps, and then only the hubs none of whose pairs on that side has
three or more transfers (whose every time it keeps).

The test is :mod:`graph.rings.off_schedule`'s on those days, per hub and side with at least
``min_days`` distinct days: the routine (step and day mod step, :func:`~graph.rings.
off_schedule.routines`, more pay days by :func:`~graph.rings.off_schedule.routine_days`;
charged for the accounts tried too, and kept only where most of the hub's days lie on it),
the count of its days off it against the *other* routine hubs (beta-binomial at their rate
and spread, made conservative by :func:`~graph.rings.off_schedule.upper_rates`), times the
chance that as many of its off-routine counterparties are one-shot accounts (drawn from all its
counterparties on that side; where its off days reach the log's last fifth, from those it first
paid no earlier than they, who have had as little of the log left to transfer again); not how
close together its off days lie (off_schedule's burst: hubs that turn sloppy late bunch their
slips, and AMLSim's hubs gain nothing by it). Only the hubs that :mod:`graph.rings.off_schedule`
does not judge (fewer than ``min_days`` days of one-off pairs) are judged here, so no hub is
judged twice; every routine hub is in the reference rate. Charged for the hubs judged here that
could have come out as unlikely (Tarone's count) and the money null (one more factor 2).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from graph.rings.flows import FlowGroup
from graph.rings.null_model import log10_choose
from graph.rings.off_schedule import (
    MAX_STEP,
    MIN_DAYS,
    log10_drawn_tail,
    log10_sf,
    log10_tail,
    product_of_chances,
    routine_days,
    routines,
    upper_rates,
)
from graph.rings.one_shot import one_shot_accounts
from graph.rings.periodic import DAY_S
from graph.rings.projection import epoch_seconds

#: A reader of per-transfer times: given the accounts and the rows of those wanted, every
#: transfer a wanted account sends or receives, as ``src, dst`` (account rows, ``-1`` for an
#: account not in them) and ``ts`` (epoch s).
TransferTimes = Callable[[pd.Index, np.ndarray], pd.DataFrame]


def known_transfer_times(transfers: pd.DataFrame) -> pd.DataFrame:
    """``src, dst, ts`` per transfer whose time the pair table keeps: each pair's first and,
    where it has more than one transfer, its last (every transfer of a pair of at most two);
    pairs of unknown time (``ts < 0``) left out."""
    known = transfers[transfers["ts"].to_numpy() >= 0]
    again = known[known["count"].to_numpy() > 1]
    return pd.DataFrame({
        "src": np.concatenate([known["src"].to_numpy(np.int64), again["src"].to_numpy(np.int64)]),
        "dst": np.concatenate([known["dst"].to_numpy(np.int64), again["dst"].to_numpy(np.int64)]),
        "ts": np.concatenate([known["ts"].to_numpy(np.float64),
                              again["last"].to_numpy(np.float64)]),
    })


def timed_hubs(transfers: pd.DataFrame, n_accounts: int, min_days: int = MIN_DAYS
               ) -> np.ndarray:
    """Rows of the accounts whose transfer times the pair table does not all keep and that
    could be judged: on either side at least ``min_days`` transfers, one pair of them with
    three or more (what :data:`TransferTimes` is asked for)."""
    count = transfers["count"].to_numpy(np.int64)
    wanted = np.zeros(n_accounts, bool)
    for side in ("src", "dst"):
        rows = transfers[side].to_numpy(np.int64)
        wanted |= ((np.bincount(rows, count, minlength=n_accounts) >= min_days)
                   & (np.bincount(rows, count > 2, minlength=n_accounts) > 0))
    return np.flatnonzero(wanted)


def event_transfer_times(events: Path | str, batch_rows: int = 1_000_000) -> TransferTimes:
    """A :data:`TransferTimes` reading the canonical events under ``events`` (a Parquet file or
    directory, Hive-partitioned or not): the transfers (events with a counterparty) of the
    wanted accounts only, their account, counterparty and time columns only, ``batch_rows``
    at a time (memory: one batch and the matches, at a million accounts 0.4 M transfers of
    17k accounts)."""

    def read(accounts: pd.Index, wanted: np.ndarray) -> pd.DataFrame:
        if not len(wanted):
            return pd.DataFrame({"src": [], "dst": [], "ts": []}, dtype=np.int64)
        every = pa.array(np.asarray(accounts.astype(str), dtype=object), pa.string())
        ids = every.take(pa.array(wanted, pa.int64()))
        dataset = ds.dataset(events, format="parquet", partitioning="hive")
        found = dataset.scanner(
            columns=["account_id", "counterparty_id", "ts"], batch_size=batch_rows,
            filter=pc.field("counterparty_id").is_valid() & (
                pc.field("account_id").isin(ids) | pc.field("counterparty_id").isin(ids))
        ).to_table()
        # the accounts' ids hashed once per column, not once per batch and column (at a
        # million accounts, 0.4 M transfers of 17k accounts: 1.1 CPU s, 15.0 s that way)
        src, dst = (pc.fill_null(pc.index_in(pc.cast(found.column(column), pa.string()),
                                             value_set=every), -1).to_numpy(
            zero_copy_only=False).astype(np.int64) for column in ("account_id", "counterparty_id"))
        return pd.DataFrame({"src": src, "dst": dst,
                             "ts": epoch_seconds(found.column("ts").to_pandas())})

    return read


def _one_off_days(transfers: pd.DataFrame, centre: str, n_accounts: int, day_s: float
                  ) -> np.ndarray:
    """Per account: the distinct days its one-off pairs on side ``centre`` start (what
    :mod:`graph.rings.off_schedule` reads)."""
    one_off = transfers[(transfers["count"].to_numpy() == 1) & (transfers["ts"].to_numpy() >= 0)]
    day = np.floor(one_off["ts"].to_numpy(np.float64) / day_s).astype(np.int64)
    if not len(day):
        return np.zeros(n_accounts, np.int64)
    codes = np.unique(one_off[centre].to_numpy(np.int64) * (int(day.max()) + 1) + day)
    return np.bincount(codes // (int(day.max()) + 1), minlength=n_accounts)


def _reference_from(owner: np.ndarray, day: np.ndarray, step: np.ndarray, width: int
                    ) -> np.ndarray:
    """Per routine hub (its off-routine days ``day``, hub ``owner``): the day from which the
    counterparties it first paid are its one-shot reference. Where its off days reach the
    log's last fifth, half a step before the first of them: paid no earlier, its counterparties
    have had no more of the log left to transfer again (review G2, session 20, as
    :mod:`graph.rings.off_schedule` reads it), so were its off days like the others, their
    counterparties would be one-shot no more often; elsewhere day 0."""
    first = np.full(len(step), width)
    last = np.full(len(step), -1)
    np.minimum.at(first, owner, day)
    np.maximum.at(last, owner, day)
    return np.where(5 * last >= 4 * width, np.maximum(first - step // 2, 0), 0)


def off_routine_fans(transfers: pd.DataFrame, accounts: pd.Index, min_fan: int, max_size: int,
                     min_surprise: float, day_s: float = DAY_S, min_days: int = MIN_DAYS,
                     max_step: int = MAX_STEP, times: pd.DataFrame | None = None,
                     timed: np.ndarray | None = None) -> list[FlowGroup]:
    """Fans-out and fans-in of the counterparties a hub pays (or is paid by) on days off its
    routine (module docstring), judged per transfer: over every transfer of the accounts
    ``timed`` (rows) in ``times`` (``src, dst, ts``, :data:`TransferTimes`) and
    :func:`known_transfer_times` of ``transfers``, on the hubs whose every transfer time that
    is (``timed`` or no pair of three or more): ``flow_fan_out`` / ``flow_fan_in`` groups (the
    hub and those counterparties) whose ``log_chance`` is the two chances multiplied and
    ``tests`` the hubs judged here that could have been as unlikely; only those that beat that
    count (``-log_chance > log10 tests + log10 2``)."""
    n_accounts = len(accounts)
    every = np.zeros(n_accounts, bool)
    if times is not None and timed is not None:
        every[timed] = True
    times = pd.concat([known_transfer_times(transfers), times])
    times = times[(times["ts"].to_numpy() >= 0) & (times["src"].to_numpy() >= 0)
                  & (times["dst"].to_numpy() >= 0)]
    if times.empty:
        return []
    day = np.floor(times["ts"].to_numpy(np.float64) / day_s).astype(np.int64)
    day -= day.min()
    width = int(day.max()) + 1
    count = transfers["count"].to_numpy(np.int64)
    ids = np.asarray(accounts.astype(str), dtype=object)
    single = one_shot_accounts(transfers, n_accounts)
    tried = np.log10(sum(range(2, max_step + 1)))
    groups: list[FlowGroup] = []
    for centre, leaf, kind, side in (("src", "dst", "flow_fan_out", "payees"),
                                     ("dst", "src", "flow_fan_in", "payers")):
        hub = times[centre].to_numpy(np.int64)
        # only the hubs whose every transfer time is known: given, or kept by the pair table
        # (no pair of theirs on this side has three or more); the first and last times of
        # busier pairs are no sample of a hub's days (they crowd at the ends of its life, and
        # a pay day added partway was a false fan in 3 of 60 honest worlds)
        whole = every | (np.bincount(transfers[centre].to_numpy(np.int64), count > 2,
                                     minlength=n_accounts) == 0)
        codes = np.unique(hub[whole[hub]] * width + day[whole[hub]])
        busy = np.flatnonzero(np.bincount(codes // width, minlength=n_accounts) >= min_days)
        compact = np.full(n_accounts, -1, np.int64)
        compact[busy] = np.arange(len(busy))
        codes = codes[compact[codes // width] >= 0]
        n, step, residue, on = (np.zeros(n_accounts, np.int64) for _ in range(4))
        n[busy], step[busy], residue[busy], on[busy] = routines(
            compact[codes // width], codes % width, len(busy), max_step)
        judged = np.flatnonzero((n >= min_days) & (step > 0))
        # charged for the (step, day) tried and for the accounts tried: among thousands of
        # accounts paying friends at random, a few hold a progression by chance (review H5,
        # session 21: 8 of 49 days every 26 days, then 39 days "off" it, a false fan-in)
        routine = log10_sf(on[judged], n[judged], 1.0 / np.maximum(step[judged], 1)) + tried
        keeps = judged[routine + np.log10(max(len(judged), 1)) <= -min_surprise]
        if not len(keeps):
            continue
        fan_of = np.full(n_accounts, -1, np.int64)
        fan_of[keeps] = np.arange(len(keeps))
        kept = routine_days(codes, width, fan_of, step[keeps], residue[keeps], min_surprise)
        off = n[keeps] - kept.sum(axis=1)
        # and a hub keeps its routine only where most of its days are on it
        held = 2 * off <= n[keeps]
        keeps, kept, off = keeps[held], kept[held], off[held]
        fan_of[:] = -1
        fan_of[keeps] = np.arange(len(keeps))
        # off_schedule judges the hubs with enough one-off days: here the others only
        mine_here = _one_off_days(transfers, centre, n_accounts, day_s)[keeps] < min_days
        if not (off.any() and mine_here.any()):
            continue
        q, rho = upper_rates(off, n[keeps])
        mine = fan_of[hub] >= 0
        off_day = mine.copy()
        off_day[mine] = ~kept[fan_of[hub[mine]], day[mine] % step[hub[mine]]].astype(bool)
        leaves = times[leaf].to_numpy(np.int64)
        theirs, at = np.unique(fan_of[hub[mine]] * n_accounts + leaves[mine],
                               return_inverse=True)
        paid = np.full(len(theirs), width)
        np.minimum.at(paid, at, day[mine])
        since = _reference_from(fan_of[hub[off_day]], day[off_day], step[keeps], width)
        seen = paid >= since[theirs // n_accounts]
        pairs = np.unique(fan_of[hub[off_day]] * n_accounts + leaves[off_day])
        owner, rows_of = pairs // n_accounts, pairs % n_accounts
        k = np.bincount(owner, minlength=len(keeps))
        drawn = seen[np.searchsorted(theirs, pairs)]
        g = np.bincount(owner[single[rows_of] & drawn], minlength=len(keeps))
        k_drawn = np.bincount(owner[drawn], minlength=len(keeps))
        theirs = theirs[seen]
        total = np.bincount(theirs // n_accounts, minlength=len(keeps))
        marked = np.bincount(theirs[single[theirs % n_accounts]] // n_accounts,
                             minlength=len(keeps))
        # one reading of two independent chances: how many days off its routines, how many of
        # those counterparties are one-shot (no burst: hubs that turn sloppy late bunch their
        # slips, review note on 4ceacaf, 3 false groups in 10 worlds; AMLSim gains nothing by it)
        chance = product_of_chances(
            log10_tail(off, n[keeps], q, rho) + log10_drawn_tail(g, k_drawn, marked, total), 2)
        most = np.minimum(n[keeps], max_size - 1)
        drawn = np.minimum(marked, max_size - 1)
        reachable = np.sort(product_of_chances(
            log10_tail(most, n[keeps], q, rho) + log10_choose(marked, drawn)
            - log10_choose(total, drawn), 2
        )[mine_here])
        tests = np.maximum(np.searchsorted(reachable, chance + 1e-9, side="right"), 1)
        strong = np.flatnonzero(mine_here & (-chance > np.log10(tests) + np.log10(2.0))
                                & (k >= min_fan) & (k <= max_size - 1))
        bounds = np.searchsorted(owner, np.arange(len(keeps) + 1))
        for j in strong:
            h, rows = keeps[j], rows_of[bounds[j]:bounds[j + 1]]
            groups.append(FlowGroup(
                np.append(rows, h), kind,
                [f"Hub:{ids[h]}",
                 f"OffRoutine:{len(rows)} {side} on {off[j]} of its {n[h]} transfer days off "
                 f"its routine of one day every {step[h]}d ({q[j]:.2%} of the other routine "
                 f"hubs' days are, their spread rho {rho[j]:.3f})",
                 f"OffRoutineOneShot:{g[j]} of them have no other transfer in the log "
                 f"({marked[j]} of the {total[j]} {side} it first paid from day {since[j]} "
                 f"of the log on do)",
                 f"OffRoutineChance:{10.0 ** chance[j]:.1e} ({tests[j]} hubs could be as "
                 f"unlikely)"],
                float(chance[j]), int(tests[j])))
    return groups
