"""Holding labels back: stratified splits."""

from __future__ import annotations

import numpy as np


def stratified_split(
    y: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation positions, ``val_fraction`` of each class in validation.

    Every class with at least two members keeps at least one member on each side.
    """
    rng = np.random.default_rng(seed)
    val = []
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        take = int(round(val_fraction * len(members)))
        if len(members) > 1:
            take = min(max(take, 1), len(members) - 1)
        val.append(members[:take])
    val_pos = np.sort(np.concatenate(val)) if val else np.empty(0, dtype=np.int64)
    train_pos = np.setdiff1d(np.arange(len(y)), val_pos)
    return train_pos, val_pos
