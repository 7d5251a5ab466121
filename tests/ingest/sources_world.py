"""Logs in three schemas (signups, logins, payments) for the ``sources:`` mapping
``configs/mappings/three_sources.yaml``, with a ring only their union reveals."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: The ring: two groups of four, each on one device at signup, crossed by two cards in
#: payments (each shared by two of one group and two of the other). Signups alone show two
#: groups, payments two others; only both tie all eight together.
RING = [f"ring{i}" for i in range(8)]
RING_DEVICES = {"dev-farm-1": RING[0:4], "dev-farm-2": RING[4:8]}
RING_CARDS = {"card-x1": RING[2:6], "card-x2": [*RING[6:8], *RING[0:2]]}
START = datetime(2024, 3, 1, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_three_schemas(root: Path, honest: int = 60, seed: int = 0) -> dict[str, Path]:
    """Write ``signups.csv``, ``logins.csv``, ``payments.csv`` and ``labels.csv`` under ``root``:
    ``honest`` accounts each on their own device and card, and :data:`RING`."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    people = [f"user{i}" for i in range(honest)]
    device = {a: f"dev-{a}" for a in people} | {a: d for d, pair in RING_DEVICES.items()
                                               for a in pair}
    cards = {a: [f"card-{a}"] for a in people} | {a: [] for a in RING}
    for card, pair in RING_CARDS.items():
        for a in pair:
            cards[a].append(card)
    accounts = people + RING
    signups = ["user_id,created_at,device,ip_address,email_domain"]
    logins = ["user,login_time,ip,device_fp,user_agent"]
    payments = ["txn_id,paid_at,payer,payee,card,amount"]
    burst = START + timedelta(days=10)
    for a in accounts:
        # the ring's accounts sign up within minutes of each other, as a farm does
        t = (burst + timedelta(minutes=rng.randrange(30)) if a in RING
             else START + timedelta(hours=rng.randrange(24 * 20)))
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        signups.append(f"{a},{_iso(t)},{device[a]},{ip},{rng.choice(['mail.com', 'post.net'])}")
        for _ in range(3):
            t += timedelta(hours=rng.randrange(1, 72))
            logins.append(f"{a},{_iso(t)},{ip},{device[a]},agent{rng.randrange(5)}")
        for card in cards[a]:
            for _ in range(2):
                t += timedelta(hours=rng.randrange(1, 72))
                payee = rng.choice(people) if rng.random() < 0.3 else ""
                payments.append(f"{len(payments)},{_iso(t)},{a},{payee},{card},"
                                f"{rng.randrange(5, 500)}.00")
    paths = {name: root / f"{name}.csv" for name in ("signups", "logins", "payments")}
    for name, rows in (("signups", signups), ("logins", logins), ("payments", payments)):
        paths[name].write_text("\n".join(rows) + "\n")
    labels = ["account_id,label"] + [f"{a},{int(a in RING)}" for a in accounts]
    paths["labels"] = root / "labels.csv"
    paths["labels"].write_text("\n".join(labels) + "\n")
    return paths
