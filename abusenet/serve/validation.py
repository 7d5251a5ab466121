"""Events posted to the service -> canonical events, by the very query of ``abusenet ingest``.

A posted batch (JSON objects, in the canonical columns or the user's own through a mapping)
becomes a one-batch Arrow table of text columns, which :func:`ingest.validate.transform_sql`
maps and validates in an in-memory DuckDB exactly as it does a chunk of a log file: the same
timestamp forms, IP rules, derived ``event_id`` and quarantine reasons.

A DuckDB statement costs milliseconds, so the common case skips it: when the mapping is the
identity with no timestamp format, time zone or attribute value map, and every posted event is
plainly valid -- an ``event_id`` given, an ISO-8601 time
(``YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|+HH:MM]``) inside the mapping's range, ids without
surrounding spaces, a dotted IPv4 or IPv6 address matching the ingest's own pattern, numbers
written as JSON writes them -- the events are built in Python, identically
(tests/abusenet/serve/test_validation.py compares the two paths). Anything else (a bad event,
an epoch or numeric IP, text the SQL would trim) goes through the SQL, which names the reasons.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from ingest.engine import connect
from ingest.mapping import EntitySpec, Mapping
from ingest.readers import Chunk
from ingest.state import IngestState
from ingest.validate import (
    EPOCH_ZERO,
    IP_PATTERN,
    NULL_IPS,
    NULL_TOKENS,
    event_schema,
    transform_chunk,
    transform_sql,
)

#: Times the Python path reads (anything else goes through the SQL).
_ISO_TS = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?")
#: Numbers the Python path reads: as ``str`` writes a JSON number.
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_IP = re.compile(IP_PATTERN)
_DIGITS = re.compile(r"[0-9]+")
#: The longest word for a missing value (:data:`NULL_TOKENS`): a longer text is none of them.
_NULL_TOKEN_CHARS = max(map(len, NULL_TOKENS))
#: The canonical columns a posted event may carry without a mapping.
CANONICAL = ("event_id", "ts", "account_id", "event_type", "device_id", "ip", "payment_id",
             "counterparty_id", "amount")


def canonical_mapping(state: IngestState) -> Mapping:
    """The identity mapping of an events store: canonical columns, plus the entity types and
    attributes its ingest recorded (so posted events fill the same columns)."""
    entities = tuple(
        EntitySpec(node_type=t, source=spec["column"], relation=spec["relation"])
        for t, spec in sorted(state.entities.items())
    )
    return Mapping(columns={c: c for c in CANONICAL}, entities=entities,
                   attributes=dict(state.attributes))


@dataclass(frozen=True)
class Checked:
    """A validated batch: the canonical events (every row) and the reason of each bad one."""

    events: pa.Table
    reasons: list[str | None]

    @property
    def bad(self) -> list[int]:
        """Positions of the rejected events in the batch."""
        return [i for i, r in enumerate(self.reasons) if r is not None]


class EventValidator:
    """Validate posted events with ``abusenet ingest``'s rules for ``mapping``.

    Parameters
    ----------
    mapping
        How the posted fields become canonical columns (:func:`canonical_mapping` for
        canonical events).
    """

    def __init__(self, mapping: Mapping) -> None:
        if mapping.sources:
            raise ValueError(f"{mapping.path}: 'sources:' maps several schemas by file, and a "
                             "posted event comes from no file; serve --mapping takes a one-source "
                             "mapping (or none, for canonical events)")
        if mapping.row_order_times:
            raise ValueError(f"{mapping.path}: timestamps.missing: row_order gives rows their "
                             "times from their lines; served events need their own ts")
        self.mapping = mapping
        self.columns = mapping.source_columns()
        self.schema = event_schema(mapping)
        self._source = pa.schema([(c, pa.string()) for c in self.columns])
        self._con = connect(keep_order=True, memory_share=0.1)
        self._local = threading.local()
        # the plain path reads a time without a zone as UTC: a mapping's timezone goes to the
        # SQL; so do attributes' value maps (text -> number) and a decimal comma (1.500 is 1500)
        self._plain_mapping = (mapping.timestamp_format is None and mapping.timezone is None
                               and mapping.decimal_mark != ","
                               and not mapping.attribute_values and not mapping.constants
                               and all(k == v for k, v in mapping.columns.items()))
        self._text_columns = [(c, c) for c in CANONICAL if c not in ("ts", "amount")]
        self._text_columns += [(e.source, e.event_column) for e in mapping.entities]
        self._text_columns += [(a, a) for a, kind in mapping.attributes.items()
                               if kind != "float"]
        self._number_columns = ["amount"] + [a for a, kind in mapping.attributes.items()
                                             if kind == "float"]

    def _check_plain(self, events: list[dict[str, Any]], now: datetime) -> Checked | None:
        """``events`` as the SQL would map them, when every one is plainly valid; else None."""
        latest = None if self.mapping.ts_max_future is None else now + self.mapping.ts_max_future
        columns: dict[str, list[Any]] = {f.name: [] for f in self.schema}
        for event in events:
            for source, target in self._text_columns:
                text = event.get(source)
                if text is not None and type(text) is not str:  # a string is its own text
                    if isinstance(text, dict | list):
                        return None
                    text = _text(text)
                if text is not None and (text == "" or text != text.strip()):
                    return None  # the SQL trims it or nulls it
                if (text is not None and len(text) <= _NULL_TOKEN_CHARS
                        and text.lower() in NULL_TOKENS):
                    return None  # the SQL nulls it (a word for a missing value is no id)
                columns[target].append(text)
            if None in (columns["event_id"][-1], columns["account_id"][-1],
                        columns["event_type"][-1]):
                return None
            ip = columns["ip"][-1]
            if ip is not None and (_DIGITS.fullmatch(ip) or not _IP.fullmatch(ip)
                                   or ip in NULL_IPS):
                return None
            if ip is not None and ":" in ip:  # IPv6: the SQL's lower case; ::ffff: to the SQL
                if ip.lower().startswith("::ffff:"):
                    return None
                columns["ip"][-1] = ip.lower()
            ts = event.get("ts")
            if not isinstance(ts, str) or not _ISO_TS.fullmatch(ts):
                return None
            try:
                when = datetime.fromisoformat(ts)
            except ValueError:
                return None
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
            if (when < self.mapping.ts_min or when == EPOCH_ZERO
                    or (latest is not None and when > latest)):
                return None
            columns["ts"].append(when)
            for name in self._number_columns:
                value = event.get(name)
                if isinstance(value, dict | list | bool):
                    return None
                text = _text(value)
                if text is None:
                    columns[name].append(None)
                    continue
                if not _NUMBER.fullmatch(text) or not math.isfinite(number := float(text)):
                    return None
                columns[name].append(number)
        return Checked(events=pa.table({f.name: pa.array(columns[f.name], f.type)
                                        for f in self.schema}, schema=self.schema),
                       reasons=[None] * len(events))

    def plain(self, events: list[dict[str, Any]],
              now: datetime | None = None) -> Checked | None:
        """:meth:`check`'s answer when the mapping is the identity and every one of
        ``events`` is plainly valid (module docstring), found in Python; else ``None`` (then
        :meth:`check` runs the SQL)."""
        if not self._plain_mapping:
            return None
        return self._check_plain(events, now or datetime.now(UTC))

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection (a DuckDB connection serves one call at a time)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._con.cursor()
        return cursor

    def check(self, events: list[dict[str, Any]], now: datetime | None = None, *,
              fast: bool = True) -> Checked:
        """Map and validate ``events``; rows keep their order.

        A field that is a JSON object or list is rejected as ``not a scalar <field>`` (a log
        line cannot hold one either); fields the mapping does not name are ignored, as the
        ingest ignores unmapped log columns. ``fast``: plainly valid events skip the SQL
        (the same result).
        """
        now = now or datetime.now(UTC)
        checked = self.plain(events, now) if fast else None
        if checked is not None:
            return checked
        texts: dict[str, list[str | None]] = {c: [] for c in self.columns}
        shape_errors: list[str | None] = []
        for event in events:
            error = None
            for c in self.columns:
                value = event.get(c)
                if isinstance(value, dict | list):
                    error = error or f"not a scalar {c}"
                    value = None
                texts[c].append(_text(value))
            shape_errors.append(error)
        table = pa.table({c: pa.array(v, pa.string()) for c, v in texts.items()},
                         schema=self._source)
        chunk = Chunk(table=table, lines=pa.array(range(1, len(events) + 1), pa.int64()),
                      errors=pa.array(shape_errors, pa.string()))
        sql = transform_sql(self.mapping, self._source, now=now)
        out = transform_chunk(self._cursor(), chunk, sql)
        reasons = out.column("_reason").to_pylist()
        return Checked(events=out.select(self.schema.names).cast(self.schema), reasons=reasons)


def _text(value: Any) -> str | None:
    """A posted value as the text a log file would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)
