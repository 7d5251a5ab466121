"""Tiny hand-made snapshots for the ring tests."""

from __future__ import annotations

import pandas as pd

from graph.snapshot import ACCOUNT, Snapshot, relation_specs

T0 = pd.Timestamp("2024-03-01", tz="UTC")


def edges(rows: list[tuple[str, str]], minutes: list[float] | None = None,
          counts: list[int] | None = None) -> pd.DataFrame:
    """Edge table from (src, dst) pairs, first/last use ``minutes`` after T0."""
    minutes = minutes or [0.0] * len(rows)
    ts = [T0 + pd.Timedelta(minutes=m) for m in minutes]
    return pd.DataFrame(
        {
            "src": [s for s, _ in rows],
            "dst": [d for _, d in rows],
            "count": counts or [1] * len(rows),
            "first_ts": ts,
            "last_ts": ts,
            "amount_sum": 0.0,
        }
    )


def snapshot(**tables: pd.DataFrame) -> Snapshot:
    """Snapshot with the given relation tables (``USED_DEVICE=...``, ...)."""
    accounts = pd.concat([t["src"] for t in tables.values()] +
                         [t["dst"] for n, t in tables.items() if n == "TRANSACTED_WITH"])
    specs = relation_specs()
    return Snapshot(
        nodes={ACCOUNT: pd.DataFrame({"id": pd.unique(accounts)})},
        edges=dict(tables),
        relations={name: specs[name] for name in tables},
    )
