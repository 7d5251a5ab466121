"""Posted events applied in groups, by two threads in a pipeline: one logs, one applies.

Each ``POST /v1/events`` request hands its validated events to :meth:`EventWriter.post`
(awaited on the event loop) or :meth:`EventWriter.submit` (blocking) and waits. Two threads
take the requests in arrival order:

* the **log** thread takes every request waiting, tells accepted events from duplicates (of
  stored events, of events still in flight, or of an earlier event of the group), counts the
  accepted ids as known, writes the accepted events as one segment
  (:func:`~abusenet.serve.durable_log.write_segment`), hands the group to the apply thread and
  then makes the segment durable (:meth:`~abusenet.serve.durable_log.PendingSegment.commit`:
  ``fsync`` s, which release the GIL, so they run during the group's apply);
* the **apply** thread takes the logged group, applies its events to the graph in one update,
  rescores the accounts they name in one pass, builds the account views the requests asked
  for in one pass, waits until the group's segment is durable, hands the change to the Neo4j
  write-through and only then answers each request of the group.

So an answer still means its events are durable and in the graph, and groups are applied in
the order they were logged (a restart's replay builds the same graph). A group's ``fsync`` and
its apply overlap: one client's batch waits for the longer of the two, not their sum. The log
thread runs at most one group ahead: while a group is being applied, the requests arriving
meanwhile form the next group. Under load, groups grow to what arrives during one apply, and
the per-call costs (the ``fsync``, the rescoring's and the views' set-up) are paid once per
group, not once per request. When the apply thread is busy (it spent more than
``linger_busy[0]`` of the last second or so applying), a group of a few events (fewer than
``linger_events``) waits for more from its first arrival, up to ``linger`` seconds times how
far its busy share is from ``linger_busy[0]`` to ``linger_busy[1]`` (all of it from there on),
so single events meet in groups even when the ``fsync`` s are short: a group costs about as
much CPU as one event, and the saving is worth the wait only where the CPU is scarce (a
service whose applies are short answers single events without it). The wait lowers the busy
share it follows, so it settles where the two balance rather than switching on and off.

An error reaches every request of its group: a segment that cannot be written releases the
ids it claimed and applies nothing; one that was written but cannot be made durable (a failed
``fsync`` or rename) leaves the graph ahead of the log, so the writer stops
(:attr:`EventWriter.broken`: every later request fails; a restart replays the log). Reads
made meanwhile may see a group's events before they are durable.

Python's cyclic collector would otherwise pause every thread for a full collection now and
then (tens of milliseconds, growing with every node and edge list the events add): with
``freeze_every``, the apply thread, between groups, collects what was allocated since its last
collection and freezes the survivors (``gc.freeze``), so no collection scans them again. Every
``unfreeze_every`` seconds (and after a model reload) it collects everything once instead, so
objects frozen while alive that became cyclic garbage since are freed, not kept for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from abusenet.serve.durable_log import PendingSegment, write_segment
from abusenet.serve.metrics import Metrics
from abusenet.serve.state import GraphState
from abusenet.serve.write_through import WriteThrough

log = logging.getLogger(__name__)

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
#: Seconds over which :attr:`EventWriter.busy` weighs the applies (the weight of an apply
#: falls by e each such time).
BUSY_SECONDS = 1.0


@dataclass
class _Request:
    events: pa.Table
    reasons: list[str | None]
    done: Callable[[BaseException | None], None]
    views: list | None = None
    status: list[str] = field(default_factory=list)
    submitted: float = field(default_factory=time.perf_counter)


@dataclass
class _Group:
    """Requests logged together: their accepted events (``None``: none), when handed to the
    apply thread, and whether their segment is durable (``durable``; ``error``: it cannot be;
    a group without events is durable at once)."""

    requests: list[_Request]
    rows: pa.Table | None
    logged: float = field(default_factory=time.perf_counter)
    durable: bool = False
    error: BaseException | None = None


class LogFailed(RuntimeError):
    """A segment written but not made durable: the graph is ahead of the log until a restart
    replays it, so the writer takes no more events."""


class EventWriter:
    """Applies posted events to ``state`` in groups (module docstring); its two threads run
    from construction until :meth:`close`.

    Parameters
    ----------
    state
        The service's graph state (its event store receives the segments).
    write_through
        Where each applied group's change to the graph goes on to Neo4j (``None``: nowhere).
    metrics
        Where the time of each phase goes (per request: ``queue``, waiting to be logged; per
        group: ``dedup``, ``log``, ``handoff`` (logged, waiting to be applied), ``update``,
        ``rescore``, ``views``, ``durable`` (applied, waiting for the segment's commit),
        ``write_through``; ``commit``, each segment's ``fsync`` s on the log thread; and
        ``collect``, each collection between groups).
    freeze_every
        Seconds between the apply thread's collections of the objects allocated since the
        previous one, whose survivors are then frozen (module docstring); ``None``: none (the
        collector runs as configured).
    unfreeze_every
        Seconds between the full collections that take in the frozen objects too.
    linger
        Seconds the log thread lets a group of fewer than ``linger_events`` waiting events
        gather more while the apply thread is busy, counted from the first one's arrival
        (0: none). A group costs about as much CPU as one event (at 1M accounts, in process:
        3.7-3.9 CPU ms an event in groups of 1, 1.6-1.7 in groups of 4), and on a quiet disk
        the ``fsync`` s are too short for single events at 200/s to meet in a group.
    linger_events
        Waiting events from which a group is logged at once (a batch never lingers).
    linger_busy
        The apply thread's busy shares (:attr:`busy`) between which the linger grows from 0
        to all of ``linger`` (a first share below 0: some linger always).
    """

    def __init__(self, state: GraphState, write_through: WriteThrough | None = None,
                 metrics: Metrics | None = None, freeze_every: float | None = None,
                 unfreeze_every: float = 300.0, linger: float = 0.0,
                 linger_events: int = 4,
                 linger_busy: tuple[float, float] = (0.6, 0.9)) -> None:
        if linger < 0 or linger_events < 1 or not linger_busy[0] < linger_busy[1]:
            raise ValueError(f"linger {linger} s must be >= 0, linger_events "
                             f"{linger_events} >= 1 and linger_busy {linger_busy} rising")
        self.state = state
        self.write_through = write_through
        self.metrics = metrics
        self.freeze_every = freeze_every
        self.unfreeze_every = unfreeze_every
        self.linger, self.linger_events, self.linger_busy = linger, linger_events, linger_busy
        self._applying = 0.0  # seconds spent applying, decayed by BUSY_SECONDS (at _applied)
        self._applied = time.perf_counter()
        self.collections = 0
        self.full_collections = 0
        self._collected = self._full = time.perf_counter()
        self._scorer = state.scorer
        self.groups_written = 0
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._logged: list[_Group] = []
        self._held = 0
        self._closed = False
        self.broken: LogFailed | None = None
        self._log_done = False
        self._threads = [threading.Thread(target=self._log_loop, name="serve-log", daemon=True),
                         threading.Thread(target=self._apply_loop, name="serve-apply",
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------------ callers
    def submit(self, events: pa.Table, reasons: list[str | None],
               views: list | None = None) -> list[str]:
        """Apply the valid ``events`` (``reasons[i]`` is ``None``); once they are durable and
        in the graph, the status of each: accepted, duplicate or rejected. ``views``, when
        given, receives per event the view of its account (:meth:`GraphState.account_views`,
        ``None`` for a rejected event), computed right after its group is applied."""
        finished = threading.Event()
        outcome: list[BaseException | None] = []

        def done(error: BaseException | None) -> None:
            outcome.append(error)
            finished.set()

        request = self._enqueue(events, reasons, views, done)
        finished.wait()
        if outcome[0] is not None:
            raise outcome[0]
        return request.status

    async def post(self, events: pa.Table, reasons: list[str | None],
                   views: list | None = None) -> list[str]:
        """:meth:`submit` for the event loop: awaits the answer without holding a thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def done(error: BaseException | None) -> None:
            loop.call_soon_threadsafe(_settle, future, error)

        request = self._enqueue(events, reasons, views, done)
        await future
        return request.status

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Requests posted meanwhile wait, and are then logged as one group (the log thread
        finishes the group it is writing first)."""
        with self._cond:
            self._held += 1
        try:
            yield
        finally:
            with self._cond:
                self._held -= 1
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Requests waiting to be logged."""
        with self._cond:
            return len(self._pending)

    def close(self, timeout: float = 30.0) -> None:
        """Stop both threads once the requests already posted are answered."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _enqueue(self, events: pa.Table, reasons: list[str | None], views: list | None,
                 done: Callable[[BaseException | None], None]) -> _Request:
        request = _Request(events, reasons, done, views=views)
        with self._cond:
            if self._closed:
                raise RuntimeError("the event writer is closed")
            if self.broken is not None:
                raise LogFailed(str(self.broken)) from self.broken
            self._pending.append(request)
            self._cond.notify_all()
        return request

    # ------------------------------------------------------------------------ threads
    def _time(self, phase: str, *since: float) -> float:
        """Record the time from each of ``since`` to now as phase ``phase``; now."""
        now = time.perf_counter()
        if self.metrics is not None:
            for began in since:
                self.metrics.phase(phase, now - began)
        return now

    def _log_loop(self) -> None:
        while True:
            with self._cond:
                # One group ahead of the apply thread at most: requests that arrive meanwhile
                # form the next group (as large as an apply takes), not many small segments.
                def ready() -> bool:
                    return self._closed or bool(
                        self._pending and not self._held and not self._logged)

                self._cond.wait_for(ready)
                wait = (0.0 if self._closed or self._waiting_events() >= self.linger_events
                        else self._pending[0].submitted + self._linger() - time.perf_counter())
                if wait > 0:  # a few events: let more join them
                    self._cond.wait_for(lambda: self._closed or (
                        self._waiting_events() >= self.linger_events), timeout=wait)
                    self._cond.wait_for(ready)  # held meanwhile: wait as before
                if not self._pending or self.broken is not None:
                    requests, self._pending = self._pending, []
                    self._log_done = True
                    self._cond.notify_all()
                    _answer(requests, self.broken)  # nothing left, or the writer stopped
                    return
                requests, self._pending = self._pending, []
            self._time("queue", *(r.submitted for r in requests))
            try:
                rows, segment = self._log(requests)
            except BaseException as error:  # every member of the group must hear of it
                _answer(requests, error)
                continue
            group = _Group(requests, rows, durable=segment is None)
            with self._cond:
                self._logged.append(group)
                self._cond.notify_all()
            if segment is not None:
                self._commit(group, segment)

    @property
    def busy(self) -> float:
        """The share of its time the apply thread spent applying over the last
        :data:`BUSY_SECONDS` or so (applies weighted down exponentially with their age)."""
        now = time.perf_counter()
        return self._applying * math.exp((self._applied - now) / BUSY_SECONDS) / BUSY_SECONDS

    def _linger(self) -> float:
        """Seconds a group of a few events may wait from its first arrival, as busy as the
        apply thread is now."""
        low, high = self.linger_busy
        return self.linger * min(1.0, max(0.0, (self.busy - low) / (high - low)))

    def _took(self, seconds: float) -> None:
        """Count an apply of ``seconds`` that ended now in :attr:`busy` (under the
        condition's lock)."""
        now = time.perf_counter()
        self._applying = (self._applying * math.exp((self._applied - now) / BUSY_SECONDS)
                          + seconds)
        self._applied = now

    def _waiting_events(self) -> int:
        """Events of the requests waiting to be logged (under the condition's lock)."""
        return sum(r.events.num_rows for r in self._pending)

    def _commit(self, group: _Group, segment: PendingSegment) -> None:
        """Make ``group``'s segment durable (while the apply thread applies it); on failure
        stop the writer (module docstring)."""
        began = time.perf_counter()
        error = None
        try:
            segment.commit()
        except BaseException as err:
            segment.discard()
            error = LogFailed(f"the event log could not be made durable ({err!r}): the "
                              "service takes no more events until it is restarted")
            error.__cause__ = err
            log.error("%s", error)
        self._time("commit", began)
        with self._cond:
            group.durable = error is None
            group.error = error
            if error is not None:
                self.broken = error
            self._cond.notify_all()

    def _apply_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._logged or self._log_done)
                if not self._logged:
                    return
                groups, self._logged = self._logged, []
                self._cond.notify_all()
            self._time("handoff", *(g.logged for g in groups))
            requests = [r for g in groups for r in g.requests]
            error: BaseException | None = None
            try:
                parts = [g.rows for g in groups if g.rows is not None]
                rows = (None if not parts else parts[0] if len(parts) == 1
                        else pa.concat_tables(parts))
                began = time.perf_counter()
                self._apply(rows, requests)
                with self._cond:
                    self._took(time.perf_counter() - began)
                began = time.perf_counter()
                error = self._durable(groups)
                began = self._time("durable", began)
                if rows is not None and error is None and self.write_through is not None:
                    self.write_through.submit(self.state.live_change(rows, datetime.now(UTC)))
                    self._time("write_through", began)
            except BaseException as err:  # every member of the groups must hear of it
                error = err
            with self._cond:
                self.groups_written += len(groups)
            _answer(requests, error)
            if (self.freeze_every is not None
                    and time.perf_counter() - self._collected >= self.freeze_every):
                self._collect()

    def _durable(self, groups: list[_Group]) -> BaseException | None:
        """Wait until the segments of ``groups`` are committed; the first one's error."""
        with self._cond:
            self._cond.wait_for(lambda: all(g.durable or g.error for g in groups))
            return next((g.error for g in groups if g.error is not None), None)

    def _collect(self) -> None:
        """Collect the objects allocated since the last call (the older ones are frozen) and
        freeze the survivors: the collector's pauses stay as short as that. After a model
        reload, and every ``unfreeze_every`` seconds, everything is collected once (the old
        model and scorer, frozen, are garbage; so may be frozen objects in reference cycles)."""
        began = time.perf_counter()
        if (self.state.scorer is not self._scorer
                or began - self._full >= self.unfreeze_every):
            self._scorer = self.state.scorer
            self._full = began
            self.full_collections += 1
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.collections += 1
        self._collected = self._time("collect", began)

    def _log(self, requests: list[_Request]) -> tuple[pa.Table | None, PendingSegment | None]:
        """Sort the events of ``requests`` into accepted, duplicate and rejected, and write
        the accepted ones as a segment not yet durable: (they, the segment), ``None`` s when
        none is accepted."""
        state = self.state
        began = time.perf_counter()
        ids = [r.events.column("event_id").to_pylist() for r in requests]
        known = state.known_ids([i for r, request_ids in zip(requests, ids, strict=True)
                                 for i, reason in zip(request_ids, r.reasons, strict=True)
                                 if reason is None])
        seen: set[str] = set()
        fresh: list[pa.Table] = []
        for request, request_ids in zip(requests, ids, strict=True):
            take = []
            for i, (event_id, reason) in enumerate(zip(request_ids, request.reasons,
                                                       strict=True)):
                if reason is not None:
                    request.status.append(REJECTED)
                elif event_id in known or event_id in seen:
                    request.status.append(DUPLICATE)
                else:
                    request.status.append(ACCEPTED)
                    take.append(i)
                    seen.add(event_id)
            if take:
                fresh.append(request.events if len(take) == request.events.num_rows
                             else request.events.take(take))
        state.claim(list(seen))
        began = self._time("dedup", began)
        if not fresh:
            return None, None
        rows = pa.concat_tables(fresh)
        try:
            segment = write_segment(rows, state.events_dir)
        except BaseException:
            state.release(list(seen))
            raise
        self._time("log", began)
        return rows, segment

    def _apply(self, rows: pa.Table | None, requests: list[_Request]) -> None:
        """Apply the logged ``rows`` (``None``: none) in one update and rescoring, then build
        the views the ``requests`` asked for."""
        state = self.state
        began = time.perf_counter()
        if rows is not None:
            state.apply(rows)
            began = self._time("update", began)
            state.refresh(list(dict.fromkeys(rows.column("account_id").to_pylist())))
            began = self._time("rescore", began)
        wanting = [r for r in requests if r.views is not None]
        if not wanting:
            return
        asked = [[a if s != REJECTED else None for a, s in zip(
            r.events.column("account_id").to_pylist(), r.status, strict=True)] for r in wanting]
        views = iter(state.account_views([a for accounts in asked for a in accounts
                                          if a is not None]))
        for request, accounts in zip(wanting, asked, strict=True):
            request.views.extend(None if a is None else next(views) for a in accounts)
        self._time("views", began)


def _answer(requests: list[_Request], error: BaseException | None) -> None:
    """Tell each of ``requests`` its outcome; a caller that cannot hear it (its event loop
    closed at shutdown) does not stop the thread or the others."""
    for request in requests:
        try:
            request.done(error)
        except Exception:
            log.exception("could not answer a posted request")


def _settle(future: asyncio.Future, error: BaseException | None) -> Any:
    """Resolve an awaited request (unless its caller went away meanwhile)."""
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
