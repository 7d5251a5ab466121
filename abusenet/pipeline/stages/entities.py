"""The entities stage: supervised entity risk next to the pooled one -> ``entity_scores.parquet``
with its ``method`` column.

Entity labels come from two places: those given (``--entity-labels``) and those the labelled
events imply (:func:`gnn.entities.entity_labels_from_events`, :class:`gnn.entities.EntityLabelRule`
defaults). **A given label wins** over a derived one for the same entity: it is a direct finding
(a terminal found skimming), the derived one an inference from chargebacks.

Per entity type, ``holdout_fraction`` of its labelled entities (stratified, seeded) is held back
when each class has at least three. The model is fitted on a snapshot carrying label evidence
(:func:`gnn.entities.with_label_evidence`, ``as_of`` the latest event: what an investigator has
when the run scores) from which **every labelled event touching a held-back entity is left
out**, so a held-back terminal is judged without its own chargebacks; the metrics are measured
on that snapshot. Entities also carry the common-point-of-compromise evidence
(:func:`gnn.entities.with_compromise_evidence`: cards with known fraud that visited an entity
shortly before, against all its traffic), from the same labelled events and from the cards the
given entity labels report compromised (``PaymentMethod`` labelled 1, from their ``known_at``
on; held-back ones left out when fitting). The published scores
use the evidence of every labelled event. Labels without ``known_at`` count as known
:data:`gnn.events.features.DEFAULT_LABEL_DELAY_DAYS` after their event. Types the model does
not score keep their pooled scores (:func:`gnn.entity_scores.combine_entity_scores`); a run
without event or entity labels writes the pooled scores as they were, all ``method`` =
``pooled``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abusenet.pipeline.outputs import write_contract_table
from abusenet.pipeline.stages.files import ENTITY_SCORES

logger = logging.getLogger(__name__)

#: The saved entity model, inside the run's model directory (``model/entities``).
ENTITY_MODEL = "entities"
#: Each class of an entity type needs this many labels before any of them is held back.
MIN_PER_CLASS_FOR_HOLDOUT = 3


def pooled_entities_stage(pooled_path: Path, out: Path) -> dict[str, Any]:
    """The pooled entity scores as they are, ``method`` = ``pooled`` (no entity model)."""
    return _publish(pd.read_parquet(pooled_path), None, out, {})


def train_entities_stage(
    snapshot_dir: Path,
    events_dir: Path,
    entity_columns: dict[str, str],
    pooled_path: Path,
    event_labels_path: Path | None,
    entity_labels_path: Path | None,
    out: Path,
    *,
    holdout_fraction: float,
    seed: int,
    detector_params: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train the entity model on given and event-derived entity labels, score every entity of
    the trained types, combine with the pooled scores -> ``out/entity_scores.parquet`` and
    ``out/entities`` (the model). Without enough labels for any type, the pooled scores are
    written (``skipped`` says why).

    Parameters
    ----------
    entity_columns
        Entity node type -> the events' column with its id (:func:`entity_event_columns`).
    detector_params
        The run's ``detector`` settings, passed to each entity type's network (its
        ``random_state`` is ``seed``).
    """
    from gnn.entities import EntityRiskModel, entity_labels_from_events
    from gnn.entities.labels import check_entity_labels
    from graph.snapshot import read_snapshot

    snapshot = read_snapshot(snapshot_dir)
    columns = {t: c for t, c in entity_columns.items() if t in snapshot.nodes}
    events, end = labelled_events(events_dir, event_labels_path, list(columns.values()))
    given = (check_entity_labels(pd.read_parquet(entity_labels_path))
             if entity_labels_path is not None else None)
    derived = entity_labels_from_events(events, columns) if not events.empty else None
    labels = merge_entity_labels(given, derived)
    facts: dict[str, Any] = {
        "given": 0 if given is None else int(len(given)),
        "derived_from_events": 0 if derived is None else int(len(derived)),
        "labels": int(len(labels)),
    }
    train, holdout = split_entity_labels(labels, holdout_fraction, seed)
    fit_events = _without_entities(events, holdout, columns)
    every_event = all_events(events_dir, list(columns.values()))
    fit_reports = (None if given is None else
                   given.merge(holdout[["node_type", "entity_id"]], how="left", indicator=True)
                   .query("_merge == 'left_only'").drop(columns="_merge"))
    fit_snapshot = _with_evidence(snapshot, fit_events, columns, end, every_event, fit_reports)
    model = EntityRiskModel({**(detector_params or {}), "random_state": seed})
    try:
        model.fit(fit_snapshot, train, progress=progress)
    except ValueError as exc:
        logger.warning("entity model not trained: %s", exc)
        return _publish(pd.read_parquet(pooled_path), None, out, {**facts, "skipped": str(exc)})
    model.save(out / ENTITY_MODEL)
    metrics = entity_metrics(model.score_entities(fit_snapshot), holdout,
                             what="held-back entity labels, judged without their own events' "
                                  "labels")
    supervised = model.score_entities(_with_evidence(snapshot, events, columns, end,
                                                     every_event, given))
    return _publish(pd.read_parquet(pooled_path), supervised, out,
                    {**facts, "train": int(len(train)), "holdout": int(len(holdout)),
                     "trained_types": model.node_types_, "not_trained": model.skipped_,
                     "metrics": metrics})


