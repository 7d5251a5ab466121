"""XGB-History: the field's standard transaction baseline, XGBoost on per-transaction features
with customer and entity (terminal) history aggregates.

The features of the fraud-detection handbook (Le Borgne et al., *Reproducible Machine Learning
for Credit Card Fraud Detection*, chapter 3): the amount, weekend and night flags; the
customer's (``account_id``) transaction count and mean amount over 1 / 7 / 30 days, the current
transaction included; and for each entity column (the handbook's terminal) its transaction
count and fraud rate over 1 / 7 / 30 days ending a fixed delay (7 days) before the transaction,
the delay standing for the time fraud takes to be known. Which frauds of the window count is
the ``history`` setting (:data:`HISTORIES`): the handbook's (every fraud older than the delay,
known or not), ``"own_event_delay"`` (those charged back within the delay of themselves) or
``"known"`` (those whose label is known at the scored purchase: what a deployed system has).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gnn.events.booster import EventBooster
from gnn.events.features import WINDOWS, short
from gnn.events.source import (
    Events,
    Labels,
    discover_entity_columns,
    register_events,
    register_labels,
    view_columns,
)
from gnn.events.table import EventFeatures
from ingest.engine import connect
from ingest.sql import ident

#: The handbook's delay before a transaction's fraud label is used, in days.
DELAY_DAYS = 7
#: Which frauds of an entity's window count (:func:`history_features`).
HISTORIES = ("handbook", "own_event_delay", "known")


def history_features(
    events: Events,
    event_labels: Labels | None,
    *,
    entity_columns: Sequence[str] | None = None,
    windows: Sequence[int] = WINDOWS,
    delay_days: int = DELAY_DAYS,
    history: str = "handbook",
) -> EventFeatures:
    """The handbook's features of every event (see the module's docstring).

    Parameters
    ----------
    events
        An events directory or a table (:func:`gnn.events.source.register_events`).
    event_labels
        ``event_id, label``; labels at least ``delay_days`` old feed the entities' fraud rates.
    entity_columns
        Entity columns with the handbook's terminal features; default: found from the data.
    windows
        Windows in days.
    delay_days
        The fixed label delay.
    history
        Which frauds among an entity's events in the window (event time in ``[t - w - delay,
        t - delay]`` for a purchase at ``t``) count in its fraud rate:

        - ``"handbook"``: every fraud, even one whose label came after ``t`` (a deployed
          system cannot have it);
        - ``"own_event_delay"``: a fraud whose ``known_at`` is within ``delay_days`` of its own
          event (charged back fast), whether or not later ones are known at ``t``;
        - ``"known"``: a fraud whose ``known_at <= t``, whatever its age: the labels known at
          the scored purchase.

        The count of events in the window (the rate's denominator) is the same in all three.

    Raises
    ------
    ValueError
        If ``history`` is not one of :data:`HISTORIES`.
    """
    if history not in HISTORIES:
        raise ValueError(f"history_features: history must be one of {HISTORIES}, not "
                         f"{history!r}")
    con = connect(memory_share=0.5)
    try:
        register_events(con, events)
        entities = (
            list(entity_columns) if entity_columns is not None
            else discover_entity_columns(con, events)
        )
        register_labels(con, event_labels, default_delay_days=delay_days)
        amount = ("CAST(amount AS DOUBLE)" if "amount" in view_columns(con, "events")
                  else "CAST(NULL AS DOUBLE)")
        known = (f"l.known_at <= CAST(e.ts AS TIMESTAMPTZ) + INTERVAL {delay_days} DAY"
                 if history == "own_event_delay" else "true")
        joins = []
        feats = [
            ("amount", "amount"),
            ("weekend", "CAST(isodow(ts) >= 6 AS INTEGER)"),
            ("night", "CAST(hour(ts) < 6 AS INTEGER)"),
        ]
        for w in windows:
            frame = (f"(PARTITION BY account_id ORDER BY ts RANGE BETWEEN INTERVAL {w} DAY "
                     "PRECEDING AND CURRENT ROW)")
            feats += [(f"acc_n_{w}d", f"count(*) OVER {frame}"),
                      (f"acc_mean_amount_{w}d", f"avg(amount) OVER {frame}")]
        for e in entities:
            k = ident(e)
            for w in windows:
                # An event without an entity is alone in its partition (one partition of all
                # of them would be costly and thrown away).
                frame = (f"(PARTITION BY {k}, CASE WHEN {k} IS NULL THEN event_id END "
                         f"ORDER BY ts RANGE BETWEEN INTERVAL {w + delay_days} DAY PRECEDING "
                         f"AND INTERVAL {delay_days} DAY PRECEDING)")
                n = f"count(*) OVER {frame}"
                fraud = f"coalesce(sum(fraud) OVER {frame}, 0)"
                if history == "known":
                    fraud += f" - coalesce(u{len(joins)}_unknown_{w}, 0)"
                feats += [
                    (f"{short(e)}_n_{w}d", f"CASE WHEN {k} IS NULL THEN NULL ELSE {n} END"),
                    (f"{short(e)}_risk_{w}d",
                     f"CASE WHEN {k} IS NULL THEN NULL ELSE coalesce(({fraud}) / nullif({n}, 0),"
                     " 0) END"),
                ]
            if history == "known":
                joins.append(_unknown_frauds(k, windows, delay_days))
        ids = ["event_id", "ts", "account_id", *entities]
        table = con.sql(
            "WITH b AS (SELECT e.event_id, CAST(e.ts AS TIMESTAMPTZ) AS ts, e.account_id, "
            + "".join(f"e.{ident(c)}, " for c in entities)
            + f"{amount.replace('amount', 'e.amount')} AS amount, "
            f"CAST(coalesce(l.label, 0) = 1 AND {known} AS DOUBLE) AS fraud, l.label, "
            "l.known_at "
            "FROM events e LEFT JOIN event_labels l USING (event_id)), "
            "f AS (SELECT * FROM b WHERE fraud = 1)"
            + "".join(f", u{i} AS ({sql})" for i, sql in enumerate(joins))
            + ", c AS (SELECT b.*"
            + "".join(f", u{i}.unknown_{w} AS u{i}_unknown_{w}"
                      for i in range(len(joins)) for w in windows)
            + " FROM b"
            + "".join(f" LEFT JOIN u{i} USING (event_id)" for i in range(len(joins)))
            + ") SELECT "
            + ", ".join(ident(c) for c in ids) + ", label, known_at, "
            + ", ".join(f"{expr} AS {ident(n)}" for n, expr in feats)
            + " FROM c ORDER BY ts, event_id"
        ).to_arrow_table()
    finally:
        con.close()
    names = [n for n, _ in feats]
    x = np.empty((table.num_rows, len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        x[:, j] = table.column(name).to_numpy(zero_copy_only=False).astype(np.float32)
    frame_ids = table.select([*ids, "label", "known_at"]).to_pandas()
    frame_ids["label"] = frame_ids["label"].astype("float64")
    return EventFeatures(frame_ids, x, names, entities)


def _unknown_frauds(entity: str, windows: Sequence[int], delay_days: int) -> str:
    """SQL: per event of ``b`` with an ``entity``, ``unknown_{w}`` the frauds of ``f`` at the
    same entity with event time in the window ``w`` (as the window frames) whose label comes
    after the event (``known_at`` later than its ``ts``); events without any are left out."""
    widest = max(windows) + delay_days
    sums = ", ".join(
        f"count(*) FILTER (WHERE f.ts >= b.ts - INTERVAL {w + delay_days} DAY) AS unknown_{w}"
        for w in windows)
    return (f"SELECT b.event_id, {sums} FROM b JOIN f ON f.{entity} = b.{entity} "
            f"AND f.ts >= b.ts - INTERVAL {widest} DAY "
            f"AND f.ts <= b.ts - INTERVAL {delay_days} DAY AND f.known_at > b.ts "
            "GROUP BY b.event_id")


class XGBHistory(EventBooster):
    """XGBoost on :func:`history_features`: the standard baseline for transaction fraud.

    Same ``event_features`` / ``fit`` / ``predict`` / ``save`` / ``load`` interface as
    :class:`gnn.events.model.EventModel`, so the two are compared under one evaluation.

    Parameters
    ----------
    windows, delay_days, history, entity_columns
        Feature settings (:func:`history_features`).
    n_estimators, learning_rate, max_depth, subsample, colsample_bytree,
    early_stopping_rounds, val_fraction, calibration, n_jobs, random_state
        As for :class:`~gnn.events.model.EventModel`.
    """

    def __init__(
        self,
        windows: Sequence[int] = WINDOWS,
        delay_days: int = DELAY_DAYS,
        history: str = "handbook",
        entity_columns: Sequence[str] | None = None,
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
        self.delay_days = delay_days
        self.history = history
        self.entity_columns = entity_columns
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

    @classmethod
    def _saved_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """A model saved before ``history`` existed said ``known_at_only`` (True: the
        ``own_event_delay`` mode, False: the handbook's)."""
        if "known_at_only" in params and "history" not in params:
            params["history"] = ("own_event_delay" if params.pop("known_at_only")
                                 else "handbook")
        return params

    def event_features(self, events: Events, event_labels: Labels | None) -> EventFeatures:
        """The handbook's features of every event."""
        return history_features(
            events, event_labels, entity_columns=self.entity_columns, windows=self.windows,
            delay_days=self.delay_days, history=self.history,
        )
