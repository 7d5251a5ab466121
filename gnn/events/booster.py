"""Gradient-boosted trees on an event feature table: fit, calibrated scores, JSON save and load.

Subclasses choose the features (:meth:`EventBooster.event_features`); the training, the
time-later validation slice, the calibration and the files are shared, so the event model and
its baseline differ only in what they see.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import xgboost as xgb

from gnn.calibration import ScoreCalibrator
from gnn.estimator import Estimator, NotFittedError
from gnn.events.source import Events, Labels
from gnn.events.table import EventFeatures
from ingest.files import write_text_atomic

MODEL_FILE = "model.json"
METADATA_FILE = "metadata.json"

logger = logging.getLogger(__name__)


class EventBooster(Estimator):
    """XGBoost over :meth:`event_features`, early-stopped and calibrated on the latest events.

    The training events are sorted by time; the last ``val_fraction`` of them is the
    validation slice: the trees stop when its AUPRC stops improving, and the calibrator
    (``calibration``) maps the trees' margins to probabilities on it.
    """

    n_estimators: int
    learning_rate: float
    max_depth: int
    subsample: float
    colsample_bytree: float
    early_stopping_rounds: int
    val_fraction: float
    calibration: str
    n_jobs: int
    random_state: int

    def event_features(self, events: Events, event_labels: Labels | None) -> EventFeatures:
        """The feature table this model reads (implemented by each model)."""
        raise NotImplementedError

    def _booster_params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators, "learning_rate": self.learning_rate,
            "max_depth": self.max_depth, "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "early_stopping_rounds": self.early_stopping_rounds, "n_jobs": self.n_jobs,
            "random_state": self.random_state, "tree_method": "hist", "eval_metric": "aucpr",
        }

    def fit(self, features: EventFeatures, y: np.ndarray | None = None) -> Self:
        """Fit on labelled events; returns ``self``.

        Parameters
        ----------
        features
            The training events' features (:meth:`event_features`).
        y
            0/1 per row; default: ``features.ids["label"]`` (rows without a label are dropped).

        Raises
        ------
        ValueError
            If fewer than two events of either class remain.
        """
        if y is None:
            labelled = features.ids["label"].notna().to_numpy()
            features = features.take(labelled)
            y = features.ids["label"].to_numpy()
        y = np.asarray(y, dtype=np.int64)
        if len(y) != len(features):
            raise ValueError(f"{len(y)} labels for {len(features)} events")
        train, val = self._split(features, y)
        self.model_ = xgb.XGBClassifier(**self._booster_params())
        self.model_.fit(
            features.x[train], y[train], eval_set=[(features.x[val], y[val])], verbose=False
        )
        self.calibrator_ = ScoreCalibrator(self.calibration).fit(
            self._margin(features.x[val]), y[val]
        )
        self.feature_names_ = list(features.names)
        return self

    def _split(self, features: EventFeatures, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row positions of the trees' training part and of the validation slice.

        The validation slice is the time-later ``val_fraction`` of the events. Fraud often comes
        as one burst in time (a takeover crew's night); when the time split leaves the slice or
        the part before it without fraud, a slice of the same size stratified by label (seeded
        by ``random_state``) is used instead and ``validation_`` says so.

        Raises
        ------
        ValueError
            With fewer than two fraudulent or two legitimate events: no split can hold both
            classes on both sides.
        """
        positives = int(y.sum())
        if min(positives, len(y) - positives) < 2:
            raise ValueError(
                f"event labels: {positives:,} fraudulent and {len(y) - positives:,} legitimate "
                "training events; the event model needs at least two of each"
            )
        order = np.lexsort((features.ids["event_id"].to_numpy(), features.ids["ts"].to_numpy()))
        cut = int(round(len(order) * (1 - self.val_fraction)))
        cut = min(max(cut, 1), len(order) - 1)
        train, val = order[:cut], order[cut:]
        if y[val].sum() > 0 and y[train].sum() > 0:
            self.validation_ = "time-later"
            return train, val
        rng = np.random.default_rng(self.random_state)
        accounts = features.ids["account_id"].to_numpy() if "account_id" in features.ids else None
        split = self._account_split(accounts, y, rng) if accounts is not None else None
        by = "by account (all of an account's events on one side)"
        if split is None:  # fewer than two accounts carry fraud: by event
            by = "by event (fewer than two accounts carry fraud; probabilities may be optimistic)"
            val_parts = []
            for label in (0, 1):
                rows = rng.permutation(np.flatnonzero(y == label))
                take = min(max(1, int(round(len(rows) * self.val_fraction))), len(rows) - 1)
                val_parts.append(rows[:take])
            val = np.sort(np.concatenate(val_parts))
            split = np.setdiff1d(np.arange(len(y)), val), val
        self.validation_ = (
            f"stratified: the time-later {self.val_fraction:.0%} of the training events or the "
            f"part before it held no fraud (fraud in one burst in time); drawn {by}"
        )
        logger.warning("event model: %s; the validation slice is drawn at random, "
                       "stratified by label", self.validation_.removeprefix("stratified: "))
        return split

    def _account_split(self, accounts: np.ndarray, y: np.ndarray, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray] | None:
        """(train, validation) rows with every account's events on one side: ``val_fraction``
        of the accounts with fraud and of the others, drawn at random (a burst's events of one
        account, a takeover session's logins, would otherwise sit on both sides, and early
        stopping and the calibrator would read accounts the trees trained on). ``None`` when
        fewer than two accounts carry fraud, or a side would lack a class."""
        names, inverse = np.unique(accounts.astype(str), return_inverse=True)
        fraud = np.bincount(inverse, weights=y, minlength=len(names)) > 0
        chosen = []
        for group in (np.flatnonzero(~fraud), np.flatnonzero(fraud)):
            if len(group) < 2:
                return None
            take = min(max(1, int(round(len(group) * self.val_fraction))), len(group) - 1)
            chosen.append(rng.permutation(group)[:take])
        in_val = np.isin(inverse, np.concatenate(chosen))
        train, val = np.flatnonzero(~in_val), np.flatnonzero(in_val)
        if len(np.unique(y[train])) < 2 or len(np.unique(y[val])) < 2:
            return None
        return train, val

    def _margin(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict(x, output_margin=True).astype(np.float64)

    def predict_proba(self, features: EventFeatures) -> np.ndarray:
        """Calibrated fraud probability per row of ``features``, in [0, 1]."""
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit or load first")
        if list(features.names) != self.feature_names_:
            missing = sorted(set(self.feature_names_) - set(features.names))
            raise ValueError(
                f"the events' features differ from the model's (missing: {missing}); were the "
                "features built with the same entity columns and settings?"
            )
        return np.clip(self.calibrator_.transform(self._margin(features.x)), 0.0, 1.0)

    def predict(self, features: EventFeatures) -> pd.DataFrame:
        """``event_id, account_id, score`` plus the entity ids each event touched."""
        out = features.ids[["event_id", "account_id", *features.entity_columns]].copy()
        out["score"] = self.predict_proba(features)
        return out[["event_id", "account_id", "score", *features.entity_columns]]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``model.json`` (XGBoost's JSON) and ``metadata.json`` into the folder ``path``."""
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: nothing to save")
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f".tmp-{MODEL_FILE}"
        self.model_.save_model(tmp)
        os.replace(tmp, target / MODEL_FILE)
        metadata = {
            "kind": type(self).__name__, "params": self.get_params(),
            "features": self.feature_names_, "calibrator": self.calibrator_.to_dict(),
            "validation": getattr(self, "validation_", "time-later"),
        }
        write_text_atomic(target / METADATA_FILE, json.dumps(metadata, indent=1))
        return target

    @classmethod
    def _saved_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The constructor parameters of a saved model's ``params`` (a subclass translates
        parameters an older version saved under another name)."""
        return params

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Load what :meth:`save` wrote.

        Raises
        ------
        ValueError
            If the folder holds another kind of model.
        """
        source = Path(path)
        metadata = json.loads((source / METADATA_FILE).read_text())
        if metadata["kind"] != cls.__name__:
            raise ValueError(f"{source}: holds a {metadata['kind']}, not a {cls.__name__}")
        params = cls._saved_params(dict(metadata["params"]))
        model = cls(**{k: v for k, v in params.items() if k in cls.param_names()})
        model.model_ = xgb.XGBClassifier()
        model.model_.load_model(source / MODEL_FILE)
        model.calibrator_ = ScoreCalibrator.from_dict(metadata["calibrator"])
        model.feature_names_ = list(metadata["features"])
        model.validation_ = metadata.get("validation", "time-later")
        return model