def apply_entities_stage(
    snapshot_dir: Path,
    events_dir: Path,
    entity_columns: dict[str, str],
    model_dir: Path,
    pooled_path: Path,
    event_labels_path: Path | None,
    entity_labels_path: Path | None,
    out: Path,
) -> dict[str, Any]:
    """Score entities with the saved entity model ``model_dir`` (``abusenet score``), the label
    evidence from the event labels given (none: zero evidence); measured on all given entity
    labels (none was used to train it here)."""
    from gnn.entities import EntityRiskModel
    from gnn.entities.labels import check_entity_labels
    from graph.snapshot import read_snapshot

    snapshot = read_snapshot(snapshot_dir)
    columns = {t: c for t, c in entity_columns.items() if t in snapshot.nodes}
    events, end = labelled_events(events_dir, event_labels_path, list(columns.values()))
    given = (check_entity_labels(pd.read_parquet(entity_labels_path))
             if entity_labels_path is not None else None)
    model = EntityRiskModel.load(model_dir)
    supervised = model.score_entities(_with_evidence(
        snapshot, events, columns, end, all_events(events_dir, list(columns.values())), given))
    metrics: dict[str, Any] = {}
    if given is not None:
        metrics = entity_metrics(supervised, given, what="all given entity labels (model not "
                                                         "retrained)")
    return _publish(pd.read_parquet(pooled_path), supervised, out,
                    {"trained_types": model.node_types_, "metrics": metrics})


def entity_event_columns(snapshot_node_types: list[str], mapping_entities: dict[str, str],
                         ) -> dict[str, str]:
    """Entity node type -> the canonical events' column holding its id: the built-in ones
    (``Device``: ``device_id``, ``IP``: ``ip``, ``PaymentMethod``: ``payment_id``) and the
    mapping's extra entities (``mapping_entities``: node type -> column), for the types of the
    snapshot."""
    from graph.snapshot import DEVICE, IP, PAYMENT_METHOD

    known = {DEVICE: "device_id", IP: "ip", PAYMENT_METHOD: "payment_id", **mapping_entities}
    return {t: known[t] for t in snapshot_node_types if t in known}


def labelled_events(
    events_dir: Path, event_labels_path: Path | None, columns: list[str]
) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """The matched event labels joined with their events' ``columns`` (those the events have),
    ``known_at`` filled for undated labels, and the time of the latest event.

    Returns
    -------
    tuple
        ``event_id, account_id, label, known_at`` + columns (empty without labels), and the
        latest event time (``None`` without events).
    """
    from gnn.events.features import DEFAULT_LABEL_DELAY_DAYS
    from gnn.events.source import register_events, view_columns
    from ingest.engine import connect
    from ingest.sql import ident, literal
    from ingest.store import event_files

    if not event_files(events_dir):
        return pd.DataFrame(columns=["event_id", "account_id", "label", "known_at",
                                     *columns]), None
    con = connect()
    try:
        register_events(con, events_dir)
        end = con.execute("SELECT max(ts) FROM events").fetchone()[0]
        present = view_columns(con, "events")
        kept = [c for c in columns if c in present]
        if event_labels_path is None:
            table = pd.DataFrame(columns=["event_id", "account_id", "label", "known_at", *kept])
        else:
            delay = f"INTERVAL {int(DEFAULT_LABEL_DELAY_DAYS * 86400e6)} MICROSECOND"
            picked = "".join(f", e.{ident(c)}" for c in kept)
            table = con.execute(
                "SELECT l.event_id, l.account_id, l.label, "
                f"coalesce(l.known_at, l.ts + {delay}) AS known_at{picked} "
                f"FROM read_parquet({literal(str(event_labels_path))}) l "
                "JOIN events e USING (event_id) ORDER BY l.event_id").df()
    finally:
        con.close()
    return table, None if end is None else pd.Timestamp(end)


