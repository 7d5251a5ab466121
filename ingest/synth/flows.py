"""Planted money-flow typologies of laundering: layering chains, scatter-gather, gather-scatter
and bipartite flows, each ending in cash-outs.

Money enters at the ring's first members and moves on within hours, every mule keeping a cut of
one to five percent; the members who only receive cash the money out with a card of the ring
(``CARD_RING`` slots from :data:`CASH_OUT_SLOT` on) within a day. Each ring runs its scheme once,
from its ``first_ts``; its ``last_ts`` becomes the time of its last cash-out.
"""

from __future__ import annotations

import numpy as np

from ingest.synth.events import NO_STATUS, OK, PAYMENT, TRANSFER, EventBatch
from ingest.synth.ids import entity_key
from ingest.synth.world import CARD_RING, RING_SLOTS, Population

#: Planted flow kinds, by name (their codes are their positions in the generator's kind list).
FLOW_KIND_NAMES = ("layering_chain", "scatter_gather", "gather_scatter", "bipartite_flow")
#: Cash-out cards of a ring are its ring slots from here on (chain devices and cards use fewer).
CASH_OUT_SLOT = 32
HOUR = 3600


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``counts[i]`` items of owner ``i``: each item's owner and position within it."""
    owner = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, within


def _group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Running sums of ``values`` restarting at each group of ``counts`` items."""
    total = np.cumsum(values)
    starts = np.cumsum(counts) - counts
    before = np.where(counts > 0, total[np.minimum(starts, len(values) - 1)]
                      - values[np.minimum(starts, len(values) - 1)], 0.0)
    return total - np.repeat(before, counts)


def _chain(rng, size, t0, amount):
    """Member ``i`` passes the money to ``i + 1``, 30 minutes to 4 hours later."""
    ring, hop = _ragged(size - 1)
    cut = rng.uniform(0.01, 0.05, len(ring))
    delay = rng.uniform(0.5 * HOUR, 4 * HOUR, len(ring))
    elapsed = (_group_cumsum(delay, size - 1) - delay).astype(np.int64)
    kept = np.exp(_group_cumsum(np.log1p(-cut), size - 1) - np.log1p(-cut))
    return ring, hop, hop + 1, t0[ring] + elapsed, amount[ring] * kept


def _scatter_gather(rng, size, t0, amount):
    """Member 0 scatters over the middle members, who pass it on to the last one."""
    k = size - 2
    ring, mule = _ragged(k)
    share = amount[ring] / k[ring] * rng.uniform(0.9, 1.1, len(ring))
    t_in = t0[ring] + rng.integers(0, 2 * HOUR, len(ring))
    t_out = t_in + rng.integers(HOUR // 2, 12 * HOUR, len(ring))
    forwarded = share * (1 - rng.uniform(0.01, 0.05, len(ring)))
    return (np.r_[ring, ring], np.r_[np.zeros_like(mule), mule + 1],
            np.r_[mule + 1, size[ring] - 1], np.r_[t_in, t_out], np.r_[share, forwarded])


def _gather_scatter(rng, size, t0, amount):
    """Members ``1..g`` gather into member 0, who scatters over the rest within a day."""
    g = (size - 1) // 2
    r = size - 1 - g
    in_ring, sender = _ragged(g)
    sent = amount[in_ring] / g[in_ring] * rng.uniform(0.8, 1.2, len(in_ring))
    t_in = t0[in_ring] + rng.integers(0, 12 * HOUR, len(in_ring))
    gathered = np.bincount(in_ring, weights=sent, minlength=len(size))
    out_ring, receiver = _ragged(r)
    paid = (gathered[out_ring] * (1 - rng.uniform(0.01, 0.05, len(out_ring))) / r[out_ring]
            * rng.uniform(0.95, 1.05, len(out_ring)))
    t_out = t0[out_ring] + 12 * HOUR + rng.integers(0, 24 * HOUR, len(out_ring))
    return (np.r_[in_ring, out_ring], np.r_[sender + 1, np.zeros_like(receiver)],
            np.r_[np.zeros_like(sender), g[out_ring] + 1 + receiver], np.r_[t_in, t_out],
            np.r_[sent, paid])


def _bipartite(rng, size, t0, amount):
    """Members ``0..g-1`` each pay every one of the others (receivers) within a day. (Each
    transfer kept at 80 % before session 20, with one to receiver ``sender mod r`` always
    kept: a ring of two senders and two receivers could keep only those two, a matching of
    two one-hop cash-outs with nothing joining them, generated flows seed 43.)"""
    g = size // 2
    r = size - g
    ring, pair = _ragged(g * r)
    sender, receiver = pair // r[ring], g[ring] + pair % r[ring]
    paid = amount[ring] / (g * r)[ring] * rng.uniform(0.8, 1.2, len(ring))
    return ring, sender, receiver, t0[ring] + rng.integers(0, 24 * HOUR, len(ring)), paid


_SHAPES = {"layering_chain": _chain, "scatter_gather": _scatter_gather,
           "gather_scatter": _gather_scatter, "bipartite_flow": _bipartite}


def flow_ring_events(rng: np.random.Generator, pop: Population, kind: np.ndarray,
                     size: np.ndarray, offset: np.ndarray, member_local: np.ndarray,
                     ring_number: np.ndarray, first_ts: np.ndarray, last_ts: np.ndarray,
                     codes: dict[str, int], end: int) -> EventBatch:
    """Transfers and cash-outs of the flow rings among the rings described by the arrays.

    ``codes`` maps each name of :data:`FLOW_KIND_NAMES` to its kind code; rings of other kinds
    are skipped. ``last_ts`` is set to each flow ring's last cash-out (in place).
    """
    parts = []
    for name, shape in _SHAPES.items():
        rings = np.flatnonzero(kind == codes[name])
        if len(rings) == 0:
            continue
        amount = rng.lognormal(8.5, 0.7, len(rings))
        local, sender, receiver, ts, paid = shape(rng, size[rings], first_ts[rings], amount)
        parts.append((rings[local], sender, receiver, ts, paid))
    if not parts:
        return EventBatch.empty_like(*(np.zeros(0, dtype=np.int64),) * 3)
    ring, sender, receiver, ts, paid = (np.concatenate(c) for c in zip(*parts, strict=True))
    slot_of = offset[ring]
    src, dst = slot_of + sender, slot_of + receiver
    n_slots = len(member_local)
    received = np.bincount(dst, weights=paid, minlength=n_slots)
    sends = np.bincount(src, minlength=n_slots)
    last_in = np.zeros(n_slots, dtype=np.int64)
    np.maximum.at(last_in, dst, ts)
    # whoever only receives cashes out what came in, a cut kept, within a day
    cashing = np.flatnonzero((received > 0) & (sends == 0))
    cash_ring = np.searchsorted(offset, cashing, side="right") - 1
    cash_ts = last_in[cashing] + rng.integers(HOUR, 24 * HOUR, len(cashing))
    cash_amount = received[cashing] * (1 - rng.uniform(0.01, 0.05, len(cashing)))
    np.maximum.at(last_ts, cash_ring, cash_ts)

    actor = pop.account[member_local[np.r_[src, cashing]]]
    event_type = np.r_[np.full(len(src), TRANSFER), np.full(len(cashing), PAYMENT)]
    batch = EventBatch.empty_like(actor, np.minimum(np.r_[ts, cash_ts], end - 1), event_type)
    batch.counterparty = np.r_[pop.account[member_local[dst]],
                               np.full(len(cashing), -1, dtype=np.int64)]
    local = member_local[np.r_[src, cashing]]
    batch.device = pop.personal_device_key(local)
    batch.ip = pop.home_ip_key(local)
    card_slot = CASH_OUT_SLOT + (cashing - offset[cash_ring]) % (RING_SLOTS - CASH_OUT_SLOT)
    batch.card = np.r_[np.zeros(len(src), dtype=np.uint64),
                       entity_key(CARD_RING, ring_number[cash_ring] * RING_SLOTS + card_slot)]
    batch.amount = np.round(np.r_[paid, cash_amount], 2)
    batch.status = np.r_[np.full(len(src), NO_STATUS), np.full(len(cashing), OK)].astype(np.int8)
    return batch
