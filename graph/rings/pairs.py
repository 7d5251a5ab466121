"""Pairs: two accounts tied by rare entities (devices, cards, IPs few others use).

A pair is a candidate when the two accounts share at least ``min_shared`` entities, each used by
at most ``max_degree`` accounts, unless a candidate group holding both accounts shares each of
those entities through a third member too (then the group is the finding, and the pair adds no
tie of its own). A group that merely holds the pair does not hide it: components and
communities sweep colluding pairs in with the honest households they touch, and such a group is
often explained by chance or trimmed, while the pair's own tie is not; overlapping candidates are
ranked against each other when scored. One shared entity is
never enough under the null model (:mod:`graph.rings.null_model`): a pair picked from the users
of one entity is what chance makes of that entity, so pairs sharing one entity are not even
listed. Whether a listed pair is reported is the null model's call, as for any ring; a pair
whose two accounts first or last used what they share at the same moments gets that
coincidence's chance too (:func:`coincidence_log_chance`): colluders take turns on one device
within minutes, a household's members use the family device at times of their own. Given every
event's time (:func:`event_use_times`), the test counts every episode instead
(:func:`episode_log_chance`): how often the two accounts' uses of what they share fall within a
window of each other, against how often they do with one account's times moved by whole days
(which keeps each account's own rate and hours of the day: a family evening is no coincidence).

**Households.** Members of a household share what the household has (the family device, card
and home address) and couples among them a second device and card too: two of four members
sharing two devices and two cards is what a family does, not collusion, though no configuration
model of each type's uses expects it. A pair whose shared rare entities reach a small set of 3
to :data:`HOUSEHOLD_MAX` accounts, one of them used by all of the set (the family's device,
card or home address: :func:`household_pairs`), is a household's pair, and its sharing is no
evidence: only how its visits meet can make it surprising. Colluders from two homes share only
their ring devices, which no third account uses, and keep the sharing null (a couple holding one
of them is still a household's pair: the colluders' tie is the other pair's).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import scipy.sparse as sp
from scipy.stats import betabinom, poisson

from graph.rings.null_model import log10_choose
from graph.rings.projection import epoch_seconds
from graph.snapshot import ACCOUNT
from graph.snapshot_sql import relation_sources
from ingest.state import IngestState

#: Reads the times of wanted uses: given ``account_id, entity`` rows (entities labelled
#: ``Type:id`` as in :func:`graph.rings.projection.account_entity_incidence`), the ``i, ts``
#: (the wanted row, epoch seconds) of every event of such a use.
UseTimes = Callable[[pd.DataFrame], pd.DataFrame]

#: The most accounts a household holds (:func:`household_pairs`).
HOUSEHOLD_MAX = 5
#: Windows a pair's episodes are tested at (the given one, then each a quarter of the last).
WINDOW_SCALES = 4
#: Whole days one account's times are moved by, each way, to count chance coincidences.
SHIFT_DAYS = 7
_DAY = 86_400
_LN10 = np.log(10.0)
#: A coincidence test's log10 chance is held at or above this (Poisson tails underflow).
_FLOOR = -300.0


def rare_entity_pairs(
    uses: sp.csr_matrix,
    max_degree: int,
    min_shared: int = 2,
    groups: sp.csr_matrix | None = None,
) -> np.ndarray:
    """Account-row pairs ``(a, b)``, ``a < b``, sharing ``min_shared`` or more rare entities.

    Parameters
    ----------
    uses
        Accounts x entities incidence (any positive value = a use).
    max_degree
        Entities used by more accounts than this are not rare and do not tie a pair.
    min_shared
        Rare entities a pair must share.
    groups
        Optional groups x accounts membership; a pair is left out when a group holds both of its
        accounts and a third member of that group uses each rare entity the pair shares.

    Returns
    -------
    numpy.ndarray
        ``(n_pairs, 2)`` int64 array, sorted.
    """
    binary = (uses > 0).astype(np.float64).tocsc()
    degree = np.asarray(binary.getnnz(axis=0))
    rare = np.flatnonzero((degree >= 2) & (degree <= max_degree))
    if len(rare) == 0:
        return np.empty((0, 2), dtype=np.int64)
    restricted = binary[:, rare].tocsr()
    together = sp.triu(restricted @ restricted.T, k=1).tocoo()
    keep = together.data >= min_shared
    pairs = np.column_stack([together.row[keep], together.col[keep]]).astype(np.int64)
    if groups is not None and len(pairs) and groups.shape[0]:
        pairs = pairs[~_covered_by_group(pairs, restricted, groups.tocsr())]
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return pairs[order]


def household_pairs(uses: sp.csr_matrix, a: np.ndarray, b: np.ndarray, ties: np.ndarray | None,
                    max_size: int = HOUSEHOLD_MAX, chunk: int = 250_000) -> np.ndarray:
    """Per pair ``(a[i], b[i])`` (account rows of ``uses``, accounts x entities): whether it is a
    household's pair, its sharing sitting inside a small set of accounts who share among
    themselves.

    Only ``ties`` entities (a boolean per entity: rare ones, not hubs) tie accounts; with
    ``ties`` None, ``uses`` is already the accounts x ties incidence, 1 per use (so that many
    calls restrict it once: :func:`household_ties`). The pair's set is every account its shared
    ties are used by; it is a household's when it holds 3 to ``max_size`` accounts and one of
    the shared ties is used by all of them (the family's device, card or home address). A couple
    in a family of four shares the family's device with the other two and its own tablet with no
    one: its set is the family. Two colluders from two homes share only their ring devices,
    which no third account uses: a set of two, no household (their homes are not the pair's). A
    small ring whose members all use one card or device reads as a household too: its pairs lose
    their sharing evidence and only the ring's own candidate can report it (session 18 review:
    flows seed 29 lost a payment ring of 4 on two cards without labels, whose candidate sits
    under the unlabelled bar). The generator's families show little of what they share (a member
    with a few events may use only the family device): requiring two things shared with the
    others left 4 of the seed-3 couples world's honest couples reported; as it is, two colluders
    whose device one outsider uses too are a household's pair (hreview's growth world: 11 of 50
    such pairs reported, 24 without households). Pairs are taken ``chunk`` at a time.
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    out = np.zeros(len(a), dtype=bool)
    if len(a) == 0:
        return out
    tied = uses.tocsr() if ties is None else household_ties(uses, ties)
    if tied.shape[1] == 0:  # nothing ties accounts: no pair is a household's
        return out
    degree = np.asarray(tied.getnnz(axis=0), np.float64)
    users = tied.T.tocsr()
    for start in range(0, len(a), chunk):
        part = slice(start, start + chunk)
        shared = tied[a[part]].multiply(tied[b[part]]).tocsr()
        reached = np.asarray(((shared @ users) > 0).getnnz(axis=1))
        widest = np.asarray(shared.multiply(degree[None, :]).max(axis=1).todense()).ravel()
        out[part] = (reached >= 3) & (reached <= max_size) & (widest == reached)
    return out


