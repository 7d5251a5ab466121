"""What the HTTP API asks of the graph, and its answer from the graph in the same process.

The routes of :mod:`abusenet.serve.app` reach the graph through a :class:`Backend`: post events
(awaited), read an account, entity or ring, the readiness and metrics figures, reload the model.
:class:`LocalBackend` answers from a :class:`~abusenet.serve.state.GraphState` and its
:class:`~abusenet.serve.writer.EventWriter` in this process (the HTTP event loop and the
writer's apply thread then share one interpreter lock);
:class:`abusenet.serve.split.RemoteBackend` forwards the same calls to the graph held in
another process (``serve --front-process``).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from threadpoolctl import threadpool_limits

from abusenet.serve.metrics import Metrics
from abusenet.serve.state import GraphState
from abusenet.serve.write_through import WriteThrough
from abusenet.serve.writer import EventWriter

#: Seconds between the writer's collections of new objects, frozen after (so the collector
#: never pauses the service to scan the graph's growing node and edge lists).
FREEZE_EVERY = 1.0
#: Seconds a group of a few events waits for more at most, when the writer's apply thread is
#: busy 90 % of its time (none below 60 %; EventWriter's linger): at 1M accounts and 200 single
#: events a second on a quiet machine (apply thread busy ~90 %, estimated from its CPU per
#: group), lingering 5 ms always gave 5.4 -> 3.4 CPU ms a single, p99 29.7 -> 26.0 ms (groups
#: of 1.0 -> 2.0 events); at 100k (busy ~60 %, likewise) it cost every answer the wait (p99
#: 9.0 -> 14.1 ms), so there it does not linger.
LINGER = 0.005


class Backend(Protocol):
    """The graph as the HTTP routes use it."""

    async def post(self, events: pa.Table, reasons: list[str | None],
                   views: list) -> list[str]:
        """Apply the valid ``events``; per event accepted, duplicate or rejected, once they
        are durable and in the graph (``views`` receives each event's account view);
        :class:`~abusenet.serve.writer.LogFailed` when the log cannot be made durable."""

    def ready(self) -> tuple[str | None, dict[str, Any]]:
        """(why the service takes no more events, ``None`` when it does; what ``/readyz``
        says otherwise)."""

    def metrics_text(self, metrics: Metrics) -> str:
        """The ``/metrics`` text: ``metrics`` (the HTTP side's) with the graph's figures."""

    def account_view(self, account_id: str) -> dict[str, Any] | None:
        """An account's score, ring and reasons (``None``: not in the graph)."""

    def entity_view(self, node_type: str, entity_id: str) -> dict[str, Any] | None:
        """An entity's risk, accounts and rings (``None``: not in the graph)."""

    def ring_view(self, ring_id: str) -> dict[str, Any] | None:
        """A ring's score, members and evidence (``None``: no such ring)."""

    def reload(self, model: str | None) -> str:
        """Switch to the model in directory ``model`` (``None``: reread the current one);
        the new model version."""


class LocalBackend:
    """The graph in this process: ``state``, and an :class:`EventWriter` over it (started
    here) whose phases go to ``metrics``; ``write_through`` (optional) copies every accepted
    change to Neo4j."""

    def __init__(self, state: GraphState, metrics: Metrics,
                 write_through: WriteThrough | None = None) -> None:
        # Reads recompute a few rows with numpy products (gnn.local_scoring): a second BLAS
        # thread only spins, and on a busy machine costs 10-50x the product itself.
        # Process-wide, once.
        threadpool_limits(1, user_api="blas")
        # The loaded graph is ~500k long-lived containers: a full collection scanning them
        # paused every request for 0.3-1 s. Frozen, collections scan only what requests
        # allocate.
        gc.collect()
        gc.freeze()
        self.state = state
        self.write_through = write_through
        self.writer = EventWriter(state, write_through, metrics, freeze_every=FREEZE_EVERY,
                                  linger=LINGER)

    async def post(self, events: pa.Table, reasons: list[str | None],
                   views: list) -> list[str]:
        """See :meth:`Backend.post`."""
        return await self.writer.post(events, reasons, views)

    def ready(self) -> tuple[str | None, dict[str, Any]]:
        """See :meth:`Backend.ready`."""
        if self.writer.broken is not None:
            return str(self.writer.broken), {}
        state = self.state
        neo4j: Any = ("not configured" if self.write_through is None
                      else self.write_through.status())
        return None, {"status": "ready", "model_version": state.model_version,
                      "accounts": state.num_accounts, "neo4j": neo4j,
                      "scores": state.published, "published_candidate": state.published}

    def metrics_text(self, metrics: Metrics) -> str:
        """See :meth:`Backend.metrics_text`."""
        return metrics.render(*self.figures())

    def figures(self) -> tuple[int, dict[str, int], str, float]:
        """Events applied, graph size, model version and the writer's busy share (what
        :meth:`Metrics.render` takes from the graph)."""
        state = self.state
        return (state.events_applied, state.graph_size(), state.model_version,
                self.writer.busy)

    def account_view(self, account_id: str) -> dict[str, Any] | None:
        """See :meth:`Backend.account_view`."""
        return self.state.account_view(account_id)

    def entity_view(self, node_type: str, entity_id: str) -> dict[str, Any] | None:
        """See :meth:`Backend.entity_view`."""
        return self.state.entity_view(node_type, entity_id)

    def ring_view(self, ring_id: str) -> dict[str, Any] | None:
        """See :meth:`Backend.ring_view`."""
        return self.state.ring_view(ring_id)

    def reload(self, model: str | None) -> str:
        """See :meth:`Backend.reload`."""
        return self.state.reload_model(Path(model) if model else None)

    def close(self) -> None:
        """Stop the writer once the events already posted are answered."""
        self.writer.close()
