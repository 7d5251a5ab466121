"""``abusenet load`` and ``abusenet query``: the Neo4j graph store from the command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from abusenet.commands.options import ProgressOption
from abusenet.commands.store_access import (
    NEO4J_URI_HELP,
    CommandFailed,
    fail,
    fail_on_neo4j_error,
    open_store,
)

if TYPE_CHECKING:
    import pandas as pd


#: ``--max-prune-fraction``'s default: :data:`graph.store.load.MAX_PRUNE_FRACTION` (a test
#: keeps them equal; importing it here would load the store for every ``--help``).
DEFAULT_MAX_PRUNE_FRACTION = 0.2

#: ``abusenet query --timeout``'s default: :data:`graph.query_pack.DEFAULT_TIMEOUT` (a test keeps
#: them equal; importing it here would load the store for every ``--help``).
DEFAULT_QUERY_TIMEOUT = 30.0


def load(
    snapshot: Path = typer.Argument(
        ..., help="Snapshot directory (with manifest.json) written by the graph build."
    ),
    bulk: bool | None = typer.Option(
        None, "--bulk/--no-bulk",
        help="Force neo4j-admin bulk import (first load into an empty database of the local "
        "server; it is stopped and restarted) or the driver path (incremental MERGE). "
        "Default: bulk for first loads of 1M+ relationships on the local server, else driver.",
    ),
    neo4j_uri: str | None = typer.Option(None, "--neo4j-uri", help=NEO4J_URI_HELP),
    graph: str | None = typer.Option(
        None, "--graph",
        help="Name of the graph to load into (letters, digits, '_', '.', '-'); graphs of other "
        "names in the server are never changed. Default: the snapshot folder's name, or the "
        "run's output folder for OUT/.work/snapshot.",
    ),
    batch_size: int = typer.Option(10_000, min=1, help="Rows per write transaction."),
    prune: bool = typer.Option(
        False, "--prune",
        help="Delete the graph's nodes and relationships an earlier load wrote that the "
        "snapshot lacks (said before it deletes; refused beyond --max-prune-fraction without "
        "--force). Without it they stay.",
    ),
    force: bool = typer.Option(
        False, "--force", help="Prune even more than --max-prune-fraction of the graph."
    ),
    max_prune_fraction: float | None = typer.Option(
        None, min=0.0, max=1.0,
        help="The largest share of the graph's nodes and relationships --prune deletes "
        f"(default {DEFAULT_MAX_PRUNE_FRACTION}).",
    ),
    progress: bool = ProgressOption,
) -> None:
    """Load a graph snapshot into Neo4j as a named graph: constraints first, then only what
    changed.

    Loading the same snapshot again writes nothing; an interrupted load is finished by running
    the command again.
    """
    from rich.console import Console
    from rich.table import Table

    from graph.snapshot import SnapshotError, read_snapshot
    from graph.store import load_snapshot
    from graph.store.bulk import BulkImportError
    from graph.store.driver_load import PruneRefusedError
    from graph.store.graphs import GraphNameError, default_graph_name, graph_name

    try:
        name = graph_name(graph or default_graph_name(snapshot))
    except GraphNameError as err:
        fail(f"--graph: {err}")
    try:
        snap = read_snapshot(snapshot)
    except SnapshotError as err:
        fail(str(err))
    mode = "auto" if bulk is None else ("bulk" if bulk else "driver")
    store = open_store(neo4j_uri)
    with store:
        try:
            summary = load_snapshot(
                store, snap, graph=name, mode=mode, progress=progress, batch_size=batch_size,
                prune=prune, force=force,
                max_prune_fraction=(DEFAULT_MAX_PRUNE_FRACTION if max_prune_fraction is None
                                    else max_prune_fraction))
        except (BulkImportError, PruneRefusedError) as err:
            fail(str(err))
        except Exception as err:
            fail_on_neo4j_error(err, store, f"loading {snapshot}", "; run the command again to "
                                 "finish the load (it resumes where it stopped)")
    table = Table(title=f"Loaded {snapshot} as graph {name!r} ({summary.mode} path, "
                        f"{summary.seconds:.1f} s, snapshot {summary.fingerprint})")
    for column in ("label / type", "written", "unchanged", "stale kept", "deleted"):
        table.add_column(column, justify="left" if column == "label / type" else "right")
    for key, written in summary.written.items():
        deleted = summary.deleted.get(key, 0)
        table.add_row(key, f"{written:,}", f"{summary.unchanged.get(key, 0):,}",
                      f"{summary.stale.get(key, 0) - deleted:,}", f"{deleted:,}")
    Console().print(table)
    if sum(summary.stale.values()) > sum(summary.deleted.values()):
        typer.echo(f"Stale rows an earlier load of graph {name!r} wrote stay; --prune deletes "
                   "them.", err=True)


def query(
    name: str | None = typer.Argument(None, help="Query name (see --list)."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="A parameter as key=value; repeat for each parameter."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print the rows as CSV."),
    graph: str | None = typer.Option(
        None, "--graph", help="The graph to search (same as -p graph=NAME). Default: the only "
        "graph in the store.",
    ),
    case: str | None = typer.Option(None, "--case", help="Case id, recorded with the query."),
    analyst: str | None = typer.Option(
        None, "--analyst", help="Who asks, recorded with the query (shows in SHOW TRANSACTIONS "
        "and the audit log)."
    ),
    timeout: float = typer.Option(
        DEFAULT_QUERY_TIMEOUT, "--timeout", min=0.1, max=600.0,
        help="Seconds after which the server stops the query.",
    ),
    list_all: bool = typer.Option(False, "--list", help="List the queries and their parameters."),
    neo4j_uri: str | None = typer.Option(None, "--neo4j-uri", help=NEO4J_URI_HELP),
) -> None:
    """Run an investigator query from the pack (graph/queries/*.cypher) against Neo4j.

    Parameters are checked against the query's documented ranges and choices before it runs; an
    account or entity that is not in the graph is an error. Every query (and every refused one)
    is appended to the audit log, <home>/audit/queries.jsonl.

    Example: abusenet query ring_of_account --param account_id=acc-42 --case C-7 --analyst kim
    """
    from datetime import UTC, datetime

    from graph.query_pack import list_queries

    if list_all:
        _print_pack(list_queries())
        return
    if name is None:
        raise typer.BadParameter("give a query name, or --list to see them", param_hint="NAME")
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--json/--csv")
    values: dict[str, str] = {}
    for item in param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not key=value", param_hint="--param")
        values[key.strip()] = value
    if graph is not None:
        values["graph"] = graph
    started, clock = datetime.now(UTC), time.perf_counter()
    frame, error = None, None
    try:
        frame = _run_pack_query(name, values, neo4j_uri, timeout,
                                analyst=analyst, case=case)
    except CommandFailed as err:
        error = err.message
        raise
    finally:
        _audit(name, values, analyst=analyst, case=case, started=started,
               seconds=time.perf_counter() - clock, frame=frame, error=error)
    if frame.attrs.get("warning"):
        typer.secho(f"warning: {frame.attrs['warning']}", err=True, fg=typer.colors.YELLOW)
    if as_json:
        typer.echo(json.dumps(frame.to_dict("records"), default=str, ensure_ascii=False, indent=2))
    elif as_csv:
        lists = frame.map(lambda v: json.dumps(v, ensure_ascii=False)
                          if isinstance(v, list) else v)
        lists.to_csv(sys.stdout, index=False)
    else:
        shown = frame.drop(columns=[c for c in ("truncated", "hubs") if c in frame.columns])
        _print_frame(shown, f"{name} (graph {frame.attrs['graph']!r})")
    if frame.attrs.get("truncated"):
        typer.secho(f"note: {_truncation_note(frame)}", err=True, fg=typer.colors.YELLOW)


def _run_pack_query(name: str, values: dict[str, str], neo4j_uri: str | None, timeout: float,
                    *, analyst: str | None, case: str | None) -> pd.DataFrame:
    """Check ``values``, connect, run pack query ``name``; every failure through :func:`fail`."""
    from graph.query_pack import QueryPackError, get_query, query_metadata, run_query
    from graph.store.graphs import GraphNameError, graph_name

    try:
        get_query(name).bind(values)
        if "graph" in values:
            graph_name(values["graph"])
    except (QueryPackError, GraphNameError) as err:
        fail(str(err))
    store = open_store(neo4j_uri)
    with store:
        try:
            return run_query(store, name, values, timeout=timeout,
                             metadata=query_metadata(name, analyst=analyst, case=case))
        except (GraphNameError, QueryPackError) as err:
            fail(str(err))
        except Exception as err:
            fail_on_neo4j_error(err, store, f"query {name!r}")
    raise AssertionError("unreachable: fail raises")


def _audit(name: str, values: dict[str, str], *, analyst: str | None, case: str | None,
           started: Any, seconds: float, frame: pd.DataFrame | None, error: str | None) -> None:
    """Append the query's line to the audit log; a log that cannot be written is an error."""
    from abusenet.audit import append_audit, query_record

    record = query_record(
        started=started, query=name, params=values, analyst=analyst, case=case,
        graph=frame.attrs.get("graph") if frame is not None else values.get("graph"),
        rows=0 if frame is None else len(frame),
        truncated=bool(frame is not None and frame.attrs.get("truncated")),
        seconds=seconds,
        error=error if frame is None else None,
    )
    if frame is None and error is None:
        record.update(status="error", error="stopped before a result (see the traceback)")
    try:
        append_audit(record)
    except OSError as err:
        fail(f"cannot write the audit log: {err}")


def _truncation_note(frame: pd.DataFrame) -> str:
    hubs = sorted({h for row in frame.get("hubs", []) for h in row})
    note = f"the result was truncated ({len(frame)} row(s) shown)"
    if hubs:
        note += "; hubs not expanded (Type:id (relationships)): " + ", ".join(hubs[:10])
        note += f" and {len(hubs) - 10} more" if len(hubs) > 10 else ""
        note += "; raise -p max_degree to walk through them"
    return note + "; raise -p limit for more rows"


def _print_frame(frame: pd.DataFrame, title: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{title}: {len(frame)} row(s)")
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for row in frame.itertuples(index=False):
        # Text, not markup: ids like "[red]" must print verbatim.
        table.add_row(*(Text(_cell(v)) for v in row))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _print_pack(queries: tuple[Any, ...]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Investigator queries (abusenet query NAME --param key=value)")
    for column in ("name", "parameters", "what it finds"):
        table.add_column(column, overflow="fold")
    for q in queries:
        table.add_row(Text(q.name), Text(q.usage()), Text(q.summary))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``load`` and ``query`` to ``app``."""
    app.command("load")(load)
    app.command("query")(query)
