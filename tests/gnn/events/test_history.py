import numpy as np
import pandas as pd

from gnn.events.history import US_PER_DAY, KeyHistory, key_codes


def _history() -> KeyHistory:
    #            a    a    b    a    a (same time as the one before)  none
    codes = np.array([0, 0, 1, 0, 0, -1])
    days = np.array([0.0, 1.0, 1.0, 5.0, 5.0, 6.0])
    return KeyHistory(codes, (days * US_PER_DAY).astype(np.int64))


def test_counts_are_strictly_before_and_within_the_window():
    history = _history()
    np.testing.assert_array_equal(history.count(), [0, 1, 0, 2, 2, np.nan])
    # [ts - 4 days, ts): the event at day 1 is exactly 4 days before day 5 and counts.
    np.testing.assert_array_equal(history.count(4), [0, 1, 0, 1, 1, np.nan])
    np.testing.assert_array_equal(history.count(3.5), [0, 1, 0, 0, 0, np.nan])


def test_means_skip_missing_values():
    history = _history()
    values = np.array([2.0, np.nan, 7.0, 4.0, 1.0, 3.0])
    np.testing.assert_array_equal(history.mean(values), [np.nan, 2.0, np.nan, 2.0, 2.0, np.nan])


def test_last_time_is_the_previous_event_of_the_key():
    history = _history()
    last = history.last_time() / US_PER_DAY
    np.testing.assert_array_equal(last, [np.nan, 0.0, np.nan, 1.0, 1.0, np.nan])


def test_key_codes_of_pairs_and_missing_values():
    codes = key_codes(pd.Series(["a", "a", "b", None]), pd.Series(["x", "y", "x", "x"]))
    assert codes[3] == -1 and len(set(codes[:3])) == 3
