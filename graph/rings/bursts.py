"""Entity arrival bursts: fresh accounts an entity gains far tighter in time than its type does.

The ring null (:mod:`graph.rings.null_model`) takes each entity's degree as given: the users of
one entity are a group by definition and never surprise. So a group that *is* one entity's
accounts is missed: 50 accounts created on one device in three 15-minute bursts, 20-25
history-less accounts rating one seller within a day (the seller has hundreds of honest
reviewers over months), a card shared by 8-13 fresh accounts. What makes them abuse is how the
entity gained its accounts: a burst of *fresh* ones, far tighter in time than the entity's type
gains fresh accounts.

A *fresh arrival* is an account's first use of an entity within ``fresh_s`` of the account's own
first event (:func:`account_first_times`). The null permutes fresh arrivals among the entities
of a type: each entity keeps its number of them, their times are drawn from the type's pooled
fresh-arrival times (the entity's own left out). A launch day (every account arrives at the
log's start), business hours and weekly rhythms are then in the reference and explain
themselves.

The test is multi-scale and conditioned on the enclosing scale, so volume alone surprises
only against the weeks around it (a university NAT gains 1,500 fresh students in an
orientation week; within the week they follow the type's rhythm): for each pair of
neighbouring scales of :data:`SCALES_S` (15 min within 1 h, 1 h within 1 day, 1 day within 7
days, 7 days within 4 weeks), on two grids of small cells
(aligned and shifted by half a cell, so a burst across a cell boundary is whole on one of
them), an entity's ``k`` fresh arrivals in a small cell are judged against the ``N`` it has in
the window of about the large scale *centred* on the cell (``ratio + 1`` cells; a calendar
week cut at the first day of an orientation week held that day's students alone, and they
read as a burst): ``P(Binomial(N, share) >= k)``, ``share`` the cell's part of the type's
pooled arrivals in the window, with :data:`PRIOR` arrivals spread evenly over it (a type whose
other entities gain few fresh accounts, one welcome promo code among four, says little about
when they come). Three allowances keep honest entities' own habits from reading as bursts (an
honest look-alike reported is worse than a ring missed):

* the entity may gain accounts :data:`RATE_SLACK` times as concentrated as its type, and no
  cell's share is under :data:`SHARE_FLOOR` of an even spread (a night hour the type hardly
  gains anyone in is no evidence of its own);
* the first :data:`HOUSEHOLD` arrivals of a cell are free (``k - HOUSEHOLD`` of
  ``N - HOUSEHOLD`` are judged): a family signs up on its laptop together;
* a cell the entity is popular in anyway does not surprise: the share is at least the cell's
  part of the entity's *other* new users (accounts using it first long after their first
  event), ``j / (J + k)`` (``j`` of them in the cell, ``J`` in the window): a flash sale's
  existing customers buying within one hour explain the fresh ones among them; and at least
  its own rhythm's, the cell's place in the entity's arrivals outside the window (the same hour
  of other days, the same weekday of other weeks: ``same / (elsewhere + k)``).

A burst in time is not enough: a store's opening morning, a computer lab's students signing
up on one PC within an hour, a company's onboarding session through the office IP are bursts
of fresh accounts too (the reviewer's R3 / R4, session 23). What tells a farm from a crowd is
the members' lives outside the burst: a farm's accounts live on its device, card or seller
alone, and briefly; the crowd goes on to its own phones, home IPs and other sellers, or comes
back for weeks (a loyalty kiosk's customers, review R10). So a burst is kept only where a
second, independent test beats the bar as well (:func:`_exclusive`): its members use no other
entity of the burst entity's type and are gone within :data:`BRIEF_S` far more often than the
type's fresh arrivals' accounts (drive-by signups that never come back count in that rate);
members too close to the log's end to tell are not judged; the group is cut to the members
that qualify.

Charging, as the project's other own tests do (:mod:`graph.rings.periodic`,
:mod:`graph.rings.anchored`): the test is charged for every small cell, of every entity of
every type and every scale and grid, whose window holds at least ``max(min_size, HOUSEHOLD +
1)`` of the entity's fresh arrivals (:func:`_window_count`; the test is conditioned on that
count, and under it no candidate can be found). A burst is kept when ``-log10 chance - log10
tests - log10 2`` (this test beside the structure null) reaches ``min_surprise``; its members
are the fresh accounts of its cell (not the entity's other users); an entity's several bursts
are one group when they fit in ``max_size`` (one device's accounts created in three sessions).
Snapshots without event times give no bursts.

The largest scale (a week within the 4 weeks around it, session 24) sees a device that gains
50 fresh accounts in three 15-minute sessions on three days (each session a whole hour's and
day's arrivals, so no smaller scale can) and a farm spreading its signups evenly over a week;
the orientation week and a store's opening week are bursts at that scale too, and the second
test below is what keeps them out.

What it cannot see (out of its scope): a farm that spreads its signups over a month at daytime
hours (no cell is tighter than the type's rhythm); a cell of more than ``max_size`` fresh
arrivals (no candidate can hold it: a farm creating 120 accounts on one device within an hour is
seen through its 15-minute cells only, as bursts of at most ``max_size``); farm accounts that
each also use an entity of the type nobody else does (an own second device), and cards when
honest accounts hold one card each (exclusive members are then no evidence); farm accounts that
come back once more than :data:`BRIEF_S` after their first event (a scheduled keep-alive login)
are not brief, so their burst is dropped however tight it was; a burst in the log's last
:data:`BRIEF_S` is never judged (its members cannot be brief yet): a farm created in the last
week of an export waits for the next run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom

from graph.rings.projection import account_rows, epoch_seconds
from graph.snapshot import ACCOUNT, Snapshot

#: The scales (seconds), small to large, each a multiple of the one before: 15 min, 1 h, 1 day,
#: 7 days, 28 days. Each but the last is judged within a window of about the next.
SCALES_S = (900, 3600, 86400, 7 * 86400, 28 * 86400)
#: An entity may gain accounts this many times as concentrated in a cell as its type.
RATE_SLACK = 2.0
#: No cell's share of its window is under this part of an even spread.
SHARE_FLOOR = 0.25
#: A cell's first arrivals that are free (one household signing up together).
HOUSEHOLD = 3
#: A burst's members live briefly: their last event at most this long after their first.
BRIEF_S = 7 * 86400
#: Pseudo-count of the type's pooled arrivals spread evenly over a window (20: at 1.0 the one
#: welcome promo code of a generated world, its type's few other fresh arrivals its reference,
#: read a university's students redeeming it in their orientation week as a burst).
PRIOR = 20.0
_NAMES = {900: "15 min", 3600: "hour", 86400: "day", 7 * 86400: "week", 28 * 86400: "4 weeks"}


@dataclass(frozen=True)
class Burst:
    """One entity's burst of fresh arrivals: the accounts (rows, sorted), the entity (its
    column), the log10 ``chance`` of the test, the ``tests`` it was charged for and what it
    found, as evidence items."""

    rows: np.ndarray
    entity: int
    log_chance: float
    tests: int
    evidence: list[str]


def account_times(snapshot: Snapshot, accounts: pd.Index, uses: pd.DataFrame
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each account's first and last event (epoch s; ``-1`` unknown): the earliest (latest) of
    its ``Account`` node's ``first_ts`` (``last_ts``), when the snapshot has them, and of its
    uses of entities (``uses``: ``row, first_ts, last_ts`` of
    :class:`graph.rings.projection.Incidence`)."""
    big = np.iinfo(np.int64).max
    first = np.full(len(accounts), big, dtype=np.int64)
    last = np.full(len(accounts), -1, dtype=np.int64)
    row = uses["row"].to_numpy(np.int64)
    ts = uses["first_ts"].to_numpy(np.int64)
    known = ts >= 0
    np.minimum.at(first, row[known], ts[known])
    end = uses["last_ts"].to_numpy(np.int64) if "last_ts" in uses else ts
    np.maximum.at(last, row[end >= 0], end[end >= 0])
    nodes = snapshot.nodes.get(ACCOUNT)
    if nodes is not None and len(nodes):
        at = account_rows(accounts, nodes["id"])
        for column, into, combine in (("first_ts", first, np.minimum),
                                      ("last_ts", last, np.maximum)):
            if column in nodes:
                seen = epoch_seconds(nodes[column])
                ok = (at >= 0) & (seen >= 0)
                combine.at(into, at[ok], seen[ok])
    return np.where(first == big, -1, first), last


