"""abusenet.serve.state._Scaling.read: the scaler's columns read straight from the raw blocks
scale as ``_Scaling.__call__`` on the full rows does."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from abusenet.serve.state import _RawValues, _Scaling


def _scaling(wanted: list[str], columns: list[str], mean: np.ndarray, std: np.ndarray,
             first: np.ndarray) -> _Scaling:
    """The ``_Scaling`` of a scaler reading ``wanted`` of the raw ``columns`` (signed log,
    then standardised by ``mean`` / ``std``), fitted on the raw rows ``first``."""

    def transform(node_type: str, frame: pd.DataFrame) -> torch.Tensor:
        v = frame[wanted].to_numpy()
        v = np.sign(v) * np.log1p(np.abs(v))
        return torch.from_numpy(np.nan_to_num((v - mean) / std).astype(np.float32))

    scaler = SimpleNamespace(columns={"T": wanted}, mean={"T": mean}, std={"T": std},
                             transform=transform)
    return _Scaling(scaler, "T", columns, first)


def test_read_scales_as_the_full_rows_do_after_a_column_is_widened():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(500, 9)) * 100
    values[:, :4] = rng.integers(-50, 1000, size=(500, 4))  # counts: held as float32
    values[rng.random(values.shape) < 0.05] = np.nan
    values[rng.random(values.shape) < 0.05] = 0.0
    raw = _RawValues(values)
    columns = [f"c{j}" for j in range(9)]
    wanted = [columns[j] for j in (7, 1, 3, 0, 5, 2)]
    mean, std = rng.normal(size=6), rng.random(6) + 0.5
    scaling = _scaling(wanted, columns, mean, std, values[:100])
    assert scaling.exact
    rows = rng.integers(0, 500, 300)
    np.testing.assert_array_equal(scaling.read(raw, rows), scaling(raw[rows]))
    update = values[:5].copy()
    update[:, 1] = 0.5  # column 1 no longer fits float32 exactly: moved to the wide block
    raw[np.arange(5)] = update
    assert 1 in raw.wide.tolist()
    np.testing.assert_array_equal(scaling.read(raw, rows), scaling(raw[rows]))


def test_read_of_every_column_in_order_with_and_without_missing_values():
    """The scaler reading every raw column in the raw order (each block whole, no column pick),
    on rows all finite (no ``nan_to_num`` pass) and with NaN among them."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=(400, 6)) * 10
    values[:, :3] = rng.integers(0, 100, size=(400, 3))
    raw = _RawValues(values)
    assert raw.narrow.tolist() == [0, 1, 2] and raw.wide.tolist() == [3, 4, 5]
    columns = [f"c{j}" for j in range(6)]
    mean, std = rng.normal(size=6), rng.random(6) + 0.5
    scaling = _scaling(columns, columns, mean, std, values[:100])
    assert scaling.exact
    rows = rng.integers(0, 400, 250)
    np.testing.assert_array_equal(scaling.read(raw, rows), scaling(raw[rows]))
    update = values[:3].copy()
    update[:, 4] = np.nan
    update[:, 0] = np.nan  # NaN fits float32: column 0 stays narrow
    raw[np.arange(3)] = update
    assert raw.narrow.tolist() == [0, 1, 2]
    rows = np.concatenate([np.arange(3), rows])
    np.testing.assert_array_equal(scaling.read(raw, rows), scaling(raw[rows]))
    assert np.isfinite(scaling.read(raw, rows)).all()
