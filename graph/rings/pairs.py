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
within minutes, a household's members use the family device at times of their own.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graph.rings.null_model import log10_choose


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
    its two accounts' uses of what they share met within the window)."""

    log_chance: np.ndarray
    moments: np.ndarray


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
    if not window_s > 0:
        raise ValueError(f"the coincidence window must be positive seconds, not {window_s!r}")
    n_pairs = len(a)
    none = Coincidence(np.zeros(n_pairs), np.zeros(n_pairs))
    coo = shared.tocoo()
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
    return Coincidence(np.minimum(0.0, log10_choose(n, c) + c * np.log10(p)), c)
