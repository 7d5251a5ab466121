"""The events stage: event (transaction) risk from event labels -> ``event_scores.parquet``.

With event labels (``--event-labels``) a run trains :class:`gnn.events.EventModel` on the
labelled events but the latest ``holdout_fraction`` of them (by event time), measures it on
those held-back events, saves it (``model/events``) and scores every event of the logs. With a
saved model (``abusenet score``) it applies ``<model>/events`` when there is one, measuring it
on the event labels given, if any. Each event's features use only what was known before it
(:mod:`gnn.events.features`), so the held-back events' own labels never feed their features.
Given entity labels (``entity_labels_path``), the cards they report compromised anchor the
common-point-of-compromise features from their ``known_at`` on.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abusenet.pipeline.outputs import write_contract_table

#: ``event_scores.parquet``: ``event_id, account_id, score`` and the entity columns of the events.
EVENT_SCORES = "event_scores.parquet"
#: The saved event model, inside the run's model directory (``model/events``).
EVENT_MODEL = "events"

logger = logging.getLogger(__name__)


def train_events_stage(
    events_dir: Path, event_labels_path: Path, out: Path, *, holdout_fraction: float,
    entity_labels_path: Path | None = None,
) -> dict[str, Any]:
    """Train the event model on all labelled events but the latest ``holdout_fraction``; score
    every event -> ``out/event_scores.parquet`` and ``out/events`` (the model).

    Returns
    -------
    dict
        ``events`` (scored), ``labelled``, ``train``, ``holdout``, ``entity_columns``,
        ``validation`` (the booster's validation slice: time-later, or stratified when the fraud
        is one burst in time) and ``metrics`` (:func:`event_metrics` on the held-back events;
        empty without them).

    When the training events cannot train the model (fewer than two fraudulent or genuine
    ones), nothing is written and the info's ``skipped`` says why: the run goes on without event
    scores, as it does without an entity model.
    """
    from gnn.events.model import EventModel

    labels = _model_labels(pd.read_parquet(event_labels_path))
    model = EventModel()
    features = model.event_features(events_dir, labels,
                                    entity_labels=_entity_labels(entity_labels_path))
    labelled = features.ids["label"].notna().to_numpy()
    order = np.flatnonzero(labelled)
    cut = len(order) - int(round(len(order) * holdout_fraction))
    ranked = order[np.lexsort((features.ids["event_id"].to_numpy()[order],
                               features.ids["ts"].to_numpy()[order]))]
    train, holdout = ranked[:cut], ranked[cut:]
    y = features.ids["label"].to_numpy()
    positives = int(np.nansum(y[train]))
    skipped = None
    if positives == 0 or positives == len(train):
        skipped = (f"event labels: the {len(train):,} training events (all labelled events but "
                   f"the latest {holdout_fraction:.0%}) hold {positives:,} fraudulent ones; the "
                   "event model needs both fraudulent and genuine events")
    else:
        try:
            model.fit(features.take(train))
        except ValueError as exc:  # the booster's own refusal (fewer than two of a class)
            skipped = str(exc)
    if skipped is not None:
        logger.warning("event model not trained: %s", skipped)
        return {"events": 0, "labelled": int(len(order)), "train": int(len(train)),
                "holdout": int(len(holdout)), "skipped": skipped}
    model.save(out / EVENT_MODEL)
    scores = model.predict(features)
    _write_event_scores(scores, out)
    metrics = event_metrics(y[holdout], scores["score"].to_numpy()[holdout],
                            what="the latest labelled events, held back from training")
    return {"events": int(len(scores)), "labelled": int(len(order)), "train": int(len(train)),
            "holdout": int(len(holdout)), "entity_columns": list(features.entity_columns),
            "validation": model.validation_, "metrics": metrics}


def score_events_stage(
    events_dir: Path, model_dir: Path, event_labels_path: Path | None, out: Path,
    entity_labels_path: Path | None = None,
) -> dict[str, Any]:
    """Score every event with the saved event model ``model_dir`` -> ``out/event_scores.parquet``;
    with event labels, measure it on all of them (none was used to train it here); the cards
    reported in the entity labels feed the features as in :func:`train_events_stage`."""
    from gnn.events.model import EventModel

    labels = (_model_labels(pd.read_parquet(event_labels_path))
              if event_labels_path is not None else None)
    model = EventModel.load(model_dir)
    features = model.event_features(events_dir, labels,
                                    entity_labels=_entity_labels(entity_labels_path))
    scores = model.predict(features)
    _write_event_scores(scores, out)
    metrics: dict[str, Any] = {}
    if labels is not None:
        y = features.ids["label"].to_numpy()
        labelled = ~np.isnan(y)
        metrics = event_metrics(y[labelled], scores["score"].to_numpy()[labelled],
                                what="all given event labels (model not retrained)")
    return {"events": int(len(scores)), "labelled": int(metrics.get("n", 0)), "train": 0,
            "holdout": int(metrics.get("n", 0)), "entity_columns": list(features.entity_columns),
            "metrics": metrics}


def event_metrics(y: np.ndarray, score: np.ndarray, *, what: str) -> dict[str, Any]:
    """``auroc, auprc, n, positives, base_rate, what`` of event scores on labels ``y`` (``None``
    for a measure one class alone cannot give); empty when ``y`` is empty."""
    from gnn.evaluate import auprc, auroc

    if len(y) == 0:
        return {}
    y = np.asarray(y, dtype=np.int64)
    return {"auroc": _number(auroc(y, score)), "auprc": _number(auprc(y, score)),
            "n": int(len(y)), "positives": int(y.sum()), "base_rate": float(y.mean()),
            "what": what}


def _entity_labels(path: Path | None) -> pd.DataFrame | None:
    """The checked entity labels of ``path`` (``None`` without one)."""
    from gnn.entities.labels import check_entity_labels

    return None if path is None else check_entity_labels(pd.read_parquet(path))


def _model_labels(matched: pd.DataFrame) -> pd.DataFrame:
    """The labels stage's matched event labels as the event model reads them."""
    return matched[["event_id", "label", "known_at"]]


def _write_event_scores(scores: pd.DataFrame, out: Path) -> None:
    write_contract_table(scores, EVENT_SCORES, out / EVENT_SCORES)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
