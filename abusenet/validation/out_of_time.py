"""Out-of-time validation: the latest window of labels held out of training, and quality per
time slice.

A label's time is when it became known (the labels' ``ts``), else its account's first event
(the snapshot's ``first_ts``). The window holds the labels of the last ``window_days`` before
the latest label time; a gap of ``gap_days`` before it (labels that arrive late) is used for
neither training nor the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gnn.evaluate import node_metrics


@dataclass(frozen=True)
class TimeSplit:
    """Labels split by time.

    Attributes
    ----------
    earlier
        Labels before the gap: for training (and the random hold-out).
    window
        The out-of-time window's labels, or ``None`` when the split is not possible.
    gapped
        How many labels fell into the gap (used for neither).
    start
        The window's first instant (ISO text), or ``None``.
    reason
        Why there is no window (``None`` when there is one).
    """

    earlier: pd.DataFrame
    window: pd.DataFrame | None
    gapped: int
    start: str | None
    reason: str | None


def label_times(labels: pd.DataFrame, first_seen: pd.Series | None = None) -> pd.Series:
    """When each label became known: its ``ts``, else its account's first-seen time.

    Parameters
    ----------
    labels
        ``account_id, label[, ts]``.
    first_seen
        Account id -> first event time (UTC), or ``None``.

    Returns
    -------
    pd.Series
        UTC timestamps aligned with ``labels`` (NaT where neither is known).
    """
    times = pd.Series(pd.NaT, index=labels.index, dtype="datetime64[us, UTC]")
    if "ts" in labels:
        times = pd.to_datetime(labels["ts"], utc=True).astype("datetime64[us, UTC]")
    if first_seen is not None and times.isna().any():
        seen = pd.to_datetime(first_seen, utc=True).astype("datetime64[us, UTC]")
        fill = labels["account_id"].astype(str).map(seen)
        times = times.fillna(fill)
    return times


def time_split(
    labels: pd.DataFrame, times: pd.Series, window_days: float, gap_days: float = 0.0
) -> TimeSplit:
    """Hold out the labels of the latest ``window_days`` (after a ``gap_days`` gap).

    The window is kept only when it and the labels before the gap each hold both classes, and
    every label has a time; otherwise ``window`` is ``None`` and ``reason`` says why (the labels
    are then returned whole as ``earlier``).
    """
    whole = labels.reset_index(drop=True)
    if window_days <= 0:
        return TimeSplit(whole, None, 0, None, "validation.out_of_time_days is 0")
    times = times.reset_index(drop=True)
    if times.isna().all():
        return TimeSplit(whole, None, 0, None,
                         "labels carry no time and accounts no first-seen time")
    if times.isna().any():
        return TimeSplit(whole, None, 0, None,
                         f"{int(times.isna().sum()):,} labels have no time")
    start = times.max() - pd.Timedelta(days=window_days)
    gap_start = start - pd.Timedelta(days=gap_days)
    in_window = (times > start).to_numpy()
    before = (times <= gap_start).to_numpy()
    window, earlier = whole[in_window], whole[before]
    for name, part in (("the out-of-time window", window), ("the labels before it", earlier)):
        if part["label"].nunique() < 2 or part["label"].value_counts().min() < 2:
            return TimeSplit(whole, None, 0, None,
                             f"{name} lacks two labels of each class")
    return TimeSplit(earlier.reset_index(drop=True), window.reset_index(drop=True),
                     int((~in_window & ~before).sum()), start.isoformat(), None)


def slice_metrics(
    y: np.ndarray, score: np.ndarray, times: pd.Series, slice_days: float
) -> list[dict[str, Any]]:
    """Quality per time slice of ``slice_days``, oldest first.

    Returns
    -------
    list of dict
        ``start`` (ISO), ``labels``, ``positives``, ``auroc``, ``auprc`` (``nan`` where a slice
        lacks a class); labels without a time are left out.
    """
    times = pd.to_datetime(pd.Series(times).reset_index(drop=True), utc=True)
    known = times.notna().to_numpy()
    if not known.any():
        return []
    y, score, times = np.asarray(y)[known], np.asarray(score)[known], times[known]
    width = pd.Timedelta(days=slice_days)
    origin = times.min().floor("D")
    which = ((times - origin) // width).to_numpy(dtype=np.int64)
    slices = []
    for number in np.unique(which):
        inside = which == number
        figures = node_metrics(y[inside], score[inside])
        slices.append({"start": (origin + number * width).isoformat(),
                       "labels": int(inside.sum()), "positives": int(y[inside].sum()),
                       "auroc": figures["auroc"], "auprc": figures["auprc"]})
    return slices
