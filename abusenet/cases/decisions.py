"""The decisions file: one JSON line per investigator's decision, only ever appended to.

The file is ``<home>/cases/decisions.jsonl`` (``$ABUSENET_HOME``, default ``.abusenet``). Each
line is one :class:`Decision`: ``id``, ``graph``, ``decision`` (``confirmed`` or
``dismissed``), ``target_kind`` (``ring``, ``account``, ``entity`` or ``event``),
``target_type`` (the target's node label: ``Ring``, ``Account``, ``Event`` or the entity type),
``target_id``, ``members`` (a ring's member accounts when it was decided, else ``null``),
``analyst``, ``case``, ``note`` (verbatim), ``decided_at`` (UTC, ISO-8601) and ``os_user`` (the
operating-system account). It is written the way the query audit log is
(:func:`abusenet.append_log.append_json_line`: created 0600, ``O_APPEND``, one ``write`` per
line) and flushed to disk before the decision goes to Neo4j, so the file is the record of
truth: Neo4j holds a copy that ``abusenet case sync`` can always complete.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from abusenet.append_log import append_json_line, os_user
from graph.snapshot import ACCOUNT
from graph.store.connection import state_dir
from graph.store.decisions import EVENT
from graph.store.names import RING

#: The file's place under the project home.
DECISIONS_FILE = Path("cases") / "decisions.jsonl"
#: What a decision says about its target.
CONFIRMED, DISMISSED = "confirmed", "dismissed"
#: What a decision can be about, and the node label of each kind (entities: their own type).
KIND_LABELS = {"ring": RING, "account": ACCOUNT, "event": EVENT}
ENTITY = "entity"
TARGET_KINDS = (*KIND_LABELS, ENTITY)
_TEXT_FIELDS = ("id", "graph", "decision", "target_kind", "target_type", "target_id", "analyst",
                "os_user")


class DecisionsFileError(ValueError):
    """The decisions file holds a line that is not a decision; the message names file and line."""


@dataclass(frozen=True)
class Decision:
    """One investigator's decision about one ring, account, entity or event of one graph."""

    id: str
    graph: str
    decision: str
    target_kind: str
    target_type: str
    target_id: str
    analyst: str
    case: str | None
    note: str | None
    decided_at: datetime
    os_user: str
    members: tuple[str, ...] | None = None

    @property
    def label(self) -> int:
        """1 for a confirmed target (abusive), 0 for a dismissed one."""
        return 1 if self.decision == CONFIRMED else 0

    @property
    def target(self) -> str:
        """``Type:id``, as investigators write entities."""
        return f"{self.target_type}:{self.target_id}"

    def to_record(self) -> dict[str, Any]:
        """The decision as one line's JSON object (``decided_at`` as ISO-8601 text)."""
        record = asdict(self)
        record["decided_at"] = self.decided_at.isoformat()
        record["members"] = None if self.members is None else list(self.members)
        return record

    def to_properties(self) -> dict[str, Any]:
        """The decision as :func:`graph.store.decisions.write_decisions` takes it."""
        return {**self.to_record(), "decided_at": self.decided_at}


def decisions_path() -> Path:
    """Where decisions are appended: ``<home>/cases/decisions.jsonl``."""
    return state_dir() / DECISIONS_FILE


def new_decision(
    *, graph: str, decision: str, target_kind: str, target_type: str, target_id: str,
    analyst: str, case: str | None = None, note: str | None = None,
    members: tuple[str, ...] | None = None, decided_at: datetime | None = None,
) -> Decision:
    """A decision made now (or at ``decided_at``), with a fresh id and the OS user.

    Raises
    ------
    ValueError
        If ``decision`` or ``target_kind`` is not one of the known values, ``analyst`` is
        blank, or ``decided_at`` has no time zone.
    """
    decided_at = decided_at or datetime.now(UTC)
    return _checked(Decision(
        id=uuid.uuid4().hex, graph=graph, decision=decision, target_kind=target_kind,
        target_type=target_type, target_id=target_id, analyst=analyst, case=case, note=note,
        decided_at=decided_at.astimezone(UTC) if decided_at.tzinfo else decided_at,
        os_user=os_user(), members=members,
    ))


