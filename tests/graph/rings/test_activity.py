"""Activity: each account's and entity's first and last known use."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.rings.activity import NO_FIRST, NO_LAST, account_activity, spans, use_bounds


def test_account_activity_is_each_account_s_first_and_last_known_use():
    table = pd.DataFrame({"row": [0, 0, 2, 2], "first_ts": [50, 10, -1, 7],
                          "last_ts": [60, 20, -1, 9]})
    first, last = account_activity(table, 3)
    assert first.tolist()[0::2] == [10, 7] and last.tolist()[0::2] == [60, 9]
    assert first[1] == NO_FIRST and last[1] == NO_LAST
    assert spans(first, last).tolist() == [50, -1, 2]


def test_a_use_whose_end_is_unknown_lasts_at_least_its_start():
    # entity 1's one use began at 30 with no known end; entity 0's use of unknown start counts
    # for nothing, though its end is known
    first, last = use_bounds(np.array([0, 0, 1]), np.array([5, -1, 30]), np.array([8, 90, -1]),
                             2)
    assert first.tolist() == [5, 30] and last.tolist() == [8, 30]