def entity_bursts(uses: pd.DataFrame, account_first: np.ndarray, codes: np.ndarray,
                  labels: pd.Index, min_size: int, max_size: int, min_surprise: float,
                  fresh_s: float, account_last: np.ndarray | None = None) -> list[Burst]:
    """The bursts of fresh arrivals (module docstring) whose surprise reaches
    ``min_surprise`` (and 0: a search listing every group is no search), one per entity and
    stretch of time (the likeliest of overlapping cells kept), each of ``min_size..max_size``
    accounts; an entity's several bursts one group where they fit in ``max_size``.

    ``uses`` are the account-entity uses (``row, col, first_ts``; epoch s, ``-1`` unknown),
    ``account_first`` and ``account_last`` each account's first and last event
    (:func:`account_times`; without the last ones no member is judged brief: :func:`_exclusive`),
    ``codes`` each entity's type code and ``labels`` its ``"Type:id"`` label."""
    row = uses["row"].to_numpy(np.int64)
    col = uses["col"].to_numpy(np.int64)
    ts = uses["first_ts"].to_numpy(np.int64)
    first = account_first[row] if len(row) else np.zeros(0, np.int64)
    known = (ts >= 0) & (first >= 0)
    if not known.any():
        return []
    fresh = known & (ts - first <= fresh_s)
    least = max(min_size, HOUSEHOLD + 1)
    n_fresh = np.bincount(col[fresh], minlength=len(labels))
    judged = n_fresh[col] >= least
    arrivals = _Arrivals.of(row[fresh], col[fresh], ts[fresh], codes)
    own = fresh & judged
    mine = _Arrivals.of(row[own], col[own], ts[own], codes)
    other = known & ~fresh & judged
    older = _Arrivals.of(row[other], col[other], ts[other], codes)
    cells = [_judge(arrivals, mine, older, codes, n_fresh, small, large, offset, least,
                    max_size)
             for small, large in zip(SCALES_S[:-1], SCALES_S[1:], strict=True)
             for offset in (0, small // 2)]
    tests = max(sum(c.tests for c in cells), 1)
    charge = np.log10(tests) + np.log10(2.0)
    found = [c.strong(charge + max(min_surprise, 0.0)) for c in cells]
    bursts = _select(found, mine, labels, tests, max_size)
    return _exclusive(bursts, row[known], col[known], fresh[known], codes, labels, min_size,
                      max(min_surprise, 0.0), account_first, account_last)


@dataclass(frozen=True)
class _Arrivals:
    """Arrivals (account row, entity column, time, entity type), sorted by entity, then time."""

    row: np.ndarray
    col: np.ndarray
    ts: np.ndarray
    kind: np.ndarray

    @classmethod
    def of(cls, row: np.ndarray, col: np.ndarray, ts: np.ndarray, codes: np.ndarray
           ) -> _Arrivals:
        order = np.lexsort((ts, col))
        return cls(row[order], col[order], ts[order], codes[col[order]])


@dataclass(frozen=True)
class _Cells:
    """The judged small cells of one scale and grid: entity, start (s), width (s), ``k``,
    ``N``, share and log10 chance of each; the large cell's width; ``tests`` charged."""

    col: np.ndarray
    start: np.ndarray
    width: int
    large: int
    k: np.ndarray
    n: np.ndarray
    share: np.ndarray
    log_chance: np.ndarray
    tests: int

    def strong(self, bar: float) -> _Cells:
        """The cells whose ``-log_chance`` reaches ``bar``."""
        keep = -self.log_chance >= bar
        return _Cells(self.col[keep], self.start[keep], self.width, self.large, self.k[keep],
                      self.n[keep], self.share[keep], self.log_chance[keep], self.tests)


def _counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct sorted ``keys`` and how often each occurs."""
    return np.unique(keys, return_counts=True)


def _lookup(keys: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The count of each ``query`` among sorted distinct ``keys`` (0 where absent)."""
    if len(keys) == 0:
        return np.zeros(len(query), np.int64)
    at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[at] == query, counts[at], 0)


def _judge(pool: _Arrivals, mine: _Arrivals, older: _Arrivals, codes: np.ndarray,
           n_fresh: np.ndarray, small: int, large: int, offset: int, least: int,
           max_size: int) -> _Cells:
    """Every entity's small cells of ``least..max_size`` fresh arrivals on the grid of
    ``small`` seconds shifted by ``offset``, each judged within the window of about ``large``
    seconds centred on it (module docstring); ``pool`` holds every fresh arrival (the type's
    reference), ``mine`` those of the entities with at least ``least``, ``older`` their other
    new users; ``codes`` are the entities' types, ``n_fresh`` their numbers of fresh
    arrivals."""
    half = large // small // 2
    base = int(pool.ts.min()) - offset
    base -= base % large
    # the type's pooled arrivals per small cell (dense: few types, a log's cells), summed
    p_small = (pool.ts - offset - base) // small
    span = int(p_small.max()) + 1
    n_types = int(codes.max(initial=0)) + 1
    by_small = np.bincount(pool.kind * span + p_small, minlength=n_types * span).astype(
        np.float64).reshape(n_types, span)
    summed = np.concatenate([np.zeros((n_types, 1)), np.cumsum(by_small, axis=1)], axis=1)
    # the judged entities' own arrivals per small cell, and in the window around it
    cell = (mine.ts - offset - base) // small
    keys = mine.col * span + cell
    tests = _window_count(mine.col, cell, half, least)
    small_keys, k = _counts(keys)
    wanted = (k >= least) & (k <= max_size)
    small_keys, k = small_keys[wanted], k[wanted]
    col, c = small_keys // span, small_keys % span
    lo, hi = np.maximum(c - half, 0), np.minimum(c + half + 1, span)
    n = np.searchsorted(keys, col * span + hi) - np.searchsorted(keys, col * span + lo)
    # the type's share of the cell within the window, its own arrivals left out
    kind = codes[col]
    in_small = np.maximum(by_small[kind, c] - k, 0.0)
    in_window = np.maximum(summed[kind, hi] - summed[kind, lo] - n, 0.0)
    cells = hi - lo
    share = (in_small + PRIOR / cells) / (in_window + PRIOR)
    share = np.maximum(RATE_SLACK * share, SHARE_FLOOR / cells)
    # the entity's other new users in the cell: a popular moment of its own
    # (their cells clipped to one before and one after the pool's, keyed apart per entity)
    wide = span + 2
    o_keys = older.col * wide + np.clip((older.ts - offset - base) // small, -1, span) + 1
    j = (np.searchsorted(o_keys, col * wide + c + 2)
         - np.searchsorted(o_keys, col * wide + c + 1))
    big_j = (np.searchsorted(o_keys, col * wide + hi + 1)
             - np.searchsorted(o_keys, col * wide + lo + 1))
    # the entity's own rhythm: its arrivals at the same place of its other large cells (an
    # hour of other days, a day of other weeks)
    ratio = large // small
    place_keys, at_place = _counts(mine.col * ratio + cell % ratio)
    same = _lookup(place_keys, at_place, col * ratio + c % ratio) - k
    elsewhere = n_fresh[col] - n
    share = np.minimum(np.maximum.reduce([share, j / (big_j + k), same / (elsewhere + k)]), 1.0)
    log_chance = binom.logsf(k - HOUSEHOLD - 1, n - HOUSEHOLD, share) / np.log(10.0)
    return _Cells(col, base + offset + c * small, small, large, k, n, share, log_chance, tests)


def _window_count(col: np.ndarray, cell: np.ndarray, half: int, least: int) -> int:
    """The number of (entity, cell) whose window of cells ``cell - half .. cell + half`` holds
    at least ``least`` of the entity's arrivals (``col``, ``cell``: sorted by entity, then
    cell): the tests that could find a candidate. A window centred on ``x`` holds arrivals
    ``i .. i + least - 1`` when ``cell[i + least - 1] - half <= x <= cell[i] + half``; the
    count is the size of the union of those ranges, per entity."""
    if len(col) < least:
        return 0
    last = np.arange(least - 1, len(col))
    first = last - least + 1
    same = col[first] == col[last]
    begin = cell[last][same] - half
    end = cell[first][same] + half
    owner = col[first][same]
    ok = begin <= end
    begin, end, owner = begin[ok], end[ok], owner[ok]
    if len(begin) == 0:
        return 0
    # both ends rise within an entity: each range adds what lies past the one before
    previous = np.r_[-1, end[:-1]]
    previous[np.r_[True, owner[1:] != owner[:-1]]] = np.iinfo(np.int64).min // 2
    return int(np.sum(np.maximum(end - np.maximum(begin, previous + 1) + 1, 0)))


def _select(found: list[_Cells], mine: _Arrivals, labels: pd.Index, tests: int,
            max_size: int) -> list[Burst]:
    """Per entity, its strong cells from the least likely down, each kept unless it overlaps
    in time one kept before; the members of each are the fresh accounts of the cell. An
    entity's several bursts are one group, of the likeliest one's chance (each is surprising
    alone), when they hold at most ``max_size`` accounts together, else one group each."""
    if not any(len(c.col) for c in found):
        return []
    col = np.concatenate([c.col for c in found])
    start = np.concatenate([c.start for c in found])
    width = np.concatenate([np.full(len(c.col), c.width) for c in found])
    large = np.concatenate([np.full(len(c.col), c.large) for c in found])
    k = np.concatenate([c.k for c in found])
    n = np.concatenate([c.n for c in found])
    share = np.concatenate([c.share for c in found])
    chance = np.concatenate([c.log_chance for c in found])
    parts: dict[int, list[tuple[np.ndarray, float, list[str]]]] = {}
    taken: dict[int, list[tuple[int, int]]] = {}
    for i in np.lexsort((start, chance)).tolist():
        entity, begin, end = int(col[i]), int(start[i]), int(start[i] + width[i])
        if any(begin < stop and first < end for first, stop in taken.get(entity, [])):
            continue
        taken.setdefault(entity, []).append((begin, end))
        lo, hi = np.searchsorted(mine.col, [entity, entity + 1])
        at = lo + np.searchsorted(mine.ts[lo:hi], [begin, end])
        rows = np.unique(mine.row[at[0]:at[1]])
        times = mine.ts[at[0]:at[1]]
        small_name = _NAMES.get(int(width[i]), f"{width[i]} s")
        large_name = _NAMES.get(int(large[i]), f"{large[i]} s")
        parts.setdefault(entity, []).append((rows, float(chance[i]), [
            f"Burst:{labels[entity]}: {len(rows)} new accounts within "
            f"{duration(int(times.max() - times.min()))}, each on its first use of it",
            f"BurstChance:{10.0 ** chance[i]:.1e} ({int(k[i])} of its {int(n[i])} fresh "
            f"arrivals of the {large_name} around it in one {small_name}, where chance puts "
            f"{share[i]:.1%} of them, its type's and its own rhythm and allowances included; "
            f"{tests} windows tested)",
        ]))
    bursts = []
    for entity, found_parts in sorted(parts.items()):
        union = np.unique(np.concatenate([rows for rows, _, _ in found_parts]))
        if len(found_parts) == 1 or len(union) > max_size:
            bursts += [Burst(rows, entity, chance, tests, evidence)
                       for rows, chance, evidence in found_parts]
            continue
        likeliest = max(chance for _, chance, _ in found_parts)
        bursts.append(Burst(union, entity, likeliest, tests, [
            f"Burst:{labels[entity]}: {len(union)} new accounts in {len(found_parts)} bursts, "
            f"each surprising alone (the likeliest: chance {10.0 ** likeliest:.1e})",
            *[item for _, _, evidence in found_parts for item in evidence]]))
    return bursts


def _exclusive(bursts: list[Burst], row: np.ndarray, col: np.ndarray, fresh: np.ndarray,
               codes: np.ndarray, labels: pd.Index, min_size: int, min_surprise: float,
               account_first: np.ndarray, account_last: np.ndarray | None) -> list[Burst]:
    """The bursts whose members live on the burst's entity alone and briefly, beyond chance: a
    member *qualifies* when it uses no other entity of the entity's type in the whole log
    (``row``, ``col``: every use; ``fresh`` marks the fresh arrivals) and its last event is at
    most :data:`BRIEF_S` after its first (``account_first`` / ``account_last``). A farm's
    accounts live on its device, card or seller only, and briefly; a store's opening-day
    customers, a lab's students, a company's new employees go on to their own phones, home IPs
    and other sellers, and a loyalty kiosk's customers come back for weeks. Only accounts
    whose first event is at least :data:`BRIEF_S` before the log's end are judged (the log
    cannot say whether the others stay). With ``p`` the share of the type's judged fresh
    arrivals (the entity's own left out) whose account qualifies (drive-by signups that never
    come back do), ``k`` judged members of which ``x`` qualify have chance
    ``P(Binomial(k, p) >= x)``, charged for every burst judged; a burst is kept when that
    reaches ``min_surprise``, cut to its qualifying members (at least ``min_size``)."""
    if not bursts:
        return []
    n_types = int(codes.max(initial=0)) + 1
    n_accounts = len(account_first)
    kind = codes[col]
    per_type = np.bincount(row * n_types + kind, minlength=n_accounts * n_types)
    end = int(max(account_first.max(initial=-1),
                  -1 if account_last is None else account_last.max(initial=-1)))
    judged = (account_first >= 0) & (account_first <= end - BRIEF_S)
    brief = judged & (np.zeros(n_accounts, dtype=bool) if account_last is None
                      else (account_last >= 0) & (account_last - account_first <= BRIEF_S))
    pool = fresh & judged[row]
    qualifies = pool & (per_type[row * n_types + kind] == 1) & brief[row]
    arrivals = np.bincount(kind[pool], minlength=n_types)
    alone = np.bincount(kind[qualifies], minlength=n_types)
    own = np.bincount(col[pool], minlength=len(labels))
    own_alone = np.bincount(col[qualifies], minlength=len(labels))
    charge = np.log10(len(bursts))
    kept = []
    for burst in bursts:
        t = int(codes[burst.entity])
        members = burst.rows[judged[burst.rows]]
        exclusive = members[(per_type[members * n_types + t] == 1) & brief[members]]
        others = max(int(arrivals[t] - own[burst.entity]), 1)
        # one pseudo-account that qualifies: a type none of whose accounts qualify says little
        p = min((max(int(alone[t] - own_alone[burst.entity]), 0) + 1) / (others + 1), 1.0)
        k, x = len(members), len(exclusive)
        chance = float(binom.logsf(x - 1, k, p) / np.log(10.0)) if x else 0.0
        if -chance - charge < min_surprise or x < min_size:
            continue
        name = str(labels[burst.entity]).split(":", 1)[0]
        kept.append(Burst(exclusive, burst.entity, burst.log_chance, burst.tests, [
            *burst.evidence,
            f"BurstExclusive:{x} of {k} use no other {name} and are gone within "
            f"{BRIEF_S // 86400} days; {p:.0%} of the type's new accounts are (chance "
            f"{10.0 ** chance:.1e}, {len(bursts)} bursts judged)"]))
    return kept


def duration(seconds: int) -> str:
    """``seconds`` as minutes, hours or days."""
    if seconds < 3600:
        return f"{max(seconds, 60) // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
