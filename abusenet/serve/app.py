"""The HTTP API of ``abusenet serve`` (FastAPI): score events as they arrive, read the graph.

Every route but ``/healthz`` and ``/readyz`` needs ``Authorization: Bearer <token>`` (401
otherwise). A body larger than ``max_body_bytes`` or a batch of more than ``max_batch`` events
gets 413. ``POST /v1/events`` validates with ``abusenet ingest``'s rules, then hands the
events to the :class:`~abusenet.serve.writer.EventWriter` and awaits it (no thread held): it
checks duplicates, writes the accepted events to the durable log and applies them to the graph
for all the requests that queued meanwhile at once (the log's ``fsync`` during the apply), and
answers per event. So an answer comes only after its events are durable and in the graph, a
request sees every event answered before it, and reads only wait for the brief in-place
changes of a write (and the rescoring of what they read). If the log cannot be made durable,
events are refused with 503 and ``/readyz`` says 503 until a restart.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send
from threadpoolctl import threadpool_limits

from abusenet.serve.metrics import Metrics
from abusenet.serve.security import authorized
from abusenet.serve.state import GraphState
from abusenet.serve.validation import EventValidator
from abusenet.serve.write_through import WriteThrough
from abusenet.serve.writer import ACCEPTED, REJECTED, EventWriter, LogFailed

log = logging.getLogger(__name__)

#: Routes open without a token.
OPEN_ROUTES = frozenset({"/healthz", "/readyz"})
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


@dataclass(frozen=True)
class Limits:
    """Request bounds: body bytes and events per batch."""

    max_body_bytes: int = 1_000_000
    max_batch: int = 1000


def create_app(state: GraphState, validator: EventValidator, token: str,
               limits: Limits = Limits(), write_through: WriteThrough | None = None) -> FastAPI:
    """The service over ``state``; ``validator`` reads posted events, ``token`` guards it;
    ``write_through`` (optional) copies every accepted change to Neo4j in the background."""
    app = FastAPI(title="abusenet serve", version="1",
                  description="Real-time account scoring with ring context.")
    app.state.graph = state
    # Reads recompute a few rows with numpy products (gnn.local_scoring): a second BLAS thread
    # only spins, and on a busy machine costs 10-50x the product itself. Process-wide, once.
    threadpool_limits(1, user_api="blas")
    # Not ready before the read path is warm: its first calls and the start caches' page faults
    # otherwise fall on the first requests.
    log.info("warmed before the first request: %s", state.warm())
    # The loaded graph is ~500k long-lived containers: a full collection scanning them paused
    # every request for 0.3-1 s. Frozen, collections scan only what requests allocate.
    gc.collect()
    gc.freeze()
    metrics = Metrics(watch_gc=True)
    writer = EventWriter(state, write_through, metrics, freeze_every=FREEZE_EVERY,
                         linger=LINGER)
    app.state.writer = writer
    app.add_middleware(_Guard, token=token, limits=limits, metrics=metrics)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=None)
    def readyz() -> dict[str, Any] | JSONResponse:
        """The graph and model are loaded, so events are scored; ``neo4j`` says how the
        write-through stands (``ok``, ``behind``, ``down``, ``overflow``; the service answers
        either way). 503 once the event log failed (the service must be restarted)."""
        if writer.broken is not None:
            return JSONResponse({"status": "failed", "detail": str(writer.broken)},
                                status_code=503)
        neo4j: Any = "not configured" if write_through is None else write_through.status()
        return {"status": "ready", "model_version": state.model_version,
                "accounts": state.num_accounts, "neo4j": neo4j,
                "scores": state.published, "published_candidate": state.published}

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> str:
        """Prometheus text: latency histogram, events applied, graph size, model version,
        the writer's busy share."""
        return metrics.render(state.events_applied, state.graph_size(), state.model_version,
                              writer.busy)

    @app.post("/v1/events")
    async def post_events(request: Request) -> Response:
        """Score one event or a batch: ``{"events": [...], "atomic": true}`` or one event."""
        began = time.perf_counter()
        body = await request.body()
        if len(body) > limits.max_body_bytes:
            return _too_large(f"body of {len(body)} bytes, more than {limits.max_body_bytes}")
        try:
            payload = json.loads(body)
        except ValueError as err:
            return JSONResponse({"detail": f"body is not JSON: {err}"}, status_code=400)
        events, atomic = _batch(payload)
        if events is None:
            return JSONResponse({"detail": "expected an event object or "
                                 '{"events": [objects], "atomic": true|false}'},
                                status_code=400)
        if len(events) > limits.max_batch:
            return _too_large(f"{len(events)} events, more than the batch limit "
                              f"{limits.max_batch}")
        began = _lap(metrics, "parse", began)
        # Plainly valid events are read here (microseconds an event); the others go through
        # the ingest's SQL (milliseconds) in a worker thread, off the event loop.
        checked = validator.plain(events) or await run_in_threadpool(validator.check, events)
        began = _lap(metrics, "validation", began)
        ids = checked.events.column("event_id").to_pylist()
        bad = checked.bad
        metrics.rejected += len(bad)
        if bad and (atomic or len(bad) == len(events)):
            return JSONResponse({"detail": "events failed validation; nothing was applied",
                                 "errors": [{"index": i, "event_id": ids[i],
                                             "reason": checked.reasons[i]} for i in bad]},
                                status_code=422)
        views: list[dict[str, Any] | None] = []
        try:
            status = await writer.post(checked.events, checked.reasons, views)
        except LogFailed as err:
            return JSONResponse({"detail": str(err)}, status_code=503)
        began = _lap(metrics, "write", began)
        response = _answer(ids, checked.reasons, status, views)
        _lap(metrics, "response", began)
        return response

    @app.get("/v1/accounts/{account_id:path}")
    def get_account(account_id: str) -> JSONResponse:
        """An account's current score, ring and reasons."""
        view = state.account_view(account_id)
        return _found(view, f"account {account_id!r}")

    @app.get("/v1/entities/{node_type}/{entity_id:path}")
    def get_entity(node_type: str, entity_id: str) -> JSONResponse:
        """An entity's risk, accounts and rings."""
        view = state.entity_view(node_type, entity_id)
        return _found(view, f"{node_type} {entity_id!r}")

    @app.get("/v1/rings/{ring_id}")
    def get_ring(ring_id: str) -> JSONResponse:
        """A ring's score, members and evidence."""
        view = state.ring_view(ring_id)
        return _found(view, f"ring {ring_id!r}")

    @app.post("/admin/reload")
    def reload(model: str | None = None) -> dict[str, str]:
        """Switch to the model in ``model`` (default: reread the current directory)."""
        version = state.reload_model(Path(model) if model else None)
        return {"model_version": version}

    return app


