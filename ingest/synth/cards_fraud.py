"""The card world's fraud: compromised terminals, skimmed and stolen cards, bust-out rings.

A compromised terminal turns every purchase on it into fraud for a window, and the cards used
there are skimmed now and then and used by fraudsters later (the common point of purchase).
Stolen and skimmed cards then buy online or at terminals far from their owner's home, for more
than usual and more often at night; honest customers do each of these now and then too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.synth.cards_config import CardsConfig
from ingest.synth.cards_world import (
    BUST_OUT,
    DAY,
    SKIMMED,
    STOLEN,
    TERMINAL,
    CardTransactions,
    CardWorld,
    time_of_day,
    usual_amounts,
)

_NIGHT_END = 6 * 3600
_PER = 10_000


@dataclass
class Compromises:
    """Truth of compromised entities: terminals and cards, each with its window ``[from, until)``.

    ``card_kind`` is ``STOLEN`` or ``SKIMMED``; ``card_source`` the terminal where a skimmed card
    was skimmed (-1 for stolen ones).
    """

    terminal: np.ndarray
    terminal_from: np.ndarray
    terminal_until: np.ndarray
    card: np.ndarray
    card_kind: np.ndarray
    card_from: np.ndarray
    card_until: np.ndarray
    card_source: np.ndarray


@dataclass
class BustOutRings:
    """Planted rings: members (CSR by ring), the shared devices and addresses, the time span."""

    offset: np.ndarray
    members: np.ndarray
    devices: np.ndarray
    ips: np.ndarray
    first_ts: np.ndarray
    last_ts: np.ndarray

    def __len__(self) -> int:
        return len(self.offset) - 1


def compromise_terminals(rng: np.random.Generator, world: CardWorld, config: CardsConfig,
                         start: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Physical terminals that get a skimmer (each at most once) and the day it starts.

    Returns the terminals and the start of each one's window (epoch seconds), by terminal.
    """
    expected = config.compromised_terminals_per_day * world.n_terminals / _PER * days
    n = min(int(rng.poisson(expected)), len(world.physical_terminals))
    terminal = np.sort(rng.choice(world.physical_terminals, size=n, replace=False))
    return terminal, start + rng.integers(0, days, size=n) * DAY


def mark_terminal_fraud(tx: CardTransactions, terminal: np.ndarray, began: np.ndarray,
                        until: np.ndarray, n_terminals: int) -> None:
    """Mark every purchase on a compromised terminal inside its window as ``TERMINAL`` fraud."""
    slot = np.full(n_terminals, -1, dtype=np.int64)
    slot[terminal] = np.arange(len(terminal))
    s = slot[tx.terminal]
    hit = s >= 0
    hit[hit] = (tx.ts[hit] >= began[s[hit]]) & (tx.ts[hit] < until[s[hit]])
    tx.kind[hit] = TERMINAL


def compromise_cards(rng: np.random.Generator, tx: CardTransactions, world: CardWorld,
                     config: CardsConfig, start: int, days: int) -> tuple[np.ndarray, ...]:
    """Stolen cards, and cards skimmed at compromised terminals (after ``mark_terminal_fraud``).

    Returns ``card, kind, from, source terminal`` sorted by card: each compromised card once,
    stolen ones first claimed.
    """
    expected = config.stolen_cards_per_day * world.n_cards / _PER * days
    n_stolen = min(int(rng.poisson(expected)), world.n_cards)
    stolen = rng.choice(world.n_cards, size=n_stolen, replace=False)
    stolen_from = start + rng.integers(0, days, size=n_stolen) * DAY
    at_skimmer = np.flatnonzero(tx.kind == TERMINAL)
    at_skimmer = at_skimmer[np.argsort(tx.ts[at_skimmer], kind="stable")]
    # Each card's first visit to a skimmer is its one chance of being skimmed.
    cards, first = np.unique(tx.card[at_skimmer], return_index=True)
    visit = at_skimmer[first]
    skimmed = (rng.random(len(cards)) < config.skim_rate) & ~np.isin(cards, stolen)
    visit = visit[skimmed]
    delay = rng.lognormal(np.log(config.skim_delay_days), 0.5, size=len(visit)) * DAY
    card = np.concatenate([stolen, tx.card[visit]])
    kind = np.concatenate([np.full(n_stolen, STOLEN), np.full(len(visit), SKIMMED)])
    began = np.concatenate([stolen_from, tx.ts[visit] + delay.astype(np.int64)])
    source = np.concatenate([np.full(n_stolen, -1), tx.terminal[visit]])
    order = np.argsort(card, kind="stable")
    return card[order], kind[order].astype(np.int8), began[order], source[order]


