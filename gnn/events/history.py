"""Counts and sums over each key's events strictly before every event, in a time window.

Vectorised with one sort per key and binary searches (no per-row Python): the history
features of :mod:`gnn.events.features` for millions of events in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

US_PER_DAY = 86_400_000_000


class KeyHistory:
    """The events of one key (an account, a card, a terminal, or a pair of them) in time order.

    Parameters
    ----------
    codes
        Integer code of each event's key; negative: the event has no key.
    ts
        Event times, integer microseconds.
    """

    def __init__(self, codes: np.ndarray, ts: np.ndarray) -> None:
        self.codes = np.asarray(codes, dtype=np.int64)
        self.ts = np.asarray(ts, dtype=np.int64)
        times = np.unique(self.ts)
        self._times = times
        self._scale = np.int64(len(times) + 1)
        rank = np.searchsorted(times, self.ts)
        self._order = np.lexsort((rank, self.codes))
        self._sorted = (self.codes * self._scale + rank)[self._order]
        self._before = self._position(rank)

    def _position(self, rank: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._sorted, self.codes * self._scale + rank, side="left")

    def _start(self, days: float | None) -> np.ndarray:
        if days is None:
            return np.searchsorted(self._sorted, self.codes * self._scale, side="left")
        low = np.searchsorted(self._times, self.ts - int(days * US_PER_DAY), side="left")
        return self._position(low)

    def count(self, days: float | None = None) -> np.ndarray:
        """Events of the same key in ``[ts - days, ts)`` (all before ``ts`` when ``None``);
        ``nan`` for an event without a key."""
        return self._masked((self._before - self._start(days)).astype(np.float64))

    def total(self, values: np.ndarray, days: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sum and count of the non-missing ``values`` of the same key in ``[ts - days, ts)``."""
        values = np.asarray(values, dtype=np.float64)[self._order]
        present = ~np.isnan(values)
        sums = np.concatenate([[0.0], np.cumsum(np.where(present, values, 0.0))])
        counts = np.concatenate([[0], np.cumsum(present)])
        start = self._start(days)
        return (self._masked(sums[self._before] - sums[start]),
                self._masked((counts[self._before] - counts[start]).astype(np.float64)))

    def mean(self, values: np.ndarray, days: float | None = None) -> np.ndarray:
        """Mean of the non-missing ``values`` of the same key in ``[ts - days, ts)``."""
        total, n = self.total(values, days)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / n, np.nan)

    def last_time(self) -> np.ndarray:
        """Time of the key's latest event before ``ts`` (``nan`` when none)."""
        has = (self._before > self._start(None)) & (self.codes >= 0)
        sorted_ts = self.ts[self._order]
        return np.where(has, sorted_ts[np.maximum(self._before - 1, 0)], np.nan)

    def _masked(self, values: np.ndarray) -> np.ndarray:
        return np.where(self.codes >= 0, values, np.nan)


def key_codes(*columns: pd.Series) -> np.ndarray:
    """One integer code per distinct combination of ``columns``; ``-1`` where one is missing."""
    frame = pd.DataFrame({i: c.to_numpy() for i, c in enumerate(columns)})
    missing = frame.isna().any(axis=1).to_numpy()
    codes = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
    return np.where(missing, -1, codes).astype(np.int64)
