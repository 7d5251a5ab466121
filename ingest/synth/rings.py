"""Planted abuse: rings of accounts that look ordinary one by one but act together.

All rings of one chunk are generated at once as flat arrays: ring -> members (by position in the
ring) -> coordinated episodes -> events. Sharing follows overlapping chains rather than cliques
(member i shares a device with i + 1 and a card with i + 2), so no single entity joins the whole
ring; timing is in lockstep (members act within minutes of each episode). Planted pairs
(``pair_fraction``) are rings of two of kind ``pair``: both members use the pair's one or two
devices and cards in each episode, and one pays the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.synth.benign import at_diurnal_hour
from ingest.synth.config import PAIR_KIND, RING_KINDS, SynthConfig
from ingest.synth.events import (
    DECLINED,
    LOGIN,
    NO_STATUS,
    OK,
    ORDER,
    PAYMENT,
    REVIEW,
    SIGNUP,
    TRANSFER,
    EventBatch,
)
from ingest.synth.flows import FLOW_KIND_NAMES, flow_ring_events
from ingest.synth.ids import entity_key
from ingest.synth.world import (
    CARD_RING,
    DAY,
    DEV_RING,
    IP_RING,
    RING_SLOTS,
    UTC_OFFSET_WEIGHTS,
    UTC_OFFSETS,
    Population,
)

KIND_NAMES = (*RING_KINDS, PAIR_KIND[0])
(DEVICE_FARM, PAYMENT_RING, CARD_TESTING, MULE_CYCLE, FAN_IN, FAN_OUT,
 REVIEW_RING) = range(7)
#: Planted pairs (on with ``pair_fraction``; not a ``ring_kind_weights`` kind).
PAIR = KIND_NAMES.index(PAIR_KIND[0])
#: Money-flow typologies, planted by :mod:`ingest.synth.flows`.
FLOW_KINDS = tuple(KIND_NAMES.index(name) for name in FLOW_KIND_NAMES)
#: Kinds whose members are fresh accounts created for the scheme.
FRESH_KINDS = (DEVICE_FARM, CARD_TESTING)
#: Events each member makes per episode, by kind.
EVENTS_PER_SLOT = np.array([1, 1, 2, 1, 1, 1, 1] + [1] * len(FLOW_KINDS) + [2])


@dataclass
class Rings:
    """The rings planted in one chunk.

    ``member_local`` lists the members' local account indices ring after ring (``offset[r]`` is
    where ring ``r`` starts); ``ring_number`` is the global number of each ring.
    """

    kind: np.ndarray
    size: np.ndarray
    offset: np.ndarray
    member_local: np.ndarray
    ring_number: np.ndarray
    first_ts: np.ndarray
    last_ts: np.ndarray
    utc_offset: np.ndarray  # seconds: the ring operators' time zone

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def member_ring(self) -> np.ndarray:
        """Ring index (within the chunk) of each entry of ``member_local``."""
        return np.repeat(np.arange(len(self.kind)), self.size)


def plan_rings(rng: np.random.Generator, pop: Population, config: SynthConfig,
               first_ring: int, start: int, end: int) -> Rings:
    """Choose ring kinds, sizes, members and time windows; fresh members get new signups.

    Pairs (``pair_fraction`` > 0) come after the rings, their members after the rings' ones in
    the same permutation; without pairs nothing more is drawn."""
    target = int(round(config.abuse_fraction * pop.size))
    sizes = np.clip(
        np.rint(rng.lognormal(np.log(config.ring_size_median), 0.5, target // 4 + 1)),
        config.ring_size_min, config.ring_size_max,
    ).astype(np.int64)
    sizes = sizes[np.cumsum(sizes) <= target] if target >= config.ring_size_min else sizes[:0]
    weights = np.array([config.ring_kind_weights.get(k, 0.0) for k in KIND_NAMES])
    kind = _stratified_kinds(rng, weights, len(sizes))
    order = rng.permutation(pop.size)
    if config.pair_fraction > 0:
        n_pairs = min(int(round(config.pair_fraction * pop.size / 2)),
                      (pop.size - int(sizes.sum())) // 2)
        sizes = np.r_[sizes, np.full(n_pairs, 2, dtype=np.int64)]
        kind = np.r_[kind, np.full(n_pairs, PAIR, dtype=kind.dtype)]
    members = order[: sizes.sum()]
    span = (rng.uniform(1.0, min(7.0, (end - start) / DAY / 2), len(sizes)) * DAY).astype(np.int64)
    first_ts = start + DAY + (rng.random(len(sizes)) * (end - start - span - 2 * DAY)).astype(
        np.int64)
    zone = np.searchsorted(np.cumsum(UTC_OFFSET_WEIGHTS) / UTC_OFFSET_WEIGHTS.sum(),
                           rng.random(len(sizes)), side="right")
    utc_offset = (3600 * UTC_OFFSETS[zone]).astype(np.int64)
    first_ts = at_diurnal_hour(rng, first_ts, utc_offset)
    rings = Rings(
        kind=kind, size=sizes, offset=np.cumsum(sizes) - sizes,
        member_local=members, ring_number=first_ring + np.arange(len(sizes)),
        first_ts=first_ts, last_ts=first_ts + span, utc_offset=utc_offset,
    )
    # Fresh members sign up in lockstep just before the ring's first episode.
    fresh = np.isin(kind[rings.member_ring], FRESH_KINDS)
    pop.signup[members[fresh]] = rings.first_ts[rings.member_ring[fresh]] - rng.integers(
        1, int(config.lockstep_seconds) + 2, int(fresh.sum()))
    # Other members were recruited: their accounts existed days before the scheme began.
    recruited = members[~fresh]
    pop.signup[recruited] = np.minimum(
        pop.signup[recruited],
        rings.first_ts[rings.member_ring[~fresh]] - rng.integers(DAY, 20 * DAY, len(recruited)))
    return rings


def _stratified_kinds(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """``n`` ring kinds in the proportions of ``weights`` (largest remainders), shuffled.

    Only kinds of positive weight draw random numbers, so kinds added at weight 0 leave the
    draws of a configuration without them unchanged."""
    active = np.flatnonzero(weights > 0)
    share = weights[active] / weights[active].sum() * n
    counts = np.floor(share).astype(np.int64)
    remainder = share - counts + rng.random(len(share)) * 1e-9
    counts[np.argsort(-remainder)[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(active, counts))


def ring_events(rng: np.random.Generator, pop: Population, rings: Rings,
                config: SynthConfig, end: int) -> EventBatch:
    """The coordinated events of every ring of ``rings`` (flow typologies by
    :func:`ingest.synth.flows.flow_ring_events`)."""
    if len(rings) == 0:
        return EventBatch.empty_like(*(np.zeros(0, dtype=np.int64),) * 3)
    n_rings = len(rings)
    episodes = rng.integers(2, 7, n_rings)
    spread = config.lockstep_seconds * rng.lognormal(0.0, 0.5, n_rings)
    hop = rng.integers(600, 3600, n_rings)
    base_amount = rng.lognormal(6.8, 0.6, n_rings)
    # how many devices and cards each pair shares (drawn only where there are pairs)
    pair_pool = (rng.integers(1, 3, (n_rings, 2)) if (rings.kind == PAIR).any()
                 else np.ones((n_rings, 2), dtype=np.int64))

    # One slot per (ring, member position, episode).
    slots_per_ring = rings.size * episodes
    ring = np.repeat(np.arange(n_rings), slots_per_ring)
    within = np.arange(len(ring)) - np.repeat(np.cumsum(slots_per_ring) - slots_per_ring,
                                              slots_per_ring)
    pos, episode = within // episodes[ring], within % episodes[ring]
    kind = rings.kind[ring]
    # fresh members' and pairs' first episode always happens (the signup, the pair's tie)
    first_kept = np.isin(kind, (*FRESH_KINDS, PAIR))
    keep = ((rng.random(len(ring)) < 0.85) | (first_kept & (episode == 0))) & ~np.isin(
        kind, FLOW_KINDS)
    ring, pos, episode, kind = ring[keep], pos[keep], episode[keep], kind[keep]
    # Each episode falls at an ordinary hour of the ring's day; members act within minutes.
    span = rings.last_ts - rings.first_ts
    episode_ring = np.repeat(np.arange(n_rings), episodes)
    episode_no = np.arange(len(episode_ring)) - np.repeat(np.cumsum(episodes) - episodes, episodes)
    window = span[episode_ring] // episodes[episode_ring]
    episode_ts = at_diurnal_hour(
        rng, rings.first_ts[episode_ring] + window * episode_no, rings.utc_offset[episode_ring])
    # Nothing before the first episode, when fresh members have just signed up.
    episode_ts = np.maximum(episode_ts, rings.first_ts[episode_ring] + 600 * episode_no)
    episode_ts[episode_no == 0] = rings.first_ts[episode_ring[episode_no == 0]]
    episode_start = np.cumsum(episodes) - episodes
    slot_ts = (episode_ts[episode_start[ring] + episode]
               + np.abs(rng.normal(0.0, spread[ring])).astype(np.int64))

    # Events of each slot.
    per_slot = EVENTS_PER_SLOT[kind]
    slot = np.repeat(np.arange(len(ring)), per_slot)
    sub = np.arange(len(slot)) - np.repeat(np.cumsum(per_slot) - per_slot, per_slot)
    ring, pos, episode, kind = ring[slot], pos[slot], episode[slot], kind[slot]
    size = rings.size[ring]

    def member(position: np.ndarray) -> np.ndarray:
        return rings.member_local[rings.offset[ring] + position % size]

    actor, cp = member(pos), np.full(len(ring), -1, dtype=np.int64)
    event_type = np.full(len(ring), TRANSFER, dtype=np.int8)
    ts = slot_ts[slot] + sub * rng.integers(5, 90, len(slot))

    farm, testing = kind == DEVICE_FARM, kind == CARD_TESTING
    first = episode == 0
    event_type[farm] = np.where(first[farm], SIGNUP, np.where(episode[farm] % 2, ORDER, LOGIN))
    event_type[testing] = np.where(first[testing] & (sub[testing] == 0), SIGNUP, PAYMENT)
    event_type[kind == PAYMENT_RING] = ORDER
    event_type[kind == REVIEW_RING] = REVIEW

    cycle = kind == MULE_CYCLE
    cp[cycle] = member(pos + 1)[cycle]
    ts[cycle] += pos[cycle] * hop[ring[cycle]]
    fan_in, fan_out = kind == FAN_IN, kind == FAN_OUT
    hub = (fan_in | fan_out) & (pos == 0)
    cp[fan_in & ~hub] = member(np.zeros_like(pos))[fan_in & ~hub]
    spoke = fan_out & ~hub
    cp[spoke], actor[spoke] = actor[spoke], member(np.zeros_like(pos))[spoke]
    event_type[hub] = PAYMENT
    review = kind == REVIEW_RING
    cp[review] = member(pos + 1 + episode % np.maximum(size - 1, 1))[review]
    # a pair's members order with the shared cards; then member 0 pays member 1, who logs in
    pair = kind == PAIR
    event_type[pair] = np.where(sub[pair] == 0, ORDER, np.where(pos[pair] == 0, TRANSFER, LOGIN))
    cp[pair & (event_type == TRANSFER)] = member(pos + 1)[pair & (event_type == TRANSFER)]

    signup = event_type == SIGNUP
    ts[signup] = pop.signup[actor[signup]]
    batch = EventBatch.empty_like(pop.account[actor], np.minimum(ts, end - 1), event_type)
    batch.counterparty = np.where(cp >= 0, pop.account[np.maximum(cp, 0)], -1)
    _ring_entities(rng, batch, pop, rings.ring_number[ring], kind, pos, episode, sub, size, actor,
                   pair_pool[ring])
    _ring_money(rng, batch, kind, pos, size, base_amount[ring], config)
    if not np.isin(rings.kind, FLOW_KINDS).any():
        return batch
    flows = flow_ring_events(
        rng, pop, rings.kind, rings.size, rings.offset, rings.member_local, rings.ring_number,
        rings.first_ts, rings.last_ts, {n: KIND_NAMES.index(n) for n in FLOW_KIND_NAMES}, end)
    return EventBatch.concat([batch, flows])


def chain_device(base: np.ndarray, pos: np.ndarray, turn: np.ndarray,
                 size: np.ndarray) -> np.ndarray:
    """Ring device ``pos`` or ``pos + 1`` (by the parity of ``turn``) of rings at ``base``."""
    return entity_key(DEV_RING, base + (pos + turn % 2) % size)


def farm_proxy(base: np.ndarray, pos: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The proxy address of member ``pos``: members in groups of three share one."""
    return entity_key(IP_RING, base + (pos // 3) % np.maximum(2, size // 3))


def dress_fresh_members(rng: np.random.Generator, batch: EventBatch, pop: Population,
                        rings: Rings) -> None:
    """Move the ordinary activity of fresh ring accounts onto the ring's devices and proxies.

    Accounts made for a farm or for card testing have no life of their own: every event comes
    from the emulators and proxies of their ring, and they pay with the ring's cards (farms) or
    stolen ones (card testers). Members of payment rings pay with the ring's cards every day too.
    """
    member_of = np.full(pop.size, -1, dtype=np.int64)
    position = np.zeros(pop.size, dtype=np.int64)
    fresh = np.isin(rings.kind[rings.member_ring], FRESH_KINDS)
    member_of[rings.member_local[fresh]] = rings.member_ring[fresh]
    position[rings.member_local] = np.arange(len(rings.member_local)) - rings.offset[
        rings.member_ring]
    local = batch.account - pop.first
    rows = np.flatnonzero(member_of[local] >= 0)
    ring, pos = member_of[local[rows]], position[local[rows]]
    base, size = rings.ring_number[ring] * RING_SLOTS, rings.size[ring]
    batch.device[rows] = chain_device(base, pos, rng.integers(0, 2, len(rows)), size)
    batch.ip[rows] = farm_proxy(base, pos, size)
    pays = rows[batch.card[rows] != 0]
    pays_ring = member_of[local[pays]]
    pool = np.where(rings.kind[pays_ring] == DEVICE_FARM, rings.size[pays_ring],
                    np.maximum(3, rings.size[pays_ring] // 2))
    batch.card[pays] = entity_key(CARD_RING, rings.ring_number[pays_ring] * RING_SLOTS
                                  + position[local[pays]] % pool)
    ring_of = np.full(pop.size, -1, dtype=np.int64)
    ring_of[rings.member_local] = rings.member_ring
    payers = np.flatnonzero((batch.card != 0) & (ring_of[local] >= 0))
    payers = payers[rings.kind[ring_of[local[payers]]] == PAYMENT_RING]
    payer_ring = ring_of[local[payers]]
    card_slot = (position[local[payers]] // 2 + rng.integers(0, 2, len(payers))) % (
        (rings.size[payer_ring] + 1) // 2)
    batch.card[payers] = entity_key(CARD_RING, rings.ring_number[payer_ring] * RING_SLOTS
                                    + card_slot)


def _ring_entities(rng: np.random.Generator, batch: EventBatch, pop: Population,
                   ring_number: np.ndarray, kind: np.ndarray, pos: np.ndarray,
                   episode: np.ndarray, sub: np.ndarray, size: np.ndarray,
                   actor: np.ndarray, pair_pool: np.ndarray) -> None:
    """Devices, addresses and cards: chained ring entities plus the members' own ones; a
    pair's events use its ``pair_pool`` (devices, cards) shared ones in turn."""
    n = len(kind)
    base = ring_number * RING_SLOTS
    chained = np.isin(kind, (DEVICE_FARM, CARD_TESTING, REVIEW_RING))
    pair = kind == PAIR
    # Member i uses ring devices i and i + 1: neighbours in the ring share one device.
    batch.device = np.where(
        chained, chain_device(base, pos, episode + sub, size), pop.personal_device_key(actor))
    batch.device[pair] = entity_key(
        DEV_RING, base[pair] + (pos + episode + sub)[pair] % pair_pool[pair, 0])
    proxy = farm_proxy(base, pos, size)
    shared = entity_key(IP_RING, base + (pos + episode % 2) % size)
    home = pop.home_ip_key(actor)
    batch.ip = np.where(np.isin(kind, (DEVICE_FARM, CARD_TESTING)), proxy,
                        np.where((kind == REVIEW_RING) | (rng.random(n) < 0.3), shared, home))

    money = (batch.event_type == ORDER) | (batch.event_type == PAYMENT)
    # Farm member i pays with ring cards i and i + 2; payment-ring pairs overlap; card testers
    # share a small pool of stolen cards; a pair's members pay with one card in its first
    # episode (always kept: the pair's tie), with its cards in turn after.
    card_slot = np.select(
        [kind == DEVICE_FARM, kind == PAYMENT_RING, kind == CARD_TESTING, pair],
        [(pos + 2 * (episode % 2)) % size,
         (pos // 2 + episode % 2) % ((size + 1) // 2),
         (pos + sub) % np.maximum(3, size // 2),
         np.where(episode == 0, 0, (pos + episode) % pair_pool[:, 1])],
        default=-1,
    )
    ring_card = entity_key(CARD_RING, base + np.maximum(card_slot, 0))
    own_card = pop.personal_card_key(actor)
    batch.card = np.where(money, np.where(card_slot >= 0, ring_card, own_card), np.uint64(0))


def _ring_money(rng: np.random.Generator, batch: EventBatch, kind: np.ndarray, pos: np.ndarray,
                size: np.ndarray, base_amount: np.ndarray, config: SynthConfig) -> None:
    """Amounts and payment outcomes of ring events."""
    n = len(kind)
    hub = (batch.event_type == PAYMENT) & np.isin(kind, (FAN_IN, FAN_OUT))
    amount = np.select(
        [kind == CARD_TESTING, kind == MULE_CYCLE, kind == FAN_IN, kind == FAN_OUT,
         np.isin(kind, (PAYMENT_RING, PAIR))],
        [np.round(rng.uniform(0.5, 5.0, n), 2),
         base_amount * 0.97 ** pos * rng.normal(1.0, 0.01, n),
         rng.uniform(900.0, 999.99, n),
         base_amount / size * rng.normal(1.0, 0.05, n),
         rng.lognormal(4.5, 0.6, n)],
        default=rng.lognormal(3.3, 0.9, n),
    )
    amount[hub] = base_amount[hub]
    money = np.isin(batch.event_type, (ORDER, PAYMENT, TRANSFER))
    batch.amount = np.where(money, np.round(amount, 2), np.nan)
    decline = np.where(kind == CARD_TESTING, config.card_test_decline_rate, config.decline_rate)
    declined = rng.random(n) < decline
    pay = (batch.event_type == ORDER) | (batch.event_type == PAYMENT)
    batch.status = np.where(pay, np.where(declined, DECLINED, OK), NO_STATUS).astype(np.int8)
