"""``EntityRiskModel``: supervised risk of entities (terminals, cards, devices) from their own
neighbourhood.

For every entity type with labels, one :class:`~gnn.detector.AccountDetector` network is trained
with that type as its seed (target) node type: the same time-aware sampler, the same
:class:`~gnn.models.SepHeteroGNN`, the same class-weighted loss, early stopping and calibration as
the account detector. An entity's score is thus learned from its own evidence: its features, the
accounts that used it, and their other entities and behaviour (a compromised terminal's customers
go on to show fraud elsewhere), instead of being pooled from account scores
(:func:`gnn.entity_scores.entity_scores_from_accounts`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gnn.data.features import FeatureScaler
from gnn.data.snapshot_graph import snapshot_to_heterodata, to_epoch_seconds
from gnn.detector import AccountDetector
from gnn.entities.labels import check_entity_labels
from gnn.estimator import Estimator, NotFittedError
from gnn.labels import stratified_split
from gnn.persistence import FORMAT_VERSION, METADATA_FILE, snapshot_fingerprint
from graph.snapshot import ACCOUNT, Snapshot
from ingest.files import write_text_atomic

__all__ = ["EntityRiskModel"]

logger = logging.getLogger(__name__)

#: Defaults for entity types, which have far fewer labels than accounts: smaller batches.
#: Entity types carry a handful of labels each, so ``boost: auto`` would run its pooled choice
#: (six extra fits, gnn.detector) for every type; it was measured on account labels only (session
#: 27), so entity models keep the rule from before it (the network alone below
#: ``boost_min_labels``) unless ``boost_choice_folds`` is set in their parameters.
ENTITY_DETECTOR_DEFAULTS: dict[str, Any] = {"batch_size": 128, "boost_choice_folds": 0}


class EntityRiskModel(Estimator):
    """Calibrated risk of every entity of the labelled entity types, from its neighbourhood.

    Parameters
    ----------
    detector_params
        Parameters of the :class:`~gnn.detector.AccountDetector` trained per entity type (its
        network shape, optimisation, ``val_fraction``, ``calibration``, ``random_state``, ...),
        on top of :data:`ENTITY_DETECTOR_DEFAULTS`.
    min_labels_per_class
        Labels of each class an entity type needs to be trained (at least 2: one to train and
        one to validate on). Types with fewer are skipped and listed in ``skipped_``.

    Examples
    --------
    >>> model = EntityRiskModel({"max_epochs": 30}).fit(snapshot, entity_labels)
    >>> model.score_entities(snapshot)          # node_type, entity_id, score
    >>> model.save("models/entities")
    >>> same = EntityRiskModel.load("models/entities")
    """

    def __init__(
        self,
        detector_params: dict[str, Any] | None = None,
        min_labels_per_class: int = 2,
    ) -> None:
        self.detector_params = detector_params
        self.min_labels_per_class = min_labels_per_class

    def _detector(self) -> AccountDetector:
        params = {**ENTITY_DETECTOR_DEFAULTS, **(self.detector_params or {})}
        unknown = sorted(set(params) - set(AccountDetector.param_names()))
        if unknown:
            raise ValueError(
                f"unknown detector parameter(s) {unknown}; known parameters are "
                f"{AccountDetector.param_names()}"
            )
        return AccountDetector(**params)

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "detectors_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(...) or "
                f"{type(self).__name__}.load(dir) first"
            )

    @property
    def node_types_(self) -> list[str]:
        """The entity types a network was trained for, sorted."""
        self._check_is_fitted()
        return sorted(self.detectors_)

    def fit(
        self, snapshot: Snapshot, entity_labels: pd.DataFrame, *, progress: bool = False
    ) -> EntityRiskModel:
        """Train one node classifier per labelled entity type.

        Parameters
        ----------
        snapshot
            The graph snapshot.
        entity_labels
            ``node_type, entity_id, label[, known_at]`` (see
            :func:`gnn.entities.labels.check_entity_labels`). With ``known_at``, each labelled
            entity sees only the edges not newer than it, as the account detector's seeds do.
            Labels naming an entity or a type the snapshot lacks are counted in
            ``metrics_[type]["unknown_labels"]`` (and logged), never silently dropped.
        progress
            Show a per-epoch bar per entity type.

        Returns
        -------
        EntityRiskModel
            ``self``, with ``detectors_`` (type -> fitted detector), ``scaler_``, ``metrics_``
            and ``skipped_`` (type -> why it was not trained) set.

        Raises
        ------
        ValueError
            If the labels are malformed, name ``Account`` (use the account detector), or no
            entity type has enough labels of both classes.
        """
        if self.min_labels_per_class < 2:
            raise ValueError(
                f"min_labels_per_class must be at least 2, not {self.min_labels_per_class}"
            )
        template = self._detector()
        labels = check_entity_labels(entity_labels)
        if (labels["node_type"] == ACCOUNT).any():
            raise ValueError(
                "entity labels name node type 'Account'; account labels train the "
                "AccountDetector, not the entity model"
            )
        data, self.scaler_ = snapshot_to_heterodata(snapshot)
        fingerprint = snapshot_fingerprint(snapshot)
        self.detectors_: dict[str, AccountDetector] = {}
        self.metrics_: dict[str, dict[str, Any]] = {}
        self.skipped_: dict[str, str] = {}
        for node_type, group in labels.groupby("node_type", sort=True):
            if node_type not in data.node_types:
                self.skipped_[node_type] = (
                    f"{len(group)} labels, but the snapshot has no {node_type!r} nodes "
                    f"(it has {list(data.node_types)})"
                )
                logger.warning("%s labels skipped: %s", node_type, self.skipped_[node_type])
                continue
            rows = pd.Index(data[node_type].node_ids).get_indexer(group["entity_id"])
            known = rows >= 0
            unknown = int((~known).sum())
            if unknown:
                logger.warning(
                    "%d of %d %s labels name entities not in the snapshot, e.g. %s",
                    unknown, len(group), node_type,
                    group.loc[~known, "entity_id"].head(3).tolist(),
                )
            y = group["label"].to_numpy(np.float32)[known]
            counts = np.bincount(y.astype(np.int64), minlength=2)
            if counts.min() < self.min_labels_per_class:
                self.skipped_[node_type] = (
                    f"{counts[1]} positive and {counts[0]} negative labelled entities in the "
                    f"snapshot; each class needs at least {self.min_labels_per_class}"
                )
                logger.warning("%s not trained: %s", node_type, self.skipped_[node_type])
                continue
            times = to_epoch_seconds(group["known_at"])[known]
            rows = rows[known]
            detector = AccountDetector(**template.get_params())
            train, val = stratified_split(y, detector.val_fraction, detector.random_state)
            boost_note = _without_boost_if_too_few(detector, y[train], node_type)
            detector.fit_graph(
                data, rows[train], y[train], rows[val], y[val], times[train], times[val],
                target_type=node_type, progress=progress,
            )
            detector.scaler_ = self.scaler_
            detector.feature_names_ = detector._feature_names()
            detector.fingerprint_ = fingerprint
            self.detectors_[node_type] = detector
            self.metrics_[node_type] = {**detector.metrics_, "unknown_labels": unknown,
                                        **({"boost_off": boost_note} if boost_note else {})}
        if not self.detectors_:
            raise ValueError(
                "no entity type has enough labels to train on: "
                + "; ".join(f"{t}: {why}" for t, why in self.skipped_.items())
            )
        self.fingerprint_ = fingerprint
        return self

    def score_entities(self, snapshot: Snapshot) -> pd.DataFrame:
        """Calibrated risk of every entity of the trained types in ``snapshot``.

        Returns
        -------
        pd.DataFrame
            ``node_type`` str, ``entity_id`` str, ``score`` float in [0, 1] (higher = riskier),
            types in :attr:`node_types_` order. A trained type absent from ``snapshot`` has no
            rows.
        """
        self._check_is_fitted()
        data, _ = snapshot_to_heterodata(snapshot, self.scaler_)
        frames = []
        for node_type in self.node_types_:
            if node_type not in data.node_types:
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "node_type": node_type,
                        "entity_id": np.asarray(data[node_type].node_ids, dtype=object),
                        "score": self.detectors_[node_type].score_graph(data),
                    }
                )
            )
        if not frames:
            return pd.DataFrame(
                {"node_type": pd.Series(dtype=object), "entity_id": pd.Series(dtype=object),
                 "score": pd.Series(dtype=np.float64)}
            )
        return pd.concat(frames, ignore_index=True)

    # -------------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``metadata.json`` and one detector directory per entity type into ``path``.

        Each type's directory (``type-0``, ``type-1``, ... as listed in the metadata) is what
        :meth:`gnn.detector.AccountDetector.save` writes: a ``state_dict`` and its JSON.
        """
        self._check_is_fitted()
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        directories = {t: f"type-{i}" for i, t in enumerate(self.node_types_)}
        for node_type, name in directories.items():
            self.detectors_[node_type].save(target / name)
        metadata = {
            "format_version": FORMAT_VERSION,
            "kind": type(self).__name__,
            "config": self.get_params(),
            "node_types": directories,
            "scaler": self.scaler_.to_dict(),
            "data_fingerprint": self.fingerprint_,
            "metrics": self.metrics_,
            "skipped": self.skipped_,
        }
        write_text_atomic(target / METADATA_FILE, json.dumps(metadata, indent=2, default=float))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EntityRiskModel:
        """Load a model written by :meth:`save` (weights read with ``weights_only=True``).

        Raises
        ------
        FileNotFoundError
            If ``path`` holds no ``metadata.json``.
        ValueError
            If its ``metadata.json`` is not JSON (naming line and column), or it holds another
            kind of model or another format version.
        """
        source = Path(path)
        meta_file = source / METADATA_FILE
        if not meta_file.is_file():
            raise FileNotFoundError(
                f"{source} holds no saved entity model ({meta_file.name} is missing); "
                "pass the directory given to EntityRiskModel.save"
            )
        try:
            metadata = json.loads(meta_file.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{meta_file}: not valid JSON (line {err.lineno}, column "
                             f"{err.colno}: {err.msg})") from None
        if metadata.get("kind") != cls.__name__:
            raise ValueError(
                f"{meta_file}: holds a {metadata.get('kind')!r}, not a {cls.__name__}"
            )
        if metadata.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{meta_file}: format_version {metadata.get('format_version')!r} is not "
                f"supported (expected {FORMAT_VERSION}); retrain the model"
            )
        model = cls(**metadata["config"])
        model.detectors_ = {
            node_type: AccountDetector.load(source / name)
            for node_type, name in metadata["node_types"].items()
        }
        model.scaler_ = FeatureScaler.from_dict(metadata["scaler"])
        model.fingerprint_ = metadata["data_fingerprint"]
        model.metrics_ = metadata["metrics"]
        model.skipped_ = metadata["skipped"]
        return model


def _without_boost_if_too_few(detector: AccountDetector, train_y: np.ndarray,
                              node_type: str) -> str | None:
    """Turn ``detector``'s boosted channel off when a class has fewer than two training labels
    (its out-of-fold logits need two folds holding each class): entities often carry a handful
    of labels. Returns the reason, logged and kept in the type's metrics, or ``None``."""
    if detector.boost is None:
        return None
    counts = np.bincount(np.asarray(train_y).astype(np.int64), minlength=2)
    if counts.min() >= 2:
        return None
    note = (f"{counts[1]} positive and {counts[0]} negative training labels: too few for the "
            "boosted channel's out-of-fold logits, trained without it")
    logger.warning("%s: %s", node_type, note)
    detector.set_params(boost=None)
    return note