def household_ties(uses: sp.csr_matrix, ties: np.ndarray) -> sp.csr_matrix:
    """The accounts x ``ties`` incidence of ``uses`` (1 per use), for :func:`household_pairs`."""
    return (uses > 0).astype(np.float64).tocsc()[:, np.flatnonzero(ties)].tocsr()


def _covered_by_group(pairs: np.ndarray, rare: sp.csr_matrix, groups: sp.csr_matrix) -> np.ndarray:
    """Per pair: whether some group holds both accounts and uses every rare entity the two
    share through at least three of its members (the pair and a third)."""
    membership = (groups > 0).astype(np.float64)
    by_account = membership.T.tocsr()
    both = by_account[pairs[:, 0]].multiply(by_account[pairs[:, 1]]).tocsr()
    shared = rare[pairs[:, 0]].multiply(rare[pairs[:, 1]]).tocsr()
    group_uses = (membership @ rare).tocsr()
    widely = (group_uses >= 3).astype(np.float64)
    # per (pair, group): the pair's shared entities that the group uses through a third member
    covered = both.multiply(shared @ widely.T).tocsr()
    n_shared = np.asarray(shared.getnnz(axis=1))
    coo = covered.tocoo()
    full = np.zeros(len(pairs), dtype=bool)
    full[coo.row[coo.data >= n_shared[coo.row]]] = True
    return full


class Coincidence(NamedTuple):
    """Per pair: ``log_chance`` (log10, <= 0) of its coincident ``moments`` (distinct moments
    its two accounts' uses of what they share met within the window, ``window_s``)."""

    log_chance: np.ndarray
    moments: np.ndarray
    window_s: np.ndarray


#: the most co-user pairs (``sum_e C(d_e, 2)`` of a set's rarest type) :func:`co_user_pair_counts`
#: lists to count a type set's pairs exactly; above it the count is left to that bound
MAX_LISTED_CO_USERS = 20_000_000


