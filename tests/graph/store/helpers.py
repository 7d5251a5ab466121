"""Hand-made graphs and a recording fake of the store's QueryRunner."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from graph.snapshot import Snapshot, relation_specs
from graph.store.runner import Neo4jStore, Params, Rows

#: Ids that break string-built Cypher or CSV: quotes, backslashes, keywords, unicode, length.
TRICKY_IDS = [
    "it's \"quoted\"",
    "back\\slash\\",
    "MATCH (n) DETACH DELETE n //",
    "`backtick` $param {map: 1}",
    "comma,semi;colon|pipe",
    "  padded  ",
    "日本語-账户-🙂-Ωμέγα",
    "line\nbreak\r\nand\ttab",
    "x" * 8_000,
    "語" * 2_700,  # 8,100 bytes in UTF-8, just under Neo4j's index limit
]


def ts(text: str) -> pd.Timestamp:
    """A UTC timestamp."""
    return pd.Timestamp(text, tz="UTC").as_unit("us")


def nodes(ids: list[str], first: str = "2024-01-01", **features: list[Any]) -> pd.DataFrame:
    """A node table with timestamps and the given feature columns."""
    n = len(ids)
    table = pd.DataFrame({"id": pd.Series(ids, dtype=object),
                          "first_ts": pd.Series([ts(first)] * n, dtype="datetime64[us, UTC]"),
                          "last_ts": pd.Series([ts("2024-04-01")] * n,
                                               dtype="datetime64[us, UTC]")})
    for name, values in features.items():
        table[name] = values
    return table


def edges(pairs: list[tuple[str, str]], counts: list[int] | None = None,
          amounts: list[float] | None = None) -> pd.DataFrame:
    """An edge table in the snapshot's layout."""
    n = len(pairs)
    return pd.DataFrame({
        "src": pd.Series([p[0] for p in pairs], dtype=object),
        "dst": pd.Series([p[1] for p in pairs], dtype=object),
        "count": pd.Series(counts or [1] * n, dtype="int64"),
        "first_ts": pd.Series([ts("2024-01-02T03:04:05.123456")] * n,
                              dtype="datetime64[us, UTC]"),
        "last_ts": pd.Series([ts("2024-02-01")] * n, dtype="datetime64[us, UTC]"),
        "amount_sum": pd.Series(amounts or [float("nan")] * n, dtype="float64"),
    })


def investigation_snapshot() -> Snapshot:
    """A small graph with one obvious ring (a1, a2 share d1 and c1) and a known-bad a5.

    a1 -USED_DEVICE-> d1 <-USED_DEVICE- a2 -USED_IP-> ip1 <-USED_IP- a3 -USED_DEVICE-> d2
    a1, a2, a4 -PAID_WITH-> c1; a4 -TRANSACTED_WITH-> a5 (label 1); a6 is isolated.
    """
    accounts = nodes(["a1", "a2", "a3", "a4", "a5", "a6"], n_events=[3, 4, 5, 6, 7, 8],
                     amount_mean=[1.5, float("nan"), 2.0, 0.0, 9.5, 1.0])
    accounts["first_ts"] = pd.Series([ts("2024-01-01"), ts("2024-02-01"), ts("2024-03-05"),
                                      ts("2024-03-10"), ts("2024-01-01"), ts("2024-03-20")],
                                     dtype="datetime64[us, UTC]")
    return Snapshot(
        nodes={"Account": accounts, "Device": nodes(["d1", "d2"]), "IP": nodes(["ip1"]),
               "PaymentMethod": nodes(["c1"])},
        edges={
            "USED_DEVICE": edges([("a1", "d1"), ("a2", "d1"), ("a3", "d2")], counts=[2, 3, 1]),
            "USED_IP": edges([("a2", "ip1"), ("a3", "ip1")]),
            "PAID_WITH": edges([("a1", "c1"), ("a2", "c1"), ("a4", "c1")],
                               amounts=[10.0, 20.5, float("nan")]),
            "TRANSACTED_WITH": edges([("a4", "a5")], amounts=[99.0]),
        },
        relations=relation_specs(),
        labels=pd.DataFrame({"account_id": ["a5", "a6"], "label": pd.Series([1, 0], dtype="int8")}),
    )