def all_events(events_dir: Path, columns: list[str]) -> pd.DataFrame:
    """Every stored event's ``event_id, ts, account_id`` and those of ``columns`` it has: the
    traffic the common-point-of-compromise evidence weighs labelled fraud against."""
    from gnn.events.source import register_events, view_columns
    from ingest.engine import connect
    from ingest.sql import ident
    from ingest.store import event_files

    if not event_files(events_dir):
        return pd.DataFrame(columns=["event_id", "ts", "account_id", *columns])
    con = connect()
    try:
        register_events(con, events_dir)
        present = view_columns(con, "events")
        picked = "".join(f", {ident(c)}" for c in columns if c in present)
        return con.execute(f"SELECT event_id, ts, account_id{picked} FROM events").df()
    finally:
        con.close()


def merge_entity_labels(given: pd.DataFrame | None, derived: pd.DataFrame | None
                        ) -> pd.DataFrame:
    """``given`` entity labels, then the ``derived`` ones of entities ``given`` lacks."""
    from gnn.entities.labels import ENTITY_LABEL_COLUMNS, check_entity_labels

    frames = [f for f in (given, derived) if f is not None and not f.empty]
    if not frames:
        return check_entity_labels(pd.DataFrame(columns=list(ENTITY_LABEL_COLUMNS)))
    table = pd.concat(frames, ignore_index=True)
    return table.drop_duplicates(["node_type", "entity_id"], keep="first").reset_index(drop=True)


def split_entity_labels(
    labels: pd.DataFrame, holdout_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and held-back entity labels: per type, ``holdout_fraction`` of each class
    (:func:`gnn.labels.stratified_split`) when each class has at least
    :data:`MIN_PER_CLASS_FOR_HOLDOUT` labels; otherwise all of the type train."""
    from gnn.labels import stratified_split

    held = np.zeros(len(labels), dtype=bool)
    if holdout_fraction > 0:
        for _, rows in labels.groupby("node_type", sort=True).indices.items():
            y = labels["label"].to_numpy()[rows]
            if np.bincount(y.astype(np.int64), minlength=2).min() < MIN_PER_CLASS_FOR_HOLDOUT:
                continue
            _, back = stratified_split(y, holdout_fraction, seed)
            held[rows[back]] = True
    return (labels[~held].reset_index(drop=True), labels[held].reset_index(drop=True))


def entity_metrics(scores: pd.DataFrame, labels: pd.DataFrame, *, what: str
                   ) -> dict[str, Any]:
    """Per entity type: ``auroc, auprc, n, positives, what`` of ``scores`` on ``labels`` (the
    labelled entities the scores cover; ``None`` for a measure one class alone cannot give)."""
    from gnn.evaluate import auprc, auroc

    joined = labels.merge(scores, on=["node_type", "entity_id"], how="inner")
    metrics = {}
    for node_type, group in joined.groupby("node_type", sort=True):
        y = group["label"].to_numpy(np.int64)
        metrics[str(node_type)] = {
            "auroc": _number(auroc(y, group["score"].to_numpy())),
            "auprc": _number(auprc(y, group["score"].to_numpy())),
            "n": int(len(y)), "positives": int(y.sum()), "what": what,
        }
    return metrics


def _without_entities(events: pd.DataFrame, entities: pd.DataFrame, columns: dict[str, str]
                      ) -> pd.DataFrame:
    """``events`` less every event that names one of ``entities``."""
    touching = np.zeros(len(events), dtype=bool)
    for node_type, column in columns.items():
        ids = entities.loc[entities["node_type"] == node_type, "entity_id"]
        if column in events.columns and len(ids):
            touching |= events[column].isin(set(ids)).to_numpy()
    return events[~touching]


def _with_evidence(snapshot: Any, events: pd.DataFrame, columns: dict[str, str],
                   end: pd.Timestamp | None, every_event: pd.DataFrame,
                   reports: pd.DataFrame | None) -> Any:
    """``snapshot`` with the label evidence of the labelled ``events`` and the common point of
    compromise they and the card ``reports`` (entity labels) show against ``every_event``'s
    traffic, both as known by ``end``."""
    from gnn.entities import with_compromise_evidence, with_label_evidence

    present = {t: c for t, c in columns.items() if c in events.columns}
    snapshot = with_label_evidence(snapshot, events, present, as_of=end)
    traffic = {t: c for t, c in columns.items() if c in every_event.columns}
    if end is None or not traffic:
        return snapshot
    return with_compromise_evidence(snapshot, every_event, events[["event_id", "label",
                                                                   "known_at"]],
                                    traffic, as_of=end, entity_labels=reports)


def _publish(pooled: pd.DataFrame, supervised: pd.DataFrame | None, out: Path,
             info: dict[str, Any]) -> dict[str, Any]:
    from gnn.entity_scores import SUPERVISED, combine_entity_scores

    table = combine_entity_scores(pooled, supervised)
    write_contract_table(table, ENTITY_SCORES, out / ENTITY_SCORES)
    return {**info, "entities": int(len(table)),
            "supervised": int((table["method"] == SUPERVISED).sum())}


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
