"""Named graphs in one store: their names, their ``LoadRun`` records, the default graph.

Every node and relationship abusenet loads carries ``graph: <name>``, and a node is identified by
``(graph, id)`` within its label, so two datasets loaded into one server are two graphs that never
touch: loading, pruning and writing scores back read and change only the run's own graph.

Each load records itself as ``(:LoadRun {graph, fingerprint, started, finished, status})``:
``status`` is ``running`` while it writes, ``complete`` when it finished, ``failed`` when it
stopped on an error it could see. A load killed outright stays ``running``, which is how a reader
(:func:`last_load`) tells a half-written graph from a finished one.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from graph.store.runner import QueryRunner

#: The property naming a node's or relationship's graph.
GRAPH = "graph"
#: The graph a library call without a graph name uses (the commands always name one).
DEFAULT_GRAPH = "default"
#: The label of the load records.
LOAD_RUN = "LoadRun"
#: ``LoadRun.status`` values.
RUNNING, COMPLETE, FAILED = "running", "complete", "failed"

_GRAPH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class GraphNameError(ValueError):
    """A graph name that is not allowed, or no graph to default to; the message says why."""


def graph_name(name: str) -> str:
    """Return ``name`` if it is a valid graph name, else raise.

    A graph name is 1 to 64 letters, digits, ``_``, ``.`` or ``-``, starting with a letter or
    digit.

    Raises
    ------
    GraphNameError
        If ``name`` is not one.
    """
    if isinstance(name, str) and _GRAPH_NAME.fullmatch(name):
        return name
    raise GraphNameError(
        f"{name!r} is not a valid graph name: use 1 to 64 letters, digits, '_', '.' or '-', "
        "starting with a letter or digit (e.g. --graph shop-2024)"
    )


def default_graph_name(path: str | Path) -> str:
    """A graph name derived from a folder (an output folder, a snapshot directory).

    A snapshot inside a run's work folder (``OUT/.work/...``) takes the output folder's name, so
    ``abusenet load OUT/.work/snapshot`` and ``abusenet run --out OUT`` name the same graph.
    Characters a name cannot hold become ``_``.
    """
    resolved = Path(path).resolve()
    parts = resolved.parts
    if ".work" in parts:
        resolved = Path(*parts[:parts.index(".work")])
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", resolved.name).lstrip("_.-")[:64]
    return cleaned or "default"


def fingerprint(hashes: Iterable[np.ndarray]) -> str:
    """A short hex digest of a snapshot's content hashes (the tables' ``content_hash`` columns,
    in table order): equal for equal snapshots."""
    digest = hashlib.blake2b(digest_size=8)
    for column in hashes:
        digest.update(np.ascontiguousarray(column, dtype=np.int64).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class LoadRun:
    """One ``LoadRun`` record."""

    id: str
    graph: str
    fingerprint: str | None
    status: str
    started: datetime
    finished: datetime | None


def start_load(store: QueryRunner, graph: str, snapshot_fingerprint: str | None) -> str:
    """Record a load of ``graph`` as started (``status: running``); returns its id.

    The fingerprint may be unknown yet (``None``): :func:`finish_load` then records it."""
    run_id = uuid.uuid4().hex
    store.write([(
        f"CREATE (:{LOAD_RUN} {{id: $id, graph: $graph, fingerprint: $fingerprint, "
        f"status: '{RUNNING}', started: $now}})",
        {"id": run_id, "graph": graph_name(graph), "fingerprint": snapshot_fingerprint,
         "now": datetime.now(UTC)},
    )])
    return run_id


def finish_load(store: QueryRunner, run_id: str, status: str = COMPLETE,
                snapshot_fingerprint: str | None = None) -> None:
    """Mark the load ``run_id`` as ended with ``status`` (``complete`` or ``failed``), and
    record the snapshot's fingerprint when given."""
    store.write([(
        f"MATCH (l:{LOAD_RUN} {{id: $id}}) SET l.status = $status, l.finished = $now, "
        "l.fingerprint = coalesce($fingerprint, l.fingerprint)",
        {"id": run_id, "status": status, "now": datetime.now(UTC),
         "fingerprint": snapshot_fingerprint},
    )])


def graphs(store: QueryRunner) -> list[str]:
    """The names of the graphs loaded into the store, sorted."""
    rows = store.read(f"MATCH (l:{LOAD_RUN}) RETURN DISTINCT l.graph AS graph")
    return sorted(g for g in rows.column("graph") if g is not None)


def last_load(store: QueryRunner, graph: str) -> LoadRun | None:
    """The latest ``LoadRun`` of ``graph`` (``None`` if it was never loaded)."""
    rows = store.read(
        f"MATCH (l:{LOAD_RUN} {{graph: $graph}}) "
        "RETURN l.id AS id, l.fingerprint AS fingerprint, l.status AS status, "
        "l.started AS started, l.finished AS finished ORDER BY l.started DESC LIMIT 1",
        {"graph": graph},
    )
    if not rows.records:
        return None
    run_id, print_, status, started, finished = rows.records[0]
    return LoadRun(run_id, graph, print_, status, _native(started), _native(finished))


def resolve_graph(store: QueryRunner, graph: str | None) -> str:
    """``graph`` checked, or, when ``None``, the only graph in the store.

    Raises
    ------
    GraphNameError
        If ``graph`` is invalid or not in the store, or it is ``None`` and the store holds no
        graph or several (the message lists them).
    """
    known = graphs(store)
    if graph is not None:
        graph_name(graph)
        if graph not in known:
            raise GraphNameError(
                f"there is no graph {graph!r} in the store; it holds {_listed(known)}"
            )
        return graph
    if len(known) == 1:
        return known[0]
    if not known:
        raise GraphNameError(
            "the store holds no graph loaded by abusenet; load one first (`abusenet load` or "
            "`abusenet run --neo4j-uri ...`)"
        )
    raise GraphNameError(
        f"the store holds {len(known)} graphs ({_listed(known)}); name one with "
        "-p graph=NAME"
    )


def unfinished_warning(store: QueryRunner, graph: str) -> str | None:
    """A warning when the latest load of ``graph`` did not finish, else ``None``."""
    last = last_load(store, graph)
    if last is None or last.status == COMPLETE:
        return None
    return (
        f"the latest load of graph {graph!r} (started {last.started:%Y-%m-%d %H:%M:%S} UTC) "
        f"is {last.status!r}, not complete: results may miss nodes or relationships; load the "
        "snapshot again to finish it"
    )


def _listed(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names) if names else "none"


def _native(value: object) -> datetime | None:
    to_native = getattr(value, "to_native", None)
    return to_native() if callable(to_native) else value  # type: ignore[return-value]
