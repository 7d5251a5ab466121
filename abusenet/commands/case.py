"""``abusenet case confirm | dismiss | list | sync``: investigators' decisions, kept as labels.

A decision is checked against the graph first (the target must exist; a ring's members are read
with it), then appended to the decisions file and flushed to disk, then written to Neo4j in one
transaction. The file comes first because it is what labels are made from: when Neo4j fails
after it, the command says so in one line and ``abusenet case sync`` writes what is missing
(decisions are keyed by id, so syncing again changes nothing). When Neo4j cannot be reached
before the file is written, nothing is recorded and the command can simply be run again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from abusenet.commands.store_access import NEO4J_URI_HELP, fail, fail_on_neo4j_error, open_store

if TYPE_CHECKING:
    from abusenet.cases.decisions import Decision
    from graph.store import Neo4jStore

case_app = typer.Typer(
    help="Record investigators' decisions (confirmed / dismissed rings, accounts, entities, "
    "events) in Neo4j and in <home>/cases/decisions.jsonl, where the next run takes them as "
    "labels.",
    no_args_is_help=True,
)

_RING = typer.Option(None, "--ring", help="The ring decided on (its id in the graph).")
_ACCOUNT = typer.Option(None, "--account", help="The account decided on.")
_ENTITY = typer.Option(
    None, "--entity", metavar="TYPE:ID",
    help="The entity decided on, as its node type and id (e.g. Device:dev-17).",
)
_EVENT = typer.Option(None, "--event", help="The event (transaction) decided on.")
_ANALYST = typer.Option(..., "--analyst", help="Who decides (recorded verbatim).")
_CASE = typer.Option(None, "--case", help="The case the decision belongs to.")
_NOTE = typer.Option(None, "--note", help="Why (recorded verbatim).")
_GRAPH = typer.Option(
    None, "--graph", help="The graph the target is in. Default: the only graph in the store."
)
_NEO4J_URI = typer.Option(None, "--neo4j-uri", help=NEO4J_URI_HELP)


@case_app.command("confirm")
def confirm(
    ring: str | None = _RING, account: str | None = _ACCOUNT, entity: str | None = _ENTITY,
    event: str | None = _EVENT, analyst: str = _ANALYST, case: str | None = _CASE,
    note: str | None = _NOTE, graph: str | None = _GRAPH, neo4j_uri: str | None = _NEO4J_URI,
) -> None:
    """Confirm a ring, account, entity or event as abusive (label 1 for the next run; a ring's
    members each get label 1).

    Example: abusenet case confirm --ring ring-17 --analyst kim --case C-7 --note "same card"
    """
    _decide("confirmed", ring, account, entity, event, analyst, case, note, graph, neo4j_uri)


@case_app.command("dismiss")
def dismiss(
    ring: str | None = _RING, account: str | None = _ACCOUNT, entity: str | None = _ENTITY,
    event: str | None = _EVENT, analyst: str = _ANALYST, case: str | None = _CASE,
    note: str | None = _NOTE, graph: str | None = _GRAPH, neo4j_uri: str | None = _NEO4J_URI,
) -> None:
    """Dismiss a ring, account, entity or event: not abusive (label 0 for an account, entity or
    event; a dismissed ring labels none of its members, it only withdraws a confirmation).

    Example: abusenet case dismiss --account acc-42 --analyst kim --note "family laptop"
    """
    _decide("dismissed", ring, account, entity, event, analyst, case, note, graph, neo4j_uri)


@case_app.command("list")
def list_decisions(
    graph: str | None = typer.Option(None, "--graph", help="Only this graph's decisions."),
    analyst: str | None = typer.Option(None, "--analyst", help="Only this analyst's decisions."),
    since: str | None = typer.Option(
        None, "--since", metavar="WHEN",
        help="Only decisions made at or after WHEN (ISO-8601 date or time; UTC unless it says).",
    ),
) -> None:
    """List the recorded decisions, oldest first, from the decisions file."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from abusenet.cases.decisions import DecisionsFileError, decisions_path, read_decisions

    start = _since(since)
    path = decisions_path()
    try:
        decisions = read_decisions(path)
    except DecisionsFileError as err:
        fail(str(err))
    shown = sorted((d for d in decisions
                    if (graph is None or d.graph == graph)
                    and (analyst is None or d.analyst == analyst)
                    and (start is None or d.decided_at >= start)),
                   key=lambda d: d.decided_at)
    table = Table(title=f"Decisions in {path}: {len(shown)} of {len(decisions)}")
    for column in ("decided (UTC)", "graph", "decision", "target", "members", "analyst", "case",
                   "note", "id"):
        table.add_column(column, overflow="fold")
    for d in shown:
        # Text, not markup: notes and ids like "[red]" must print verbatim.
        table.add_row(*(Text(v) for v in (
            f"{d.decided_at:%Y-%m-%d %H:%M:%S}", d.graph, d.decision, d.target,
            "" if d.members is None else str(len(d.members)), d.analyst, d.case or "",
            d.note or "", d.id)))
    Console().print(table)