def fraud_transactions(rng: np.random.Generator, world: CardWorld, config: CardsConfig,
                       card: np.ndarray, kind: np.ndarray, began: np.ndarray, end: int,
                       first_device: int, first_ip: int) -> CardTransactions:
    """Fraudsters' purchases with compromised cards, inside each card's window and ``end``.

    Online fraud comes from fraudster devices and proxy addresses numbered from
    ``first_device`` and ``first_ip`` (one per card, or a shared pool: ``fraud_device_pool``).
    """
    per_card = rng.poisson(config.fraud_tx_per_day * config.card_window_days, size=len(card))
    which = np.repeat(np.arange(len(card)), per_card)
    m = len(which)
    owner = world.card_owner[card[which]]
    day = rng.integers(0, config.card_window_days, size=m)
    night = rng.random(m) < config.fraud_night_rate
    clock = np.where(night, rng.integers(0, _NIGHT_END, size=m),
                     time_of_day(rng, world.night_owl[owner], config.purchase_hour_sd))
    ts = began[which] // DAY * DAY + day * DAY + clock
    ts = np.maximum(ts, began[which])
    online = rng.random(m) < config.fraud_online_rate
    terminal = np.empty(m, dtype=np.int64)
    terminal[online] = world.online_pick(rng, int(online.sum()))
    terminal[~online] = rng.choice(world.physical_terminals, size=int((~online).sum()))
    amount = usual_amounts(rng, world.mean_amount[owner])
    amount *= rng.lognormal(np.log(config.fraud_amount_factor), config.fraud_amount_sigma, size=m)
    pool = config.fraud_device_pool
    tool = rng.integers(0, pool, size=m) if pool else which
    keep = ts < end
    tx = CardTransactions(
        customer=owner, card=card[which], terminal=terminal, ts=ts, amount=np.round(amount, 2),
        online=online, device=np.where(online, first_device + tool, -1),
        ip=np.where(online, first_ip + tool, -1), kind=kind[which].astype(np.int8),
    )
    return tx.take(np.flatnonzero(keep))


def bust_out_rings(rng: np.random.Generator, world: CardWorld, config: CardsConfig,
                   start: int, days: int, first_device: int,
                   first_ip: int) -> tuple[BustOutRings, CardTransactions]:
    """Collusive rings of customers busting out their cards together (none at ``ring_fraction`` 0).

    Each ring shares two devices and one address, numbered from ``first_device`` and
    ``first_ip``; members buy online for several times their usual amounts within a short window,
    now and then with another member's card.
    """
    target = int(round(config.ring_fraction * world.n_customers))
    mean_size = (config.ring_size_min + config.ring_size_max) / 2
    n_rings = int(target // mean_size)
    sizes = rng.integers(config.ring_size_min, config.ring_size_max + 1, size=n_rings)
    sizes = sizes[np.cumsum(sizes) <= world.n_customers]
    offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    members = rng.permutation(world.n_customers)[:offset[-1]]
    span = min(config.ring_window_days, days)
    ring_start = start + rng.integers(0, days - span + 1, size=len(sizes)) * DAY
    ring_of_member = np.repeat(np.arange(len(sizes)), sizes)
    per_member = rng.poisson(config.ring_tx_per_member, size=len(members))
    who = np.repeat(np.arange(len(members)), per_member)
    m = len(who)
    ring = ring_of_member[who]
    customer = members[who]
    ts = ring_start[ring] + rng.integers(0, span * DAY, size=m)
    # Swapping cards: another member of the same ring, drawn by position inside the ring.
    swap = rng.random(m) < config.ring_card_swap_rate
    other = offset[ring] + rng.integers(0, 1 << 30, size=m) % sizes[ring]
    card = np.where(swap, members[other], customer)
    amount = usual_amounts(rng, world.mean_amount[customer]) * config.ring_amount_factor
    device = first_device + 2 * ring + rng.integers(0, 2, size=m)
    tx = CardTransactions(
        customer=customer, card=card, terminal=world.online_pick(rng, m), ts=ts,
        amount=np.round(amount, 2), online=np.ones(m, dtype=bool), device=device,
        ip=first_ip + ring, kind=np.full(m, BUST_OUT, dtype=np.int8),
    )
    first_ts = np.full(len(sizes), np.iinfo(np.int64).max)
    last_ts = np.full(len(sizes), np.iinfo(np.int64).min)
    np.minimum.at(first_ts, ring, ts)
    np.maximum.at(last_ts, ring, ts)
    quiet = first_ts > last_ts
    first_ts[quiet] = last_ts[quiet] = ring_start[quiet]
    rings = BustOutRings(
        offset=offset, members=members,
        devices=first_device + np.arange(2 * len(sizes)), ips=first_ip + np.arange(len(sizes)),
        first_ts=first_ts, last_ts=last_ts,
    )
    return rings, tx
