"""Money-flow ring shapes: fan-in / fan-out stars and cycles of one-off transfers.

Laundering rings move money in few, one-off transfers (a pair that transacts at most
``max_pair_count`` times) between accounts that do little else, while ordinary payers repeat
transfers with the same counterparties; mule chains, on the contrary, repeat one route while
ordinary payers pay most counterparties once. So the shapes are searched in each tier of pair
counts (:func:`pair_count_tiers`). Two shapes:

* stars: an account with at least ``min_fan`` one-off counterparties in one direction that are
  themselves not hubs (at most ``leaf_max_degree`` distinct counterparties); the star is the
  centre plus those leaves; and *burst stars*: at least ``min_fan`` of an account's pairs in
  one direction starting together (each within ``burst_s`` of the one before), to or from
  counterparties with up to ``burst_leaf_max_degree`` counterparties, one of them over
  ``leaf_max_degree`` (recruited mules with lives of their own, whom the star leaves out);
* cycles: strongly connected groups of one-off transfers made within one ``window_s`` window
  (windows start every third of a window, so any group whose transfers span at most two thirds of
  a window falls inside one); oversized groups are split by Leiden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graph.rings.communities import group_rows, induced, split_communities
from graph.rings.projection import FLOW_RELATION, account_rows, epoch_seconds
from graph.snapshot import Snapshot

#: Pairs of one account starting within this many seconds of each other are one burst
#: (:func:`burst_stars`): planted fans start their pairs within minutes, a payroll within hours.
BURST_S = 1800.0
#: Most counterparties a burst star's leaf may have (:func:`burst_stars`).
BURST_LEAF_MAX_DEGREE = 60
#: Largest ratio of a burst star's pair amounts (:func:`burst_stars`): planted fans pay
#: within 25 % of each other.
BURST_MAX_RATIO = 1.5
#: Pairs of one account paid again, all together, at least this many seconds after their first
#: payments are a routine file, not a fan (:func:`routine_files`): a week, the shortest pay
#: period; planted fans repeat within their 1-7 day lives.
ROUTINE_PERIOD_S = 7 * 86400.0


@dataclass
class FlowGroup:
    """Accounts (row indices) tied by a flow shape; ``kind`` is ``flow_fan_in``,
    ``flow_fan_out``, ``flow_cycle``, ``flow_periodic_fan`` or one of
    :data:`graph.rings.typologies.TYPOLOGY_KINDS`;
    ``evidence`` says what ties them (the typology search fills it); ``log_chance`` is the
    log10 chance of the test that found the shape, where its search judged it (0: none; a
    periodic fan's schedule, :mod:`graph.rings.periodic`), and ``tests`` how many such tests
    that search made (what the shape's surprise is charged for)."""

    rows: np.ndarray
    kind: str
    evidence: list[str] = field(default_factory=list)
    log_chance: float = 0.0
    tests: int = 1


def transfer_table(snapshot: Snapshot, accounts: pd.Index) -> pd.DataFrame:
    """Transfers as ``src, dst`` (row indices), ``count``, ``ts`` and ``last`` (first and last
    transfer, epoch s) and ``amount`` (mean per transfer, ``amount_sum / count``; 0 where
    unknown)."""
    edges = snapshot.edges.get(FLOW_RELATION)
    if edges is None or len(edges) == 0:
        empty = pd.DataFrame({"src": [], "dst": [], "count": [], "ts": [], "last": []},
                             dtype=np.int64)
        return empty.assign(amount=np.zeros(0))
    table = pd.DataFrame(
        {
            "src": account_rows(accounts, edges["src"]),
            "dst": account_rows(accounts, edges["dst"]),
            "count": edges["count"].to_numpy(np.int64),
            "ts": epoch_seconds(edges["first_ts"]),
            "last": epoch_seconds(edges["last_ts"]),
            "amount": mean_amount(edges),
        }
    )
    keep = (table["src"] >= 0) & (table["dst"] >= 0) & (table["src"] != table["dst"])
    return table[keep].reset_index(drop=True)


def mean_amount(edges: pd.DataFrame) -> np.ndarray:
    """Mean amount per event of each pair of an edge table (``amount_sum / count``; 0 where
    the amount is unknown)."""
    total = pd.to_numeric(edges["amount_sum"], errors="coerce").fillna(0.0).to_numpy(np.float64)
    return total / np.maximum(edges["count"].to_numpy(np.float64), 1.0)


def counterparty_degree(transfers: pd.DataFrame, n_accounts: int) -> np.ndarray:
    """Distinct counterparties of each account, either direction (an account paying itself
    counts itself twice, once per end)."""
    src = transfers["src"].to_numpy(np.int64)
    dst = transfers["dst"].to_numpy(np.int64)
    # a pair's two directions and its repeats merge into one entry of a boolean matrix (a bucket
    # sort on the row: np.unique(axis=0) of the pairs sorted them lexicographically, ~15x the
    # CPU at 200k accounts)
    linked = sp.csr_matrix((np.ones(2 * len(src), dtype=bool),
                            (np.concatenate([src, dst]), np.concatenate([dst, src]))),
                           shape=(n_accounts, n_accounts))
    return np.diff(linked.indptr) + linked.diagonal().astype(np.int64)


def pair_count_tiers(max_pair_count: int) -> list[tuple[int, int | None]]:
    """The ``(min, max)`` pair-count ranges flow shapes are searched in: single transfers,
    one-off transfers (at most ``max_pair_count``) and repeated transfers (2 or more; no upper
    bound). Rings either move money once per pair (laundering layers) or repeat the same route
    (mule chains run several times), and ordinary payers dominate whichever tier a ring is not in.
    """
    tiers: list[tuple[int, int | None]] = [(1, 1), (1, max_pair_count), (2, None)]
    return list(dict.fromkeys(tiers))


def _in_tier(transfers: pd.DataFrame, min_pair_count: int, max_pair_count: int | None
             ) -> pd.DataFrame:
    """Transfers of pairs that transacted ``min_pair_count..max_pair_count`` times."""
    count = transfers["count"]
    keep = count >= min_pair_count
    if max_pair_count is not None:
        keep &= count <= max_pair_count
    return transfers[keep]


def fan_stars(
    transfers: pd.DataFrame,
    n_accounts: int,
    max_pair_count: int | None,
    leaf_max_degree: int,
    min_fan: int,
    max_size: int,
    min_pair_count: int = 1,
    burst_s: float = BURST_S,
    burst_leaf_max_degree: int = BURST_LEAF_MAX_DEGREE,
) -> list[FlowGroup]:
    """Fan-in and fan-out stars of transfers (of pairs transacting ``min_pair_count`` to
    ``max_pair_count`` times; None = no upper bound) to or from non-hub leaves, and burst stars
    (:func:`burst_stars`; left out where ``burst_s`` is 0 or the log's clock ticks coarser,
    :func:`clock_step`). Where bursts are judged, pairs of a routine file
    (:func:`routine_files`) are no spokes: an honest payroll of 6 staff paid twice within 5
    minutes, 14 days apart, in amounts within 1.3x, was a significant fan-out (a star of quiet
    staff, a burst star of busy ones) on the seed-3 flows world: 40 of 40 such payrolls
    reported without labels with quiet staff, 19 of 40 with busy staff, 3 of 40 of these
    with labels."""
    degree = counterparty_degree(transfers, n_accounts)
    one_off = _in_tier(transfers, min_pair_count, max_pair_count)
    groups: list[FlowGroup] = []
    # a log whose clock ticks coarser than a burst (AMLSim's whole days) starts every pair of
    # an account's day together; one with a single time tells no burst
    bursts = 0 < clock_step(transfers["ts"].to_numpy()) <= burst_s
    for kind, centre, leaf in (("flow_fan_in", "dst", "src"), ("flow_fan_out", "src", "dst")):
        tier = one_off[~routine_files(one_off, centre, burst_s)] if bursts else one_off
        spokes = tier[degree[tier[leaf].to_numpy()] <= leaf_max_degree]
        spokes = spokes.drop_duplicates([centre, leaf])
        centres = spokes[centre].to_numpy()
        leaves = spokes[leaf].to_numpy()
        for idx in group_rows(centres):
            if min_fan <= len(idx) <= max_size - 1:
                groups.append(FlowGroup(np.append(leaves[idx], centres[idx[0]]), kind))
        if bursts:
            groups += burst_stars(tier, degree, kind, centre, leaf, leaf_max_degree,
                                  burst_leaf_max_degree, burst_s, min_fan, max_size)
    return groups


def clock_step(ts: np.ndarray) -> int:
    """The tick of a log's clock: the greatest common divisor of its known times (epoch s,
    ``>= 0``) from the first of them; 0 for fewer than two distinct times. AMLSim's transfers
    fall on whole days (86,400), a log with times to the second ticks every second (1)."""
    known = np.asarray(ts, np.int64)
    known = known[known >= 0]
    if len(known) < 2:
        return 0
    return int(np.gcd.reduce(known - known.min()))


def burst_stars(pairs: pd.DataFrame, degree: np.ndarray, kind: str, centre: str, leaf: str,
                leaf_max_degree: int, burst_leaf_max_degree: int, burst_s: float,
                min_fan: int, max_size: int, max_ratio: float = BURST_MAX_RATIO
                ) -> list[FlowGroup]:
    """Stars of pairs starting together: per ``centre`` account, its ``pairs`` (one per
    counterparty) to leaves with at most ``burst_leaf_max_degree`` counterparties, cut where
    one pair starts more than ``burst_s`` after the one before; a burst of ``min_fan`` to
    ``max_size - 1`` leaves, one of them with more than ``leaf_max_degree`` counterparties (the
    star of :func:`fan_stars` holds the others), whose pairs' mean amounts are known and within
    ``max_ratio`` of each other, is a group of ``kind``. The whole burst is the group (no
    subset of it is picked by amount), so what the null model finds in its amounts is not
    of the search's making; an account paying a few busy payees in one sitting, in amounts
    apart (a median ratio of 4 between the largest and the smallest on the generated seed-3
    flows world), makes none (1,900 of 2,000 such bursts there, none of them abusive).

    Recruited mules keep their own lives, so their counterparties outnumber the star's cap: a
    fan-in of 4 senders paying within 5 minutes in amounts within 4 % of each other, two of
    them with 12 counterparties, had no candidate (generated flows seed 43; seed 41 likewise
    lost 2 of a fan-in's 5 senders, of 16 and 29 counterparties)."""
    leaf_degree = degree[pairs[leaf].to_numpy()]
    spokes = pairs[(leaf_degree <= burst_leaf_max_degree) & (pairs["ts"].to_numpy() >= 0)]
    # only centres with min_fan spokes, one of them to a busy leaf, can have a burst star
    at = spokes[centre].to_numpy()
    busy_at = at[degree[spokes[leaf].to_numpy()] > leaf_max_degree]
    hopeful = (np.bincount(at, minlength=len(degree)) >= min_fan) & (
        np.bincount(busy_at, minlength=len(degree)) > 0)
    spokes = spokes[hopeful[at]].drop_duplicates([centre, leaf])
    order = np.lexsort((spokes["ts"].to_numpy(), spokes[centre].to_numpy()))
    centres = spokes[centre].to_numpy()[order]
    leaves = spokes[leaf].to_numpy()[order]
    ts = spokes["ts"].to_numpy(np.float64)[order]
    if len(ts) == 0:
        return []
    cut = np.r_[True, (centres[1:] != centres[:-1]) | (np.diff(ts) > burst_s)]
    burst = np.cumsum(cut) - 1
    size = np.bincount(burst)
    busy = np.bincount(burst, weights=degree[leaves] > leaf_max_degree, minlength=len(size))
    amount = spokes["amount"].to_numpy(np.float64)[order]
    low = np.full(len(size), np.inf)
    high = np.zeros(len(size))
    np.minimum.at(low, burst, amount)
    np.maximum.at(high, burst, amount)
    chosen = ((size >= min_fan) & (size <= max_size - 1) & (busy > 0)
              & (high <= max_ratio * low) & (low > 0))
    groups: list[FlowGroup] = []
    for idx in group_rows(burst[chosen[burst]]):
        rows = np.flatnonzero(chosen[burst])[idx]
        groups.append(FlowGroup(np.append(leaves[rows], centres[rows[0]]), kind))
    return groups


def routine_files(pairs: pd.DataFrame, centre: str, burst_s: float) -> np.ndarray:
    """Mask of the ``pairs`` in a *routine file*: per ``centre`` account, two or more pairs
    each paid again (``count`` at least 2) :data:`ROUTINE_PERIOD_S` or more after its first
    payment, their first payments starting together (each within ``burst_s`` of the one
    before) and their last ones lying as close together (within ``burst_s`` more): a
    payroll, the same staff paid again each period, is a routine, not a fan (review F5,
    session 19)."""
    ts = pairs["ts"].to_numpy(np.float64)
    last = pairs["last"].to_numpy(np.float64)
    again = np.flatnonzero((pairs["count"].to_numpy() >= 2) & (ts >= 0)
                           & (last - ts >= ROUTINE_PERIOD_S))
    mask = np.zeros(len(pairs), dtype=bool)
    if len(again) < 2:
        return mask
    centres = pairs[centre].to_numpy()[again]
    order = np.lexsort((ts[again], centres))
    rows, centres, first, final = again[order], centres[order], ts[again][order], last[again][order]
    chain = np.cumsum(np.r_[True, (centres[1:] != centres[:-1]) | (np.diff(first) > burst_s)]) - 1
    spread = []
    for values in (first, final):
        low = np.full(chain[-1] + 1, np.inf)
        high = np.full(chain[-1] + 1, -np.inf)
        np.minimum.at(low, chain, values)
        np.maximum.at(high, chain, values)
        spread.append(high - low)
    files = (np.bincount(chain) >= 2) & (spread[1] <= spread[0] + burst_s)
    mask[rows[files[chain]]] = True
    return mask


def windowed_cycles(
    transfers: pd.DataFrame,
    n_accounts: int,
    max_pair_count: int | None,
    window_s: float,
    min_size: int,
    max_size: int,
    seed: int = 0,
    min_pair_count: int = 1,
) -> list[FlowGroup]:
    """Strongly connected groups of transfers (of pairs transacting ``min_pair_count`` to
    ``max_pair_count`` times; None = no upper bound) made inside one time window."""
    one_off = _in_tier(transfers, min_pair_count, max_pair_count)
    one_off = one_off[one_off["ts"] >= 0]
    if one_off.empty:
        return []
    ts = one_off["ts"].to_numpy()
    src, dst = one_off["src"].to_numpy(), one_off["dst"].to_numpy()
    groups: list[FlowGroup] = []
    seen: set[bytes] = set()
    position = np.full(n_accounts, -1, dtype=np.int64)
    for start in np.arange(ts.min(), ts.max() + 1, window_s / 3):
        inside = (ts >= start) & (ts < start + window_s)
        if inside.sum() < min_size:
            continue
        graph = sp.csr_matrix(
            (np.ones(inside.sum()), (src[inside], dst[inside])), shape=(n_accounts, n_accounts)
        )
        _, labels = connected_components(graph, directed=True, connection="strong")
        sizes = np.bincount(labels)
        in_group = np.flatnonzero(sizes[labels] >= min_size)
        for local in group_rows(labels[in_group]):
            rows = in_group[local]
            parts = [rows]
            if len(rows) > max_size:
                sub = induced(graph, rows, position)
                parts = [rows[p] for p in split_communities(sub + sub.T, min_size, max_size,
                                                            seed=seed)]
            for part in parts:
                key = np.sort(part).tobytes()
                if key not in seen:
                    seen.add(key)
                    groups.append(FlowGroup(np.sort(part), "flow_cycle"))
    return groups