def co_user_pair_counts(
    uses: sp.spmatrix, codes: np.ndarray, counted: np.ndarray, type_sets: np.ndarray,
    limit: float = MAX_LISTED_CO_USERS, chunk: int = 1_000_000,
    kept_pairs: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Per set of entity types (rows of the boolean ``type_sets``, sets x types): the number
    of pairs of accounts that co-use a ``counted`` entity (not a hub) of every type in the set
    (``uses``: accounts x entities, ``codes``: each entity's type); with ``kept_pairs``
    (given account rows ``a, b``: a boolean per pair), a second row: of those, the pairs it
    keeps (shape ``(2, sets)``).

    The pairs co-using the set's rarest type (fewest ``sum_e C(d_e, 2)``) are listed and kept
    where they co-use each other type too, ``chunk`` at a time; ``inf`` for an empty set or
    where that rarest type has more than ``limit`` co-user pairs (the caller falls back to the
    bound).
    """
    n_types = type_sets.shape[1]
    binary = (uses > 0).astype(np.float32).tocsc()
    degree = np.asarray(binary.getnnz(axis=0), np.float64)
    bound = np.bincount(codes[counted], weights=(degree * (degree - 1.0) / 2.0)[counted],
                        minlength=n_types)
    by_type = [binary[:, np.flatnonzero(counted & (codes == t))].tocsr()
               for t in range(n_types)]
    listed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    out = np.full((2, len(type_sets)), np.inf)
    for s, types in enumerate(np.asarray(type_sets, dtype=bool)):
        chosen = np.flatnonzero(types)
        if not len(chosen):
            continue
        first = int(chosen[np.argmin(bound[chosen])])
        if bound[first] > limit:
            continue
        if first not in listed:
            both = sp.triu(by_type[first] @ by_type[first].T, k=1).tocoo()
            listed[first] = (both.row.astype(np.int64), both.col.astype(np.int64))
        a, b = listed[first]
        for t in chosen[chosen != first]:
            kept = np.zeros(len(a), dtype=bool)
            for start in range(0, len(a), chunk):
                part = slice(start, start + chunk)
                kept[part] = by_type[t][a[part]].multiply(by_type[t][b[part]]).getnnz(axis=1) > 0
            a, b = a[kept], b[kept]
        out[0, s] = len(a)
        if kept_pairs is not None:
            out[1, s] = sum(int(kept_pairs(a[start:start + chunk], b[start:start + chunk]).sum())
                            for start in range(0, len(a), chunk))
    return out[0] if kept_pairs is None else out


def coincidence_log_chance(
    edges: pd.DataFrame, a: np.ndarray, b: np.ndarray, shared: sp.csr_matrix, window_s: float,
) -> Coincidence:
    """Per pair ``(a[i], b[i])``: the log10 chance (<= 0) that the two accounts' first and
    last uses of the entities they share (``shared[i]``'s columns) meet within ``window_s`` as
    often as they do, were their times independent, and how many distinct moments they met.

    The uses' endpoints (``edges``: ``row, col, first_ts, last_ts``, one row per use) of the two
    accounts are compared on each shared entity both used at a known time (four comparisons
    each); the comparisons within the window, merged into distinct moments ``c`` (those within
    the window of each other are one), out of ``n`` comparisons have chance about
    ``C(n, c) p^c``, ``p = 2 window / span`` of the snapshot's times. Households use their
    family device at times of their own; a colluding pair switches accounts on it within
    minutes. Times within the window of the snapshot's first or last time do not count: uses
    that began before the log or go on after it all pile up there (two members of a household
    using the family device every evening "first" use it on the log's first evening). Only the
    pairs' own uses are looked up (a sorted search of the edges' keys), so the cost grows with
    the pairs and their shared entities, plus one pass over the edges.

    Raises
    ------
    ValueError
        When ``window_s`` is not positive.
    """
    n_pairs, none, coo = _pairs_start(a, shared, window_s)
    if n_pairs == 0 or coo.nnz == 0 or len(edges) == 0:
        return none
    first = edges["first_ts"].to_numpy(np.int64)
    last = edges["last_ts"].to_numpy(np.int64)
    known = first >= 0
    if not known.any():
        return none
    lo, hi = int(first[known].min()), int(last[known].max())
    span = float(hi - lo)
    p = min(1.0, 2.0 * window_s / max(span, 1.0))
    n_cols = max(int(edges["col"].max()), int(coo.col.max())) + 1
    key = edges["row"].to_numpy(np.int64) * n_cols + edges["col"].to_numpy(np.int64)
    order = None if np.all(key[1:] > key[:-1]) else np.argsort(key, kind="stable")
    sorted_key = key if order is None else key[order]

    def use_of(accounts: np.ndarray) -> np.ndarray:
        """Edge position of each (account, shared column) use, -1 where absent or unknown."""
        wanted = accounts[coo.row].astype(np.int64) * n_cols + coo.col
        at = np.minimum(np.searchsorted(sorted_key, wanted), len(sorted_key) - 1)
        found = sorted_key[at] == wanted
        at = at if order is None else order[at]
        return np.where(found & known[at], at, -1)

    use_a, use_b = use_of(np.asarray(a)), use_of(np.asarray(b))
    both = (use_a >= 0) & (use_b >= 0)
    pair, use_a, use_b = coo.row[both], use_a[both], use_b[both]
    n = 4.0 * np.bincount(pair, minlength=n_pairs)
    ends_a = np.stack([first[use_a], first[use_a], last[use_a], last[use_a]], axis=1)
    ends_b = np.stack([first[use_b], last[use_b], first[use_b], last[use_b]], axis=1)
    inside = ((np.minimum(ends_a, ends_b) - lo > window_s)
              & (hi - np.maximum(ends_a, ends_b) > window_s))
    near = (np.abs(ends_a - ends_b) <= window_s) & inside
    hit_pair = np.broadcast_to(pair[:, None], near.shape)[near]
    hit_t = np.minimum(ends_a, ends_b)[near]
    by_time = np.lexsort((hit_t, hit_pair))
    hit_pair, hit_t = hit_pair[by_time], hit_t[by_time]
    moment = np.ones(len(hit_pair), dtype=bool)
    moment[1:] = (hit_pair[1:] != hit_pair[:-1]) | (np.diff(hit_t) > window_s)
    c = np.bincount(hit_pair[moment], minlength=n_pairs).astype(np.float64)
    return Coincidence(np.minimum(0.0, log10_choose(n, c) + c * np.log10(p)), c,
                       np.full(n_pairs, window_s))


def _pairs_start(a: np.ndarray, shared: sp.csr_matrix, window_s: float
                 ) -> tuple[int, Coincidence, sp.coo_matrix]:
    """A coincidence test's start: the number of pairs, its answer where nothing coincides and
    the pairs' shared entities as COO; ``ValueError`` when ``window_s`` is not positive."""
    if not window_s > 0:
        raise ValueError(f"the coincidence window must be positive seconds, not {window_s!r}")
    n_pairs = len(a)
    none = Coincidence(np.zeros(n_pairs), np.zeros(n_pairs), np.full(n_pairs, window_s))
    return n_pairs, none, shared.tocoo()


def event_use_times(events: Path | str, batch_rows: int = 1_000_000) -> UseTimes:
    """A :data:`UseTimes` reading the canonical events under ``events`` (a Parquet file or
    directory, Hive-partitioned or not): the account, time and entity columns only, the events
    of the wanted accounts only, ``batch_rows`` at a time (memory: one batch and the matches).
    The entity columns are the snapshot's: the built-in ones and those of the entity types the
    ingest declared (its state in ``events``, :func:`graph.snapshot_sql.relation_sources`)."""
    state = IngestState.load(events) if Path(events).is_dir() else IngestState()

    def read(wanted: pd.DataFrame) -> pd.DataFrame:
        found_i: list[np.ndarray] = [np.empty(0, np.int64)]
        found_ts: list[np.ndarray] = [np.empty(0, np.int64)]
        if len(wanted):
            account_ids = wanted["account_id"].astype(str)
            keys = pa.array(account_ids + "\x1f" + wanted["entity"].astype(str))
            dataset = ds.dataset(events, format="parquet", partitioning="hive")
            columns = {source.column: source.node_type for source in relation_sources(state)
                       if source.node_type != ACCOUNT and source.column in dataset.schema.names}
            scanner = dataset.scanner(
                columns=["account_id", "ts", *columns], batch_size=batch_rows,
                filter=pc.field("account_id").isin(pa.array(account_ids.unique())))
            for batch in scanner.to_batches():
                if batch.num_rows == 0:
                    continue
                account = pc.cast(batch.column("account_id"), pa.string())
                ts = epoch_seconds(batch.column("ts").to_pandas())
                for column, dst in columns.items():
                    key = pc.binary_join_element_wise(
                        account, pa.scalar(f"\x1f{dst}:"),
                        pc.cast(batch.column(column), pa.string()), "")
                    at = pc.fill_null(pc.index_in(key, value_set=keys), -1).to_numpy(
                        zero_copy_only=False)
                    hit = at >= 0
                    found_i.append(at[hit].astype(np.int64))
                    found_ts.append(ts[hit])
        return pd.DataFrame({"i": np.concatenate(found_i), "ts": np.concatenate(found_ts)})

    return read


def episode_log_chance(
    use_times: UseTimes, accounts: pd.Index, entities: pd.Index, a: np.ndarray, b: np.ndarray,
    shared: sp.csr_matrix, window_s: float, scales: int = WINDOW_SCALES,
    shift_days: int = SHIFT_DAYS, active: tuple[np.ndarray, np.ndarray] | None = None,
) -> Coincidence:
    """Per pair ``(a[i], b[i])`` (account rows of ``accounts``): the log10 chance (<= 0) that
    its two accounts' visits to the entities they share (``shared[i]``'s columns of
    ``entities``; every time of such a use as ``use_times`` reads it) meet as often as they do
    within a window, and how many moments they met within that window.

    The test is made at ``scales`` windows, ``window_s`` and each a quarter of the one before
    (colluders switch accounts within minutes, a burst of activity meets within the hour), on
    every use, and on each session's start only at the windows between the widest and the
    narrowest (below); the least likely of the ``2 scales - 2`` tries is taken, charged for
    them all (one charge: the pair's timing evidence is that one chance, never a sum of the
    two readings). At each window
    (:func:`_window_log_chance`) an account's uses of what the pair shares within the window
    of each other are one visit; the moments ``c`` (the visits of the account with more of
    them that a visit of the other comes within the window of, each once) are compared with
    the moments the same visits make with one account's times moved by whole days (to other
    days of the pair's calendar, below): their mean, or the count were the visits uniform
    over the calendar's days if more, is the Poisson mean ``m`` of the chance ``P(X >= c)``.
    Moving by whole days keeps both accounts' rates, hours of the day and days of use, so
    two members of a household who both use the family device in the evening meet as often
    moved as not; two colluders who take turns on it within minutes do not.

    The moves go only to days both accounts used what they share (the pair's calendar: the
    days of each account's uses of what it shares with any account, as ``use_times`` reads
    them, and of ``active``'s first and last times, epoch seconds per row of ``accounts``,
    e.g. :func:`graph.rings.activity.account_activity`; the days both have), in calendar
    order: where the calendar holds at most ``2 shift_days + 1`` days, to every other day of
    it once, else ``shift_days`` calendar days each way. Two independent accounts using a
    device on the same few days (a visit, paydays, weekends: a common outside schedule) meet
    on most of them; moved to days neither used it they never met, and such meetings looked rare
    (review R6, session 18: 84-100 % of pairs active on the same 4-5 evenings spread over the
    month at log10 chance <= -2, 4.4-6.6 % when within one week); moved among their common
    days they meet as often. Their days of other activity are not in the calendar: with 20
    private days each on devices of their own, the days both were active anywhere made the
    common evenings a fifth of the calendar and 7-13 % of such pairs <= -2 (review F2,
    session 19). Colluders who meet at the same hour on the days they collude look alike,
    lives of their own or not; meeting within minutes at different hours they stay unlikely.

    Few common days make few moves, and the moves' mean with one meeting added is then at
    least ``1 / (moves + 1)``. Below the widest window, the mean is also bounded by the moves'
    count of the asking and answering *uses* within the widest window of each other (one
    added), scaled to the window (uses spread evenly within the widest window; a count of
    uses, not of sessions met, so as not to understate where the sessions meet anyway):
    colluders active on 6 days who meet within minutes at 6 different hours stay unlikely.

    **Sessions' starts** (an account's first use after a gap of more than ``window_s``): the
    same test on them alone asks whether the two accounts' evenings begin within minutes of
    each other more often than moved, not only whether their uses come near at some point.
    Colluders who take turns through one evening at a time of day that varies within the
    hour (review F2, session 19: 6 evenings within 20-21 h, turns 2 minutes apart) begin
    within 2 minutes every time; moved among their evenings, their 15-minute sessions still
    overlap about half the time, but they begin within 4 minutes about an eighth of it. Not at
    the widest window (the sessions' gap: starts within it are sessions met, every use's
    question) nor the narrowest (uses within a minute of each other are rare moved anyway):
    there they only cost a charge (seed 3's planted pairs 0.675 / 0.685 with them, 0.690 /
    0.705 without, without / with labels; colluders as above the same). Moving
    whole days keeps each account's time of day, so a common habit (both start at 20:30)
    meets as often moved. What it cannot tell apart: a couple at home who take turns on the
    family tablet, one starting minutes after the other, at an evening hour that varies, is
    timed like such colluders, and every use's test already finds such couples unlikely where
    each turn is short or the hour varies through the evening (session 20, benchmarks/README).

    Raises
    ------
    ValueError
        When ``window_s`` is not positive.
    """
    n_pairs, none, coo = _pairs_start(a, shared, window_s)
    if n_pairs == 0 or coo.nnz == 0:
        return none
    # the wanted uses, once each: both accounts' use of every shared entity
    n_cols = len(entities)
    rows = np.concatenate([np.asarray(a)[coo.row], np.asarray(b)[coo.row]]).astype(np.int64)
    use, slot_use = np.unique(rows * n_cols + np.r_[coo.col, coo.col], return_inverse=True)
    people = np.unique(np.r_[np.asarray(a, np.int64), np.asarray(b, np.int64)])
    times = use_times(pd.DataFrame({"account_id": np.asarray(accounts)[use // n_cols],
                                    "entity": np.asarray(entities)[use % n_cols]}))
    i, t = times["i"].to_numpy(np.int64), times["ts"].to_numpy(np.int64)
    i, t = i[t >= 0], t[t >= 0]
    days_of, days = (use // n_cols)[i], t // _DAY
    if len(i) == 0:
        return none
    if active is not None:  # first and last known uses
        for known in active:
            at = known[people]
            valid = (at >= 0) & (at < np.iinfo(np.int64).max)
            days_of, days = np.r_[days_of, people[valid]], np.r_[days, at[valid] // _DAY]
    order = np.lexsort((t, i))
    i, t = i[order], t[order]
    per_use = np.bincount(i, minlength=len(use))
    n_times = per_use[slot_use]
    start = np.r_[0, np.cumsum(per_use)[:-1]][slot_use]
    # each pair's two sides (2 pair + 0 or 1): every time of its account's shared uses
    owner = np.repeat(2 * np.r_[coo.row, coo.row] + np.repeat([0, 1], coo.nnz), n_times)
    nth = np.arange(len(owner)) - np.repeat(np.cumsum(n_times) - n_times, n_times)
    when = t[np.repeat(start, n_times) + nth]
    order = np.lexsort((when, owner))
    owner, when = owner[order], when[order]
    # an account's sessions: its uses with gaps of at most the largest window
    step = np.ones(len(owner), dtype=bool)
    step[1:] = (owner[1:] != owner[:-1]) | (np.diff(when) > window_s)
    session = np.cumsum(step) - 1
    calendar = _pair_calendar(np.asarray(a, np.int64), np.asarray(b, np.int64), days_of, days)
    lo_day = min(int(when.min()) // _DAY, int(calendar[1].min(initial=np.iinfo(np.int64).max)))
    lo = lo_day * _DAY
    found: list[Coincidence] = []
    # every use at every window; each session's start (its first use) between the widest and
    # the narrowest window (the widest still gives the floor of the narrower ones' means)
    starts = np.flatnonzero(step)
    for bounded, (at, at_time, at_session), windows in (
            (False, (owner, when - lo, session), range(scales)),
            (True, (owner[starts], when[starts] - lo, np.arange(len(starts))),
             range(1, scales - 1))):
        widest, wide = _window_log_chance(at, at_time, at_session, n_pairs, window_s,
                                          shift_days, calendar[0], calendar[1] - lo_day,
                                          bounded=bounded)
        found += [widest if k == 0 else _window_log_chance(
            at, at_time, at_session, n_pairs, window_s / 4.0 ** k, shift_days, calendar[0],
            calendar[1] - lo_day, wide / 4.0 ** k, bounded)[0] for k in windows]
    charged = np.array([f.log_chance for f in found]) + np.log10(len(found))
    best = np.argmin(charged, axis=0)
    pick = np.arange(n_pairs)
    return Coincidence(
        np.minimum(0.0, charged[best, pick]),
        np.array([f.moments for f in found])[best, pick],
        np.array([f.window_s for f in found])[best, pick])


def _pair_calendar(a: np.ndarray, b: np.ndarray, days_of: np.ndarray, days: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per pair ``(a[i], b[i])``: the days (``days[j]`` a day of account row ``days_of[j]``'s
    known activity) both accounts were active, as ``(pair, day)`` sorted by pair and day."""
    known = pd.DataFrame({"row": days_of, "day": days}).drop_duplicates()
    pairs = pd.DataFrame({"pair": np.arange(len(a)), "a": a, "b": b})
    both = (pairs.merge(known.rename(columns={"row": "a"}), on="a")
            .merge(known.rename(columns={"row": "b"}), on=["b", "day"])
            .sort_values(["pair", "day"]))
    return both["pair"].to_numpy(np.int64), both["day"].to_numpy(np.int64)


def _window_log_chance(owner: np.ndarray, when: np.ndarray, session: np.ndarray, n_pairs: int,
                       window_s: float, shift_days: int, cal_pair: np.ndarray,
                       cal_day: np.ndarray, wide: np.ndarray | None = None,
                       bounded: bool = False) -> tuple[Coincidence, np.ndarray]:
    """:func:`episode_log_chance` at one window, and per pair the moves' mean count of the
    asking and answering uses within the window of each other (with one added).

    ``owner`` (2 pair + side) and ``when`` (seconds from a midnight, >= 0) are every time of
    each pair's two sides, sorted by owner and time, ``session`` each time's session (an
    account's uses with gaps of at most the largest window, numbered in that order);
    ``(cal_pair, cal_day)`` (days from that midnight, sorted) is each pair's calendar, the days
    both its accounts were active, and the moves take a time to another of them at the same
    time of day. A moment is an answering *session* met: two accounts taking turns on the
    family device through one evening meet once, not once per turn (sessions are what real
    logs hold: counted per visit, one evening of turns scored as unlikely as six separate
    episodes). ``wide``: per pair, that mean of the uses at a wider window, scaled to this one
    (uses spread evenly within the wider window), a floor to the moves' mean where the
    moves are few (accounts active on few days).

    The chance of ``c`` moments is the Poisson tail at that mean, or with ``bounded`` (one
    session per time: sessions' starts) the beta-binomial tail over the answering sessions:
    each met or not, at the mean's rate per session, the rate as uncertain as ``moves x
    sessions`` draws (plus two) make it. Met on every one of few sessions, the Poisson tail
    is far above the binomial (6 of 6 at a mean of 0.75: 1e-4 against 3e-6); the binomial at
    the moves' rate taken as known was loose (independent accounts on the same 4 evenings of
    the month: 0.9 % at log10 <= -2, 1.2 % with lives of their own; this tail 0.2 % and 0.3 %)."""
    n_days = np.bincount(cal_pair, minlength=n_pairs)
    cal_start = np.r_[0, np.cumsum(n_days)[:-1]]
    # one sorted key per time; keys of two sides are more than the window apart
    last_day = max(int(when.max()) // _DAY, int(cal_day.max(initial=0)))
    stride = (last_day + 1) * _DAY + 2 * int(np.ceil(window_s)) + 1
    day_key = cal_pair * stride + cal_day
    # the moves: every other day of a short calendar once, else shift_days each way
    whole = n_days - 1 <= 2 * shift_days
    n_moves = np.where(whole, np.maximum(n_days - 1, 0), 2 * shift_days)

    def mover(pair: np.ndarray, at_time: np.ndarray) -> Callable[[int], np.ndarray]:
        """The times ``at_time`` of pairs ``pair`` by move number (``0``: not moved)."""
        day = at_time // _DAY
        at = np.searchsorted(day_key, pair * stride + day) - cal_start[pair]
        present = (at < n_days[pair]) & (cal_day[np.minimum(
            cal_start[pair] + at, max(len(cal_day) - 1, 0))] == day if len(cal_day) else False)

        def moved(move: int) -> np.ndarray:
            if move == 0 or not len(cal_day):
                return at_time
            step = np.where(whole[pair], move, np.where(move <= shift_days, move,
                                                        shift_days - move))
            to = at + step - ((step > 0) & ~present)
            return at_time + (cal_day[np.minimum(cal_start[pair] + to % np.maximum(
                n_days[pair], 1), len(cal_day) - 1)] - day) * _DAY

        return moved

    visit = np.ones(len(owner), dtype=bool)
    visit[1:] = (owner[1:] != owner[:-1]) | (np.diff(when) > window_s)
    visits = np.bincount(owner[visit], minlength=2 * n_pairs).reshape(n_pairs, 2)
    # the side with fewer visits asks, the other answers
    asks = np.argmin(visits, axis=1)
    if wide is None and shift_days:  # every use asks (the first window only)
        key = owner * stride + when
        uses = (owner % 2) == asks[owner // 2]
        use_pair = owner[uses] // 2
        move_use = mover(use_pair, when[uses])
        answer = (2 * use_pair + 1 - asks[use_pair]) * stride
        near = np.zeros(n_pairs)
        for move in range(1, 2 * shift_days + 1):
            moved_key = answer + move_use(move)
            within = (np.searchsorted(key, moved_key + window_s, side="right")
                      - np.searchsorted(key, moved_key - window_s))
            near += np.bincount(use_pair, within * (move <= n_moves[use_pair]),
                                minlength=n_pairs)
        wide = (near + 1.0) / (n_moves + 1.0)
    elif wide is None:
        wide = np.zeros(n_pairs)
    # a visit lies within one session (its gaps are at most the window <= the largest)
    owner, when, session = owner[visit], when[visit], session[visit]
    session_owner = np.zeros(int(session[-1]) + 1, dtype=np.int64)
    session_owner[session] = owner
    sessions = np.bincount(session_owner, minlength=2 * n_pairs).reshape(n_pairs, 2)
    key = owner * stride + when
    n_ask = visits[np.arange(n_pairs), asks]
    # uniform visits over the calendar: each answering session met this often at most
    n_sessions = sessions[np.arange(n_pairs), 1 - asks]
    expected = n_sessions * np.minimum(1.0, n_ask * 2.0 * window_s
                                       / (np.maximum(n_days, 1) * _DAY))
    asking = (owner % 2) == asks[owner // 2]
    ask_pair = owner[asking] // 2
    move_visit = mover(ask_pair, when[asking])

    def moments(of: np.ndarray, move: int) -> np.ndarray:
        """Per pair: the distinct answering sessions the asking visits ``of`` meet, moved by
        its ``move``-th move (``0``: not moved; a session met twice, or at two of its visits,
        is one moment; nothing where the pair has fewer moves)."""
        pair = ask_pair[of]
        target = (2 * pair + 1 - asks[pair]) * stride + move_visit(move)[of]
        at_key = np.searchsorted(key, target)
        after = np.where(at_key < len(key), key[np.minimum(at_key, len(key) - 1)] - target,
                         stride)
        before = np.where(at_key > 0, target - key[np.maximum(at_key - 1, 0)], stride)
        near = (np.minimum(after, before) <= window_s) & (move <= n_moves[pair])
        met = np.unique(session[np.where(after <= before, at_key, at_key - 1)[near]])
        return np.bincount(session_owner[met] // 2, minlength=n_pairs).astype(np.float64)

    c = moments(np.arange(len(ask_pair)), 0)
    met = c > 0
    log_chance = np.zeros(n_pairs)
    if met.any():
        again = np.flatnonzero(met[ask_pair])
        # one meeting added to the moves' count (a pseudo-count): accounts active on a few days
        # rarely meet in 14 moves even when a chance alignment of their days is not rare, and a
        # mean of 0 floored at uniform made 3 meetings of independent sparse accounts as
        # unlikely as 3e-7 (1 pair in 4,000 of them gained 4 orders or more)
        total = np.sum([moments(again, k) for k in range(1, 2 * shift_days + 1)], axis=0)
        moved = np.minimum((total + 1.0) / (n_moves + 1.0), np.maximum(
            total / np.maximum(n_moves, 1), wide)) if shift_days else expected
        mean = np.maximum(expected, moved)
        if bounded:
            trials = np.maximum(n_sessions[met], c[met])
            rate = np.minimum(mean[met] / trials, 1.0 - 1e-9)
            seen = (np.maximum(n_moves[met], 1) * trials + 2.0)
            tail = betabinom.logsf(c[met] - 1.0, trials, rate * seen, (1.0 - rate) * seen)
        else:
            tail = poisson.logsf(c[met] - 1.0, mean[met])
        log_chance[met] = np.maximum(tail / _LN10, _FLOOR)
    return Coincidence(log_chance, c, np.full(n_pairs, window_s)), wide
