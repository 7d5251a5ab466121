"""Quiet cycles: loops of transfers through accounts too quiet for chance to close them.

A loop of money through accounts that each deal with a counterparty or two is rare in a log
where most payments leave busy accounts for busy accounts; a loop through busy accounts is
not (AMLSim's honest log holds thousands of loops of one-off transfers within 30 days, so
window and topology alone are no evidence, session 18). The null is the directed
configuration model of the log's transfer pairs (``m`` pairs; account ``i`` pays ``o_i``
distinct payees and is paid by ``p_i`` distinct payers): the chance that a given sequence of
``k`` accounts is a directed loop is about ``prod_i o_i p_i / m ** k``, so the expected number
of ``k``-loops at least as quiet as a found one (weight ``w = prod o_i p_i`` at most its own)
is ``E_k(w) = F_k(w) / (k m ** k)``, ``F_k`` the ``k``-fold convolution of the accounts'
weights ``o_i p_i`` (each account weighted by itself) summed up to ``w``: exact on a histogram
of log weights, every loop of the log counted whether the search finds it or not, accounts
repeated included (an upper bound). Its transfers' span is a second, independent reading: each
transfer's time uniform over the overlap of its two accounts' lives (their first to last
transfer), the chance that they lie as close together (:func:`log10_span_chance`; an account
alive only around the loop gives no evidence, so honest accounts that are all active in the
same few days, a generated world's, are not credited: a 3-loop of such accounts within a day
came out at 1M accounts when the log's own spread of times was the null). A loop is
significant when ``E_k(w)`` times that chance, charged for the lengths tried (and 2: the
money null of :mod:`graph.rings.flow_null` judges it too), is at most
``10 ** -min_surprise``, and only where its transfers relay the money
(:func:`log10_relay_chance`): friends settling bills round a loop once in a month, or a group
joining a log for one week's settle-up, are as quiet and as brief (session 20's roommates,
session 22's trips). A loop under the bar whose transfers do not relay is no evidence of its
own: it is returned as an untested group (``log_chance`` 0, a ``QuietLoop:`` item in its
evidence), so that the candidate search describes exactly its accounts and the money null of
:mod:`graph.rings.flow_null` judges it as it judges any cycle the windowed search finds
(without it, AMLSim's out-of-order alert cycles were candidates only inside larger strongly
connected groups of honest hubs: session 27, seed-0 split, 5 of the 13 alerts missed with
labels).

The search finds such loops without listing the log's loops: a loop under the bar can hold
few busy accounts. *Quiet* accounts pay one payee only, so a path through them is fixed;
each transfer into a quiet account is followed along the quiet accounts to the next account
that is not quiet (a *chain*). A loop is then a loop of non-quiet accounts joined by chains,
with at most one direct transfer between two non-quiet accounts, the first account of it the
lowest row among them (each loop found once), held to the weight the loop's length allows, up
to ``CREDIT_CAP`` orders more where the log's spread of times could make up for it; loops of
quiet accounts alone are the cycles of their one payee each. Of loops sharing half their
members or more the most surprising stays (a loop that detours through a busy account
carries no evidence beyond the loop without it).

Session 20, AMLSim 10k: its 40 alert cycles pass through accounts whose one transfer in the
log is the alert's (390 such accounts, none honest) and hubs paying off their routine; the
exact loops of 5 of the 13 rings missed with labels on the seed-0 split were never candidates
(the windowed cycle search of :mod:`graph.rings.flows` finds them inside larger strongly
connected groups of honest hubs); 33 of the 40 alert cycles come out on their weight, 35 with
their span (the other 5 are open in the log: their last transfer never happened). Figures in
benchmarks/README.md.
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graph.rings.communities import group_rows
from graph.rings.flows import FlowGroup
from graph.rings.periodic import DAY_S

#: Width of the histogram of log10 weights the null convolves (orders of magnitude).
BIN = 0.02
#: The longest loop searched (accounts).
MAX_LENGTH = 12
#: The most non-quiet accounts a searched loop holds.
MAX_BUSY = 4
#: The most orders of its span's chance the search lets a loop be heavier by.
CREDIT_CAP = 3.0
#: The longest wait between a loop's hop and the next one (days).
HOP_DAYS = 7.0
#: The most a loop's amount may change at a hop: a fall by this share of the previous hop's
#: amount, or a rise by the same factor.
HOP_LOSS = 0.1


class RelayNull:
    """The amounts' part of :func:`log10_relay_chance`'s null, read once per log: per amount of
    the log, the share of the log's amounts within a factor ``1 / (1 - loss)`` of it, and per
    loop length ``k`` the ``log10`` of their ``(k - 1)``-th powers' mean (the chance that the
    hops after the first stay within the band of the one before, averaged over the first)."""

    def __init__(self, amounts: np.ndarray, loss: float) -> None:
        log_amounts = np.sort(np.log10(np.maximum(amounts, 1e-12)))
        self.width = -np.log10(1.0 - loss)
        low = np.searchsorted(log_amounts, log_amounts - self.width)
        high = np.searchsorted(log_amounts, log_amounts + self.width, side="right")
        self.share = (high - low) / max(len(log_amounts), 1)
        self._log_chance: dict[int, float] = {}

    def log_chance(self, k: int) -> float:
        """``log10`` of the chance that a ``k``-loop's amounts keep within the band."""
        if k not in self._log_chance:
            self._log_chance[k] = float(np.log10(max(np.mean(self.share ** (k - 1)), 1e-300)))
        return self._log_chance[k]