def _batch(payload: Any) -> tuple[list[dict[str, Any]] | None, bool]:
    """(the events of a request body, whether the batch is atomic); ``None`` when malformed."""
    if isinstance(payload, dict) and "events" in payload:
        events = payload["events"]
        atomic = payload.get("atomic", True)
        if not isinstance(events, list) or not isinstance(atomic, bool) or not all(
                isinstance(e, dict) for e in events):
            return None, True
        return events, atomic
    if isinstance(payload, dict):
        return [payload], True
    return None, True


def _lap(metrics: Metrics, phase: str, began: float) -> float:
    """Record the time since ``began`` as ``phase``; now."""
    now = time.perf_counter()
    metrics.phase(phase, now - began)
    return now


def _answer(ids: list[str], reasons: list[str | None], status: list[str],
            views: list[dict[str, Any] | None]) -> Response:
    """The answer to a posted batch: per event its status, and its account's view (or why
    it was rejected)."""
    results = []
    for i, event_id in enumerate(ids):
        item: dict[str, Any] = {"index": i, "event_id": event_id, "status": status[i]}
        if status[i] == REJECTED:
            item["reason"] = reasons[i]
        else:
            item["account"] = views[i]
        results.append(item)
    return _json({"accepted": status.count(ACCEPTED), "results": results})


def _json(content: dict[str, Any]) -> Response:
    """``content`` as a JSON response, encoded by orjson (a batch's answer of 100 views, ~60
    KB: ~0.1 ms, against ~0.8 ms for Starlette's ``JSONResponse``; NaN is written as null)."""
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type="application/json")


class _Guard:
    """The bearer token and the body size limit checked before any route, and each request's
    latency recorded per route: a plain ASGI middleware (Starlette's ``BaseHTTPMiddleware``
    runs every request through a task group and memory streams, some 100 us of CPU each)."""

    def __init__(self, app: ASGIApp, token: str, limits: Limits, metrics: Metrics) -> None:
        self.app, self.token, self.limits, self.metrics = app, token, limits, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        refusal = None
        if scope["path"] not in OPEN_ROUTES and not authorized(
                headers.get(b"authorization", b"").decode("latin-1") or None, self.token):
            refusal = JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401,
                                   headers={"WWW-Authenticate": "Bearer"})
        else:
            length = headers.get(b"content-length", b"").decode("latin-1")
            if length.isdigit() and int(length) > self.limits.max_body_bytes:
                refusal = _too_large(f"body of {length} bytes, more than "
                                     f"{self.limits.max_body_bytes}")
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)
        route = scope.get("route")
        self.metrics.observe(getattr(route, "path", "unmatched"),
                             time.perf_counter() - started)


def _too_large(why: str) -> JSONResponse:
    return JSONResponse({"detail": f"request too large: {why}"}, status_code=413)


def _found(view: dict[str, Any] | None, what: str) -> JSONResponse:
    if view is None:
        return JSONResponse({"detail": f"{what} is not in the graph"}, status_code=404)
    return JSONResponse(view)
