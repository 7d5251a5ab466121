"""Periodic fans: one account paid (or paying) once each by distinct counterparties on a fixed
schedule, judged against that account's own calendar.

AMLSim's alert fans-in (and a relay of mules feeding one account in turn) are no burst: each of
``m`` accounts pays the hub once, one every ``s`` days to the day, over months, with amounts
like any other (100-1,000), so neither a time window nor near-equal amounts single them out
(session 15: 19 training fans-in spanning 85-616 days, every one an exact arithmetic
progression of days; its fans-out keep no schedule). What is rare is the schedule itself among
the hub's one-off counterparties: of its ``n`` distinct days with a one-off pair starting
(a pair transacting once), ``m`` fall on an arithmetic progression.

The test, per hub and direction with ``min_fan <= n <= max_days``: its longest progression, ``m``
terms over ``L`` days (first to last), with ``k`` of the hub's days within those ``L``; if those
days fell anywhere within them, the chance that the ``m - 2`` inner terms sit on the grid is
``C(k - 2, m - 2) / C(L - 2, m - 2)``, times the ``A(T, m)`` progressions that fit in the hub's
own span of ``T`` days (its first to its last one-off day; :func:`progression_log_chance`). So a
burst (every day of a week taken, as raters on a busy week of Bitcoin-OTC) is no evidence, and a
fan paid once every 67 days, with nothing else in between, is. The longest progression is what
the search reports, so the test is one per hub and direction, and a fan of chance ``p`` is
charged for every hub that could have come out as unlikely (``tests``: the hubs whose longest
possible progression, all their ``n`` days up to ``max_size - 1``, has chance at most ``p``; a
hub of three days over a week cannot, so it is not counted: Tarone's count, a union bound over the
hubs that can reach ``p``), and the test competes with the money null of
:mod:`graph.rings.flow_null` (one more factor 2).

A schedule that is the hub's own habit is not a ring's: a hub whose one-off pairs keep a
schedule longer than any ring (more than ``max_size - 1`` counterparties: a weekly payout run)
or whose other transfers in that direction fall on the progression's grid (days ``start + k s``)
at least twice as often as chance (``1 / s``) is skipped. Hubs with more than ``max_days`` such
days (busy merchants, payroll) are not judged: progressions among them are likely, and the search
stays linear in the log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.rings.flows import FlowGroup
from graph.rings.null_model import log10_choose

#: Seconds in a day: the resolution of a schedule.
DAY_S = 86400.0
#: A hub's other transfers on the progression's grid this many times as often as chance make
#: the schedule its habit.
HABIT_RATIO = 2.0



def progression_count(span: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Number of ``m``-term arithmetic progressions (step >= 1) within ``span`` consecutive
    days: ``sum_{s=1..S} (span - (m - 1) s)``, ``S = floor((span - 1) / (m - 1))``."""
    span, m = np.asarray(span, np.float64), np.asarray(m, np.float64)
    steps = np.floor((span - 1.0) / np.maximum(m - 1.0, 1.0))
    return np.maximum(steps * span - (m - 1.0) * steps * (steps + 1.0) / 2.0, 1.0)


def progression_log_chance(m: np.ndarray, inside: np.ndarray, length: np.ndarray,
                           span: np.ndarray) -> np.ndarray:
    """The log10 chance (<= 0) of an ``m``-term arithmetic progression of days over ``length``
    days (first to last term) among a hub's days within ``span`` days, ``inside`` of which lie
    within the progression's own length (its ends included): the ``m - 2`` inner terms on the
    grid when the ``inside - 2`` inner days fall anywhere in the ``length - 2`` between, times
    the progressions that could have been chosen, ``A(span, m) C(inside - 2, m - 2) /
    C(length - 2, m - 2)`` (a bound). A burst of consecutive days (every day inside taken) is
    no evidence, whatever the hub's quiet months around it."""
    m, inside = np.asarray(m, np.float64), np.asarray(inside, np.float64)
    length = np.maximum(np.asarray(length, np.float64), inside)
    span = np.maximum(np.asarray(span, np.float64), length)
    return np.minimum(np.log10(progression_count(span, m)) + log10_choose(inside - 2, m - 2)
                      - log10_choose(length - 2, m - 2), 0.0)


