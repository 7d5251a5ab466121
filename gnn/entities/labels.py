"""Entity labels: the checked ``node_type, entity_id, label, known_at`` table, and the rule that
derives it from labelled events.

An entity label says that a terminal, card, device, ... is compromised (1) or genuine (0), and
when that became known (``known_at``, optional). Fraud teams hold such labels directly (a terminal
found skimming) or implicitly, through labelled events: a terminal whose transactions were charged
back again and again is itself compromised. :func:`entity_labels_from_events` turns event labels
into entity labels by :class:`EntityLabelRule`, documented there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Columns of an entity labels table (``known_at`` may be absent or null).
ENTITY_LABEL_COLUMNS = ("node_type", "entity_id", "label", "known_at")


@dataclass(frozen=True)
class EntityLabelRule:
    """When labelled events make an entity positive, negative, or leave it unlabelled.

    Of the labelled events that name an entity (in one of its entity columns):

    - **positive** (1) when at least ``min_events`` are fraudulent and fraudulent ones make at
      least ``min_share`` of them;
    - **negative** (0) when none is fraudulent and at least ``min_genuine_events`` are genuine;
    - unlabelled otherwise (some fraud, but too little to blame the entity; or too few genuine
      events to vouch for it).

    ``known_at`` of a derived label is the first moment the rule held on the event labels known
    by then (events ordered by their ``known_at``; an event without one counts as known last);
    null when that moment depends on an event whose ``known_at`` is unknown.

    Parameters
    ----------
    min_events
        Fraudulent labelled events needed for a positive entity (at least 1).
    min_share
        Share of fraudulent among the entity's labelled events needed for a positive, in (0, 1].
    min_genuine_events
        Genuine labelled events needed, with no fraudulent one, for a negative entity (at least
        1).
    """

    min_events: int = 2
    min_share: float = 0.5
    min_genuine_events: int = 5

    def __post_init__(self) -> None:
        if self.min_events < 1:
            raise ValueError(f"min_events must be at least 1, not {self.min_events}")
        if not 0.0 < self.min_share <= 1.0:
            raise ValueError(f"min_share must be in (0, 1], not {self.min_share}")
        if self.min_genuine_events < 1:
            raise ValueError(
                f"min_genuine_events must be at least 1, not {self.min_genuine_events}"
            )


def check_entity_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """An entity labels table checked and made canonical: one row per entity.

    Parameters
    ----------
    labels
        ``node_type, entity_id, label[, known_at]``; labels 0 or 1. An entity labelled twice
        with the same label keeps its earliest ``known_at``.

    Returns
    -------
    pd.DataFrame
        ``node_type`` str, ``entity_id`` str, ``label`` int8, ``known_at`` UTC timestamp (NaT
        where unknown), sorted by node type and entity id.

    Raises
    ------
    ValueError
        If a column is missing, a label is not 0/1 (naming the rows), or an entity has
        contradictory labels (naming the entities and their rows).
    """
    missing = {"node_type", "entity_id", "label"} - set(labels.columns)
    if missing:
        raise ValueError(
            f"entity labels lack column(s) {sorted(missing)}; they have {list(labels.columns)} "
            f"(expected {', '.join(ENTITY_LABEL_COLUMNS)}; known_at optional)"
        )
    table = pd.DataFrame(
        {
            "node_type": labels["node_type"].astype(str).to_numpy(),
            "entity_id": labels["entity_id"].astype(str).to_numpy(),
            "label": pd.to_numeric(labels["label"], errors="coerce").to_numpy(),
            "known_at": (
                pd.to_datetime(labels["known_at"], utc=True).to_numpy()
                if "known_at" in labels.columns
                else np.full(len(labels), np.datetime64("NaT"), dtype="datetime64[ns]")
            ),
        }
    )
    table["known_at"] = pd.to_datetime(table["known_at"], utc=True)
    bad = ~np.isin(table["label"], [0, 1])
    if bad.any():
        rows = np.flatnonzero(bad)[:5]
        raise ValueError(
            f"entity labels must be 0 or 1; rows {rows.tolist()} hold "
            f"{labels['label'].iloc[rows].tolist()}"
        )
    table["label"] = table["label"].astype(np.int8)
    classes = table.groupby(["node_type", "entity_id"])["label"].nunique()
    contradictory = classes[classes > 1].index
    if len(contradictory):
        keys = pd.MultiIndex.from_frame(table[["node_type", "entity_id"]])
        rows = np.flatnonzero(keys.isin(contradictory))
        named = [f"{t}:{e}" for t, e in contradictory[:5]]
        raise ValueError(
            f"contradictory entity labels (both 0 and 1) for {len(contradictory)} entities, "
            f"e.g. {named}, in rows {rows[:10].tolist()}"
        )
    table = table.sort_values(["node_type", "entity_id", "known_at"], na_position="last")
    table = table.drop_duplicates(["node_type", "entity_id"], keep="first")
    return table.reset_index(drop=True)


def entity_labels_from_events(
    event_labels: pd.DataFrame,
    entity_columns: Mapping[str, str],
    rule: EntityLabelRule | None = None,
) -> pd.DataFrame:
    """Entity labels implied by labelled events, by ``rule`` (see :class:`EntityLabelRule`).

    Parameters
    ----------
    event_labels
        One row per labelled event: ``label`` (1 = fraudulent, 0 = genuine), optionally
        ``known_at`` (when the label became known), and the event's entity columns
        (``event_id, account_id, ts`` may be there too; they are not needed). An event with a
        null entity column implicates no entity of that type.
    entity_columns
        Node type -> the column of ``event_labels`` holding that type's entity id, e.g.
        ``{"Terminal": "terminal_id", "PaymentMethod": "payment_id"}``.
    rule
        The rule; default :class:`EntityLabelRule()`.

    Returns
    -------
    pd.DataFrame
        ``node_type, entity_id, label, known_at`` as :func:`check_entity_labels` returns it,
        for every entity the rule labels.

    Raises
    ------
    ValueError
        If a named column is missing or an event label is not 0/1 (naming the rows).

    Examples
    --------
    >>> entity_labels_from_events(tx_labels, {"Terminal": "terminal_id"},
    ...                           EntityLabelRule(min_events=3, min_share=0.5))
    """
    rule = rule or EntityLabelRule()
    needed = ["label", *entity_columns.values()]
    missing = [c for c in needed if c not in event_labels.columns]
    if missing:
        raise ValueError(
            f"event labels lack column(s) {missing}; they have {list(event_labels.columns)}"
        )
    label = binary_event_labels(event_labels)
    if "known_at" in event_labels.columns:
        known_at = pd.to_datetime(event_labels["known_at"], utc=True)
    else:
        known_at = pd.Series(pd.NaT, index=event_labels.index, dtype="datetime64[ns, UTC]")
    frames = []
    for node_type, column in entity_columns.items():
        ids = event_labels[column]
        present = ids.notna().to_numpy()
        events = pd.DataFrame(
            {
                "entity_id": ids[present].astype(str).to_numpy(),
                "fraud": label[present].astype(np.int64),
                "known_at": known_at[present].to_numpy(),
            }
        )
        frames.append(_apply_rule(events, rule).assign(node_type=node_type))
    if not frames:
        return check_entity_labels(pd.DataFrame(columns=list(ENTITY_LABEL_COLUMNS)))
    return check_entity_labels(pd.concat(frames, ignore_index=True))


def binary_event_labels(events: pd.DataFrame) -> np.ndarray:
    """The ``label`` column of ``events`` as numbers, each 0 or 1.

    Raises
    ------
    ValueError
        If a label is not 0 or 1 (blank, text, 2, ...), naming the first rows that are not.
    """
    label = pd.to_numeric(events["label"], errors="coerce").to_numpy()
    bad = ~np.isin(label, [0, 1])
    if bad.any():
        rows = np.flatnonzero(bad)[:5]
        raise ValueError(
            f"event labels must be 0 or 1; rows {rows.tolist()} hold "
            f"{events['label'].iloc[rows].tolist()}"
        )
    return label


def _apply_rule(events: pd.DataFrame, rule: EntityLabelRule) -> pd.DataFrame:
    """``entity_id, label, known_at`` of the entities ``rule`` labels, from their events."""
    events = events.sort_values(["entity_id", "known_at"], na_position="last", kind="stable")
    group = events.groupby("entity_id", sort=False)
    fraud_so_far = group["fraud"].cumsum().to_numpy()
    seen_so_far = group.cumcount().to_numpy() + 1
    genuine_so_far = seen_so_far - fraud_so_far
    fraud_total = group["fraud"].transform("sum").to_numpy()
    seen_total = group["fraud"].transform("size").to_numpy()
    positive = (fraud_total >= rule.min_events) & (fraud_total >= rule.min_share * seen_total)
    negative = (fraud_total == 0) & (seen_total - fraud_total >= rule.min_genuine_events)
    held = np.where(
        positive,
        (fraud_so_far >= rule.min_events) & (fraud_so_far >= rule.min_share * seen_so_far),
        negative & (genuine_so_far >= rule.min_genuine_events),
    )
    events = events.assign(label=np.where(positive, 1, 0), held=held)
    first = events[events["held"]].drop_duplicates("entity_id", keep="first")
    return pd.DataFrame(
        {
            "entity_id": first["entity_id"].to_numpy(),
            "label": first["label"].to_numpy(np.int8),
            "known_at": first["known_at"].to_numpy(),
        }
    )
