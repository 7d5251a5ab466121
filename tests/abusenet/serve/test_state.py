"""abusenet.serve.state: pieces of the graph state that need no running service."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abusenet.serve.state import _Scaling
from gnn.data.features import FeatureScaler


def test_numpy_scaling_equals_the_scalers_transform_or_defers_to_it():
    rng = np.random.default_rng(0)
    columns = ["n_events", "amount_sum", "burstiness"]
    raw = np.column_stack([rng.integers(0, 50, 200), rng.gamma(2.0, 30.0, 200),
                           rng.uniform(-1, 1, 200)]).astype(np.float64)
    scaler = FeatureScaler().fit({"Account": pd.DataFrame(raw, columns=columns)},
                                 {"Account": ["burstiness", "n_events"]})
    scaling = _Scaling(scaler, "Account", columns, raw[:50])
    assert scaling.exact
    expected = scaler.transform("Account", pd.DataFrame(raw, columns=columns)).numpy()
    np.testing.assert_array_equal(scaling(raw), expected)
    # A column the scaler needs but the rows lack: the scaler's own error, not a silent guess.
    short = _Scaling(scaler, "Account", columns[:2], raw[:50, :2])
    assert not short.exact
    with pytest.raises(ValueError, match="lacks feature columns"):
        short(raw[:5, :2])
