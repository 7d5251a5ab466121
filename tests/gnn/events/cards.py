"""A tiny card-transaction world with known fraud, for the event-model tests.

Customers pay with their card at terminals near them; a few terminals are compromised for a
window (every transaction there is fraud, labelled a few days later), and the cards skimmed
there are used a few days later at other terminals (fraud too).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01", tz="UTC")


def card_world(
    seed: int = 0, customers: int = 300, terminals: int = 60, days: int = 56
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(events, event_labels)``: events with ``payment_id`` and ``terminal_id``, and labels
    ``event_id, label, known_at`` for every event."""
    rng = np.random.default_rng(seed)
    home = rng.integers(0, terminals, size=(customers, 5))
    rows = []
    for c in range(customers):
        n = rng.poisson(1.2 * days)
        ts = START + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n)), unit="s")
        for t, term in zip(ts, home[c, rng.integers(0, 5, n)], strict=True):
            rows.append((c, f"t{term}", t, float(rng.lognormal(3, 0.6)), 0))
    compromised = rng.choice(terminals, size=6, replace=False)
    windows = {f"t{t}": (START + pd.Timedelta(days=int(rng.integers(7, days - 14))),) for t in
               compromised}
    events = pd.DataFrame(rows, columns=["customer", "terminal_id", "ts", "amount", "label"])
    extra = []
    for term, (begin,) in windows.items():
        hit = (events["terminal_id"] == term) & (events["ts"] >= begin) & (
            events["ts"] < begin + pd.Timedelta(days=7))
        events.loc[hit, "label"] = 1
        for c in events.loc[hit, "customer"].unique():
            for i in range(3):
                t = begin + pd.Timedelta(days=float(rng.uniform(8, 12)) + i / 10)
                extra.append((c, f"t{rng.integers(0, terminals)}", t,
                              float(rng.lognormal(4.5, 0.5)), 1))
    events = pd.concat([events, pd.DataFrame(extra, columns=events.columns)], ignore_index=True)
    events = events[events["ts"] < START + pd.Timedelta(days=days)]
    events = events.sort_values(["ts", "customer"], kind="stable").reset_index(drop=True)
    events["event_id"] = [f"e{i:06d}" for i in range(len(events))]
    events["account_id"] = "c" + events["customer"].astype(str)
    events["payment_id"] = "card" + events["customer"].astype(str)
    delay = pd.to_timedelta(rng.uniform(2, 6, len(events)), unit="D")
    labels = pd.DataFrame({"event_id": events["event_id"], "label": events["label"],
                           "known_at": events["ts"] + delay})
    table = events[["event_id", "ts", "account_id", "payment_id", "terminal_id", "amount"]]
    return table.assign(event_type="payment"), labels
