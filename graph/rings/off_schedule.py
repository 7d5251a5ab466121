"""Off-schedule fans: one-off payments an account makes (or receives) off its own routine.

An account that pays a new counterparty once every ``s`` days, to the day, for months keeps a
routine; laundering through it shows as one-off payments on other days. AMLSim's alert
fans-out are such (session 18): their hubs pay a payee a week on one weekday (103-105 of their
108-112 one-off payees), and the 3-9 alert payees are paid on other days; of the 201 hubs paying
10 or more one-off payees, all keep a weekly routine, 182 never leave it, and every payment off
it (60, at 19 hubs) goes to an alert payee. The fan search (:mod:`graph.rings.flows`) sees the
hub and all its one-off payees (over 100), so the alert's members are a tenth of the group and
no null finds it surprising.

The test, per hub and direction with at least ``min_days`` one-off pairs (a pair transacting
once), over the days the pairs start:

* its routine: the step ``s`` (2 to ``max_step`` days) and day ``r`` (mod ``s``) holding the most
  of its ``n`` days beyond chance, ``c`` of them; it *keeps* the routine when the binomial tail
  ``P(Bin(n, 1/s) >= c)``, charged for every ``(s, r)`` tried, is at most ``10 ** -min_surprise``;
* off it: ``k = n - c`` days; the chance of ``k`` or more is judged against the *other* hubs
  that keep a routine: a beta-binomial tail at their pooled off-routine rate ``q`` with their
  spread ``rho`` (method of moments). Honest hubs leave their routines at their own rates (one
  pays strictly on Fridays, another slips now and then); one pooled binomial rate put the
  sloppy ones in its far tail (review R2, session 18: hubs slipping at ``Beta(0.3, 30)`` rates
  made 26 significant groups in 40 all-honest worlds, 2 in 120 with the spread, none with one
  rate for all). The hub is left out of its own null so that its off days do not widen it.
  Charged for the hubs that keep a routine and could have come out as unlikely (Tarone's
  count, as :mod:`graph.rings.one_shot`), competing with the money null of
  :mod:`graph.rings.flow_null` (one more factor 2);
* a second reading, as :mod:`graph.rings.one_shot` reads a fan: that chance times the chance
  that ``g`` or more of its off-routine counterparties are one-shot accounts (one transfer in
  the whole log) when they are drawn at random from all its one-off counterparties on that
  side (hypergeometric: the hub's own share of one-shot counterparties is the null, not the
  log's, which differs between hubs as the slip rates do), the two multiplied as independent
  chances (``t (1 - ln t)``); the lower chance of the two readings counts, charged twice.
  AMLSim's alert payees are mostly one-shot (2-7 of 3-7), the hubs' other payees rarely (4-18
  of about 110).

A group is the hub and its off-routine counterparties, ``min_fan`` to ``max_size - 1`` of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import betabinom, binom

from graph.rings.flows import FlowGroup
from graph.rings.null_model import log10_choose
from graph.rings.one_shot import one_shot_accounts, product_log_chance
from graph.rings.periodic import DAY_S

#: The longest routine step judged, in days (a month).
MAX_STEP = 31
#: The fewest one-off pairs of a hub whose routine is judged.
MIN_DAYS = 10


def _log10_sf(k: np.ndarray, n: np.ndarray, p: np.ndarray | float) -> np.ndarray:
    """``log10 P(Bin(n, p) >= k)`` (0 where ``k <= 0``)."""
    k = np.asarray(k, np.float64)
    out = binom.logsf(k - 1.0, n, p) / np.log(10.0)
    return np.where(k <= 0, 0.0, np.minimum(out, 0.0))


def others_rates(off: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each hub, the rate and spread of the *other* hubs (a hub is judged against the
    rest, so its own off days do not widen its own null): their pooled rate ``q`` (Laplace's
    rule, one off and one on day added, so it is never 0) and the intra-class correlation
    ``rho`` of a beta-binomial around it, by the method of moments
    (``E[(off - n q) ** 2] = n q (1 - q) (1 + (n - 1) rho)``), in ``[0, 1)``."""
    off, n = np.asarray(off, np.float64), np.asarray(n, np.float64)
    q = (off.sum() - off + 1.0) / (n.sum() - n + 2.0)
    squares = (np.sum(off ** 2) - off ** 2) - 2.0 * q * (np.sum(off * n) - off * n) \
        + q ** 2 * (np.sum(n ** 2) - n ** 2)
    pairs = np.sum(n * (n - 1.0)) - n * (n - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (squares / (q * (1.0 - q)) - (n.sum() - n)) / pairs
    return q, np.clip(np.nan_to_num(rho), 0.0, 1.0 - 1e-9)


def log10_tail(k: np.ndarray, n: np.ndarray, q: np.ndarray | float,
               rho: np.ndarray | float) -> np.ndarray:
    """``log10 P(X >= k)`` (0 where ``k <= 0``), ``X`` of ``n`` at mean rate ``q``,
    beta-binomial with intra-class correlation ``rho`` (binomial where it is 0); its terms
    ``k`` to ``n`` summed, exact far in the tail."""
    n = np.asarray(n, np.int64)
    k = np.broadcast_to(np.asarray(k, np.int64), n.shape)
    q, rho = np.broadcast_to(q, n.shape), np.broadcast_to(rho, n.shape)
    first = np.clip(k, 0, n)
    terms = n - first + 1
    row = np.repeat(np.arange(len(n)), terms)
    x = np.arange(terms.sum()) - np.repeat(np.cumsum(terms) - terms, terms) + first[row]
    spread = rho[row] > 0.0
    width = 1.0 / np.where(spread, rho[row], 0.5) - 1.0
    log_pmf = np.where(spread, betabinom.logpmf(x, n[row], q[row] * width,
                                                (1.0 - q[row]) * width),
                       binom.logpmf(x, n[row], q[row]))
    top = np.full(len(n), -np.inf)
    np.maximum.at(top, row, log_pmf)
    total = np.bincount(row, np.exp(log_pmf - top[row]), minlength=len(n))
    out = (top + np.log(total)) / np.log(10.0)
    return np.where(k <= 0, 0.0, np.minimum(out, 0.0))


def log10_drawn_tail(g: np.ndarray, k: np.ndarray, marked: np.ndarray, total: np.ndarray
                     ) -> np.ndarray:
    """``log10 P(X >= g)`` (0 where ``g <= 0``), ``X`` the marked ones among ``k`` drawn at
    random without replacement from ``total`` of which ``marked`` are (hypergeometric; its
    terms ``g`` to ``min(k, marked)`` summed)."""
    g, k, marked, total = (np.asarray(a, np.int64) for a in (g, k, marked, total))
    first = np.maximum(g, 0)
    terms = np.maximum(np.minimum(k, marked) - first + 1, 0)
    row = np.repeat(np.arange(len(g)), terms)
    x = np.arange(terms.sum()) - np.repeat(np.cumsum(terms) - terms, terms) + first[row]
    log_pmf = (log10_choose(marked[row], x) + log10_choose(total[row] - marked[row], k[row] - x)
               - log10_choose(total[row], k[row])) * np.log(10.0)
    top = np.full(len(g), -np.inf)
    np.maximum.at(top, row, log_pmf)
    summed = np.bincount(row, np.exp(log_pmf - top[row]), minlength=len(g))
    with np.errstate(divide="ignore"):
        out = np.where(terms > 0, (top + np.log(np.maximum(summed, 1e-300))) / np.log(10.0),
                       -np.inf)
    return np.where(g <= 0, 0.0, np.minimum(out, 0.0))


def routines(hub: np.ndarray, day: np.ndarray, n_accounts: int, max_step: int = MAX_STEP
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per account: its count ``n`` of distinct days (``hub``, ``day`` one row per account
    and day) and the routine holding the most of them beyond chance: step, day mod step and
    the days on it (step 0 where none holds more than chance)."""
    n = np.bincount(hub, minlength=n_accounts)
    best = np.zeros(n_accounts)
    step = np.zeros(n_accounts, np.int64)
    residue = np.zeros(n_accounts, np.int64)
    on = np.zeros(n_accounts, np.int64)
    for s in range(2, max_step + 1):
        counts = np.bincount(hub * s + day % s, minlength=n_accounts * s).reshape(n_accounts, s)
        r = counts.argmax(axis=1)
        c = counts[np.arange(n_accounts), r]
        excess = c - n / s
        better = excess > best
        best[better], step[better], residue[better], on[better] = (
            excess[better], s, r[better], c[better])
    return n, step, residue, on


def off_schedule_fans(transfers: pd.DataFrame, accounts: pd.Index, min_fan: int,
                      max_size: int, min_surprise: float, day_s: float = DAY_S,
                      min_days: int = MIN_DAYS, max_step: int = MAX_STEP) -> list[FlowGroup]:
    """Fans-in and fans-out of the one-off counterparties off their hub's routine (module
    docstring): ``flow_fan_in`` / ``flow_fan_out`` groups (the hub and those counterparties)
    whose ``log_chance`` is the lower of the two readings (the beta-binomial tail of their
    days' count against the other hubs, alone and with their one-shot lives) and ``tests``
    the hubs that could have been as unlikely; only those that beat that count
    (``-log_chance > log10 tests + log10 2``)."""
    n_accounts = len(accounts)
    one_off = transfers[(transfers["count"].to_numpy() == 1) & (transfers["ts"].to_numpy() >= 0)]
    if one_off.empty:
        return []
    day = np.floor(one_off["ts"].to_numpy(np.float64) / day_s).astype(np.int64)
    day -= day.min()
    ids = np.asarray(accounts.astype(str), dtype=object)
    single = one_shot_accounts(transfers, n_accounts)
    tried = np.log10(sum(range(2, max_step + 1)))
    groups: list[FlowGroup] = []
    for centre, leaf, kind, side in (("src", "dst", "flow_fan_out", "payees"),
                                     ("dst", "src", "flow_fan_in", "payers")):
        hub = one_off[centre].to_numpy(np.int64)
        width = int(day.max()) + 1
        codes = np.unique(hub * width + day)
        busy = np.flatnonzero(np.bincount(codes // width, minlength=n_accounts) >= min_days)
        compact = np.full(n_accounts, -1, np.int64)
        compact[busy] = np.arange(len(busy))
        codes = codes[compact[codes // width] >= 0]
        n, step, residue, on = (np.zeros(n_accounts, np.int64) for _ in range(4))
        n[busy], step[busy], residue[busy], on[busy] = routines(
            compact[codes // width], codes % width, len(busy), max_step)
        judged = np.flatnonzero((n >= min_days) & (step > 0))
        routine = _log10_sf(on[judged], n[judged], 1.0 / np.maximum(step[judged], 1)) + tried
        keeps = judged[routine <= -min_surprise]
        if not len(keeps):
            continue
        off = n[keeps] - on[keeps]
        if not off.any():
            continue
        q, rho = others_rates(off, n[keeps])
        fan_of = np.full(n_accounts, -1, np.int64)
        fan_of[keeps] = np.arange(len(keeps))
        mine = fan_of[hub] >= 0
        off_day = mine & (day % np.maximum(step[hub], 1) != residue[hub])
        leaves = one_off[leaf].to_numpy(np.int64)
        pairs = np.unique(fan_of[hub[off_day]] * n_accounts + leaves[off_day])
        owner, rows_of = pairs // n_accounts, pairs % n_accounts
        k = np.bincount(owner, minlength=len(keeps))
        g = np.bincount(owner[single[rows_of]], minlength=len(keeps))
        every = np.unique(fan_of[hub[mine]] * n_accounts + leaves[mine])
        total = np.bincount(every // n_accounts, minlength=len(keeps))
        marked = np.bincount(every[single[every % n_accounts]] // n_accounts,
                             minlength=len(keeps))
        base = log10_tail(off, n[keeps], q, rho)
        both = product_log_chance(base + log10_drawn_tail(g, k, marked, total))
        # two readings (off the routine alone, and with its counterparties' one-shot lives)
        chance = np.minimum(base, both) + np.log10(2.0)
        most = np.minimum(n[keeps], max_size - 1)
        drawn = np.minimum(marked, max_size - 1)
        reachable = np.sort(product_log_chance(
            log10_tail(most, n[keeps], q, rho) + log10_choose(marked, drawn)
            - log10_choose(total, drawn)) + np.log10(2.0))
        tests = np.maximum(np.searchsorted(reachable, chance + 1e-9, side="right"), 1)
        strong = np.flatnonzero((-chance > np.log10(tests) + np.log10(2.0)) & (k >= min_fan)
                                & (k <= max_size - 1))
        bounds = np.searchsorted(owner, np.arange(len(keeps) + 1))
        for j in strong:
            h, rows = keeps[j], rows_of[bounds[j]:bounds[j + 1]]
            shots = ([f"OffScheduleOneShot:{g[j]} of them have no other transfer in the log "
                      f"({marked[j]} of its {total[j]} one-off {side} do)"]
                     if both[j] < base[j] else [])
            groups.append(FlowGroup(
                np.append(rows, h), kind,
                [f"Hub:{ids[h]}",
                 f"OffSchedule:{len(rows)} one-off {side} on {off[j]} of its {n[h]} days off "
                 f"its routine of one day every {step[h]}d ({q[j]:.2%} of the other routine "
                 f"hubs' days are, their spread rho {rho[j]:.3f})", *shots,
                 f"OffScheduleChance:{10.0 ** chance[j]:.1e} ({tests[j]} hubs could be as "
                 f"unlikely)"],
                float(chance[j]), int(tests[j])))
    return groups
