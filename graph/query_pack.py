"""The investigators' query pack: parameterised Cypher files in ``graph/queries/``.

Each ``<name>.cypher`` file starts with a comment block: a first line ``// <name>: <summary>``,
then a ``Parameters:`` list with one line per parameter::

    //   $name  type  [= default]  what it means

(type is ``string``, ``int``, ``float``, ``bool`` or ``datetime``). The rest is the query. Values
always travel as ``$parameters``; nothing is ever pasted into the query text. Every run carries
transaction metadata (``app``, ``query``, and who asked for which case), so it shows in Neo4j's
``SHOW TRANSACTIONS`` and query log.

Every query searches one graph of the store (:mod:`graph.store.graphs`): ``$graph``, a
parameter every pack file declares without a default; when it is not given, :func:`run_query`
takes the only graph in the store, or refuses, listing them. A query on a graph whose latest load
did not finish logs a warning (and records it in the result's ``attrs["warning"]``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from graph.store.graphs import resolve_graph, unfinished_warning
from graph.store.runner import QueryRunner

PARAM_TYPES = ("string", "int", "float", "bool", "datetime")
_PARAM_LINE = re.compile(
    r"^//\s+\$(?P<name>\w+)\s+(?P<type>\w+)(?:\s+=\s+(?P<default>\S+))?\s+(?P<doc>\S.*)$"
)
_NAME_LINE = re.compile(r"^//\s*(?P<name>\w+):\s*(?P<summary>.+)$")
_REQUIRED = object()
#: The parameter naming the graph to search; optional (see the module docstring).
GRAPH_PARAM = "graph"

logger = logging.getLogger(__name__)


class QueryPackError(ValueError):
    """An unknown query, or parameters it does not accept; the message says what it takes."""


@dataclass(frozen=True)
class QueryParam:
    """One ``$parameter`` of a pack query."""

    name: str
    type: str
    default: Any
    doc: str

    @property
    def required(self) -> bool:
        """Whether the caller must give a value."""
        return self.default is _REQUIRED

    def convert(self, value: Any) -> Any:
        """``value`` (a Python value, or a string from the command line) as this type.

        Raises
        ------
        QueryPackError
            If the value does not fit the type.
        """
        try:
            if self.type == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                return int(value)
            if self.type == "float":
                return float(value)
            if self.type == "bool":
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    return value.lower() in ("true", "1", "yes")
                return bool(value)
            if self.type == "datetime":
                if isinstance(value, datetime | date):
                    return value.isoformat()
                return pd.Timestamp(str(value)).isoformat()
            return str(value)
        except (TypeError, ValueError) as err:
            raise QueryPackError(
                f"parameter ${self.name} must be {self.type} ({self.doc}); got {value!r}"
            ) from err


@dataclass(frozen=True)
class PackQuery:
    """One query of the pack: its name, summary, parameters and Cypher text."""

    name: str
    summary: str
    params: tuple[QueryParam, ...]
    text: str

    def bind(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        """Check and convert ``values``, adding defaults; the parameters to run the query with.

        Raises
        ------
        QueryPackError
            On an unknown or missing parameter, or a value of the wrong type.
        """
        values = dict(values or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise QueryPackError(
                f"query {self.name!r} has no parameter(s) {unknown}; it takes {self.usage()}"
            )
        bound = {}
        for param in self.params:
            if param.name in values and values[param.name] is not None:
                bound[param.name] = param.convert(values[param.name])
            elif param.required:
                raise QueryPackError(
                    f"query {self.name!r} needs ${param.name} ({param.type}: {param.doc}); "
                    f"it takes {self.usage()}"
                )
            else:
                bound[param.name] = param.default
        return bound

    def usage(self) -> str:
        """The parameters as ``name=type`` (optional ones in brackets)."""
        parts = [
            f"{p.name}={p.type}" if p.required
            else f"[{p.name}={p.type}, default {_default_text(p)}]"
            for p in self.params
        ]
        return " ".join(parts) or "no parameters"


def _default_text(param: QueryParam) -> str:
    return "the only graph in the store" if param.name == GRAPH_PARAM else str(param.default)


def parse_query(name: str, text: str) -> PackQuery:
    """Parse a pack file's header (see the module docstring) into a :class:`PackQuery`."""
    lines = text.splitlines()
    first = _NAME_LINE.match(lines[0]) if lines else None
    if first is None or first["name"] != name:
        raise QueryPackError(f"{name}.cypher must start with '// {name}: <summary>'")
    params = []
    for line in lines[1:]:
        if not line.startswith("//"):
            break
        match = _PARAM_LINE.match(line)
        if match is None:
            continue
        if match["type"] not in PARAM_TYPES:
            raise QueryPackError(
                f"{name}.cypher: ${match['name']} has type {match['type']!r}; "
                f"use one of {PARAM_TYPES}"
            )
        default = None if match["name"] == GRAPH_PARAM else _REQUIRED
        param = QueryParam(match["name"], match["type"], default, match["doc"].strip())
        if match["default"] is not None:
            param = QueryParam(param.name, param.type, param.convert(match["default"]), param.doc)
        params.append(param)
    if GRAPH_PARAM not in {p.name for p in params}:
        raise QueryPackError(f"{name}.cypher must declare ${GRAPH_PARAM} (every query searches "
                             "one graph)")
    return PackQuery(name, first["summary"].strip(), tuple(params), text)


