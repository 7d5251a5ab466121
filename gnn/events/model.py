"""``EventModel``: the time-aware event (transaction) risk model."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from gnn.events.booster import EventBooster
from gnn.events.compromise import CompromiseSettings
from gnn.events.features import DEFAULT_LABEL_DELAY_DAYS, NEIGHBOUR_DAYS, WINDOWS, event_features
from gnn.events.source import Events, Labels
from gnn.events.table import EventFeatures


class EventModel(EventBooster):
    """Calibrated fraud probability of each event from :func:`gnn.events.features.event_features`.

    Gradient-boosted trees on the event's own features, its account's and entities' history,
    and the fraud known before it around the event (its account, its entities, their two-hop
    neighbours, and the common-point-of-compromise evidence of its entities and of its card's
    recent ones), calibrated on the latest training events. Deterministic for a seed.

    Parameters
    ----------
    windows, neighbour_days, default_label_delay_days
        Feature settings (:func:`~gnn.events.features.event_features`).
    entity_columns
        Entity columns to use; ``None``: found from the data.
    cpc_lookback_days, cpc_history_days, cpc_recent_days, cpc_report_lookback_days
        Windows of the common-point-of-compromise features
        (:class:`~gnn.events.compromise.CompromiseSettings`).
    n_estimators, learning_rate, max_depth, subsample, colsample_bytree
        XGBoost settings.
    early_stopping_rounds
        Rounds without a better validation AUPRC before stopping.
    val_fraction
        Share of the training events, the latest, used for early stopping and calibration.
    calibration
        ``"platt"`` (keeps the ranking) or ``"isotonic"``.
    n_jobs
        Threads.
    random_state
        Seed.

    Examples
    --------
    >>> model = EventModel()
    >>> table = model.event_features(events_dir, event_labels)  # doctest: +SKIP
    >>> scores = model.fit(table).predict(table)  # doctest: +SKIP
    """

    def __init__(
        self,
        windows: Sequence[int] = WINDOWS,
        neighbour_days: int = NEIGHBOUR_DAYS,
        default_label_delay_days: float = DEFAULT_LABEL_DELAY_DAYS,
        entity_columns: Sequence[str] | None = None,
        cpc_lookback_days: float = CompromiseSettings.lookback_days,
        cpc_history_days: float = CompromiseSettings.history_days,
        cpc_recent_days: float = CompromiseSettings.recent_days,
        cpc_report_lookback_days: float = CompromiseSettings.report_lookback_days,
        n_estimators: int = 400,
        learning_rate: float = 0.05,
        max_depth: int = 6,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        early_stopping_rounds: int = 40,
        val_fraction: float = 0.2,
        calibration: str = "platt",
        n_jobs: int = 2,
        random_state: int = 0,
    ) -> None:
        self.windows = windows
        self.neighbour_days = neighbour_days
        self.default_label_delay_days = default_label_delay_days
        self.entity_columns = entity_columns
        self.cpc_lookback_days = cpc_lookback_days
        self.cpc_history_days = cpc_history_days
        self.cpc_recent_days = cpc_recent_days
        self.cpc_report_lookback_days = cpc_report_lookback_days
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.early_stopping_rounds = early_stopping_rounds
        self.val_fraction = val_fraction
        self.calibration = calibration
        self.n_jobs = n_jobs
        self.random_state = random_state

    def event_features(self, events: Events, event_labels: Labels | None, *,
                       entity_labels: pd.DataFrame | None = None) -> EventFeatures:
        """The features of every event, from what was known before it; ``entity_labels``
        (``node_type, entity_id, label, known_at``): the cards reported compromised among
        them anchor the common-point-of-compromise features too
        (:func:`gnn.events.features.event_features`)."""
        return event_features(
            events, event_labels, entity_columns=self.entity_columns, windows=self.windows,
            neighbour_days=self.neighbour_days,
            default_label_delay_days=self.default_label_delay_days,
            compromise=CompromiseSettings(
                lookback_days=self.cpc_lookback_days, history_days=self.cpc_history_days,
                recent_days=self.cpc_recent_days,
                default_label_delay_days=self.default_label_delay_days,
                report_lookback_days=self.cpc_report_lookback_days),
            entity_labels=entity_labels,
        )