def _within_pairs(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(i, j)``, ``i < j``, of positions inside the same block of a flat array
    whose blocks start at ``offsets`` (its last entry the length)."""
    sizes = np.diff(offsets)
    block = np.repeat(np.arange(len(sizes)), sizes)
    later = offsets[block + 1] - np.arange(offsets[-1]) - 1
    first = np.repeat(np.arange(offsets[-1]), later)
    start = np.repeat(np.cumsum(later) - later, later)
    return first, first + 1 + np.arange(len(first)) - start


def _present(codes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Whether each ``query`` is in the sorted ``codes``."""
    at = np.minimum(np.searchsorted(codes, query), max(len(codes) - 1, 0))
    return (codes[at] == query) if len(codes) else np.zeros(len(query), bool)


def longest_progressions(hub: np.ndarray, day: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per hub of the ``(hub, day)`` entries (sorted by hub, then day; distinct; days >= 0):
    ``hubs``, and the length, first day and step of the longest arithmetic progression among
    its days (the earliest, then the smallest step, among equals; step 0 for fewer than two
    days)."""
    hub, day = np.asarray(hub, np.int64), np.asarray(day, np.int64)
    offsets = np.flatnonzero(np.r_[True, hub[1:] != hub[:-1], True]) if len(hub) else \
        np.zeros(1, np.int64)
    hubs = hub[offsets[:-1]]
    best = np.minimum(np.diff(offsets), 2)
    start = day[offsets[:-1]]
    step = np.zeros(len(hubs), np.int64)
    first, second = _within_pairs(offsets)
    if len(first) == 0:
        return hubs, best, start, step
    width = int(day.max()) + 1
    codes = hub * width + day
    gap = day[second] - day[first]
    # a progression starts where the day one step before its first is not one of the hub's
    before = day[first] - gap
    starts = ~((before >= 0) & _present(codes, hub[first] * width + np.maximum(before, 0)))
    owner, gap = hub[first][starts], gap[starts]
    begin, last = day[first][starts], day[second][starts]
    length = np.full(len(gap), 2, np.int64)
    alive = np.arange(len(gap))
    while len(alive):
        ahead = last[alive] + gap[alive]
        hit = (ahead < width) & _present(codes, owner[alive] * width + np.minimum(ahead,
                                                                                  width - 1))
        alive = alive[hit]
        last[alive] += gap[alive]
        length[alive] += 1
    which = np.searchsorted(hubs, owner)
    order = np.lexsort((gap, begin, -length, which))
    head = order[np.r_[True, which[order][1:] != which[order][:-1]]]
    best[which[head]] = length[head]
    start[which[head]] = begin[head]
    step[which[head]] = gap[head]
    return hubs, best, start, step


def periodic_fans(transfers: pd.DataFrame, accounts: pd.Index, min_fan: int, max_size: int,
                  max_days: int, day_s: float = DAY_S) -> list[FlowGroup]:
    """Periodic fans-in and fans-out among one-off pairs (a pair transacting once), as
    ``flow_periodic_fan`` groups (the hub and the counterparties on its schedule) whose
    ``log_chance`` is the schedule's (:func:`progression_log_chance`) and ``tests`` the number
    of hubs judged that could have been as unlikely (module docstring). Only the fans whose
    schedule beats that count (``-log_chance > log10 tests + log10 2``) and is not their hub's
    habit are returned."""
    n_accounts = len(accounts)
    timed = transfers[transfers["ts"] >= 0]
    day = np.floor(timed["ts"].to_numpy(np.float64) / day_s).astype(np.int64)
    one_off = timed["count"].to_numpy() == 1
    width = int(day.max(initial=0)) + 1
    sides = []
    best_chances = []
    for centre, leaf in (("dst", "src"), ("src", "dst")):
        hub = timed[centre].to_numpy(np.int64)
        distinct = np.unique(hub[one_off] * width + day[one_off])
        d_hub, d_day = distinct // width, distinct % width
        n_days = np.bincount(d_hub, minlength=n_accounts)
        judged = (n_days >= min_fan) & (n_days <= max_days)
        keep = judged[d_hub]
        hubs, m, start, step = longest_progressions(d_hub[keep], d_day[keep])
        first = np.full(n_accounts, width, np.int64)
        last = np.zeros(n_accounts, np.int64)
        np.minimum.at(first, d_hub[keep], d_day[keep])
        np.maximum.at(last, d_hub[keep], d_day[keep])
        every = np.flatnonzero(judged)
        span = last[every] - first[every] + 1
        longest = np.minimum(n_days[every], max_size - 1)
        best_chances.append(progression_log_chance(longest, longest, span, span))
        fan = (m >= min_fan) & (m <= max_size - 1) & (step > 0)
        hubs, m, start, step = hubs[fan], m[fan], start[fan], step[fan]
        # the hub's days within the progression's own length
        codes = d_hub[keep] * width + d_day[keep]
        end = start + (m - 1) * step
        inside = (np.searchsorted(codes, hubs * width + end, side="right")
                  - np.searchsorted(codes, hubs * width + start, side="left"))
        chance = progression_log_chance(m, inside, end - start + 1,
                                        last[hubs] - first[hubs] + 1)
        sides.append((centre, leaf, hub, hubs, m, start, step, chance))
    reachable = np.sort(np.concatenate(best_chances))
    ids = np.asarray(accounts.astype(str), dtype=object)
    groups: list[FlowGroup] = []
    for centre, leaf, hub, hubs, m, start, step, chance in sides:
        tests = np.maximum(np.searchsorted(reachable, chance + 1e-9, side="right"), 1)
        strong = -chance > np.log10(tests) + np.log10(2.0)
        groups += _fans(timed[leaf].to_numpy(np.int64), hub, day, one_off, hubs[strong],
                        m[strong], start[strong], step[strong], chance[strong], n_accounts,
                        max_size, "payers" if centre == "dst" else "payees", ids,
                        tests[strong])
    return groups


def _fans(leaf: np.ndarray, hub: np.ndarray, day: np.ndarray, one_off: np.ndarray,
          hubs: np.ndarray, m: np.ndarray, start: np.ndarray, step: np.ndarray,
          chance: np.ndarray, n_accounts: int, max_size: int, side: str, ids: np.ndarray,
          tests: np.ndarray) -> list[FlowGroup]:
    """The groups of :func:`periodic_fans` of one direction: per hub, its one-off
    counterparties on the schedule's days; skipped where the schedule is the hub's habit (its
    other pairs start on the grid ``HABIT_RATIO`` times as often as chance) or the group is
    over ``max_size``."""
    fan_of = np.full(n_accounts, -1, np.int64)
    fan_of[hubs] = np.arange(len(hubs))
    mine = np.flatnonzero(fan_of[hub] >= 0)
    f = fan_of[hub[mine]]
    offset = day[mine] - start[f]
    on_grid = offset % step[f] == 0
    on_schedule = on_grid & one_off[mine] & (offset >= 0) & (offset <= (m[f] - 1) * step[f])
    others = np.bincount(f[~on_schedule], minlength=len(hubs)).astype(np.float64)
    on = np.bincount(f[on_grid & ~on_schedule], minlength=len(hubs)).astype(np.float64)
    habit = (on + 1.0) / (others + step) * step >= HABIT_RATIO
    groups = []
    for i, rows in _by_fan(f[on_schedule], leaf[mine][on_schedule], len(hubs)):
        if habit[i] or len(rows) + 1 > max_size:
            continue
        groups.append(FlowGroup(
            np.append(rows, hubs[i]), "flow_periodic_fan",
            [f"Hub:{ids[hubs[i]]}",
             f"Schedule:{len(rows)} one-off {side} on {m[i]} days every {step[i]}d",
             f"ScheduleChance:{10.0 ** chance[i]:.1e} ({tests[i]} hubs could be as unlikely)"],
            float(chance[i]), int(tests[i])))
    return groups


def _by_fan(fan: np.ndarray, rows: np.ndarray, n_fans: int
            ) -> list[tuple[int, np.ndarray]]:
    """``(fan, its distinct rows)`` for each fan with rows."""
    order = np.argsort(fan, kind="stable")
    fan, rows = fan[order], rows[order]
    bounds = np.searchsorted(fan, np.arange(n_fans + 1))
    return [(i, np.unique(rows[a:b])) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:],
                                                                     strict=True)) if b > a]
