"""Investigators' decisions -> canonical label tables of the right level.

:func:`decisions_to_labels` reads the decisions file and returns three tables, in the canonical
label schemas (those the labels files give):

- accounts (:data:`ACCOUNT_LABELS_SCHEMA`: ``account_id``, ``label``, ``ts``);
- events (:data:`EVENT_LABELS_SCHEMA`: ``event_id``, ``label``, ``known_at``);
- entities (:data:`ENTITY_LABELS_SCHEMA`: ``node_type``, ``entity_id``, ``label``,
  ``known_at``).

The rules, in order:

1. Only the given graph's decisions count, and on each target (a ring, an account, an entity,
   an event) only the latest one: a later decision overrides an earlier one, and its
   ``decided_at`` is when the label became known (``ts`` / ``known_at``). Two decisions at the
   same instant: the one appended later wins.
2. A confirmed account is label 1, a dismissed one 0; the same for entities and events.
3. A confirmed ring labels each of its members 1 (the members stored in the decision: those of
   the ring the analyst saw), known from the earliest standing confirmation of a ring holding it.
4. A dismissed ring labels nobody. Dismissing a ring says "these accounts do not act together
   as abusers": a family sharing a laptop, an office behind one IP. It does not say that each
   member is honest (one of them may still be a lone fraudster the analyst did not review), so
   calling every member legitimate would teach the model a 0 nobody decided. It still
   overrides an earlier confirmation of the same ring (rule 1).
5. A decision about the account itself beats one about a ring it is in, whatever their order:
   it is the more specific judgement.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from abusenet.cases.decisions import CONFIRMED, ENTITY, Decision, read_decisions
from ingest.event_labels import ENTITY_LABELS_SCHEMA, EVENT_LABELS_SCHEMA
from ingest.labels import LABELS_SCHEMA as ACCOUNT_LABELS_SCHEMA


def decisions_to_labels(
    path: Path | None, graph: str
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The labels that the decisions about ``graph`` make (rules in the module docstring).

    Parameters
    ----------
    path
        The decisions file (``None``: :func:`abusenet.cases.decisions.decisions_path`).
    graph
        The graph whose decisions count (``abusenet run --graph``).

    Returns
    -------
    tuple of pyarrow.Table
        ``(accounts, events, entities)`` in :data:`ACCOUNT_LABELS_SCHEMA`,
        :data:`EVENT_LABELS_SCHEMA` and :data:`ENTITY_LABELS_SCHEMA`, sorted by id; empty
        tables when no decision is about the graph.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    abusenet.cases.decisions.DecisionsFileError
        If a line of the file is not a decision (naming the file and the line).
    """
    if path is not None and not path.exists():
        raise FileNotFoundError(
            f"there is no decisions file at {path}; decisions are recorded with `abusenet case "
            "confirm|dismiss`")
    latest = _latest_by_target(d for d in read_decisions(path) if d.graph == graph)
    direct: dict[str, Decision] = {}
    from_rings: dict[str, Decision] = {}
    events: dict[str, Decision] = {}
    entities: dict[tuple[str, str], Decision] = {}
    for decision in latest:
        if decision.target_kind == "account":
            direct[decision.target_id] = decision
        elif decision.target_kind == "event":
            events[decision.target_id] = decision
        elif decision.target_kind == ENTITY:
            entities[(decision.target_type, decision.target_id)] = decision
        elif decision.decision == CONFIRMED:
            for member in decision.members or ():
                known = from_rings.get(member)
                if known is None or decision.decided_at < known.decided_at:
                    from_rings[member] = decision
    accounts = {**from_rings, **direct}
    return (
        _table(ACCOUNT_LABELS_SCHEMA, [(a, d.label, d.decided_at)
                                       for a, d in sorted(accounts.items())]),
        _table(EVENT_LABELS_SCHEMA, [(e, d.label, d.decided_at)
                                     for e, d in sorted(events.items())]),
        _table(ENTITY_LABELS_SCHEMA, [(t, e, d.label, d.decided_at)
                                      for (t, e), d in sorted(entities.items())]),
    )


def _latest_by_target(decisions: Iterable[Decision]) -> list[Decision]:
    """The latest decision on each target; ties go to the one appended later."""
    latest: dict[tuple[str, str, str], Decision] = {}
    for decision in decisions:
        key = (decision.target_kind, decision.target_type, decision.target_id)
        earlier = latest.get(key)
        if earlier is None or decision.decided_at >= earlier.decided_at:
            latest[key] = decision
    return list(latest.values())


def _table(schema: pa.Schema, rows: list[tuple[object, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.Table.from_arrays(
        [pa.array(list(values), type=field.type) for values, field in zip(columns, schema,
                                                                           strict=True)],
        schema=schema,
    )
