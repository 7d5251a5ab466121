import numpy as np
import pandas as pd

from abusenet.validation.out_of_time import label_times, slice_metrics, time_split


def _labels(days, labels):
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(days, unit="D")
    return pd.DataFrame({"account_id": [f"a{i}" for i in range(len(days))], "label": labels,
                         "ts": ts})


def test_window_holds_the_latest_labels_and_the_gap_is_left_out():
    labels = _labels([0, 1, 2, 3, 10, 11, 20, 21, 22, 23], [0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    split = time_split(labels, label_times(labels), window_days=4, gap_days=10)
    assert list(split.window["account_id"]) == ["a6", "a7", "a8", "a9"]
    assert list(split.earlier["account_id"]) == ["a0", "a1", "a2", "a3"]
    assert split.gapped == 2 and split.reason is None


def test_no_window_without_both_classes_or_time():
    labels = _labels([0, 1, 2, 3, 20, 21], [0, 1, 0, 1, 0, 0])
    assert time_split(labels, label_times(labels), 4).window is None
    untimed = labels.drop(columns="ts")
    split = time_split(untimed, label_times(untimed), 4)
    assert split.window is None and "no time" in split.reason and len(split.earlier) == 6


def test_first_seen_fills_missing_label_times():
    labels = pd.DataFrame({"account_id": ["a", "b"], "label": [0, 1]})
    seen = pd.Series(pd.to_datetime(["2024-01-02", "2024-01-05"], utc=True), index=["a", "b"])
    times = label_times(labels, seen)
    assert list(times.dt.day) == [2, 5]


def test_slices_are_weekly_and_measured_separately():
    times = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-09", "2024-01-10"],
                                     utc=True))
    slices = slice_metrics(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.2, 0.8]), times, 7)
    assert [s["labels"] for s in slices] == [2, 2]
    assert slices[0]["auroc"] == 1.0 and slices[1]["auroc"] == 0.0