def log10_relay_chance(times: np.ndarray, amounts: np.ndarray, null: RelayNull,
                       hop_s: float, floor: float) -> float | None:
    """``log10`` of the chance that a loop's transfers (in loop order) relay the money: their
    times in cyclic order around the loop, each hop within ``hop_s`` of the one before, and
    each hop's amount within the band of ``null`` (:class:`RelayNull`) around the one before,
    either way (None when they do not: a fee taken, or a little added or rounded up, is still
    a relay). The null: times exchangeable (cyclic order ``1 / (k - 1)!``, credited when no
    two lie within ``floor``), amounts drawn from the log's (:meth:`RelayNull.log_chance`)."""
    k = len(times)
    start = int(np.argmin(times))
    order = np.r_[start:k, 0:start]
    t, a = times[order], amounts[order]
    if np.any(np.diff(t) < 0) or np.any(np.diff(t) > hop_s):
        return None
    step = np.log10(np.maximum(a[1:], 1e-12)) - np.log10(np.maximum(a[:-1], 1e-12))
    if np.any(np.abs(step) > null.width):
        return None
    # times tied within the clock (``floor``) are in any order: no credit for it
    log_order = -float(np.sum(np.log10(np.arange(1, k)))) if np.all(np.diff(t) >= floor) else 0.0
    return log_order + null.log_chance(k)


