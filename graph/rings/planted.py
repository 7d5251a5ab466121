"""A small synthetic world with planted rings, for tests, examples and quick checks.

Normal accounts each own a device, sometimes share one with a household member, connect through
IP addresses of skewed popularity including carrier-NAT hubs, pay with their own card and send
repeated transfers to a few counterparties. Each planted ring shares a few devices and cards,
its members sign up within a day of each other and touch the ring devices within the same hour,
move money once around a cycle, and camouflage themselves with the same hub IPs and a few
ordinary counterparties as everyone else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.snapshot import ACCOUNT, DEVICE, IP, PAYMENT_METHOD, Snapshot, relation_specs

_START = pd.Timestamp("2024-01-01", tz="UTC")


def planted_ring_snapshot(
    n_accounts: int = 2000,
    ring_sizes: tuple[int, ...] = (6, 8, 10),
    n_hub_ips: int = 3,
    hub_share: float = 0.4,
    seed: int = 0,
) -> tuple[Snapshot, list[list[str]]]:
    """Build a snapshot with planted rings.

    Parameters
    ----------
    n_accounts
        Normal accounts (ring members come on top).
    ring_sizes
        Size of each planted ring.
    n_hub_ips
        Carrier-NAT IPs; each normal account and ring member uses one with probability
        ``hub_share``.
    hub_share
        See ``n_hub_ips``.
    seed
        Random seed; the same seed gives the same snapshot.

    Returns
    -------
    tuple of (Snapshot, list of list of str)
        The snapshot and the member ids of each planted ring.
    """
    rng = np.random.default_rng(seed)
    normal = [f"a{i}" for i in range(n_accounts)]
    rings = [[f"r{r}_{m}" for m in range(size)] for r, size in enumerate(ring_sizes)]
    signup = {a: _START + pd.Timedelta(days=float(rng.uniform(0, 300))) for a in normal}
    uses: dict[str, list[tuple[str, str, pd.Timestamp]]] = {"USED_DEVICE": [], "USED_IP": [],
                                                           "PAID_WITH": []}
    transfers: list[tuple[str, str, int, pd.Timestamp]] = []
    ip_pool = n_accounts // 4
    for i, acct in enumerate(normal):
        t0 = signup[acct]
        uses["USED_DEVICE"].append((acct, f"d{i}", t0))
        if rng.random() < 0.1:
            uses["USED_DEVICE"].append((acct, f"d{rng.integers(n_accounts)}", t0))
        uses["PAID_WITH"].append((acct, f"c{i}", t0))
        for _ in range(2):
            uses["USED_IP"].append((acct, f"ip{int(rng.zipf(1.6)) % ip_pool}", t0))
        if rng.random() < hub_share:
            uses["USED_IP"].append((acct, f"nat{rng.integers(n_hub_ips)}", t0))
        for _ in range(2):
            peer = normal[rng.integers(n_accounts)]
            if peer != acct:
                transfers.append((acct, peer, int(rng.integers(2, 8)), t0))
    for r, members in enumerate(rings):
        t0 = _START + pd.Timedelta(days=float(rng.uniform(0, 300)))
        for m, acct in enumerate(members):
            ts = t0 + pd.Timedelta(minutes=float(rng.uniform(0, 50)))
            signup[acct] = ts
            for d in range(2):
                if rng.random() < 0.8 or d == m % 2:
                    uses["USED_DEVICE"].append((acct, f"rd{r}_{d}", ts))
            uses["PAID_WITH"].append((acct, f"rc{r}_{m % 2}", ts))
            if rng.random() < hub_share:
                uses["USED_IP"].append((acct, f"nat{rng.integers(n_hub_ips)}", ts))
            uses["USED_IP"].append((acct, f"ip{int(rng.zipf(1.6)) % ip_pool}", ts))
            transfers.append((acct, members[(m + 1) % len(members)], 1, ts))
            transfers.append((acct, normal[rng.integers(n_accounts)], int(rng.integers(2, 5)), ts))
    return _snapshot(signup, uses, transfers), rings


def _snapshot(
    signup: dict[str, pd.Timestamp],
    uses: dict[str, list[tuple[str, str, pd.Timestamp]]],
    transfers: list[tuple[str, str, int, pd.Timestamp]],
) -> Snapshot:
    """Aggregate the drawn uses and transfers into snapshot tables."""
    specs = relation_specs()
    edges = {}
    nodes = {ACCOUNT: pd.DataFrame({"id": list(signup), "first_ts": list(signup.values()),
                                    "last_ts": list(signup.values())})}
    for name, rows in uses.items():
        table = pd.DataFrame(rows, columns=["src", "dst", "first_ts"])
        edges[name] = _aggregate(table.assign(count=1, last_ts=table["first_ts"]))
        node_type = {"USED_DEVICE": DEVICE, "USED_IP": IP, "PAID_WITH": PAYMENT_METHOD}[name]
        seen = table.groupby("dst")["first_ts"].agg(["min", "max"]).reset_index()
        nodes[node_type] = seen.set_axis(["id", "first_ts", "last_ts"], axis=1)
    table = pd.DataFrame(transfers, columns=["src", "dst", "count", "first_ts"])
    edges["TRANSACTED_WITH"] = _aggregate(table.assign(last_ts=table["first_ts"]))
    return Snapshot(nodes=nodes, edges=edges, relations=specs)


def _aggregate(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (src, dst) with the snapshot's edge columns."""
    out = (
        table.groupby(["src", "dst"])
        .agg(count=("count", "sum"), first_ts=("first_ts", "min"), last_ts=("last_ts", "max"))
        .reset_index()
    )
    out["amount_sum"] = np.nan
    return out
