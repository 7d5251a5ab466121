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

The test is :mod:`graph.rings.off_schedule`'s on those days (its
:func:`~graph.rings.off_schedule.judge_off_days`), per hub and side with at least ``min_days``
distinct days: the routine (step and day mod step, :func:`~graph.rings.off_schedule.routines`,
more pay days by :func:`~graph.rings.off_schedule.routine_days`, unless such a further day's
payees stay quiet after being paid beyond chance, read on every transfer time known: a
laundering run on a fixed other weekday in the hub's last weeks, review F7, session 19;
charged for the accounts tried too, and kept only where it holds a day in most of its slots),
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
from graph.rings.off_schedule import MAX_STEP, MIN_DAYS, QUIET_DAYS, judge_off_days, quiet_reader
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


def off_routine_fans(transfers: pd.DataFrame, accounts: pd.Index, min_fan: int, max_size: int,
                     min_surprise: float, day_s: float = DAY_S, min_days: int = MIN_DAYS,
                     max_step: int = MAX_STEP, times: pd.DataFrame | None = None,
                     timed: np.ndarray | None = None) -> list[FlowGroup]:
    """Fans-out and fans-in of the counterparties a hub pays (or is paid by) on days off its
    routine (module docstring, :func:`~graph.rings.off_schedule.judge_off_days`), judged per
    transfer: over every transfer of the accounts ``timed`` (rows) in ``times`` (``src, dst,
    ts``, :data:`TransferTimes`) and :func:`known_transfer_times` of ``transfers``, on the
    hubs whose every transfer time that is (``timed`` or no pair of three or more):
    ``flow_fan_out`` / ``flow_fan_in`` groups (the hub and those counterparties) whose
    ``log_chance`` is the two chances multiplied and ``tests`` the hubs judged here that
    could have been as unlikely; only those that beat that count (``-log_chance > log10
    tests + log10 2``)."""
    n_accounts = len(accounts)
    every = np.zeros(n_accounts, bool)
    if times is not None and timed is not None:
        every[timed] = True
    times = pd.concat([known_transfer_times(transfers), times])
    times = times[(times["ts"].to_numpy() >= 0) & (times["src"].to_numpy() >= 0)
                  & (times["dst"].to_numpy() >= 0)]
    if times.empty:
        return []
    paid_at = times["ts"].to_numpy(np.float64)
    day = np.floor(paid_at / day_s).astype(np.int64)
    day -= day.min()
    count = transfers["count"].to_numpy(np.int64)
    ids = np.asarray(accounts.astype(str), dtype=object)
    single = one_shot_accounts(transfers, n_accounts)
    # what a counterparty does after being paid, read on every transfer time known (the
    # pair table's first and last times miss a payee's busy pairs); the hub paying it again
    # is not counted (a routine payee the hub pays every week would never be quiet)
    quiet = quiet_reader(pd.concat([transfers[["src", "dst", "count", "ts", "last"]],
                                    times.assign(count=1, last=times["ts"])]),
                         QUIET_DAYS * day_s)
    log_end = max(float(transfers["last"].max()), float(paid_at.max()))
    groups: list[FlowGroup] = []
    for centre, leaf, kind, side in (("src", "dst", "flow_fan_out", "payees"),
                                     ("dst", "src", "flow_fan_in", "payers")):
        hub = times[centre].to_numpy(np.int64)
        # only the hubs whose every transfer time is known: given, or kept by the pair table
        # (no pair of theirs on this side has three or more); the first and last times of
        # busier pairs are no sample of a hub's days (they crowd at the ends of its life, and
        # a pay day added partway was a false fan in 3 of 60 honest worlds)
        whole = (every | (np.bincount(transfers[centre].to_numpy(np.int64), count > 2,
                                      minlength=n_accounts) == 0))[hub]
        # off_schedule judges the hubs with enough one-off days: here the others only
        mine_here = _one_off_days(transfers, centre, n_accounts, day_s) < min_days
        # no burst: hubs that turn sloppy late bunch their slips (review note on 4ceacaf, 3
        # false groups in 10 worlds; AMLSim gains nothing by it)
        for found in judge_off_days(
                hub[whole], times[leaf].to_numpy(np.int64)[whole], paid_at[whole], day[whole],
                int(day.max()) + 1, single, min_fan, max_size, min_surprise, day_s, min_days,
                max_step, quiet, log_end, centre == "src", mine_here, burst=False):
            groups.append(FlowGroup(
                np.append(found.members, found.hub), kind,
                [f"Hub:{ids[found.hub]}",
                 f"OffRoutine:{len(found.members)} {side} on {found.off} of its {found.n} "
                 f"transfer days off its routine of one day every {found.step}d "
                 f"({found.q:.2%} of the other routine hubs' days are, their spread rho "
                 f"{found.rho:.3f})",
                 f"OffRoutineOneShot:{found.one_shot} of them have no other transfer in the "
                 f"log ({found.marked} of the {found.total} {side} it first paid from day "
                 f"{found.since} of the log on do)",
                 f"OffRoutineChance:{10.0 ** found.log_chance:.1e} ({found.tests} hubs could "
                 f"be as unlikely)"],
                found.log_chance, found.tests))
    return groups
