"""The service in two processes (``serve --front-process``): HTTP in one, the graph in the other.

In one process the HTTP event loop (parsing, validation, answers: ~1 CPU ms a single event at
1M accounts) and the writer's apply thread (~3 CPU ms) take turns on one interpreter lock, so
a request's answer waits for the group being applied and the group for the event loop. Here
the process ``serve`` started keeps the graph, the event writer, the durable log, the Neo4j
write-through and the model reload (SIGHUP), and a spawned front-end process runs the HTTP
API (:func:`abusenet.serve.app.build_app`: token, limits, parsing, validation, answers) over a
:class:`RemoteBackend` that forwards each call through a pipe. The graph process answers posts
from the writer's apply thread (:meth:`~abusenet.serve.writer.EventWriter.enqueue`), so an
answer still means its events are durable and in the graph; reads run in a pool of threads,
as they do under uvicorn.

Each process ends with the other: the front end dies with the graph process (``kill -9``
included: the kernel's parent-death signal) and stops when its pipe closes; the graph process
stops once the front end has exited (it stops the front end on SIGTERM / SIGINT).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import itertools
import logging
import os
import pickle
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from abusenet.serve.metrics import Metrics

if TYPE_CHECKING:
    from abusenet.serve.app import Limits
    from abusenet.serve.backend import LocalBackend
    from ingest.mapping import Mapping

log = logging.getLogger(__name__)

#: Threads of the graph process answering reads (``GET`` routes, readiness, metrics, reload).
READ_THREADS = 8
#: Linux's ``prctl`` option that signals a process when its parent dies.
_PR_SET_PDEATHSIG = 1


class GraphGone(RuntimeError):
    """The graph process closed the pipe (it stopped or was killed)."""


class RemoteBackend:
    """A :class:`~abusenet.serve.backend.Backend` whose calls go through ``conn`` to
    :func:`serve_graph` in the graph process; a thread reads the answers. When the pipe
    closes, every call waiting fails with :class:`GraphGone` and ``on_lost`` is called."""

    def __init__(self, conn: Connection, on_lost: Any = None) -> None:
        self._conn = conn
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._waiting: dict[int, Future] = {}
        self._lost = False
        self._reader = threading.Thread(target=self._read, name="serve-pipe", daemon=True)
        self._reader.start()

    def _send(self, op: str, *args: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._lost:
                raise GraphGone("the graph process is gone")
            call = next(self._ids)
            self._waiting[call] = future
            self._conn.send_bytes(pickle.dumps((call, op, args),
                                               protocol=pickle.HIGHEST_PROTOCOL))
        return future

    def _read(self) -> None:
        while True:
            try:
                call, error, result = pickle.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                break
            with self._lock:
                future = self._waiting.pop(call)
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
        with self._lock:
            self._lost = True
            waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            future.set_exception(GraphGone("the graph process is gone"))
        if self._on_lost is not None:
            self._on_lost()

    def _call(self, op: str, *args: Any) -> Any:
        return self._send(op, *args).result()

    async def post(self, events: pa.Table, reasons: list[str | None],
                   views: list) -> list[str]:
        """See :meth:`Backend.post <abusenet.serve.backend.Backend.post>`."""
        status, answered = await asyncio.wrap_future(self._send("post", events, reasons))
        views.extend(answered)
        return status

    def ready(self) -> tuple[str | None, dict[str, Any]]:
        """See :meth:`Backend.ready <abusenet.serve.backend.Backend.ready>`."""
        return self._call("ready")

    def metrics_text(self, metrics: Metrics) -> str:
        """See :meth:`Backend.metrics_text <abusenet.serve.backend.Backend.metrics_text>`:
        the graph process's phases and collector pauses added to ``metrics``."""
        figures, other = self._call("figures")
        return metrics.render(*figures, other=other)

    def account_view(self, account_id: str) -> dict[str, Any] | None:
        """See :meth:`Backend.account_view <abusenet.serve.backend.Backend.account_view>`."""
        return self._call("account_view", account_id)

    def entity_view(self, node_type: str, entity_id: str) -> dict[str, Any] | None:
        """See :meth:`Backend.entity_view <abusenet.serve.backend.Backend.entity_view>`."""
        return self._call("entity_view", node_type, entity_id)

    def ring_view(self, ring_id: str) -> dict[str, Any] | None:
        """See :meth:`Backend.ring_view <abusenet.serve.backend.Backend.ring_view>`."""
        return self._call("ring_view", ring_id)

    def reload(self, model: str | None) -> str:
        """See :meth:`Backend.reload <abusenet.serve.backend.Backend.reload>`."""
        return self._call("reload", model)


def serve_graph(conn: Connection, backend: LocalBackend, metrics: Metrics) -> None:
    """Answer the front end's calls on ``conn`` from ``backend`` (its writer's phases go to
    ``metrics``) until the pipe closes."""
    lock = threading.Lock()

    def reply(call: int, error: BaseException | None, result: Any) -> None:
        try:
            data = pickle.dumps((call, error, result), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an error that does not pickle still reaches the caller
            data = pickle.dumps((call, RuntimeError(repr(error)), None))
        try:
            with lock:
                conn.send_bytes(data)
        except OSError:  # the front end is gone: nobody to answer
            log.warning("could not answer the front end: its pipe is closed")

    reads = {"ready": backend.ready, "account_view": backend.account_view,
             "entity_view": backend.entity_view, "ring_view": backend.ring_view,
             "reload": backend.reload,
             "figures": lambda: (backend.figures(), metrics.export())}

    def read(call: int, op: str, args: tuple) -> None:
        try:
            result = reads[op](*args)
        except Exception as error:
            reply(call, error, None)
        else:
            reply(call, None, result)

    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="serve-read") as pool:
        while True:
            try:
                call, op, args = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                return
            if op != "post":
                pool.submit(read, call, op, args)
                continue
            events, reasons = args
            views: list = []

            def done(status: list[str], error: BaseException | None, call: int = call,
                     views: list = views) -> None:
                reply(call, error, None if error is not None else (status, views))

            try:
                backend.writer.enqueue(events, reasons, views, done)
            except Exception as error:  # closed or broken: refused at once
                reply(call, error, None)


def run_front_end(conn: Connection, rules: Mapping, token: str, limits: Limits, host: str,
                  port: int) -> None:
    """The front-end process (the target of the spawned process): the HTTP API on
    ``host:port`` over a :class:`RemoteBackend` on ``conn``; ``rules`` read posted events."""
    import uvicorn

    from abusenet.serve.app import build_app
    from abusenet.serve.validation import EventValidator

    _die_with_parent()
    metrics = Metrics(watch_gc=True)
    backend = RemoteBackend(conn, on_lost=lambda: os.kill(os.getpid(), signal.SIGTERM))
    app = build_app(backend, EventValidator(rules), token, limits, metrics)
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux; elsewhere the closed
    pipe stops it)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("the front end will not die with the graph process (no prctl)")
