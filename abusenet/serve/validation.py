"""Events posted to the service -> canonical events, by the very query of ``abusenet ingest``.

A posted batch (JSON objects, in the canonical columns or the user's own through a mapping)
becomes a one-batch Arrow table of text columns, which :func:`ingest.validate.transform_sql`
maps and validates in an in-memory DuckDB exactly as it does a chunk of a log file: the same
timestamp forms, IP rules, derived ``event_id`` and quarantine reasons.
"""

from __future__ import annotations

import json
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
from ingest.validate import event_schema, transform_chunk, transform_sql

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
        self.mapping = mapping
        self.columns = mapping.source_columns()
        self.schema = event_schema(mapping)
        self._source = pa.schema([(c, pa.string()) for c in self.columns])
        self._con = connect(keep_order=True, memory_share=0.1)
        self._local = threading.local()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection (a DuckDB connection serves one call at a time)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._con.cursor()
        return cursor

    def check(self, events: list[dict[str, Any]], now: datetime | None = None) -> Checked:
        """Map and validate ``events``; rows keep their order.

        A field that is a JSON object or list is rejected as ``not a scalar <field>`` (a log
        line cannot hold one either); fields the mapping does not name are ignored, as the
        ingest ignores unmapped log columns.
        """
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
        sql = transform_sql(self.mapping, self._source, now=now or datetime.now(UTC))
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