def pair_degrees(transfers: pd.DataFrame, n_accounts: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Distinct payees and payers of each account and the number of distinct pairs (an
    account paying itself left out)."""
    src = transfers["src"].to_numpy(np.int64)
    dst = transfers["dst"].to_numpy(np.int64)
    keys = np.sort(src[src != dst] * n_accounts + dst[src != dst])
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys
    payees = np.bincount(keys // n_accounts, minlength=n_accounts)
    payers = np.bincount(keys % n_accounts, minlength=n_accounts)
    return payees, payers, len(keys)


class LoopNull:
    """``log10 E_k(w)`` of the module docstring for the log's accounts' weights
    ``o_i p_i`` (only accounts both paying and paid can be on a loop)."""

    def __init__(self, weights: np.ndarray, pairs: int, max_length: int = MAX_LENGTH,
                 width: float = BIN) -> None:
        w = np.asarray(weights, np.float64)
        w = w[w > 0]
        self.width = width
        self.log_pairs = np.log10(max(pairs, 1))
        log_w = np.log10(w) if len(w) else np.zeros(0)
        bins = int(np.floor(log_w.max() / width)) + 1 if len(w) else 1
        base = np.bincount(np.floor(log_w / width).astype(np.int64), weights=w, minlength=bins)
        self.cumulative: dict[int, np.ndarray] = {}
        folded = np.ones(1)
        for k in range(1, max_length + 1):
            # the k-fold convolution, rescaled by m each time (its sums reach m ** k)
            folded = np.convolve(folded, base / max(pairs, 1))
            self.cumulative[k] = np.cumsum(folded)

    def log_expected(self, k: int, log_weight: float) -> float:
        """``log10`` of the expected number of ``k``-loops of log10 weight at most
        ``log_weight`` (the loops whose accounts' binned log weights sum to at most its bin:
        every loop at most as heavy, and some up to ``k`` bins heavier)."""
        cumulative = self.cumulative[k]
        at = min(int(np.floor(log_weight / self.width)), len(cumulative) - 1)
        total = cumulative[at]
        return float(np.log10(total) - np.log10(k)) if total > 0 else -np.inf

    def budget(self, k: int, max_log_chance: float) -> float:
        """The largest log10 weight of a ``k``-loop whose expected count is at most
        ``10 ** max_log_chance`` (-1 when none)."""
        cumulative = self.cumulative[k]
        with np.errstate(divide="ignore"):
            logs = np.log10(cumulative) - np.log10(k)
        ok = np.flatnonzero(logs <= max_log_chance)
        return (int(ok[-1]) + 1) * self.width - 1e-9 if len(ok) else -1.0


def _chains(quiet: np.ndarray, successor: np.ndarray, log_w: np.ndarray, src: np.ndarray,
            dst: np.ndarray, ts: np.ndarray, paid_at: np.ndarray, longest: int, most: float
            ) -> dict[int, list[tuple[int, list[int], float, float, float]]]:
    """Per non-quiet account, its chains: per transfer pair from it into a quiet account, the
    non-quiet account the quiet accounts' one payee each lead to, those quiet accounts, their
    log weight and the first and last of the chain's pairs' first times ``ts`` (``to, path,
    weight, earliest, latest``), where a loop of at most ``longest`` accounts and log weight
    ``most`` could hold them (followed for all pairs at once, step by step; ``paid_at``: per
    quiet account, the first time of its pair to its one payee)."""
    first = np.flatnonzero(~quiet[src] & quiet[dst])
    owner, head, at = src[first], dst[first], dst[first]
    weight = log_w[at]
    early = np.minimum(ts[first], paid_at[at])
    late = np.maximum(ts[first], paid_at[at])
    length = np.ones(len(first), np.int64)
    ends: list[tuple[np.ndarray, ...]] = []
    while len(at):
        after = successor[at]
        ended = (after >= 0) & ~quiet[np.maximum(after, 0)]
        ends.append(tuple(x[ended] for x in (owner, after, head, length, weight, early, late)))
        going = (after >= 0) & ~ended & (length + 2 <= longest)
        owner, head, at, length = owner[going], head[going], after[going], length[going] + 1
        weight = weight[going] + log_w[at]
        early = np.minimum(early[going], paid_at[at])
        late = np.maximum(late[going], paid_at[at])
        going = log_w[owner] + weight <= most
        owner, head, at, weight, length, early, late = (
            x[going] for x in (owner, head, at, weight, length, early, late))
    chains: dict[int, list[tuple[int, list[int], float, float, float]]] = {}
    for owners, to, heads, lengths, weights, earliest, latest in ends:
        total = log_w[owners] + weights + np.where(to == owners, 0.0, log_w[to])
        fits = (total <= most) & (lengths + np.where(to == owners, 1, 2) <= longest)
        for a, b, h, k, w, t0, t1 in zip(*(x[fits].tolist() for x in (
                owners, to, heads, lengths, weights, earliest, latest)), strict=True):
            path = [h]
            while len(path) < k:
                path.append(int(successor[path[-1]]))
            chains.setdefault(a, []).append((b, path, w, t0, t1))
    return chains


class SpanNull:
    """``log10`` of the chance that ``k`` pairs' first times drawn from the log's lie within
    ``span`` of each other: at most ``2 q ** (k - 1)``, ``q`` the largest share of the log's
    pairs whose first time falls in a window of ``2 span`` (the times within ``span`` lie in
    one of the windows of ``2 span`` starting every ``span``, whose shares sum to 2), the span
    at least ``floor`` (the log's clock: a day); ``q`` read on a grid of widths, rounded up."""

    def __init__(self, ts: np.ndarray, floor: float, widths: int = 64) -> None:
        times = np.sort(np.asarray(ts, np.float64))
        self.floor = floor
        full = max(float(times[-1] - times[0]), floor) if len(times) else floor
        self.widths = floor * 2.0 ** (np.arange(widths + 1) / 4.0)
        self.widths = self.widths[: int(np.searchsorted(self.widths, 2.0 * full)) + 1]
        self.share = np.array([
            float((np.searchsorted(times, times + w, side="right") - np.arange(len(times))).max()
                  / len(times)) if len(times) else 1.0
            for w in self.widths])

    def log_chance(self, k: int, span: float) -> float:
        """The bound for ``k`` pairs within ``span`` (s)."""
        at = int(np.searchsorted(self.widths, 2.0 * max(span, self.floor) - 1e-9))
        q = self.share[at] if at < len(self.share) else 1.0
        return float(min(np.log10(2.0) + (k - 1) * np.log10(max(q, 1e-300)), 0.0))


def _quiet_loops(quiet: np.ndarray, successor: np.ndarray, max_length: int) -> list[list[int]]:
    """The loops of quiet accounts alone (each pays one payee: the cycles of that map are its
    strongly connected parts of two accounts or more)."""
    rows = np.flatnonzero(quiet & (successor >= 0))
    rows = rows[quiet[successor[rows]]]
    n = len(quiet)
    graph = sp.csr_matrix((np.ones(len(rows)), (rows, successor[rows])), shape=(n, n))
    _, label = connected_components(graph, directed=True, connection="strong")
    size = np.bincount(label, minlength=n)
    on_loop = np.flatnonzero((size[label] >= 2) & (size[label] <= max_length))
    loops: list[list[int]] = []
    for members in group_rows(label[on_loop]):
        loops.append(on_loop[members].tolist())
    return loops


def lives(transfers: pd.DataFrame, n_accounts: int) -> tuple[np.ndarray, np.ndarray]:
    """Each account's first and last transfer time, either side (epoch s; +inf / -inf for
    an account without transfers)."""
    src = transfers["src"].to_numpy(np.int64)
    dst = transfers["dst"].to_numpy(np.int64)
    first = np.full(n_accounts, np.inf)
    last = np.full(n_accounts, -np.inf)
    for side in (src, dst):
        np.minimum.at(first, side, transfers["ts"].to_numpy(np.float64))
        np.maximum.at(last, side, transfers["last"].to_numpy(np.float64))
    return first, last


def log10_span_chance(times: np.ndarray, overlap: np.ndarray, floor: float) -> float:
    """``log10`` of the chance that transfers at ``times`` lie as close together as they do
    (span ``S``, at least ``floor``), each uniform over the ``overlap`` of its two accounts'
    lives (at least ``floor``): the times within ``S`` lie in one of the windows of ``2 S``
    starting every ``S``, each transfer in one with chance at most ``f = min(1, 2 S /
    overlap)``, and summed over the windows the transfer whose ``f`` is largest counts 2, so
    at most ``2 prod f`` over the others. An account alive only around the loop (opened for
    it, or with no other transfer) gives no evidence: its transfers' ``f`` is 1."""
    span = max(float(np.max(times) - np.min(times)), floor)
    f = np.minimum(1.0, 2.0 * span / np.maximum(overlap, floor))
    logs = np.log10(f)
    return float(min(np.log10(2.0) + logs.sum() - logs.max(), 0.0))


def quiet_cycles(transfers: pd.DataFrame, n_accounts: int, min_size: int, max_size: int,
                 min_surprise: float, max_length: int = MAX_LENGTH, max_busy: int = MAX_BUSY,
                 day_s: float = DAY_S, credit_cap: float = CREDIT_CAP) -> list[FlowGroup]:
    """``flow_cycle`` groups of the loops the null finds significant (module docstring),
    ``min_size`` to ``min(max_size, max_length)`` accounts, with their ``log_chance`` (the
    expected count of loops as quiet, times the chance of their transfers' span given their
    accounts' lives, :func:`log10_span_chance`, and of their relay) and ``tests`` (the lengths
    tried), then the loops as quiet and brief whose transfers do not relay the money, as
    untested groups (``log_chance`` 0: the module docstring); the search
    follows loops up to ``credit_cap`` orders heavier than the weight alone allows where the
    log's spread of times (:class:`SpanNull`) lets their span make up for it."""
    longest = min(max_size, max_length)
    if transfers.empty or longest < min_size:
        return []
    payees, payers, pairs = pair_degrees(transfers, n_accounts)
    weight = payees.astype(np.float64) * payers
    null = LoopNull(weight, pairs, longest)
    tests = longest - min_size + 1
    bar = -min_surprise - np.log10(tests) - np.log10(2.0)
    budget = {k: null.budget(k, bar) for k in range(min_size, longest + 1)}
    most = max(budget.values())
    if most + credit_cap < 0:
        return []
    log_w = np.log10(np.maximum(weight, 1.0))
    src = transfers["src"].to_numpy(np.int64)
    dst = transfers["dst"].to_numpy(np.int64)
    ts = transfers["ts"].to_numpy(np.float64)
    keep = (src != dst) & (weight[src] > 0) & (weight[dst] > 0)
    amount = transfers["amount"].to_numpy(np.float64)[keep]
    src, dst, ts = src[keep], dst[keep], ts[keep]
    relays = RelayNull(amount, HOP_LOSS)
    spans = SpanNull(ts, day_s)
    quiet = (payees == 1) & (payers > 0)
    successor = np.full(n_accounts, -1, np.int64)
    successor[src[quiet[src]]] = dst[quiet[src]]
    found: list[tuple[float, list[int], float]] = []
    unrelayed: list[tuple[float, list[int], float]] = []

    widths = spans.widths.tolist()
    credit = [min(credit_cap, -spans.log_chance(longest, w / 2.0)) for w in widths]

    def heavy(weight_so_far: float, first: float, last: float) -> bool:
        """Whether a path this heavy, its times so, may not go on (the log's spread of times
        could not make up for it)."""
        if weight_so_far <= most:
            return False
        at = bisect_left(widths, 2.0 * max(last - first, day_s) - 1e-9)
        return at >= len(credit) or weight_so_far > most + credit[at]

    born, dies = lives(transfers, n_accounts)
    pair_keys = src * n_accounts + dst
    by_key = np.argsort(pair_keys, kind="stable")

    def judge(loop: list[int], total: float, first: float, last: float) -> None:
        k = len(loop)
        if not min_size <= k <= longest:
            return
        log_chance = null.log_expected(k, total)
        if log_chance > bar + credit_cap:
            return
        rows = np.array(loop, np.int64)
        ends = np.roll(rows, -1)
        at = by_key[np.searchsorted(pair_keys[by_key], rows * n_accounts + ends)]
        overlap = np.minimum(dies[rows], dies[ends]) - np.maximum(born[rows], born[ends])
        log_chance += log10_span_chance(ts[at], overlap, day_s)
        relay = log10_relay_chance(ts[at], amount[at], relays, HOP_DAYS * day_s, day_s)
        if relay is not None:
            log_chance += relay
        if log_chance <= bar:
            (found if relay is not None else unrelayed).append((log_chance, loop, last - first))

    paid_at = np.zeros(n_accounts)
    paid_at[src[quiet[src]]] = ts[quiet[src]]
    for loop in _quiet_loops(quiet, successor, longest):
        judge(loop, float(log_w[loop].sum()), float(paid_at[loop].min()),
              float(paid_at[loop].max()))
    chains = _chains(quiet, successor, log_w, src, dst, ts, paid_at, longest, most + credit_cap)
    has_chain = np.zeros(n_accounts, bool)
    has_chain[list(chains)] = True
    # direct transfers between non-quiet accounts: into one a chain leaves (to go on), or
    # back to a loop's first account (its such payers, read when it starts a search)
    busy = ~quiet[src] & ~quiet[dst] & (log_w[src] + log_w[dst] <= most + credit_cap)
    onward = busy & has_chain[dst]
    direct: dict[int, list[tuple[int, float]]] = {}
    for x, y, t in zip(src[onward].tolist(), dst[onward].tolist(), ts[onward].tolist(),
                       strict=True):
        direct.setdefault(x, []).append((y, t))
    order = np.argsort(dst[busy], kind="stable")
    payer_of, paid, paid_ts = src[busy][order], dst[busy][order], ts[busy][order]
    for start in sorted({*chains, *direct}):
        lo, hi = np.searchsorted(paid, [start, start + 1])
        closing = dict(zip(payer_of[lo:hi].tolist(), paid_ts[lo:hi].tolist(), strict=True))
        stack = [(start, [start], float(log_w[start]), np.inf, -np.inf, False, 1)]
        while stack:
            at, members, total, t0, t1, used, hubs = stack.pop()
            if not used and at != start and at in closing:
                t = closing[at]
                judge(members, total, min(t0, t), max(t1, t))
            for y, path, w, c0, c1 in chains.get(at, ()):
                f0, f1 = min(t0, c0), max(t1, c1)
                if y == start:
                    judge(members + path, total + w, f0, f1)
                elif not (y < start or hubs >= max_busy or y in members
                          or len(members) + len(path) >= longest
                          or heavy(total + w + log_w[y], f0, f1)):
                    stack.append((y, [*members, *path, y], total + w + float(log_w[y]), f0, f1,
                                  used, hubs + 1))
            if used or hubs >= max_busy:
                continue
            for y, t in direct.get(at, ()):
                f0, f1 = min(t0, t), max(t1, t)
                if not (y <= start or y in members or heavy(total + log_w[y], f0, f1)):
                    stack.append((y, [*members, y], total + float(log_w[y]), f0, f1, True,
                                  hubs + 1))
    groups: list[FlowGroup] = []
    taken = np.zeros(n_accounts, np.int64)
    # the relays first: a loop sharing half its members with one is that loop's detour
    for relayed, loops in ((True, found), (False, unrelayed)):
        for log_chance, loop, span in sorted(loops, key=lambda x: x[0]):
            rows = np.array(loop, np.int64)
            if 2 * int(np.count_nonzero(taken[rows])) >= len(rows):
                continue
            taken[rows] = 1
            shape = (f"a loop of {len(rows)} accounts whose payees x payers multiply to "
                     f"1e{float(log_w[rows].sum()):.1f}, its transfers within "
                     f"{span / day_s:.0f} days")
            groups.append(FlowGroup(
                np.sort(rows), "flow_cycle",
                [f"QuietCycle:{shape}; {10.0 ** log_chance:.1e} such loops expected among the "
                 f"log's {pairs} pairs"], min(log_chance, 0.0), tests) if relayed else FlowGroup(
                np.sort(rows), "flow_cycle",
                [f"QuietLoop:{shape}, not relaying the money: no test of its own"]))
    return groups
