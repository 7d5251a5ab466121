"""The investigators' query pack: parameterised Cypher files in ``graph/queries/``.

Each ``<name>.cypher`` file starts with a comment block: a first line ``// <name>: <summary>``,
then a ``Parameters:`` list with one line per parameter::

    //   $name  type  [= default]  [in LOW..HIGH]  [one of A|B]  [id of LABEL]  what it means

(type is ``string``, ``int``, ``float``, ``bool`` or ``datetime``). ``in LOW..HIGH`` bounds a
number, ``one of A|B`` lists the values a string may take (matched exactly; a different case gets
a "did you mean" hint), ``id of LABEL`` (or ``id of $param``, another parameter naming the label)
says the value is a node's id: it is trimmed like ingest trims ids, and a node that is not in the
graph is an error naming it, before the query runs. The rest is the query. Values
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
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from graph.store.graphs import resolve_graph, unfinished_warning
from graph.store.runner import QueryRunner

PARAM_TYPES = ("string", "int", "float", "bool", "datetime")
_NUMBER = r"-?\d+(?:\.\d+)?"
_PARAM_LINE = re.compile(
    r"^//\s+\$(?P<name>\w+)\s+(?P<type>\w+)(?:\s+=\s+(?P<default>\S+))?"
    rf"(?:\s+in\s+(?P<low>{_NUMBER})\.\.(?P<high>{_NUMBER}))?"
    r"(?:\s+one of\s+(?P<choices>\S+))?(?:\s+id of\s+(?P<id_of>\$?\w+))?\s+(?P<doc>\S.*)$"
)
_NAME_LINE = re.compile(r"^//\s*(?P<name>\w+):\s*(?P<summary>.+)$")
_REQUIRED = object()
#: The parameter naming the graph to search; optional (see the module docstring).
GRAPH_PARAM = "graph"

logger = logging.getLogger(__name__)


#: Seconds after which the server aborts a pack query unless the caller says otherwise.
DEFAULT_TIMEOUT = 30.0


class QueryPackError(ValueError):
    """An unknown query, or parameters it does not accept; the message says what it takes."""


class MissingNodeError(QueryPackError):
    """A parameter names an account or entity that is not in the graph."""


@dataclass(frozen=True)
class QueryParam:
    """One ``$parameter`` of a pack query."""

    name: str
    type: str
    default: Any
    doc: str
    #: The smallest and largest value a number may take (``in LOW..HIGH``), else ``None``.
    low: float | None = None
    high: float | None = None
    #: The values a string may take (``one of A|B``), else empty.
    choices: tuple[str, ...] = ()
    #: The node label (or ``$param`` naming it) whose id this is (``id of LABEL``), else ``None``.
    id_of: str | None = None

    @property
    def required(self) -> bool:
        """Whether the caller must give a value."""
        return self.default is _REQUIRED

    def convert(self, value: Any) -> Any:
        """``value`` (a Python value, or a string from the command line) as this type.

        Raises
        ------
        QueryPackError
            If the value does not fit the type, its range or its choices.
        """
        value = self._convert(value)
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            raise QueryPackError(f"parameter ${self.name} must be between {_num(self.low)} and "
                                 f"{_num(self.high)} ({self.doc}); got {value!r}")
        if self.choices and value not in self.choices:
            hint = next((c for c in self.choices if c.lower() == str(value).lower()), None)
            raise QueryPackError(
                f"parameter ${self.name} must be one of {', '.join(self.choices)}; got {value!r}"
                + (f" (did you mean {hint}?)" if hint else ""))
        return value

    def _convert(self, value: Any) -> Any:
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
            # Ingest trims ids and names; a pasted id with a stray space finds the same node.
            return str(value).strip()
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


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


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
        param = QueryParam(
            match["name"], match["type"], default, match["doc"].strip(),
            low=None if match["low"] is None else float(match["low"]),
            high=None if match["high"] is None else float(match["high"]),
            choices=tuple(match["choices"].split("|")) if match["choices"] else (),
            id_of=match["id_of"])
        if match["default"] is not None:
            param = replace(param, default=param.convert(match["default"]))
        params.append(param)
    by_name = {p.name: p for p in params}
    for param in params:
        source = by_name.get((param.id_of or "")[1:]) if (param.id_of or "").startswith("$") \
            else param
        if source is None or (source is not param and not source.choices):
            raise QueryPackError(f"{name}.cypher: ${param.name} is 'id of {param.id_of}', which "
                                 "must name a parameter declared with 'one of'")
    if GRAPH_PARAM not in by_name:
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
    timeout: float | None = DEFAULT_TIMEOUT,
) -> pd.DataFrame:
    """Run pack query ``name`` in a read transaction and return its rows.

    The parameters are checked first (types, documented ranges and choices, ids trimmed), and
    every account or entity they name must be in the graph. The read transaction refuses
    writes; the server aborts the query after ``timeout`` seconds.

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
        Seconds after which the server aborts the query (default :data:`DEFAULT_TIMEOUT`).

    Returns
    -------
    pandas.DataFrame
        One column per returned field; Neo4j temporal values become Python ``datetime``.
        ``attrs["graph"]`` names the graph searched, ``attrs["warning"]`` says when its latest
        load did not finish (else ``None``), ``attrs["truncated"]`` whether the result was cut
        short (the query's ``truncated`` column, else as many rows as ``$limit``).

    Raises
    ------
    QueryPackError
        On bad parameters (see :meth:`PackQuery.bind`).
    MissingNodeError
        When an account or entity the parameters name is not in the graph.
    graph.store.graphs.GraphNameError
        When ``graph`` is not in the store, or is not given and the store holds no graph or
        several.

    Examples
    --------
    >>> run_query(store, "ring_of_account", {"account_id": "acc-42"},   # doctest: +SKIP
    ...           metadata={"analyst": "kim", "case": "CASE-7"})
    """
    return run_pack_query(store, get_query(name), params, metadata=metadata, timeout=timeout)


def run_pack_query(
    store: QueryRunner,
    query: PackQuery,
    params: Mapping[str, Any] | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> pd.DataFrame:
    """Run a parsed :class:`PackQuery` the way :func:`run_query` runs a pack query by name."""
    bound = query.bind(params)
    bound[GRAPH_PARAM] = resolve_graph(store, bound[GRAPH_PARAM])
    warning = unfinished_warning(store, bound[GRAPH_PARAM])
    if warning:
        logger.warning("%s", warning)
    check_nodes_exist(store, query, bound, timeout=timeout)
    tags = {**query_metadata(query.name), **dict(metadata or {})}
    rows = store.read(query.text, bound, metadata=tags, timeout=timeout)
    # One pass over the values, one frame: per-column conversions cost more than the query
    # itself for the small results investigators look at.
    records = [tuple(_native(v) for v in record) for record in rows.records]
    frame = pd.DataFrame.from_records(records, columns=rows.columns)
    if "truncated" in frame.columns:
        truncated = bool(frame["truncated"].any())
    else:
        truncated = "limit" in bound and len(frame) >= bound["limit"]
    frame.attrs.update(graph=bound[GRAPH_PARAM], warning=warning, truncated=truncated)
    return frame


def check_nodes_exist(
    store: QueryRunner, query: PackQuery, bound: Mapping[str, Any], *,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> None:
    """Refuse parameters naming an account or entity (``id of``) that is not in the graph.

    Raises
    ------
    MissingNodeError
        Naming the parameter, the label, the id and the graph.
    """
    for param in query.params:
        if param.id_of is None:
            continue
        label = bound[param.id_of[1:]] if param.id_of.startswith("$") else param.id_of
        # The label is the pack file's or one of its declared choices, never free text.
        rows = store.read(f"MATCH (n:`{label}` {{graph: $graph, id: $id}}) RETURN count(n) AS n",
                          {"graph": bound[GRAPH_PARAM], "id": bound[param.name]},
                          metadata=query_metadata(query.name), timeout=timeout)
        if not rows.records or not rows.records[0][0]:
            raise MissingNodeError(f"there is no {label} {bound[param.name]!r} in graph "
                                   f"{bound[GRAPH_PARAM]!r} (parameter ${param.name})")


def _native(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)
    return to_native() if callable(to_native) else value
