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
  ``P(Bin(n, 1/s) >= c)``, charged for every ``(s, r)`` and every account tried, is at most
  ``10 ** -min_surprise`` (review H5, session 21: an account paying at random holds a
  progression by chance now and then, and all its other days were "off" it), and its
  routines hold a day in most of their own slots from its first day to its last;
  and more days ``r' (mod s)`` are routines too where its days off the routines so far
  crowd on one beyond chance (:func:`routine_days`): a hub paying on two weekdays, or one that
  moved its pay day (40 of its 100 days "off" its first routine, in a row, a false group of
  surprise 110 before), keeps a routine on each; unless such a further day's counterparties
  stay quiet after being paid beyond chance against the routines' counterparties (no other
  transfer in the :data:`QUIET_DAYS` after, each payment watched as long, those too close to
  the log's end left out): a laundering run on a fixed other weekday in the hub's last
  weeks paying accounts that do nothing after, no pay day added;
* off them: ``k`` days; the chance of ``k`` or more is judged against the *other* hubs
  that keep a routine: a beta-binomial tail at their pooled off-routine rate ``q`` with their
  spread ``rho`` (method of moments). Honest hubs leave their routines at their own rates (one
  pays strictly on Fridays, another slips now and then); one pooled binomial rate put the
  sloppy ones in its far tail (review R2, session 18: hubs slipping at ``Beta(0.3, 30)`` rates
  made 26 significant groups in 40 all-honest worlds, 2 in 120 with the spread, none with one
  rate for all). The hub is left out of its own null so that its off days do not widen it.
  Charged for the hubs that keep a routine and could have come out as unlikely (Tarone's
  count, as :mod:`graph.rings.one_shot`), competing with the money null of
  :mod:`graph.rings.flow_null` (one more factor 2);
