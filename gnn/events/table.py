"""A feature table of events: the events' ids and labels next to a float32 feature matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class EventFeatures:
    """Features of events, one row per event, sorted by ``ts`` then ``event_id``.

    Attributes
    ----------
    ids
        ``event_id``, ``ts`` (UTC), ``account_id``, the entity columns, then ``label``
        (1.0 / 0.0, ``nan`` when unlabelled) and ``known_at`` (when the label became known).
    x
        ``(len(ids), len(names))`` float32 features, ``nan`` where a value does not exist.
    names
        Feature names, one per column of ``x``.
    entity_columns
        The entity columns of ``ids``.
    """

    ids: pd.DataFrame
    x: np.ndarray
    names: list[str]
    entity_columns: list[str]

    def take(self, rows: np.ndarray) -> EventFeatures:
        """The rows ``rows`` (a boolean mask or positions), in that order."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return EventFeatures(
            self.ids.iloc[rows].reset_index(drop=True), self.x[rows], self.names,
            self.entity_columns,
        )

    def __len__(self) -> int:
        return len(self.ids)
