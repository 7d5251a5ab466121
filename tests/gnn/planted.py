"""Small hand-made snapshots with planted abuse rings, for the GNN tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.snapshot import Snapshot, relation_specs

BASE = pd.Timestamp("2024-01-01", tz="UTC")


def _edges(src, dst, first_day) -> pd.DataFrame:
    first = BASE + pd.to_timedelta(np.asarray(first_day, dtype=float), unit="D")
    return pd.DataFrame(
        {
            "src": pd.Series(src, dtype=str),
            "dst": pd.Series(dst, dtype=str),
            "count": np.ones(len(src), dtype=np.int64),
            "first_ts": first.as_unit("us"),
            "last_ts": first.as_unit("us"),
            "amount_sum": np.zeros(len(src)),
        }
    )


def _nodes(ids, features: dict | None = None) -> pd.DataFrame:
    table = pd.DataFrame({"id": pd.Series(ids, dtype=str)})
    table["first_ts"] = pd.Series([BASE] * len(ids), dtype="datetime64[us, UTC]")
    table["last_ts"] = table["first_ts"]
    for name, values in (features or {}).items():
        table[name] = values
    return table


def make_snapshot(
    accounts: list[str],
    account_features: dict[str, np.ndarray],
    links: dict[str, tuple[list, list, list]],
) -> Snapshot:
    """A snapshot from account ids, their features and relation -> (src, dst, first_day)."""
    specs = relation_specs()
    entity_ids: dict[str, set] = {}
    for name, (_, dst, _) in links.items():
        if specs[name].dst_type != "Account":
            entity_ids.setdefault(specs[name].dst_type, set()).update(map(str, dst))
    nodes = {"Account": _nodes(accounts, account_features)}
    for node_type, ids in entity_ids.items():
        nodes[node_type] = _nodes(sorted(ids))
    edges = {name: _edges(*triple) for name, triple in links.items()}
    return Snapshot(nodes=nodes, edges=edges, relations={n: specs[n] for n in links})


def planted_rings(
    num_accounts: int = 240, num_rings: int = 6, ring_size: int = 6, seed: int = 0
) -> tuple[Snapshot, pd.DataFrame]:
    """Benign accounts with their own device and a shared IP pool; rings share a device and card.

    Account features are pure noise, identical in distribution for ring members and others, so
    only the graph structure tells them apart. Returns the snapshot and the true labels.
    """
    rng = np.random.default_rng(seed)
    accounts = [f"a{i}" for i in range(num_accounts)]
    members = rng.choice(num_accounts, num_rings * ring_size, replace=False)
    ring_of = np.full(num_accounts, -1)
    ring_of[members] = np.repeat(np.arange(num_rings), ring_size)
    dev_src, dev_dst, ip_src, ip_dst, pay_src, pay_dst = [], [], [], [], [], []
    for i, account in enumerate(accounts):
        dev_src.append(account)
        dev_dst.append(f"d{i}")
        ip_src.append(account)
        ip_dst.append(f"ip{rng.integers(0, 40)}")
        if ring_of[i] >= 0:
            dev_src.append(account)
            dev_dst.append(f"ring-device-{ring_of[i]}")
            pay_src.append(account)
            pay_dst.append(f"ring-card-{ring_of[i]}")
        else:
            pay_src.append(account)
            pay_dst.append(f"card{i}")
    for family in range(10):  # benign sharing: pairs of accounts on one family device
        a, b = rng.choice(np.flatnonzero(ring_of < 0), 2, replace=False)
        dev_src += [accounts[a], accounts[b]]
        dev_dst += [f"family{family}"] * 2
    features = {
        "events": rng.poisson(20, num_accounts).astype(np.float64),
        "amount": rng.exponential(100.0, num_accounts),
    }
    days = lambda n: rng.uniform(0, 30, n)  # noqa: E731
    links = {
        "USED_DEVICE": (dev_src, dev_dst, days(len(dev_src))),
        "USED_IP": (ip_src, ip_dst, days(len(ip_src))),
        "PAID_WITH": (pay_src, pay_dst, days(len(pay_src))),
    }
    labels = pd.DataFrame({"account_id": accounts, "label": (ring_of >= 0).astype(np.int8)})
    return make_snapshot(accounts, features, links), labels
