"""graph.incremental: the edges new events create are the snapshot's distinct pairs."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graph.build import build_snapshot
from graph.incremental import new_edge_rows, new_edges
from graph.snapshot_sql import relation_sources
from ingest.state import IngestState


def events() -> pa.Table:
    def t(day: int, hour: int) -> datetime:
        return datetime(2025, 1, day, hour, tzinfo=UTC)

    rows = [
        ("e1", t(1, 1), "a", "login", "d1", "1.1.1.1", None, None, None),
        ("e2", t(1, 5), "b", "login", "d1", "1.1.1.1", None, None, None),
        ("e3", t(2, 9), "a", "transfer", None, None, "p1", "b", 10.0),
        ("e4", t(3, 9), "c", "payment", "d2", None, "p1", None, 3.5),
        ("e5", t(4, 2), "b", "transfer", "d1", None, None, "c", 7.0),
        ("e6", t(5, 2), "c", "login", "d2", "2.2.2.2", None, None, None),
        ("e7", t(5, 3), "c", "login", "d2", "2.2.2.2", None, None, None),
    ]
    names = ["event_id", "ts", "account_id", "event_type", "device_id", "ip", "payment_id",
             "counterparty_id", "amount"]
    table = pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows])
    return table.cast(pa.schema([(n, pa.timestamp("us", tz="UTC") if n == "ts" else
                                  pa.float64() if n == "amount" else pa.string())
                                 for n in names]))


def test_new_edges_are_the_distinct_pairs_the_events_name():
    relations = relation_sources(IngestState())
    edges = new_edges(events().slice(3, 4), relations)
    assert edges["TRANSACTED_WITH"] == [("b", "c")]
    assert edges["USED_DEVICE"] == [("b", "d1"), ("c", "d2")]
    assert edges["USED_IP"] == [("c", "2.2.2.2")]
    assert edges["PAID_WITH"] == [("c", "p1")]


def test_the_edges_of_all_events_are_the_full_builds_edges(tmp_path):
    table = events()
    (tmp_path / "events" / "day=2025-01-01").mkdir(parents=True)
    pq.write_table(table, tmp_path / "events" / "day=2025-01-01" / "part-0.parquet")
    full = build_snapshot(tmp_path / "events", tmp_path / "snap", progress=False)
    relations = [r for r in relation_sources(IngestState()) if r.name in full.relations]
    edges = new_edges(table, relations)
    for rel in relations:
        built = sorted(zip(full.edges[rel.name]["src"], full.edges[rel.name]["dst"],
                           strict=True))
        assert edges[rel.name] == built, rel.name


def test_new_edge_rows_are_new_edges_rows_in_order():
    relations = relation_sources(IngestState())
    table = events()
    rows = {name: {} for name in ("account", "entity")}

    def row(kind: str, node_id: str | None) -> int:
        return -1 if node_id is None else rows[kind].setdefault(node_id, len(rows[kind]))

    accounts = np.array([row("account", a) for a in table.column("account_id").to_pylist()])
    entities = {rel.name: np.array([row("entity", e)
                                    for e in table.column(rel.column).to_pylist()])
                for rel in relations}
    named = new_edges(table, relations)
    found = new_edge_rows(table, relations, accounts, entities)
    assert set(found) == set(named)
    for name, pairs in named.items():
        src, dst = found[name]
        assert [(rows["account"][a], rows["entity"][e]) for a, e in pairs] == list(
            zip(src.tolist(), dst.tolist(), strict=True)), name
