"""``abusenet serve``: score events over HTTP as they arrive, on a batch run's graph and model."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from abusenet.serve.write_through import WriteThrough

SERVE_HELP = (
    "Serve a batch run (the OUT of `abusenet run`) over HTTP: POST /v1/events scores events as "
    "they arrive (validated by the ingest's rules, written to the run's event store before the "
    "answer, applied to the in-memory graph), GET /v1/accounts/ID, /v1/entities/TYPE/ID and "
    "/v1/rings/ID read the current graph, /metrics is Prometheus text, POST /admin/reload or "
    "SIGHUP switches to a new model. With --neo4j-uri every accepted change (accounts, entities, "
    "relationships, scores) is also written to that Neo4j graph in the background, batched and "
    "retried; the service keeps answering when Neo4j is slow or down and /readyz says so. "
    "Every route but /healthz and /readyz needs "
    "'Authorization: Bearer TOKEN': ABUSENET_API_TOKEN, or else the 0600 file named at start. "
    "The OpenAPI page is /docs. "
    "With --prepare, compute what the start computes from the snapshot and the model (the "
    "start cache, RUN/.work/serve/start) and exit: a training `abusenet run` does this already, "
    "so that the first start reads it."
)


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""
    app.command(name="serve", help=SERVE_HELP)(serve)


def serve(
    run: Path = typer.Option(..., "--run", help="The output directory of `abusenet run`."),
    model: Path | None = typer.Option(
        None, "--model",
        help="A saved detector directory, as `abusenet train --out` writes it "
        "(default: RUN/model)."),
    snapshot: Path | None = typer.Option(
        None, "--snapshot",
        help="A graph snapshot directory to serve instead of the run's own."),
    mapping: Path | None = typer.Option(
        None, "--mapping", "-m",
        help="Read posted events in your own columns through this mapping YAML "
        "(default: the canonical columns)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port to listen on."),
    max_body_bytes: int = typer.Option(
        1_000_000, "--max-body-bytes", min=1,
        help="Largest request body in bytes; a larger one is refused with 413."),
    max_batch: int = typer.Option(
        1000, "--max-batch", min=1,
        help="Most events in one POST /v1/events; more are refused with 413."),
    neo4j_uri: str | None = typer.Option(
        None, "--neo4j-uri",
        help="Write accepted changes through to this Neo4j ('local' for the installed "
        "server; the password from NEO4J_PASSWORD). Default: no write-through."),
    graph: str | None = typer.Option(
        None, "--graph",
        help="The Neo4j graph to write to: the one `abusenet run` loaded (its --graph; "
        "default the run folder's name)."),
    input_cache_rows: int | None = typer.Option(
        None, "--input-cache-rows", min=0,
        help="GNN input embeddings held in memory for reads, all node types together "
        "(default: every row when the graph's nodes and an eighth more take at most a "
        "quarter of the memory available at start, else 524288, 2**19). Holding every row "
        "never encodes one again: at 1M accounts (~4.4M nodes) ~1.1 GB more memory, about "
        "a fifth less CPU per batch event."),
    prepare: bool = typer.Option(
        False, "--prepare",
        help="Only write the start cache (model and snapshot, not the events) and exit; "
        "nothing is done when it is there already."),
) -> None:
    """See :data:`SERVE_HELP`."""
    import torch
    import uvicorn

    from abusenet.serve.app import Limits, create_app
    from abusenet.serve.security import resolve_token
    from abusenet.serve.state import GraphState
    from abusenet.serve.validation import EventValidator, canonical_mapping
    from ingest.mapping import MappingError, load_mapping

    if prepare:
        _prepare(run, model, snapshot)
        return
    write_through = _write_through(neo4j_uri, graph, run) if neo4j_uri else None
    try:
        state = GraphState.load(run, model, snapshot, input_cache_rows=input_cache_rows)
        rules = load_mapping(mapping) if mapping else canonical_mapping(state.ingest_state)
        validator = EventValidator(rules)
        token, source = resolve_token(run)
    except (FileNotFoundError, MappingError, ValueError) as err:
        typer.echo(f"error: cannot serve {run}: {err}", err=True)
        raise typer.Exit(1) from None
    # Requests score a few rows each, in many threads: one torch thread per op, set once for
    # the process (the whole-graph pass at load used them all).
    torch.set_num_threads(1)
    typer.echo(f"abusenet serve: {state.num_accounts:,} accounts, model {state.model_version}; "
               f"API token from {source}; listening on http://{host}:{port}", err=True)
    if write_through is not None:
        typer.echo(f"abusenet serve: writing through to Neo4j graph {write_through.graph!r}",
                   err=True)
        write_through.start()
    app = create_app(state, validator, token, Limits(max_body_bytes, max_batch),
                     write_through)

    def reload_on_hangup(signum: int, frame: object) -> None:
        threading.Thread(target=state.reload_model, name="reload", daemon=True).start()

    signal.signal(signal.SIGHUP, reload_on_hangup)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if write_through is not None and not write_through.close(timeout=10.0):
            typer.echo("abusenet serve: some changes were not written to Neo4j (it was down or "
                       "slow); they are in the event store: reload the graph with `abusenet "
                       "load` to catch up", err=True)


def _prepare(run: Path, model: Path | None, snapshot: Path | None) -> None:
    """``serve --prepare``: the start caches of ``run`` (with ``model`` / ``snapshot``)
    written."""
    from abusenet.serve.state import GraphState, cache_complete, start_caches

    try:
        written = GraphState.prepare_start(run, model, snapshot)
        caches = start_caches(run, model, snapshot)
    except (FileNotFoundError, ValueError) as err:
        typer.echo(f"error: cannot prepare {run}: {err}", err=True)
        raise typer.Exit(1) from None
    for cache in caches:
        if cache in written:
            typer.echo(f"abusenet serve: start cache written to {cache}", err=True)
        elif cache_complete(cache):
            typer.echo(f"abusenet serve: start cache {cache} is there already", err=True)
        else:
            typer.echo(f"error: start cache {cache} could not be written (see the warning)",
                       err=True)
            raise typer.Exit(1)


def _write_through(neo4j_uri: str, graph: str | None, run: Path) -> WriteThrough:
    """The (not yet started) Neo4j write-through for ``--neo4j-uri`` / ``--graph``; a wrong
    setting stops the command, a server that is down does not (the write-through retries)."""
    from abusenet.serve.write_through import WriteThrough
    from graph.store import connect
    from graph.store.connection import Neo4jConfigError, local_server_for, resolve_neo4j_settings
    from graph.store.graphs import GraphNameError, default_graph_name, graph_name

    try:
        settings = resolve_neo4j_settings(uri=neo4j_uri)
        name = graph_name(graph) if graph else default_graph_name(run)
    except (Neo4jConfigError, GraphNameError) as err:
        typer.echo(f"error: cannot serve {run}: {err}", err=True)
        raise typer.Exit(1) from None
    if settings is None:
        typer.echo(f"error: cannot serve {run}: --neo4j-uri {neo4j_uri!r} names no server",
                   err=True)
        raise typer.Exit(1)
    return WriteThrough(connect(settings, server=local_server_for(settings)), name)