def tricky_snapshot() -> Snapshot:
    """Every tricky id as an account, each using a device with a tricky id too."""
    accounts = nodes(TRICKY_IDS, n_events=list(range(len(TRICKY_IDS))))
    devices = nodes([f"dev:{i}" for i in TRICKY_IDS])
    return Snapshot(
        nodes={"Account": accounts, "Device": devices},
        edges={"USED_DEVICE": edges([(i, f"dev:{i}") for i in TRICKY_IDS]),
               "TRANSACTED_WITH": edges(list(zip(TRICKY_IDS, TRICKY_IDS[1:], strict=False)))},
        relations={k: v for k, v in relation_specs().items()
                   if k in ("USED_DEVICE", "TRANSACTED_WITH")},
    )


def dump(store: Neo4jStore) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every node and relationship with all its properties, in a stable order (not the
    ``LoadRun`` records, which each load adds)."""
    node_rows = store.read(
        "MATCH (n) WHERE NOT n:LoadRun "
        "RETURN labels(n) AS labels, n.id AS id, properties(n) AS props ORDER BY labels[0], id"
    )
    rel_rows = store.read(
        "MATCH (a)-[r]->(b) RETURN labels(a)[0] AS a, a.id AS src, type(r) AS type, "
        "labels(b)[0] AS b, b.id AS dst, properties(r) AS props ORDER BY a, src, type, b, dst"
    )
    return node_rows.records, rel_rows.records


def counts(store: Neo4jStore) -> dict[str, int]:
    """Nodes per label and relationships per type (not the ``LoadRun`` records)."""
    rows = store.read("MATCH (n) WHERE NOT n:LoadRun RETURN labels(n)[0] AS k, count(*) AS n")
    result = dict(rows.records)
    rows = store.read("MATCH ()-[r]->() RETURN type(r) AS k, count(*) AS n")
    result.update(dict(rows.records))
    return result


class RecordingRunner:
    """A fake QueryRunner: records every statement and answers with plausible counts.

    A write statement returning ``count(*) AS x`` answers with the number of rows it was sent
    (0 for clean-ups that take no rows); a node write returning ``collect(i) AS rows,
    collect(elementId(n)) AS element_ids`` answers with every row and a made-up element id for
    each; a read answers 0 for counts and no rows otherwise.
    """

    def __init__(self) -> None:
        self.writes: list[list[tuple[str, dict[str, Any]]]] = []
        self.reads: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []

    def write(self, statements: Sequence[tuple[str, Params]], *,
              on_retry: Sequence[tuple[str, Params]] | None = None) -> list[Rows]:
        batch = [(q, dict(p)) for q, p in statements]
        self.writes.append(batch)
        return [self._answer(q, p) for q, p in batch]

    def read(self, query: str, params: Params | None = None, *,
             metadata: Mapping[str, Any] | None = None, timeout: float | None = None) -> Rows:
        self.reads.append((query, dict(params or {}), dict(metadata) if metadata else None))
        return self._answer(query, dict(params or {}))

    @staticmethod
    def _answer(query: str, params: dict[str, Any]) -> Rows:
        if query.endswith("AS element_ids"):
            sent = params["id"]
            return Rows(["rows", "element_ids"],
                        [(list(range(len(sent))), [f"element:{i}" for i in sent])])
        alias = re.search(r"count\((?:\*|\w+)\) AS (\w+)\s*$", query)
        if alias is None:
            returned = re.search(r"RETURN (.*)$", query)
            items = returned.group(1).split(",") if returned else []
            return Rows([item.split(" AS ")[-1].strip() for item in items], [])
        sent = next((v for k, v in params.items() if isinstance(v, list)), [])
        return Rows([alias.group(1)], [(len(sent),)])

    @property
    def statements(self) -> list[str]:
        """Every query text written, in order."""
        return [q for batch in self.writes for q, _ in batch]
