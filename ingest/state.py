"""The ingest state of an events directory: which files are already in it, and its schema extras.

``<events_dir>/_ingest_state.json`` records one entry per (file content checksum, mapping
fingerprint) ingested, so re-running on the same files skips them and a new day's files are the
only work. It also records the extra entity types and attributes the events carry, so the graph
builder needs no mapping to find them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.files import write_text_atomic
from ingest.mapping import Mapping, MappingError

STATE_FILE = "_ingest_state.json"
STATE_VERSION = 1


@dataclass
class IngestState:
    """What an events directory holds.

    Attributes
    ----------
    files
        ``"<sha256>:<mapping fingerprint>"`` -> facts about that ingested file (with
        ``sources:``, ``source``: the source it was read as).
    entities
        Extra node type -> ``{"column": event column, "relation": relation name}``.
    attributes
        Event attribute -> ``"float"`` or ``"string"``.
    failures
        Event attribute -> the values of it that are failed attempts (a mapping's ``failed:``,
        :attr:`ingest.mapping.Mapping.attribute_failures`), for the ring search's takeovers.
    """

    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    entities: dict[str, dict[str, str]] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    failures: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def load(cls, events_dir: str | os.PathLike[str]) -> IngestState:
        """The state of ``events_dir`` (empty when it has none yet)."""
        path = Path(events_dir) / STATE_FILE
        if not path.is_file():
            return cls()
        raw = json.loads(path.read_text())
        if raw.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: unknown ingest state version {raw.get('version')!r}")
        # states written before failed attempts were declared have none
        return cls(raw["files"], raw["entities"], raw["attributes"], raw.get("failures", {}))

    def save(self, events_dir: str | os.PathLike[str]) -> None:
        """Write the state atomically into ``events_dir``."""
        content = {
            "version": STATE_VERSION,
            "files": self.files,
            "entities": self.entities,
            "attributes": self.attributes,
            "failures": self.failures,
        }
        write_text_atomic(Path(events_dir) / STATE_FILE, json.dumps(content, indent=1))

    def sources(self) -> set[str]:
        """The names of the sources (of ``sources:`` mappings) whose files the store holds."""
        return {str(f["source"]) for f in self.files.values() if f.get("source")}

    def sources_of(self, checksum: str) -> set[str | None]:
        """The sources a file of content ``checksum`` with rows was ingested as (``None``: by a
        one-source mapping); empty when it never was (or held no rows: nothing to repeat)."""
        return {f.get("source") for key, f in self.files.items()
                if key.split(":", 1)[0] == checksum and f.get("rows_in", 1)}

    def add_schema(self, mapping: Mapping) -> None:
        """Record ``mapping``'s entities, attributes and failed attempts; refuse ones that
        contradict the events.

        Raises
        ------
        MappingError
            When an entity or attribute already exists with another relation, column or type,
            or an attribute's failed attempts were declared otherwise.
        """
        for spec in mapping.entities:
            wanted = {"column": spec.event_column, "relation": spec.relation}
            known = self.entities.setdefault(spec.node_type, wanted)
            if known != wanted:
                raise MappingError(
                    f"{mapping.path}: entities.{spec.node_type} uses relation {spec.relation!r}, "
                    f"but the events already hold it with {known['relation']!r}; use one name"
                )
        for name, kind in mapping.attributes.items():
            known_kind = self.attributes.setdefault(name, kind)
            if known_kind != kind:
                raise MappingError(
                    f"{mapping.path}: attributes.{name} is {kind!r} here but {known_kind!r} in "
                    "the events already ingested; use one type"
                )
        for name, numbers in mapping.attribute_failures.items():
            known_failed = self.failures.setdefault(name, list(numbers))
            if known_failed != list(numbers):
                raise MappingError(
                    f"{mapping.path}: attributes.{name}.failed reads as {list(numbers)} here "
                    f"but {known_failed} in the events already ingested; name the same failed "
                    "attempts")


def file_facts(path: Path, rows: int) -> dict[str, object]:
    """The ingest state's entry for a new file of ``rows`` rows (its quarantined rows are added
    later): its path, the rows read, the rows quarantined (0) and when it was ingested (UTC)."""
    return {"path": str(path), "rows_in": rows, "quarantined": 0,
            "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