* and two more chances, independent of it under the null, as :mod:`graph.rings.one_shot`
  reads a fan: that ``g`` or more of its off-routine counterparties are one-shot accounts (one
  transfer in the whole log) were they drawn at random from all its one-off counterparties on
  that side (hypergeometric: the hub's own share of one-shot counterparties is the null, not
  the log's, which differs between hubs as the slip rates do; where its off days reach the
  log's last fifth, only those paid no earlier than they are: a payee paid in the last weeks
  has had only those weeks to transfer again); and that its off days lie as
  close together, were they any ``k`` of its ``n`` days (a burst: a laundering episode has a
  start and an end; a hub that slips now and then slips at any time). The three multiply
  into one chance (``t (1 + x + x ** 2 / 2)``, ``x = -ln t``, for a product ``t`` of three
  independent chances). AMLSim's alert payees are mostly one-shot (2-7 of 3-7), the hubs'
  other payees rarely (4-18 of about 110); their off days lie within 3-48 of the hubs'
  90-110 days. What the burst chance assumes: honest slips are not bunched in time hub by hub
  (a season in which every hub slips bunches them; a hub's own holiday week does too).

A group is the hub and its off-routine counterparties, ``min_fan`` to ``max_size - 1`` of them.
The test is :func:`judge_off_days`; :mod:`graph.rings.off_routine` runs it too, on every
transfer's day rather than the one-off pairs' (no burst there, and its own charges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import betabinom, binom

from graph.rings.flows import FlowGroup
from graph.rings.null_model import log10_choose
from graph.rings.one_shot import Activity, one_shot_accounts
from graph.rings.periodic import DAY_S

#: The longest routine step judged, in days (a month).
MAX_STEP = 31
#: The fewest one-off pairs of a hub whose routine is judged.
MIN_DAYS = 10
#: How long after a payment its payee is watched for another transfer, in days, where a
#: further pay day's payees are told from its routine's (:func:`routine_days`).
QUIET_DAYS = 28
#: Bayesian-bootstrap draws over the other hubs, and the quantile of their rate and spread
#: taken (:func:`upper_rates`).
DRAWS = 64
UPPER = 0.975


def log10_sf(k: np.ndarray, n: np.ndarray, p: np.ndarray | float) -> np.ndarray:
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
    return _moments(off, n, lambda x: np.sum(x) - x)


def _moments(off: np.ndarray, n: np.ndarray, others: Callable[[np.ndarray], np.ndarray]
             ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`others_rates`' ``q`` and ``rho`` from ``others(x)``, the sum of ``x`` over the
    other hubs (per hub, or per draw and hub)."""
    total = others(n)
    q = (others(off) + 1.0) / (total + 2.0)
    squares = others(off ** 2) - 2.0 * q * others(off * n) + q ** 2 * others(n ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (squares / (q * (1.0 - q)) - total) / others(n * (n - 1.0))
    return q, np.clip(np.nan_to_num(rho), 0.0, 1.0 - 1e-9)


def upper_rates(off: np.ndarray, n: np.ndarray, draws: int = DRAWS, share: float = UPPER,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`others_rates` made conservative where few hubs tell them (review F3, session
    19: with 10-50 routine hubs the moment fit was noisy and often 0, 3-6 % of all-honest
    worlds held a false group): each hub's ``q`` and ``rho`` at their ``share`` quantile over
    ``draws`` Bayesian-bootstrap reweightings of the other hubs (Dirichlet weights, fixed
    ``seed``), never below the point estimates."""
    off, n = np.asarray(off, np.float64), np.asarray(n, np.float64)
    q0, rho0 = others_rates(off, n)
    if len(off) < 2 or draws < 1:
        return q0, rho0
    weights = np.random.default_rng(seed).dirichlet(np.ones(len(off)), draws) * (len(off) - 1)

    def others(x: np.ndarray) -> np.ndarray:
        """Per draw and hub, the weighted sum of ``x`` over the other hubs."""
        return (weights @ x)[:, None] - weights * x[None, :]

    q, rho = _moments(off, n, others)
    return (np.maximum(np.quantile(q, share, axis=0), q0),
            np.maximum(np.quantile(rho, share, axis=0), rho0))


def _terms(first: np.ndarray, terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``terms[i]`` consecutive values from ``first[i]``: each value's row ``i`` and the
    value."""
    row = np.repeat(np.arange(len(terms)), terms)
    return row, np.arange(terms.sum()) - np.repeat(np.cumsum(terms) - terms, terms) + first[row]


def _log_sum(row: np.ndarray, log_terms: np.ndarray, size: int) -> np.ndarray:
    """Per row ``0`` to ``size - 1``: ``ln`` of the sum of ``exp(log_terms)`` of its entries
    (``-inf`` where it has none), the largest factored out."""
    top = np.full(size, -np.inf)
    np.maximum.at(top, row, log_terms)
    summed = np.bincount(row, np.exp(log_terms - top[row]), minlength=size)
    with np.errstate(divide="ignore"):
        return top + np.log(summed)


def log10_tail(k: np.ndarray, n: np.ndarray, q: np.ndarray | float,
               rho: np.ndarray | float) -> np.ndarray:
    """``log10 P(X >= k)`` (0 where ``k <= 0``), ``X`` of ``n`` at mean rate ``q``,
    beta-binomial with intra-class correlation ``rho`` (binomial where it is 0); its terms
    ``k`` to ``n`` summed, exact far in the tail."""
    n = np.asarray(n, np.int64)
    k = np.broadcast_to(np.asarray(k, np.int64), n.shape)
    q, rho = np.broadcast_to(q, n.shape), np.broadcast_to(rho, n.shape)
    first = np.clip(k, 0, n)
    row, x = _terms(first, n - first + 1)
    spread = rho[row] > 0.0
    width = 1.0 / np.where(spread, rho[row], 0.5) - 1.0
    log_pmf = np.where(spread, betabinom.logpmf(x, n[row], q[row] * width,
                                                (1.0 - q[row]) * width),
                       binom.logpmf(x, n[row], q[row]))
    out = _log_sum(row, log_pmf, len(n)) / np.log(10.0)
    return np.where(k <= 0, 0.0, np.minimum(out, 0.0))


def log10_drawn_tail(g: np.ndarray, k: np.ndarray, marked: np.ndarray, total: np.ndarray
                     ) -> np.ndarray:
    """``log10 P(X >= g)`` (0 where ``g <= 0``), ``X`` the marked ones among ``k`` drawn at
    random without replacement from ``total`` of which ``marked`` are (hypergeometric; its
    terms ``g`` to ``min(k, marked)`` summed)."""
    g, k, marked, total = (np.asarray(a, np.int64) for a in (g, k, marked, total))
    first = np.maximum(g, 0)
    terms = np.maximum(np.minimum(k, marked) - first + 1, 0)
    row, x = _terms(first, terms)
    log_pmf = (log10_choose(marked[row], x) + log10_choose(total[row] - marked[row], k[row] - x)
               - log10_choose(total[row], k[row])) * np.log(10.0)
    out = np.where(terms > 0, _log_sum(row, log_pmf, len(g)) / np.log(10.0), -np.inf)
    return np.where(g <= 0, 0.0, np.minimum(out, 0.0))


def log10_span_chance(k: np.ndarray, span: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``log10`` of the chance (0 where ``k < 2``) that ``k`` of ``n`` ranked days drawn at
    random lie within ``span`` ranks of each other (last minus first): the ``k``-subsets of
    ``1..n`` whose range is ``m``, ``(n - m) C(m - 1, k - 2)``, summed over ``m = k - 1`` to
    ``span``, over ``C(n, k)``."""
    k, span, n = (np.asarray(a, np.int64) for a in (k, span, n))
    judged = k >= 2
    first = np.where(judged, k - 1, 0)
    terms = np.where(judged, np.maximum(np.minimum(span, n - 1) - first + 1, 1), 0)
    row, m = _terms(first, terms)
    log_term = (np.log10(n[row] - m) + log10_choose(m - 1, k[row] - 2)) * np.log(10.0)
    with np.errstate(invalid="ignore"):
        out = _log_sum(row, log_term, len(k)) / np.log(10.0) - log10_choose(n, np.minimum(k, n))
    return np.where(judged, np.minimum(np.nan_to_num(out, nan=0.0), 0.0), 0.0)


def product_of_chances(log_chance: np.ndarray, count: int) -> np.ndarray:
    """The log10 chance (<= 0) that ``count`` independent chances multiply to at most ``10 **
    log_chance``: ``t sum_{i < count} (-ln t) ** i / i!``."""
    x = np.minimum(np.asarray(log_chance, np.float64), 0.0)
    ln_t = -x * np.log(10.0)
    series = sum(ln_t ** i / np.prod(np.arange(1, i + 1)) for i in range(count))
    return np.minimum(x + np.log10(series), 0.0)


def _quantile_ranks(key: np.ndarray, rank: np.ndarray, size: int, share: float
                    ) -> np.ndarray:
    """Per ``key`` (``0`` to ``size - 1``): the rank at quantile ``share`` of its days' ranks
    (``-1`` where it has none)."""
    order = np.lexsort((rank, key))
    key, rank = key[order], rank[order]
    start = np.searchsorted(key, np.arange(size))
    count = np.searchsorted(key, np.arange(size), side="right") - start
    at = np.clip(start + np.floor(share * (count - 1)).astype(np.int64), 0, len(rank) - 1)
    return np.where(count > 0, rank[at] if len(rank) else -1, -1)


def _within(cum: np.ndarray, start: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per hub (its days from ``start``, ``cum`` a running count over all hubs' days with a
    0 first): the count over its days ranked ``a`` to ``b``."""
    return cum[np.maximum(start + b + 1, start)] - cum[start + np.maximum(a, 0)]


def routine_days(codes: np.ndarray, width: int, fan_of: np.ndarray, step: np.ndarray,
                 residue: np.ndarray, min_surprise: float,
                 payees: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per judged hub (``fan_of`` its index, -1 for the others; ``codes`` = account * ``width``
    + day, sorted) and day mod its ``step``: its days there where that day is one of its
    routines, else 0. Its best ``residue`` is; then, among its days off its routines so far,
    the day mod ``step`` holding the most is one more when it runs like a routine, its days
    ranked among the hub's ``n``: it reaches an end of the hub's life (its tenth percentile
    in the first fifth of the hub's days, or its ninetieth in the last: a second pay day,
    one added or dropped partway, or a moved one), and chance would rarely fill it so: it
    holds ``c`` of the ``k`` days between its first and last that are off the routines so
    far, ``P(Bin(k, 1 / (step - m)) >= c)`` among the ``step - m`` days left after ``m``
    routines, charged for them, at most ``10 ** -min_surprise``. Payments on one fixed
    other day for some weeks in the middle of the hub's life (review F4, session 19: such a
    laundering hub was never found) stay off it; at its start or end they are told from a
    pay day added or dropped there only by ``payees`` (per code: the hub's payments that
    day (its one-off pairs', or every transfer's in :mod:`graph.rings.off_routine`) at least
    :data:`QUIET_DAYS` before the log's end, and how many of their counterparties make no
    other transfer in those days): such a further day whose
    counterparties stay quiet beyond chance against its routines'
    (:func:`_quiet_payees_chance`, charged for the hubs with a further day, at most ``10 **
    -min_surprise``) is a run paying accounts that do nothing after and stays off the
    routines (review F7, session 19). Quiet for a fixed time after the payment, not one-shot
    in the whole log: a payee paid in the log's last weeks has had only those weeks to
    transfer again (review G2, session 20), and a new account paid on an added day has had
    no life before it, unlike the routine's established payees (review H1, session 21);
    either made honest hubs adding a pay day false groups."""
    judged = fan_of[codes // width] >= 0
    codes = codes[judged]
    if payees is not None:
        payees = (payees[0][judged], payees[1][judged])
    hub = fan_of[codes // width]
    cols = int(step.max()) if len(step) else 1
    size = len(step) * cols
    start = np.searchsorted(hub, np.arange(len(step)))
    rank = np.arange(len(codes)) - start[hub]
    place = codes % width % step[hub]
    key = hub * cols + place
    counts = np.bincount(key, minlength=size).reshape(len(step), cols)
    first, early, late, last = (
        _quantile_ranks(key, rank, size, share).reshape(len(step), cols)
        for share in (0.0, 0.1, 0.9, 1.0))
    n = counts.sum(axis=1)
    routine = np.zeros(counts.shape, bool)
    rows = np.arange(len(step))
    routine[rows, residue] = True
    for m in range(1, cols):
        left = np.where(routine, 0, counts)
        best = left.argmax(axis=1)
        reaches = (5 * early[rows, best] <= n) | (5 * late[rows, best] >= 4 * n)
        theirs = np.r_[0, np.cumsum(routine[hub, place])]
        mine = np.r_[0, np.cumsum(place == best[hub])]
        a, b = first[rows, best], last[rows, best]
        c = _within(mine, start, a, b)
        k = b - a + 1 - _within(theirs, start, a, b)
        residues = np.maximum(step - m, 1)
        more = (left[rows, best] >= 2) & reaches & (
            log10_sf(c, k, 1.0 / residues) + np.log10(residues) <= -min_surprise)
        if payees is not None and more.any():
            shots = _quiet_payees_chance(codes, width, hub, step, best, routine[hub, place],
                                         payees)
            # charged for every hub whose further day could have been such a run
            more &= shots + np.log10(more.sum()) > -min_surprise
        if not more.any():
            break
        routine[rows[more], best[more]] = True
    return np.where(routine, counts, 0)


def _quiet_payees_chance(codes: np.ndarray, width: int, hub: np.ndarray, step: np.ndarray,
                         best: np.ndarray, on_routine: np.ndarray,
                         payees: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per judged hub (:func:`routine_days`: ``codes`` its days, ``hub`` their hub): the
    log10 chance that as many of the counterparties of its days on ``best`` (mod its
    ``step``) stay quiet (``payees``: per code, its counterparties paid at least
    :data:`QUIET_DAYS` before the log's end and how many of them make no other transfer in
    those days, :func:`~graph.rings.one_shot.quiet_after`), were they drawn at random from
    those and its routines' (``on_routine`` per code) (:func:`log10_drawn_tail`): each
    watched for the same days after being paid, whenever that was."""
    pairs, shots = payees
    candidate = (codes % width - best[hub]) % step[hub] == 0

    def per_hub(weights: np.ndarray) -> np.ndarray:
        return np.bincount(hub, weights, minlength=len(step)).astype(np.int64)

    k, g = per_hub(pairs * candidate), per_hub(shots * candidate)
    return log10_drawn_tail(g, k, g + per_hub(shots * on_routine),
                            k + per_hub(pairs * on_routine))


def _off_span(codes: np.ndarray, width: int, fan_of: np.ndarray, step: np.ndarray,
              kept: np.ndarray) -> np.ndarray:
    """Per judged hub (``fan_of`` its index, -1 for the others), how many of its days in a row
    (ranked, ``codes`` = account * ``width`` + day, sorted) its off-routine days (those not
    ``kept``, :func:`routine_days`) span, last minus first (0 where it has under two)."""
    codes = codes[fan_of[codes // width] >= 0]
    hub, day = fan_of[codes // width], codes % width
    rank = np.arange(len(codes)) - np.searchsorted(hub, hub)
    off = kept[hub, day % step[hub]] == 0
    first = np.full(len(step), np.iinfo(np.int64).max)
    last = np.full(len(step), -1)
    np.minimum.at(first, hub[off], rank[off])
    np.maximum.at(last, hub[off], rank[off])
    return np.maximum(last - first, 0)


def _routine_slots(codes: np.ndarray, width: int, fan_of: np.ndarray, step: np.ndarray,
                   kept: np.ndarray) -> np.ndarray:
    """Per judged hub (``fan_of`` its index, -1 for the others; ``codes`` = account *
    ``width`` + day, sorted): the days from its first to its last that fall on its routines
    (``kept`` > 0, :func:`routine_days`, one column per day mod its ``step``)."""
    codes = codes[fan_of[codes // width] >= 0]
    hub, day = fan_of[codes // width], codes % width
    first = np.full(len(step), width)
    last = np.full(len(step), -1)
    np.minimum.at(first, hub, day)
    np.maximum.at(last, hub, day)
    residue = np.arange(kept.shape[1])[None, :]
    period = np.maximum(step, 1)[:, None]
    slots = ((last[:, None] - residue) // period - (first[:, None] - residue - 1) // period)
    return np.where((kept > 0) & (residue < step[:, None]), np.maximum(slots, 0), 0).sum(axis=1)


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


#: Per payment (its ``src``, ``dst``, ``ts``): whether the counterparty watched
#: (``account``) stays quiet after it, not counting the payment's own pair
#: (:meth:`~graph.rings.one_shot.Activity.quiet_after`); called as ``quiet(account, ts, src,
#: dst)``.
QuietReader = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def quiet_reader(transfers: pd.DataFrame, horizon_s: float) -> QuietReader:
    """:meth:`~graph.rings.one_shot.Activity.quiet_after` over ``transfers`` (pairs: ``src``,
    ``dst``, ``count``, ``ts``, ``last``) for ``horizon_s`` seconds, its activity built on
    the first query only (and once for every query after)."""
    built: list[Activity] = []

    def quiet(account: np.ndarray, ts: np.ndarray, src: np.ndarray, dst: np.ndarray
              ) -> np.ndarray:
        if not built:
            built.append(Activity.of(transfers, horizon_s))
        return built[0].quiet_after(account, ts, horizon_s, src, dst)

    return quiet


@dataclass(frozen=True)
class OffDays:
    """A hub off its routine beyond chance (:func:`judge_off_days`): its ``members`` (the
    counterparties of its days off its routines, rows), its ``n`` distinct days, ``off`` of
    them off its routines of one day every ``step``, the other routine hubs' rate ``q`` and
    spread ``rho``, ``one_shot`` of the members one-shot against ``marked`` of the ``total``
    counterparties it first paid from day ``since`` of the log on, its off days' ``span`` in
    ranks (-1: no burst term), the ``log_chance`` of it all and the ``tests`` charged."""

    hub: int
    members: np.ndarray
    n: int
    off: int
    step: int
    q: float
    rho: float
    one_shot: int
    marked: int
    total: int
    since: int
    span: int
    log_chance: float
    tests: int


def _reference_from(owner: np.ndarray, day: np.ndarray, step: np.ndarray, width: int
                    ) -> np.ndarray:
    """Per routine hub (its off-routine days ``day``, hub ``owner``): the day from which the
    counterparties it first paid are its one-shot reference. Where its off days reach the
    log's last fifth, half a step before the first of them: paid no earlier, its counterparties
    have had no more of the log left to transfer again (review G2, session 20), so were its
    off days like the others, their counterparties would be one-shot no more often;
    elsewhere day 0."""
    first = np.full(len(step), width)
    last = np.full(len(step), -1)
    np.minimum.at(first, owner, day)
    np.maximum.at(last, owner, day)
    return np.where(5 * last >= 4 * width, np.maximum(first - step // 2, 0), 0)


#: Payments between a hub and one counterparty from which the pair keeps a schedule of its own
#: (:func:`_off_payments`).
PARTNER_PAYMENTS = 3


def judge_off_days(hub: np.ndarray, leaf: np.ndarray, ts: np.ndarray, day: np.ndarray,
                   width: int, single: np.ndarray, min_fan: int, max_size: int,
                   min_surprise: float, day_s: float = DAY_S, min_days: int = MIN_DAYS,
                   max_step: int = MAX_STEP, quiet: QuietReader | None = None,
                   log_end: float = np.inf, outgoing: bool = True,
                   counted: np.ndarray | None = None, burst: bool = True) -> list[OffDays]:
    """The test of the module docstring on one side: each row a payment of account ``hub``
    to (or from) ``leaf`` at ``ts`` (epoch s), on ``day`` (``0`` to ``width - 1``), for the
    hubs with at least ``min_days`` distinct days; ``single`` marks the one-shot accounts.
    Where ``quiet`` is given (per counterparty and payment: no other transfer in the
    :data:`QUIET_DAYS` after but the hub paying it again, or it paying the hub again,
    :func:`quiet_reader`; the payments run from ``hub`` to ``leaf`` where ``outgoing``,
    else back), a further pay day whose counterparties stay quiet beyond chance is refused
    (:func:`routine_days`; payments that close to ``log_end`` are not watched).
    ``counted`` (per account, all where None): the hubs judged and charged for here (every
    routine hub is in the reference rate); ``burst``: the span of the off days is a third
    chance. The hubs that beat their count of tests (``-log_chance > log10 tests + log10
    2``) with ``min_fan`` to ``max_size - 1`` members."""
    n_accounts = len(single)
    codes, at = np.unique(hub * width + day, return_inverse=True)
    busy = np.flatnonzero(np.bincount(codes // width, minlength=n_accounts) >= min_days)
    compact = np.full(n_accounts, -1, np.int64)
    compact[busy] = np.arange(len(busy))
    inside = compact[codes // width] >= 0
    payees = None
    if quiet is not None:
        # payees watched for QUIET_DAYS after being paid, those paid that close to the
        # log's end left out (only the busy hubs' are read)
        watch = (compact[hub] >= 0) & (ts + QUIET_DAYS * day_s <= log_end)
        still = np.zeros(len(hub), bool)
        if watch.any():
            payer, payee = (hub, leaf) if outgoing else (leaf, hub)
            still[watch] = quiet(leaf[watch], ts[watch], payer[watch], payee[watch])
        payees = (np.bincount(at, watch, minlength=len(codes))[inside],
                  np.bincount(at, still, minlength=len(codes))[inside])
    codes = codes[inside]
    n, step, residue, on = (np.zeros(n_accounts, np.int64) for _ in range(4))
    n[busy], step[busy], residue[busy], on[busy] = routines(
        compact[codes // width], codes % width, len(busy), max_step)
    judged = np.flatnonzero((n >= min_days) & (step > 0))
    # charged for the (step, day) tried and for the accounts tried: among thousands of
    # accounts paying friends at random, a few hold a progression by chance (review H5,
    # session 21: 8 of 49 days every 26 days, then 39 days "off" it, a false fan-in)
    routine = (log10_sf(on[judged], n[judged], 1.0 / np.maximum(step[judged], 1))
               + np.log10(sum(range(2, max_step + 1)))) + np.log10(max(len(judged), 1))
    keeps = judged[routine <= -min_surprise]
    if not len(keeps):
        return []
    fan_of = np.full(n_accounts, -1, np.int64)
    fan_of[keeps] = np.arange(len(keeps))
    kept = routine_days(codes, width, fan_of, step[keeps], residue[keeps], min_surprise, payees)
    # and a hub keeps its routines only where they hold a day in most of their own slots
    # from its first day to its last (not most of all its days: a ring hub that pays on its
    # weekday every week and launders on three or four other weekdays besides has more days
    # off it than on, review O1, session 22)
    held = 2 * kept.sum(axis=1) >= _routine_slots(codes, width, fan_of, step[keeps], kept)
    keeps, kept = keeps[held], kept[held]
    fan_of[:] = -1
    fan_of[keeps] = np.arange(len(keeps))
    mine_here = np.ones(len(keeps), bool) if counted is None else counted[keeps]
    off_day, off = _off_payments(hub, leaf, day, fan_of, step, kept, n_accounts, width)
    if not (off.any() and mine_here.any()):
        return []
    q, rho = upper_rates(off, n[keeps])
    mine = fan_of[hub] >= 0
    theirs, first_at = np.unique(fan_of[hub[mine]] * n_accounts + leaf[mine],
                                 return_inverse=True)
    paid = np.full(len(theirs), width)
    np.minimum.at(paid, first_at, day[mine])
    since = _reference_from(fan_of[hub[off_day]], day[off_day], step[keeps], width)
    seen = paid >= since[theirs // n_accounts]
    pairs = np.unique(fan_of[hub[off_day]] * n_accounts + leaf[off_day])
    owner, rows_of = pairs // n_accounts, pairs % n_accounts
    k = np.bincount(owner, minlength=len(keeps))
    drawn = seen[np.searchsorted(theirs, pairs)]
    g = np.bincount(owner[single[rows_of] & drawn], minlength=len(keeps))
    k_drawn = np.bincount(owner[drawn], minlength=len(keeps))
    theirs = theirs[seen]
    total = np.bincount(theirs // n_accounts, minlength=len(keeps))
    marked = np.bincount(theirs[single[theirs % n_accounts]] // n_accounts,
                         minlength=len(keeps))
    # independent chances: how many days off its routines, how many of those counterparties
    # are one-shot, and (burst) how close together the days lie
    terms = log10_tail(off, n[keeps], q, rho) + log10_drawn_tail(g, k_drawn, marked, total)
    # the lowest chance a hub could reach, all the one-shot counterparties it has drawn; without
    # the burst, at the most days off it could have and keep its routine (half its days);
    # with it, at all its days (where the span term gives nothing)
    most = np.minimum(n[keeps] // (1 if burst else 2), max_size - 1)
    drawn_most = np.minimum(marked, max_size - 1)
    best = (log10_tail(most, n[keeps], q, rho) + log10_choose(marked, drawn_most)
            - log10_choose(total, drawn_most))
    span = np.full(len(keeps), -1)
    if burst:
        span = _off_span(codes, width, fan_of, step[keeps], kept)
        terms = terms + log10_span_chance(off, span, n[keeps])
        best = best + log10_span_chance(most, most - 1, n[keeps])
    chance = product_of_chances(terms, 3 if burst else 2)
    reachable = np.sort(product_of_chances(best, 3 if burst else 2)[mine_here])
    tests = np.maximum(np.searchsorted(reachable, chance + 1e-9, side="right"), 1)
    strong = np.flatnonzero(mine_here & (-chance > np.log10(tests) + np.log10(2.0))
                            & (k >= min_fan) & (k <= max_size - 1))
    bounds = np.searchsorted(owner, np.arange(len(keeps) + 1))
    return [OffDays(int(keeps[j]), rows_of[bounds[j]:bounds[j + 1]], int(n[keeps[j]]),
                    int(off[j]), int(step[keeps[j]]), float(q[j]), float(rho[j]), int(g[j]),
                    int(marked[j]), int(total[j]), int(since[j]), int(span[j]),
                    float(chance[j]), int(tests[j])) for j in strong]


def _off_payments(hub: np.ndarray, leaf: np.ndarray, day: np.ndarray, fan_of: np.ndarray,
                  step: np.ndarray, kept: np.ndarray, n_accounts: int, width: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Which payments are off their judged hub's routines (``fan_of`` its index, ``kept`` its
    routine slots, :func:`routine_days`), and per judged hub its days holding one.

    A counterparty the hub also pays (or is paid by) on its routine days, or at least
    :data:`PARTNER_PAYMENTS` times, is a partner: its payments off the routine's days keep a
    schedule of their own (a flatmate's rent on its own day of the month, a day or two either
    side), not slips (review R1, session 23: flatmates each paying their landlord's rent on
    their own day, each month, made one landlord and its four flatmates a ring in 2 of 3
    honest worlds, at 1.6e-30 against other routine hubs whose payers fell on their routine
    days). One-off pairs (what the off-schedule test reads) are never partners. What it opens
    (review R11): a hub that pays each of its mules three times or more, or once on its
    routine day, makes them partners, and its laundering days are then not off its routine."""
    mine = fan_of[hub] >= 0
    owner = fan_of[hub[mine]]
    on = kept[owner, day[mine] % step[hub[mine]]].astype(bool)
    pair = owner * n_accounts + leaf[mine]
    _, at, times = np.unique(pair, return_inverse=True, return_counts=True)
    partner = (times >= PARTNER_PAYMENTS)[at] | np.isin(pair, pair[on])
    off_day = mine.copy()
    off_day[mine] = ~on & ~partner
    days = np.unique(owner[off_day[mine]] * width + day[off_day])
    return off_day, np.bincount(days // width, minlength=kept.shape[0])


def off_schedule_fans(transfers: pd.DataFrame, accounts: pd.Index, min_fan: int,
                      max_size: int, min_surprise: float, day_s: float = DAY_S,
                      min_days: int = MIN_DAYS, max_step: int = MAX_STEP) -> list[FlowGroup]:
    """Fans-in and fans-out of the one-off counterparties off their hub's routine (module
    docstring, :func:`judge_off_days` over the days the one-off pairs start):
    ``flow_fan_in`` / ``flow_fan_out`` groups (the hub and those counterparties) whose
    ``log_chance`` is the chance of their days' count against the other hubs
    (beta-binomial), their one-shot lives and their burst, multiplied, and ``tests`` the
    hubs that could have been as unlikely; only those that beat that count (``-log_chance >
    log10 tests + log10 2``)."""
    n_accounts = len(accounts)
    one_off = transfers[(transfers["count"].to_numpy() == 1) & (transfers["ts"].to_numpy() >= 0)]
    if one_off.empty:
        return []
    paid_at = one_off["ts"].to_numpy(np.float64)
    day = np.floor(paid_at / day_s).astype(np.int64)
    day -= day.min()
    ids = np.asarray(accounts.astype(str), dtype=object)
    single = one_shot_accounts(transfers, n_accounts)
    quiet = quiet_reader(transfers, QUIET_DAYS * day_s)
    groups: list[FlowGroup] = []
    for centre, leaf, kind, side in (("src", "dst", "flow_fan_out", "payees"),
                                     ("dst", "src", "flow_fan_in", "payers")):
        for found in judge_off_days(
                one_off[centre].to_numpy(np.int64), one_off[leaf].to_numpy(np.int64), paid_at,
                day, int(day.max()) + 1, single, min_fan, max_size, min_surprise, day_s,
                min_days, max_step, quiet, float(transfers["last"].max()), centre == "src"):
            since = f" from day {found.since} on" if found.since else ""
            groups.append(FlowGroup(
                np.append(found.members, found.hub), kind,
                [f"Hub:{ids[found.hub]}",
                 f"OffSchedule:{len(found.members)} one-off {side} on {found.off} of its "
                 f"{found.n} days off its routine of one day every {found.step}d "
                 f"({found.q:.2%} of the other routine hubs' days are, their spread rho "
                 f"{found.rho:.3f})",
                 f"OffScheduleOneShot:{found.one_shot} of them have no other transfer in the "
                 f"log ({found.marked} of its {found.total} one-off {side}{since} do)",
                 f"OffScheduleBurst:its {found.off} off-routine days lie within "
                 f"{found.span + 1} of its {found.n} days in a row",
                 f"OffScheduleChance:{10.0 ** found.log_chance:.1e} ({found.tests} hubs could "
                 f"be as unlikely)"],
                found.log_chance, found.tests))
    return groups