@cache
def list_queries() -> tuple[PackQuery, ...]:
    """Every query of the pack, by name."""
    folder = resources.files("graph").joinpath("queries")
    files = sorted(
        (f for f in folder.iterdir() if f.name.endswith(".cypher")), key=lambda f: f.name
    )
    return tuple(parse_query(f.name.removesuffix(".cypher"), f.read_text("utf-8")) for f in files)


def get_query(name: str) -> PackQuery:
    """The pack query called ``name``.

    Raises
    ------
    QueryPackError
        If there is none; the message lists the names there are.
    """
    for query in list_queries():
        if query.name == name:
            return query
    names = ", ".join(q.name for q in list_queries())
    raise QueryPackError(f"there is no query {name!r} in the pack; the queries are: {names}")


def query_metadata(
    name: str, *, analyst: str | None = None, case: str | None = None
) -> dict[str, str]:
    """Transaction metadata for a pack query: ``app``, ``query`` and, when given, who and why."""
    metadata = {"app": "abusenet", "query": name}
    if analyst:
        metadata["analyst"] = analyst
    if case:
        metadata["case"] = case
    return metadata


def run_query(
    store: QueryRunner,
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> pd.DataFrame:
    """Run pack query ``name`` in a read transaction and return its rows.

    Parameters
    ----------
    store
        The store (:func:`graph.store.connect`) or any :class:`~graph.store.QueryRunner`.
    name
        A query of the pack (see :func:`list_queries`).
    params
        Parameter values (converted to the declared types; defaults fill the rest). Without
        ``graph``, the only graph in the store.
    metadata
        Extra transaction metadata, e.g. ``{"analyst": "kim", "case": "CASE-7"}``; ``app`` and
        ``query`` are always added.
    timeout
        Seconds after which the server aborts the query.

    Returns
    -------
    pandas.DataFrame
        One column per returned field; Neo4j temporal values become Python ``datetime``.
        ``attrs["graph"]`` names the graph searched, ``attrs["warning"]`` says when its latest
        load did not finish (else ``None``).

    Raises
    ------
    QueryPackError
        On bad parameters (see :meth:`PackQuery.bind`).
    graph.store.graphs.GraphNameError
        When ``graph`` is not in the store, or is not given and the store holds no graph or
        several.

    Examples
    --------
    >>> run_query(store, "ring_of_account", {"account_id": "acc-42"},   # doctest: +SKIP
    ...           metadata={"analyst": "kim", "case": "CASE-7"})
    """
    query = get_query(name)
    bound = query.bind(params)
    bound[GRAPH_PARAM] = resolve_graph(store, bound[GRAPH_PARAM])
    warning = unfinished_warning(store, bound[GRAPH_PARAM])
    if warning:
        logger.warning("%s", warning)
    tags = {**query_metadata(name), **dict(metadata or {})}
    rows = store.read(query.text, bound, metadata=tags, timeout=timeout)
    # One pass over the values, one frame: per-column conversions cost more than the query
    # itself for the small results investigators look at.
    records = [tuple(_native(v) for v in record) for record in rows.records]
    frame = pd.DataFrame.from_records(records, columns=rows.columns)
    frame.attrs.update(graph=bound[GRAPH_PARAM], warning=warning)
    return frame


def _native(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)
    return to_native() if callable(to_native) else value
