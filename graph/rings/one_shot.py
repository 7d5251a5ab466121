"""One-shot fans: an account whose one-off counterparties are, far more often than the log's
own rate, accounts seen once in the whole log (their one transfer is with it).

A fan fed by throwaway accounts (each opened to pay the hub once, then never used again) keeps
no window, no alike amounts and often no schedule; what gives it away is its payers' lives, not
their payments. The log says how common such one-shot accounts are: of every judged account's
one-off counterparties on one side (payers of a fan-in, payees of a fan-out) a share ``p`` are
one-shot. Under the null each of a hub's ``n`` one-off counterparties is one-shot with that
chance, independently, and the chance of ``g`` or more is the binomial tail (a bound that
ignores nothing the hub's size explains: ``n`` is its own). The test is one per hub and side,
charged for the hubs that could have come out as unlikely (Tarone's count: a hub of ``n``
counterparties reaches at best ``p ** n``), and competes with the money null of
:mod:`graph.rings.flow_null` (one more factor 2), as periodic fans do
(:mod:`graph.rings.periodic`). Hubs with more than ``max_counterparties`` one-off counterparties
(busy merchants, payout runs) are not judged, nor counted in ``p``.

Session 16, AMLSim's training alerts (seed-0 split): 10 of 19 training fans-in had their exact
candidate under the significance bar (neither the money null nor the schedule reaches it with
four or five payers over months); their payers are mostly one-shot. Figures in
benchmarks/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom

from graph.rings.flows import FlowGroup
from graph.rings.null_model import log10_choose
from graph.rings.periodic import DAY_S, longest_progressions


def one_shot_accounts(transfers: pd.DataFrame, n_accounts: int) -> np.ndarray:
    """Mask of the accounts with exactly one transfer in the whole log (``count`` summed over
    every pair they are in, either side)."""
    count = transfers["count"].to_numpy(np.int64)
    total = (np.bincount(transfers["src"].to_numpy(np.int64), count, minlength=n_accounts)
             + np.bincount(transfers["dst"].to_numpy(np.int64), count, minlength=n_accounts))
    return total == 1


@dataclass(frozen=True)
class Activity:
    """Every account's transfer times, either side, by the first and last times of every
    pair it is in (a pair's transfers between those two unseen: an approximation where a
    pair transacts three or more times), sorted as ``account * scale + time - start``; and
    each pair's (``pairs``: ``src * size + dst``, sorted) as ``pair * scale + time - start``
    (``pair_keys``)."""

    keys: np.ndarray
    start: float
    scale: float
    pairs: np.ndarray
    pair_keys: np.ndarray
    size: int

    @classmethod
    def of(cls, transfers: pd.DataFrame, horizon_s: float) -> Activity:
        """The activity of ``transfers`` (columns ``src``, ``dst``, ``count``, ``ts``,
        ``last``), for queries up to ``horizon_s`` seconds after a time in the log."""
        first = transfers["ts"].to_numpy(np.float64)
        last = transfers["last"].to_numpy(np.float64)
        again = transfers["count"].to_numpy(np.int64) > 1
        src = transfers["src"].to_numpy(np.int64)
        dst = transfers["dst"].to_numpy(np.int64)
        who = np.concatenate([src, dst])
        who = np.concatenate([who, who[np.r_[again, again]]])
        when = np.concatenate([first, first, last[again], last[again]])
        start = float(when.min(initial=0.0))
        scale = float(when.max(initial=0.0)) - start + horizon_s + 1.0
        size = int(who.max(initial=-1)) + 1
        pairs, pair = np.unique(np.concatenate([src * size + dst, (src * size + dst)[again]]),
                                return_inverse=True)
        pair_when = np.concatenate([first, last[again]])
        return cls(np.sort(who * scale + (when - start)), start, scale, pairs,
                   np.sort(pair * scale + (pair_when - start)), size)

    def quiet_after(self, account: np.ndarray, ts: np.ndarray, horizon_s: float,
                    src: np.ndarray | None = None, dst: np.ndarray | None = None
                    ) -> np.ndarray:
        """Per query (``account`` paid at ``ts``, a time in the log): whether the account
        makes no other transfer in the ``horizon_s`` seconds after (``(ts, ts +
        horizon_s]``), not counting those of ``src`` to ``dst`` where given (the payment's
        own pair: a payee its payer pays again, or a payer paying it again, is not active
        for that). What an account does after being paid, whatever it did before: an
        established account and a new one that transfer alike from then on are alike
        here."""
        ts = np.asarray(ts, np.float64) - self.start
        base = np.asarray(account, np.int64) * self.scale + ts
        heard = (np.searchsorted(self.keys, base + horizon_s, side="right")
                 - np.searchsorted(self.keys, base, side="right"))
        if src is not None and dst is not None and len(self.pairs):
            code = np.asarray(src, np.int64) * self.size + np.asarray(dst, np.int64)
            at = np.minimum(np.searchsorted(self.pairs, code), len(self.pairs) - 1)
            own = np.where(self.pairs[at] == code, at, -1) * self.scale + ts
            heard = heard - np.where(
                self.pairs[at] == code,
                np.searchsorted(self.pair_keys, own + horizon_s, side="right")
                - np.searchsorted(self.pair_keys, own, side="right"), 0)
        return heard == 0


def schedule_log_chance(m: np.ndarray, inside: np.ndarray, length: np.ndarray,
                        days: np.ndarray, min_fan: int, max_size: int) -> np.ndarray:
    """The log10 chance (<= 0) that ``m`` of a hub's ``days`` distinct days fall on an
    arithmetic progression over ``length`` days (first to last term) holding ``inside`` of its
    days: for one pair of its days as the ends, the ``m - 2`` inner terms on the grid when the
    ``inside - 2`` days between fall anywhere in the ``length - 2`` between, ``C(inside - 2,
    m - 2) / C(length - 2, m - 2)``, times the tests: every pair of its days as the ends,
    ``C(days, 2)``, and every number of terms from ``min_fan`` to ``max_size - 1`` (a burst,
    every day between taken, is no evidence)."""
    m, inside = np.asarray(m, np.float64), np.asarray(inside, np.float64)
    days = np.asarray(days, np.float64)
    length = np.maximum(np.asarray(length, np.float64), inside)
    terms = np.maximum(np.minimum(days, max_size - 1.0) - min_fan + 1.0, 1.0)
    tests = np.log10(np.maximum(days * (days - 1.0) / 2.0, 1.0) * terms)
    return np.minimum(tests + log10_choose(inside - 2.0, m - 2.0)
                      - log10_choose(length - 2.0, m - 2.0), 0.0)


def product_log_chance(log_chance: np.ndarray) -> np.ndarray:
    """The log10 chance (<= 0) that two independent chances multiply to at most ``10 **
    log_chance``: ``t (1 - ln t)``."""
    x = np.minimum(np.asarray(log_chance, np.float64), 0.0)
    return np.minimum(x + np.log10(1.0 - x * np.log(10.0)), 0.0)


def one_shot_fans(transfers: pd.DataFrame, accounts: pd.Index, min_fan: int, max_size: int,
                  max_counterparties: int, day_s: float = DAY_S) -> list[FlowGroup]:
    """Fans-in and fans-out of one-shot counterparties (module docstring): ``flow_fan_in`` /
    ``flow_fan_out`` groups (the hub and its one-shot counterparties) whose ``log_chance`` is
    the binomial tail, times their days' schedule where they keep one, and ``tests`` the hubs
    that could have been as unlikely; only those that beat that count (``-log_chance > log10
    tests + log10 2``), with ``min_fan`` to ``max_size - 1`` one-shot counterparties."""
    n_accounts = len(accounts)
    single = one_shot_accounts(transfers, n_accounts)
    one_off = transfers[transfers["count"].to_numpy() == 1]
    ts = one_off["ts"].to_numpy(np.float64)
    day = np.where(ts >= 0, np.floor(ts / day_s), -1).astype(np.int64)
    ids = np.asarray(accounts.astype(str), dtype=object)
    sides = []
    reachable = [np.zeros(0)]
    for centre, leaf in (("dst", "src"), ("src", "dst")):
        hub = one_off[centre].to_numpy(np.int64)
        shot = single[one_off[leaf].to_numpy(np.int64)]
        n = np.bincount(hub, minlength=n_accounts)
        g = np.bincount(hub[shot], minlength=n_accounts)
        judged = (n >= min_fan) & (n <= max_counterparties)
        total = n[judged].sum()
        p = g[judged].sum() / total if total else 0.0
        if not 0.0 < p < 1.0:
            continue
        dated = day >= 0
        first = np.full(n_accounts, np.iinfo(np.int64).max)
        last = np.full(n_accounts, -1)
        np.minimum.at(first, hub[dated], day[dated])
        np.maximum.at(last, hub[dated], day[dated])
        every = np.flatnonzero(judged)
        span = np.maximum(last[every] - first[every] + 1, 0)
        most = np.minimum(np.minimum(n[every], max_size - 1), span)
        best = np.zeros(len(every))
        long = most >= min_fan
        best[long] = schedule_log_chance(most[long], most[long], span[long], most[long],
                                         min_fan, max_size)
        reachable.append(product_log_chance(n[every] * np.log10(p) + best) + np.log10(2.0))
        sides.append((centre, leaf, hub, shot, n, g, judged, p))
    ranked = np.sort(np.concatenate(reachable))
    groups: list[FlowGroup] = []
    for centre, leaf, hub, shot, n, g, judged, p in sides:
        hubs = np.flatnonzero(judged & (g >= min_fan) & (g <= max_size - 1))
        tail = binom.logsf(g[hubs] - 1, n[hubs], p) / np.log(10.0)
        m, step, timed = _schedules(hub, day, shot, hubs, min_fan, max_size)
        # two tests (the tail alone, and times the schedule), the likelier charged twice
        both = product_log_chance(tail + timed)
        scheduled = both < tail
        chance = np.minimum(tail, both) + np.log10(2.0)
        tests = np.maximum(np.searchsorted(ranked, chance + 1e-9, side="right"), 1)
        strong = -chance > np.log10(tests) + np.log10(2.0)
        if not strong.any():
            continue
        mine = shot & np.isin(hub, hubs[strong])
        order = np.argsort(hub[mine], kind="stable")
        by_hub = np.split(one_off[leaf].to_numpy(np.int64)[mine][order],
                          np.searchsorted(hub[mine][order], hubs[strong][1:]))
        side = "payers" if centre == "dst" else "payees"
        for i, rows in zip(np.flatnonzero(strong), by_hub, strict=True):
            h = hubs[i]
            schedule = ([f"OneShotSchedule:{m[i]} of their days every {step[i]}d"]
                        if scheduled[i] else [])
            groups.append(FlowGroup(
                np.append(rows, h), "flow_fan_in" if centre == "dst" else "flow_fan_out",
                [f"Hub:{ids[h]}",
                 f"OneShot:{len(rows)} of {n[h]} one-off {side} have no other transfer in the "
                 f"log ({p:.1%} of such {side} do)", *schedule,
                 f"OneShotChance:{10.0 ** chance[i]:.1e} ({tests[i]} hubs could be as "
                 f"unlikely)"],
                float(chance[i]), int(tests[i])))
    return groups


def _schedules(hub: np.ndarray, day: np.ndarray, shot: np.ndarray, hubs: np.ndarray,
               min_fan: int, max_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per hub of ``hubs`` (sorted): the terms and step of the longest arithmetic progression
    among its one-shot counterparties' days and its :func:`schedule_log_chance` (0 under
    ``min_fan`` terms)."""
    m = np.zeros(len(hubs), np.int64)
    step = np.zeros(len(hubs), np.int64)
    chance = np.zeros(len(hubs))
    mine = shot & (day >= 0) & np.isin(hub, hubs)
    if not mine.any():
        return m, step, chance
    width = int(day[mine].max()) + 1
    codes = np.unique(hub[mine] * width + day[mine])
    d_hub, d_day = codes // width, codes % width
    found, terms, start, steps = longest_progressions(d_hub, d_day)
    at = np.searchsorted(hubs, found)
    m[at], step[at] = terms, steps
    days = np.bincount(np.searchsorted(hubs, d_hub), minlength=len(hubs))
    end = start + (terms - 1) * steps
    inside = (np.searchsorted(codes, found * width + end, side="right")
              - np.searchsorted(codes, found * width + start, side="left"))
    ok = (terms >= min_fan) & (steps > 0)
    chance[at[ok]] = schedule_log_chance(terms[ok], inside[ok], end[ok] - start[ok] + 1,
                                         days[at[ok]], min_fan, max_size)
    return m, step, chance
