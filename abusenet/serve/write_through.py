"""Write-through to Neo4j for ``abusenet serve``: batched, in the background, retried.

The service answers from its in-memory graph; Neo4j is a copy for investigators. Each group of
accepted events hands its :class:`~graph.store.live_write.LiveChange` to :meth:`WriteThrough.
submit`, which only folds it into the pending change (under a lock, microseconds) and wakes the
writer thread. The thread writes the whole pending change in one transaction at most every
``interval`` seconds (:func:`graph.store.live_write.write_live_change`, ``MERGE`` only, so a
retry is safe). When Neo4j is slow the pending change grows, coalesced per node and
relationship; when a write fails (server down, login refused), the change is kept, the error
recorded and the write retried after a back-off doubling from ``retry_min`` to ``retry_max``
seconds. Requests never wait for Neo4j. :meth:`WriteThrough.status` is what ``/readyz``
shows: ``ok``, ``behind`` (pending rows waiting longer than ``lag_warning`` seconds),
``down`` (the last write failed) or, past ``max_pending`` rows, ``overflow``: the pending
change is dropped (the events stay in the event store, and ``abusenet load`` of a new snapshot
brings the graph back) and the status says how many rows were dropped. Error texts are the
driver's with the URI's credentials removed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from graph.store.connection import explain_neo4j_error, redact_uri
from graph.store.live_write import LiveChange, write_live_change
from graph.store.runner import QueryRunner

log = logging.getLogger(__name__)

OK, BEHIND, DOWN, OVERFLOW, STOPPED = "ok", "behind", "down", "overflow", "stopped"


class WriteThrough:
    """A background writer of live changes into one Neo4j graph (module docstring).

    Parameters
    ----------
    store
        Where to write (a :class:`graph.store.runner.Neo4jStore`; it connects on first use,
        so a server that is down at start is only reported, not fatal).
    graph
        The named graph the batch run loaded (:mod:`graph.store.graphs`).
    interval
        Seconds between writes while changes arrive (they are batched meanwhile).
    retry_min, retry_max
        The back-off after a failed write: from ``retry_min``, doubling, at most ``retry_max``.
    max_pending
        Pending rows (nodes + relationships) beyond which the backlog is dropped (``overflow``).
    lag_warning
        Seconds a pending change may wait before the status says ``behind``.
    clock
        Monotonic seconds (tests pass a fake).
    """

    def __init__(self, store: QueryRunner, graph: str, *, interval: float = 0.2,
                 retry_min: float = 0.5, retry_max: float = 30.0,
                 max_pending: int = 1_000_000, lag_warning: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if interval < 0 or retry_min <= 0 or retry_max < retry_min or max_pending < 1:
            raise ValueError("write-through needs interval >= 0, 0 < retry_min <= retry_max "
                             "and max_pending >= 1")
        self.store = store
        self.graph = graph
        self.interval = interval
        self.retry_min, self.retry_max = retry_min, retry_max
        self.max_pending = max_pending
        self.lag_warning = lag_warning
        self._clock = clock
        self._cond = threading.Condition()
        self._pending = LiveChange()
        self._pending_since: float | None = None
        self._writing = 0
        self._stop = False
        self._hurry = False
        self._failures = 0
        self._last_error: str | None = None
        self._last_write: float | None = None
        self.rows_written = 0
        self.rows_dropped = 0
        self.writes = 0
        self._thread = threading.Thread(target=self._run, name="neo4j-write-through",
                                        daemon=True)

    def start(self) -> WriteThrough:
        """Start the writer thread; returns ``self``."""
        self._thread.start()
        return self

    def submit(self, change: LiveChange) -> None:
        """Queue ``change`` (never blocks on Neo4j)."""
        if not len(change):
            return
        with self._cond:
            if self._stop:
                raise RuntimeError("the Neo4j write-through is stopped")
            self._pending.update(change)
            if self._pending_since is None:
                self._pending_since = self._clock()
            if len(self._pending) > self.max_pending:
                dropped = len(self._pending)
                self.rows_dropped += dropped
                self._pending, self._pending_since = LiveChange(), None
                log.warning("Neo4j write-through: %d pending rows dropped (more than %d); "
                            "reload the graph with `abusenet load` to catch up",
                            dropped, self.max_pending)
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far is written; False when ``timeout`` passes
        first (Neo4j down or slow)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._hurry = True
            self._cond.notify_all()
            while len(self._pending) or self._writing:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is pending (for at most ``timeout`` seconds), stop the thread; True when
        nothing was left unwritten."""
        written = self.flush(timeout) if self._thread.is_alive() else not len(self._pending)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._cond:  # a change queued after the flush may have failed its one try
            return written and not len(self._pending) and not self._writing

    def status(self) -> dict[str, Any]:
        """The write-through's state for ``/readyz``: ``state``, ``graph``, ``pending`` rows,
        ``pending_seconds``, ``rows_written``, ``rows_dropped``, ``failures`` in a row,
        ``last_error``, ``seconds_since_write``."""
        with self._cond:
            now = self._clock()
            waiting = 0.0 if self._pending_since is None else now - self._pending_since
            if self._stop:
                state = STOPPED
            elif self._failures:
                state = DOWN
            elif self.rows_dropped:
                state = OVERFLOW
            elif waiting > self.lag_warning:
                state = BEHIND
            else:
                state = OK
            return {
                "state": state,
                "graph": self.graph,
                "pending": len(self._pending) + self._writing,
                "pending_seconds": round(waiting, 3),
                "rows_written": self.rows_written,
                "rows_dropped": self.rows_dropped,
                "failures": self._failures,
                "last_error": self._last_error,
                "seconds_since_write": None if self._last_write is None
                else round(now - self._last_write, 3),
            }

    def _run(self) -> None:
        backoff = self.retry_min
        while True:
            with self._cond:
                while not len(self._pending) and not self._stop:
                    self._cond.wait()
                if self._stop and not len(self._pending):
                    return
                change, since = self._pending, self._pending_since
                self._pending, self._pending_since = LiveChange(), None
                self._writing = len(change)
                self._hurry = False
            try:
                write_live_change(self.store, change, self.graph)
            except Exception as err:  # noqa: BLE001 - any failure: keep the change, retry
                message = _describe(err, self.store)
                with self._cond:
                    change.update(self._pending)  # newer changes win over the failed one
                    self._pending = change
                    self._pending_since = since
                    self._writing = 0
                    self._failures += 1
                    self._last_error = message
                    self._cond.notify_all()
                    if self._stop:  # closed: what is left stays unwritten (close says so)
                        return
                    if self._failures == 1:
                        log.warning("Neo4j write-through failed (%s); retrying in %.1f s",
                                    message, backoff)
                    self._pause(backoff)
                backoff = min(backoff * 2, self.retry_max)
                continue
            backoff = self.retry_min
            with self._cond:
                if self._failures:
                    log.info("Neo4j write-through recovered after %d failed writes",
                             self._failures)
                self.rows_written += len(change)
                self.writes += 1
                self._writing = 0
                self._failures = 0
                self._last_error = None
                self._last_write = self._clock()
                self._cond.notify_all()
                self._pause(self.interval)

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` (holding :attr:`_cond`), cut short by :meth:`flush` or :meth:`close`
        but not by new changes: they gather meanwhile and go in the next write."""
        deadline = time.monotonic() + seconds
        while not self._stop and not self._hurry:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)


def _describe(err: Exception, store: QueryRunner) -> str:
    """What went wrong, for the status and the log: the driver's message (or abusenet's
    explanation of it) without the password or the URI's credentials."""
    text = f"{type(err).__name__}: {err}"
    settings = getattr(store, "settings", None)
    if settings is not None:
        text = explain_neo4j_error(err, settings) or text
        if getattr(settings, "password", None):
            text = text.replace(settings.password, "***")
    return redact_uri(text)