def append_decision(decision: Decision, path: Path | None = None) -> Path:
    """Append ``decision`` as one line and flush it to disk; returns the file's path.

    Raises
    ------
    OSError
        When the file cannot be written, or the line was written only in part (the message
        names the file).
    """
    return append_json_line(decision.to_record(), decisions_path() if path is None else path,
                            sync=True)


def read_decisions(path: Path | None = None) -> list[Decision]:
    """Every decision in the file, in the order they were appended.

    A missing file holds no decisions. A line repeating an earlier line's decision is skipped.

    Raises
    ------
    DecisionsFileError
        At the first line that is not a decision (naming the file, the line and the problem),
        or a decision id used twice for different decisions.
    """
    path = decisions_path() if path is None else path
    if not path.exists():
        return []
    decisions: dict[str, Decision] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"decisions file {path}, line {number}"
            decision = _parse(line, where)
            earlier = decisions.setdefault(decision.id, decision)
            if earlier != decision:
                raise DecisionsFileError(
                    f"{where}: decision id {decision.id!r} is already used by an earlier line "
                    "for a different decision; the file is append-only, remove the line added "
                    "by hand")
    return list(decisions.values())


def _parse(line: str, where: str) -> Decision:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise DecisionsFileError(f"{where}, column {err.colno}: not JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise DecisionsFileError(f"{where}: not a JSON object")
    try:
        for name in _TEXT_FIELDS:
            if not isinstance(record.get(name), str):
                raise ValueError(f"field {name!r} must be text, got {record.get(name)!r}")
        for name in ("case", "note"):
            if record.get(name) is not None and not isinstance(record[name], str):
                raise ValueError(f"field {name!r} must be text or null, got {record[name]!r}")
        members = record.get("members")
        if members is not None and not (isinstance(members, list)
                                        and all(isinstance(m, str) for m in members)):
            raise ValueError(f"field 'members' must be a list of account ids, got {members!r}")
        try:
            decided_at = datetime.fromisoformat(str(record.get("decided_at")))
        except ValueError:
            raise ValueError(f"field 'decided_at' must be an ISO-8601 time, got "
                             f"{record.get('decided_at')!r}") from None
        return _checked(Decision(
            **{name: record[name] for name in _TEXT_FIELDS},
            case=record.get("case"), note=record.get("note"), decided_at=decided_at,
            members=None if members is None else tuple(members),
        ))
    except ValueError as err:
        raise DecisionsFileError(f"{where}: {err}") from None


def _checked(decision: Decision) -> Decision:
    if decision.decision not in (CONFIRMED, DISMISSED):
        raise ValueError(f"decision must be {CONFIRMED!r} or {DISMISSED!r}, got "
                         f"{decision.decision!r}")
    if decision.target_kind not in TARGET_KINDS:
        raise ValueError(f"target_kind must be one of {', '.join(TARGET_KINDS)}, got "
                         f"{decision.target_kind!r}")
    expected = KIND_LABELS.get(decision.target_kind)
    if expected is not None and decision.target_type != expected:
        raise ValueError(f"a {decision.target_kind} decision's target_type must be "
                         f"{expected!r}, got {decision.target_type!r}")
    if expected is None and decision.target_type in KIND_LABELS.values():
        raise ValueError(f"an entity decision cannot be about a {decision.target_type}: use "
                         f"target_kind {decision.target_type.lower()!r}")
    if not decision.analyst.strip():
        raise ValueError("analyst must name who decided, got a blank name")
    if decision.decided_at.tzinfo is None:
        raise ValueError(f"decided_at must have a time zone, got {decision.decided_at}")
    return decision
