"""Activity: when accounts and entities were in use, from their uses' first and last times.

One reading of the account x entity uses (``row, col, first_ts, last_ts``; epoch s, ``-1``
unknown) for every test that needs an account's or an entity's life: the money null's lives
(:class:`graph.rings.flow_null.Lives`), the pair test's ``active`` days
(:func:`graph.rings.pairs.episode_log_chance`) and the places' living accounts and lasting
machines (:mod:`graph.rings.places`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The bounds of an owner without a known use: first after last.
NO_FIRST = np.iinfo(np.int64).max
NO_LAST = np.iinfo(np.int64).min


def use_bounds(owner: np.ndarray, first_ts: np.ndarray, last_ts: np.ndarray, n: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per owner ``0 .. n - 1`` (``owner``: each use's account row or entity column): the
    first and last time of its uses with a known start (``first_ts``, ``last_ts`` per use,
    epoch s, ``-1`` unknown; a use ends no earlier than it starts), as int64; an owner
    without one gets :data:`NO_FIRST` and :data:`NO_LAST` (first after last)."""
    begun = np.asarray(first_ts, dtype=np.int64)
    known = begun >= 0
    owner = np.asarray(owner, dtype=np.int64)[known]
    first = np.full(n, NO_FIRST, dtype=np.int64)
    last = np.full(n, NO_LAST, dtype=np.int64)
    np.minimum.at(first, owner, begun[known])
    np.maximum.at(last, owner, np.maximum(np.asarray(last_ts, dtype=np.int64)[known],
                                          begun[known]))
    return first, last


def account_activity(edges: pd.DataFrame, n_accounts: int) -> tuple[np.ndarray, np.ndarray]:
    """Per account row: its first and last time of use over ``edges`` (``row, first_ts,
    last_ts``, one row per use: :func:`use_bounds`)."""
    return use_bounds(edges["row"].to_numpy(np.int64), edges["first_ts"].to_numpy(np.int64),
                      edges["last_ts"].to_numpy(np.int64), n_accounts)


def spans(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Seconds from ``first`` to ``last`` per owner (:func:`use_bounds`); ``-1`` for one
    without a known use."""
    known = first <= last
    out = np.full(len(first), -1, dtype=np.int64)
    np.subtract(last, first, out=out, where=known)
    return out


def near_counts(keys: np.ndarray, moments: np.ndarray, query_keys: np.ndarray,
                query_moments: np.ndarray, within_s: float) -> np.ndarray:
    """Per query (``query_keys``, ``query_moments``): how many of the (``keys``, ``moments``)
    share its key and lie within ``within_s`` of its moment, both ends included (moments in
    epoch s, read to the second below). One sorted key, the key then the moment, keys spaced
    wider than the moments' span so that no two keys' moments meet."""
    moments = np.asarray(moments, np.float64)
    at = np.asarray(query_moments, np.float64)
    low = min(moments.min(initial=0.0), at.min(initial=0.0))
    gap = int(max(moments.max(initial=0.0), at.max(initial=0.0)) - low) + 2 * int(within_s) + 2
    key = np.sort(np.asarray(keys, np.int64) * gap + (moments - low).astype(np.int64))
    query = np.asarray(query_keys, np.int64) * gap + (at - low).astype(np.int64)
    return (np.searchsorted(key, query + int(within_s), side="right")
            - np.searchsorted(key, query - int(within_s), side="left"))