@case_app.command("sync")
def sync(
    graph: str | None = typer.Option(None, "--graph", help="Only this graph's decisions."),
    neo4j_uri: str | None = _NEO4J_URI,
) -> None:
    """Write the decisions of the decisions file that Neo4j lacks (safe to run any time)."""
    from abusenet.cases.decisions import DecisionsFileError, read_decisions
    from graph.store.decisions import ensure_decision_schema, write_decisions

    try:
        decisions = [d for d in read_decisions() if graph is None or d.graph == graph]
    except DecisionsFileError as err:
        fail(str(err))
    store = open_store(neo4j_uri)
    with store:
        try:
            ensure_decision_schema(store)
            written = write_decisions(store, [d.to_properties() for d in decisions])
        except Exception as err:
            fail_on_neo4j_error(err, store, "writing the decisions",
                                 "; run `abusenet case sync` again")
    typer.echo(f"{len(decisions)} decision(s) in the file, {written.created} newly written to "
               f"Neo4j, {written.linked} linked to their target.")


def _decide(verdict: str, ring: str | None, account: str | None, entity: str | None,
            event: str | None, analyst: str, case: str | None, note: str | None,
            graph: str | None, neo4j_uri: str | None) -> None:
    """Check the target, append the decision to the file, then write it to Neo4j."""
    from abusenet.cases.decisions import append_decision, new_decision
    from graph.store.decisions import EntityTypeError, MissingTargetError, find_target
    from graph.store.graphs import GraphNameError, graph_name, resolve_graph

    kind, label, target_id = _target(ring, account, entity, event)
    if not analyst.strip():
        raise typer.BadParameter("name who decides", param_hint="--analyst")
    if graph is not None:
        try:
            graph_name(graph)
        except GraphNameError as err:
            fail(f"--graph: {err}")
    store = open_store(neo4j_uri)
    with store:
        try:
            name = resolve_graph(store, graph)
            target = find_target(store, name, label, target_id)
        except (GraphNameError, MissingTargetError, EntityTypeError) as err:
            # resolve_graph speaks the query command's language (-p graph=NAME).
            message = str(err).replace("-p graph=NAME", "--graph NAME")
            fail(f"{message}; nothing was recorded")
        except Exception as err:
            fail_on_neo4j_error(err, store, "looking up the target", "; nothing was recorded")
        decision = new_decision(graph=name, decision=verdict, target_kind=kind,
                                target_type=label, target_id=target_id, analyst=analyst,
                                case=case, note=note, members=target.members)
        try:
            path = append_decision(decision)
        except OSError as err:
            fail(f"cannot write the decisions file: {err}; nothing was recorded")
        _write(store, decision, path)
    if not target.linked:
        typer.secho(f"warning: graph {name!r} holds no Event nodes, so event {target_id!r} "
                    "could not be checked; the decision is recorded without a link to it",
                    err=True, fg=typer.colors.YELLOW)
    members = "" if target.members is None else f" ({len(target.members)} members)"
    typer.echo(f"{verdict} {label} {target_id!r}{members} in graph {name!r} as {analyst!r}: "
               f"decision {decision.id}, saved in {path} and Neo4j")


def _write(store: Neo4jStore, decision: Decision, path: object) -> None:
    """Write ``decision`` (already in the file at ``path``) to Neo4j, or fail saying so."""
    import neo4j

    from graph.store.connection import explain_neo4j_error, redact_uri
    from graph.store.decisions import ensure_decision_schema, write_decisions

    try:
        ensure_decision_schema(store)
        write_decisions(store, [decision.to_properties()])
    except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, OSError) as err:
        reason = explain_neo4j_error(err, store.settings) or redact_uri(
            err.message if isinstance(err, neo4j.exceptions.Neo4jError) and err.message
            else str(err))
        fail(f"decision {decision.id} is saved in {path} but not in Neo4j ({reason}); run "
              f"`abusenet case sync --graph {decision.graph}` to write it (safe to repeat)")


def _target(ring: str | None, account: str | None, entity: str | None,
            event: str | None) -> tuple[str, str, str]:
    """``(target_kind, node label, id)`` of the one target option given."""
    from abusenet.cases.decisions import KIND_LABELS

    given = {kind: value for kind, value in
             (("ring", ring), ("account", account), ("entity", entity), ("event", event))
             if value is not None}
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of --ring, --account, --entity, --event",
                                 param_hint="target")
    [(kind, value)] = given.items()
    # Ingest trims ids; a pasted id with a stray space finds the same node.
    if kind != "entity":
        label, target_id = KIND_LABELS[kind], value.strip()
    else:
        label, sep, target_id = (part.strip() for part in value.partition(":"))
        if not sep or not label:
            raise typer.BadParameter(f"{value!r} is not TYPE:ID (e.g. Device:dev-17)",
                                     param_hint="--entity")
    if not target_id:
        raise typer.BadParameter(f"--{kind} names no id", param_hint=f"--{kind}")
    return kind, label, target_id


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO-8601 date or time (e.g. 2024-05-01)",
                                 param_hint="--since") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def register(app: typer.Typer) -> None:
    """Add the ``case`` command group to ``app``."""
    app.add_typer(case_app, name="case")
