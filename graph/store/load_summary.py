"""What a load of a snapshot into Neo4j did, whichever path (driver or bulk import) ran it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class LoadSummary:
    """What a load did.

    ``graph`` names the graph loaded (:mod:`graph.store.graphs`). ``written`` and ``deleted``
    count rows per label / relationship type; ``unchanged`` counts rows already in the store with
    the same content; ``stale`` rows an earlier load of the graph wrote that the snapshot lacks
    (deleted only by a prune), ``stored`` the rows of the graph before the load (driver path).
    ``fingerprint`` identifies the snapshot's content (:func:`graph.store.graphs.fingerprint`).
    ``seconds`` is the wall time of the load,
    ``phases`` splits it (driver: ``compare``, ``nodes``, ``relationships``, ``prune``; bulk:
    ``files`` (import files written while the server stops), ``stop`` (what remains of the stop
    after that), ``import`` (the import tool), ``start`` (server restart until Bolt answers),
    ``schema`` (constraints and indexes created and populated)).
    """

    mode: str
    graph: str = ""
    fingerprint: str | None = None
    written: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    stale: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    relationship_types: tuple[str, ...] = ()
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def add_time(self, phase: str, since: float) -> float:
        """Add the time from ``since`` (a ``perf_counter`` value) to ``phase``; returns now."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - since
        return now

    @property
    def relationships_written(self) -> int:
        """Relationships created or updated."""
        return sum(self.written.get(t, 0) for t in self.relationship_types)

    @property
    def nodes_written(self) -> int:
        """Nodes created or updated."""
        return sum(n for k, n in self.written.items() if k not in self.relationship_types)

    @property
    def total_written(self) -> int:
        """Nodes and relationships created or updated."""
        return sum(self.written.values())
