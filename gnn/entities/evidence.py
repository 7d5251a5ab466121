"""Label evidence as node features: how many of each node's events were labelled fraudulent or
genuine by a given time.

A terminal's strongest evidence is its own chargebacks, and its customers' fraud elsewhere; the
graph snapshot's activity features carry neither. :func:`with_label_evidence` adds three columns
to every node table that labelled events name (accounts by ``account_id``, entity types by their
column): ``fraud_labels`` and ``genuine_labels`` (labelled events) and ``fraud_label_share``
(fraudulent among them, 0 without any). Only labels known by ``as_of`` count, so evidence can be
cut off where a test period starts. Apply it to the snapshot given to
:meth:`gnn.entities.EntityRiskModel.fit` and to every snapshot it scores alike (a model trained
with these columns refuses a snapshot without them).

:func:`with_compromise_evidence` adds the common-point-of-compromise evidence
(:mod:`gnn.events.compromise`: cards with a known fraud, or reported compromised, shortly after
visiting the entity, against its traffic) to every entity type but the cards', as of a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from gnn.entities.labels import binary_event_labels
from gnn.events.compromise import (
    COMPROMISE_COLUMNS,
    FALLBACK_HOLDER,
    CompromiseIndex,
    CompromiseSettings,
)
from graph.snapshot import ACCOUNT, PAYMENT_METHOD, Snapshot

#: The columns :func:`with_label_evidence` adds, in order.
EVIDENCE_COLUMNS = ("fraud_labels", "genuine_labels", "fraud_label_share")


def with_label_evidence(
    snapshot: Snapshot,
    labelled_events: pd.DataFrame,
    entity_columns: Mapping[str, str],
    as_of: pd.Timestamp | str | None = None,
) -> Snapshot:
    """A copy of ``snapshot`` whose node tables carry the label evidence of their events.

    Parameters
    ----------
    snapshot
        The graph snapshot (not modified).
    labelled_events
        One row per labelled event: ``label`` (1 = fraudulent, 0 = genuine), optionally
        ``known_at``, ``account_id`` and the entity columns named in ``entity_columns``.
    entity_columns
        Node type -> column of ``labelled_events`` with that type's entity id; ``Account`` is
        read from ``account_id`` when that column is there.
    as_of
        Only labels known at or before this time count (an undated label counts only without
        ``as_of``); default: every label.

    Returns
    -------
    Snapshot
        The same snapshot with :data:`EVIDENCE_COLUMNS` on every node type named (0 for nodes
        without labelled events).

    Raises
    ------
    ValueError
        If a named column is missing, a label is not 0/1, or a node type is not in the snapshot.
    """
    columns = dict(entity_columns)
    if "account_id" in labelled_events.columns:
        columns.setdefault(ACCOUNT, "account_id")
    missing = [c for c in ["label", *columns.values()] if c not in labelled_events.columns]
    if missing:
        raise ValueError(
            f"labelled events lack column(s) {missing}; they have {list(labelled_events.columns)}"
        )
    unknown = [t for t in columns if t not in snapshot.nodes]
    if unknown:
        raise ValueError(
            f"node type(s) {unknown} are not in the snapshot (it has {snapshot.node_types})"
        )
    label = binary_event_labels(labelled_events)
    known = np.ones(len(labelled_events), dtype=bool)
    if as_of is not None:
        if "known_at" not in labelled_events.columns:
            raise ValueError("as_of needs a known_at column in the labelled events")
        known_at = pd.to_datetime(labelled_events["known_at"], utc=True)
        known = (known_at <= pd.to_datetime(as_of, utc=True)).fillna(False).to_numpy(dtype=bool)
    nodes = dict(snapshot.nodes)
    for node_type, column in columns.items():
        ids = labelled_events[column]
        use = known & ids.notna().to_numpy()
        counts = pd.crosstab(ids[use].astype(str), label[use].astype(np.int64))
        counts = counts.reindex(columns=[0, 1], fill_value=0)
        table = nodes[node_type].copy()
        at = counts.reindex(table["id"].astype(str)).fillna(0).to_numpy(np.float64)
        table["fraud_labels"] = at[:, 1]
        table["genuine_labels"] = at[:, 0]
        table["fraud_label_share"] = at[:, 1] / np.maximum(at.sum(axis=1), 1.0)
        nodes[node_type] = table
    return replace(snapshot, nodes=nodes)


def with_compromise_evidence(
    snapshot: Snapshot,
    events: pd.DataFrame,
    event_labels: pd.DataFrame | None,
    entity_columns: Mapping[str, str],
    as_of: pd.Timestamp | str,
    *,
    payment_type: str = PAYMENT_METHOD,
    settings: CompromiseSettings | None = None,
    entity_labels: pd.DataFrame | None = None,
) -> Snapshot:
    """A copy of ``snapshot`` whose entity tables carry :data:`COMPROMISE_COLUMNS` as of
    ``as_of``.

    Parameters
    ----------
    snapshot
        The graph snapshot (not modified).
    events
        ``event_id, ts, account_id`` and the columns of ``entity_columns``.
    event_labels
        ``event_id, label[, known_at]``.
    entity_columns
        Entity node type -> its column in ``events``. The holder (card) is the column of
        ``payment_type`` when named, else ``account_id``; every other type named gets the
        columns (0 for an entity without any evidence).
    as_of
        Only labels known before the start of ``as_of``'s day count.
    payment_type
        The node type of the cards.
    settings
        The windows.
    entity_labels
        ``node_type, entity_id, label, known_at``: those of the holder's type (``payment_type``,
        or ``Account`` when the holder is ``account_id``) labelled 1 are card reports that
        count from their ``known_at`` on; ``None``: only the event labels count.

    Returns
    -------
    Snapshot
        The same snapshot with the evidence on every entity type but the holder's.

    Raises
    ------
    ValueError
        If a node type is not in the snapshot, names ``Account``, or a column is missing.
    """
    columns = dict(entity_columns)
    unknown = [t for t in columns if t not in snapshot.nodes]
    if unknown:
        raise ValueError(
            f"node type(s) {unknown} are not in the snapshot (it has {snapshot.node_types})"
        )
    if ACCOUNT in columns:
        raise ValueError("entity_columns names 'Account': accounts are not compromise points")
    holder_type = payment_type if payment_type in columns else ACCOUNT
    holder = columns.pop(payment_type, FALLBACK_HOLDER)
    reports = None
    if entity_labels is not None:
        if "node_type" not in entity_labels:
            raise ValueError("entity labels lack the column 'node_type'; they have "
                             f"{list(entity_labels.columns)}")
        reports = entity_labels[entity_labels["node_type"] == holder_type].drop(
            columns="node_type")
    index = CompromiseIndex(events, event_labels, holder=holder, points=list(columns.values()),
                            settings=settings, until=as_of, reports=reports)
    nodes = dict(snapshot.nodes)
    for node_type, column in columns.items():
        evidence = index.at(column, as_of)
        table = nodes[node_type].copy()
        values = evidence.reindex(table["id"].astype(str)).fillna(0.0)
        for name in COMPROMISE_COLUMNS:
            table[name] = values[name].to_numpy(np.float64)
        nodes[node_type] = table
    return replace(snapshot, nodes=nodes)
