"""Posted events applied in groups: one duplicate check, log write and graph update per group.

Each ``POST /v1/events`` request hands its validated events to :meth:`EventWriter.submit`
and waits. The first request to find no group forming leads one: it waits for the group before
it to finish (meanwhile later requests join its group), then, for every request of the group
in arrival order, tells accepted events from duplicates (of stored events, or of an earlier
event of the group), writes the accepted ones as one durable segment
(:func:`~abusenet.serve.durable_log.append_segment`, ``fsync`` ed), applies them to the graph
in one update, rescores the accounts they name in one pass and builds the account views the
requests asked for in one pass. Only then does any request of the group answer. So under load
the per-call costs (the ``fsync`` s, the rescoring's and the views' set-up) are paid once per
group, not once per request, and an answer still means the request's events
are durable and in the graph. An error reaches every request of the group, and the ids it had
claimed are released. With a Neo4j write-through (:mod:`abusenet.serve.write_through`), the
group's change to the graph (:meth:`GraphState.live_change`) is handed to it after the
rescoring; it is written in the background, so the answer never waits for Neo4j.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from abusenet.serve.durable_log import append_segment
from abusenet.serve.metrics import Metrics
from abusenet.serve.state import GraphState
from abusenet.serve.write_through import WriteThrough

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"


@dataclass
class _Request:
    events: pa.Table
    reasons: list[str | None]
    status: list[str] = field(default_factory=list)
    submitted: float = field(default_factory=time.perf_counter)
    views: list | None = None


class EventWriter:
    """Applies posted events to ``state`` in groups (module docstring).

    Parameters
    ----------
    state
        The service's graph state (its event store receives the segments).
    write_through
        Where each group's change to the graph goes on to Neo4j (``None``: nowhere).
    metrics
        Where the time of each phase goes (``queue``: a request waiting for its group to
        start; per group: ``dedup``, ``log``, ``update``, ``rescore``, ``write_through``,
        ``views``).
    """

    def __init__(self, state: GraphState, write_through: WriteThrough | None = None,
                 metrics: Metrics | None = None) -> None:
        self.state = state
        self.write_through = write_through
        self.metrics = metrics
        self.groups_written = 0
        self._cond = threading.Condition()
        self._io = threading.Lock()
        self._pending: list[_Request] = []
        self._group = 0
        self._led = False
        self._results: dict[int, tuple[BaseException | None, int]] = {}

    def submit(self, events: pa.Table, reasons: list[str | None],
               views: list | None = None) -> list[str]:
        """Apply the valid ``events`` (``reasons[i]`` is ``None``); once they are durable and
        in the graph, the status of each: accepted, duplicate or rejected. ``views``, when
        given, receives per event the view of its account (:meth:`GraphState.account_views`,
        ``None`` for a rejected event), computed right after the group is applied, for the
        whole group at once."""
        request = _Request(events, reasons, views=views)
        with self._cond:
            group = self._group
            self._pending.append(request)
            lead = not self._led
            self._led = True
        if lead:
            with self._io:
                with self._cond:
                    requests, self._pending = self._pending, []
                    self._group += 1
                    self._led = False
                self._time("queue", *(r.submitted for r in requests))
                error: BaseException | None = None
                try:
                    self._apply(requests)
                except BaseException as err:  # every member of the group must hear of it
                    error = err
                with self._cond:
                    self.groups_written += 1
                    self._results[group] = (error, len(requests))
                    self._cond.notify_all()
        with self._cond:
            self._cond.wait_for(lambda: group in self._results)
            error, members = self._results[group]
            if members == 1:
                del self._results[group]
            else:
                self._results[group] = (error, members - 1)
        if error is not None:
            raise error
        return request.status

    def _time(self, phase: str, *since: float) -> float:
        """Record the time from each of ``since`` to now as phase ``phase``; now."""
        now = time.perf_counter()
        if self.metrics is not None:
            for began in since:
                self.metrics.phase(phase, now - began)
        return now

    def _apply(self, requests: list[_Request]) -> None:
        self._write(requests)
        wanting = [r for r in requests if r.views is not None]
        if not wanting:
            return
        began = time.perf_counter()
        asked = [[a if s != REJECTED else None for a, s in zip(
            r.events.column("account_id").to_pylist(), r.status, strict=True)] for r in wanting]
        views = iter(self.state.account_views([a for accounts in asked for a in accounts
                                               if a is not None]))
        for request, accounts in zip(wanting, asked, strict=True):
            request.views.extend(None if a is None else next(views) for a in accounts)
        self._time("views", began)

    def _write(self, requests: list[_Request]) -> None:
        state = self.state
        began = time.perf_counter()
        with state.write_lock:
            candidates = [i for r in requests for i, reason in
                          zip(r.events.column("event_id").to_pylist(), r.reasons, strict=True)
                          if reason is None]
            known = state.known_ids(candidates)
            seen: set[str] = set()
            fresh: list[pa.Table] = []
            for request in requests:
                take = []
                ids = request.events.column("event_id").to_pylist()
                for i, (event_id, reason) in enumerate(zip(ids, request.reasons, strict=True)):
                    if reason is not None:
                        request.status.append(REJECTED)
                    elif event_id in known or event_id in seen:
                        request.status.append(DUPLICATE)
                    else:
                        request.status.append(ACCEPTED)
                        take.append(i)
                        seen.add(event_id)
                if take:
                    fresh.append(request.events.take(take))
            state.claim(list(seen))
        began = self._time("dedup", began)
        if not fresh:
            return
        rows = pa.concat_tables(fresh)
        try:
            append_segment(rows, state.events_dir)
        except BaseException:
            state.release(list(seen))
            raise
        began = self._time("log", began)
        state.apply(rows)
        began = self._time("update", began)
        state.refresh(list(dict.fromkeys(rows.column("account_id").to_pylist())))
        began = self._time("rescore", began)
        if self.write_through is not None:
            self.write_through.submit(state.live_change(rows, datetime.now(UTC)))
            self._time("write_through", began)
