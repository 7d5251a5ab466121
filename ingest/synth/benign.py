"""Ordinary activity: what every account does, abusers included (their camouflage)."""

from __future__ import annotations

import numpy as np

from ingest.synth.config import SynthConfig
from ingest.synth.events import (
    DECLINED,
    LOGIN,
    OK,
    ORDER,
    PAYMENT,
    REVIEW,
    SIGNUP,
    TRANSFER,
    EventBatch,
)
from ingest.synth.ids import entity_key
from ingest.synth.world import (
    CARD_HOUSEHOLD,
    DAY,
    DEV_HOUSEHOLD,
    DEV_OFFICE,
    DIURNAL,
    IP_NAT,
    IP_PUBLIC,
    IP_TRAVEL,
    Pools,
    Population,
    skewed_index,
)

_BENIGN_TYPES = np.array([LOGIN, ORDER, PAYMENT, TRANSFER, REVIEW], dtype=np.int8)
_DIURNAL_CDF = np.cumsum(DIURNAL) / DIURNAL.sum()


def diurnal_times(rng: np.random.Generator, lo: np.ndarray, hi: int,
                  utc_offset: np.ndarray) -> np.ndarray:
    """Event times in ``[lo, hi)`` whose local hour of day follows :data:`DIURNAL`."""
    n = len(lo)
    uniform = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    local_day = (uniform + utc_offset) // DAY * DAY - utc_offset
    hour = np.searchsorted(_DIURNAL_CDF, rng.random(n), side="right")
    ts = local_day + hour * 3600 + rng.integers(0, 3600, n)
    outside = (ts < lo) | (ts >= hi)
    ts[outside] = uniform[outside]
    return ts


def benign_events(rng: np.random.Generator, pop: Population, pools: Pools, config: SynthConfig,
                  start: int, end: int, activity_scale: np.ndarray,
                  emit_signup: np.ndarray, first_event: int) -> EventBatch:
    """Everyday events of every account of ``pop``.

    Parameters
    ----------
    activity_scale
        Per-account multiplier of the wanted activity (lower for ring members).
    emit_signup
        Per-account bool: write a signup event (accounts created inside the window).
    first_event
        Global number of the first event of this batch (names one-off travel addresses).
    """
    active_from = np.maximum(pop.signup, start)
    active_share = (end - active_from) / (end - start)
    counts = np.maximum(1, np.rint(pop.activity * activity_scale * active_share)).astype(np.int64)
    # Events of each account grouped by type; times are drawn independently, so order is moot.
    per_type = rng.multinomial(counts, pop.type_mix)
    local = np.repeat(np.arange(pop.size), counts)
    event_type = np.repeat(np.tile(_BENIGN_TYPES, pop.size), per_type.ravel())
    n = len(local)
    ts = diurnal_times(rng, active_from[local], end, pop.utc_offset[local])
    batch = EventBatch.empty_like(pop.account[local], ts, event_type)

    batch.device = _devices(rng, pop, local)
    batch.ip = _addresses(rng, pop, local, config, first_event)
    money = (event_type == ORDER) | (event_type == PAYMENT)
    batch.card = np.where(money, _cards(rng, pop, local), np.uint64(0))
    batch.counterparty = _counterparties(rng, pop, pools, local, event_type)
    batch.amount = _amounts(rng, event_type)
    declined = rng.random(n) < config.decline_rate
    batch.status = np.where(money, np.where(declined, DECLINED, OK), -1).astype(np.int8)

    signups = np.flatnonzero(emit_signup & (pop.signup >= start))
    signup_batch = EventBatch.empty_like(
        pop.account[signups], pop.signup[signups], np.full(len(signups), SIGNUP))
    signup_batch.device = pop.personal_device_key(signups)
    signup_batch.ip = pop.home_ip_key(signups)
    return EventBatch.concat([signup_batch, batch])


def _devices(rng: np.random.Generator, pop: Population, local: np.ndarray) -> np.ndarray:
    """A personal device mostly; sometimes the household's shared one or an office machine."""
    n = len(local)
    slot = (rng.random(n) * pop.n_devices[local]).astype(np.int64)
    device = pop.personal_device_key(local, slot)
    pick = rng.random(n)
    household = pop.shares_device[local] & (pick < 0.35)
    device[household] = entity_key(DEV_HOUSEHOLD, pop.household[local[household]])
    office = (pop.office_device[local] >= 0) & (pick > 0.8)
    device[office] = entity_key(DEV_OFFICE, pop.office_device[local[office]])
    return device


def _addresses(rng: np.random.Generator, pop: Population, local: np.ndarray,
               config: SynthConfig, first_event: int) -> np.ndarray:
    """Home address mostly; carrier NAT for mobile users, public Wi-Fi, one-off travel."""
    n = len(local)
    ip = pop.home_ip_key(local)
    pick = rng.random(n)
    nat = pop.nat_ip[local]
    mobile = (nat >= 0) & (pick < 0.5)
    nat_choice = np.where(rng.random(n) < 0.2, pop.nat_ip2[local], nat)
    ip[mobile] = entity_key(IP_NAT, nat_choice[mobile])
    public = (pop.public_ip[local] >= 0) & (pick >= 0.5) & (pick < 0.65)
    ip[public] = entity_key(IP_PUBLIC, pop.public_ip[local[public]])
    travel = np.flatnonzero(rng.random(n) < config.travel_ip_rate)
    ip[travel] = entity_key(IP_TRAVEL, first_event + travel)
    return ip


def _cards(rng: np.random.Generator, pop: Population, local: np.ndarray) -> np.ndarray:
    """A personal card mostly; sometimes the household's shared card."""
    n = len(local)
    slot = (rng.random(n) * pop.n_cards[local]).astype(np.int64)
    card = pop.personal_card_key(local, slot)
    household = pop.shares_card[local] & (rng.random(n) < 0.4)
    card[household] = entity_key(CARD_HOUSEHOLD, pop.household[local[household]])
    return card


def _counterparties(rng: np.random.Generator, pop: Population, pools: Pools, local: np.ndarray,
                    event_type: np.ndarray) -> np.ndarray:
    """Transfers go to family or popular payees; reviews to popular sellers."""
    n = len(local)
    cp = np.full(n, -1, dtype=np.int64)
    transfer = np.flatnonzero(event_type == TRANSFER)
    cp[transfer] = skewed_index(rng, len(transfer), pools.n_accounts, 2.0)
    family = transfer[(pop.household_size[local[transfer]] > 1)
                      & (rng.random(len(transfer)) < 0.4)]
    member = pop.household_start[local[family]] + (
        rng.random(len(family)) * pop.household_size[local[family]]).astype(np.int64)
    cp[family] = pop.account[pop.members_order[member]]
    review = np.flatnonzero(event_type == REVIEW)
    cp[review] = (skewed_index(rng, len(review), pools.n_accounts, 3.0) * 7 + 1) % pools.n_accounts
    own = cp == pop.account[local]
    cp[own] = (cp[own] + 1) % pools.n_accounts
    return cp


def _amounts(rng: np.random.Generator, event_type: np.ndarray) -> np.ndarray:
    """Lognormal money amounts in cents precision; NaN for events without money."""
    n = len(event_type)
    amount = np.full(n, np.nan)
    for code, (mu, sigma) in ((ORDER, (3.3, 0.9)), (PAYMENT, (3.8, 1.0)), (TRANSFER, (4.0, 1.2))):
        rows = event_type == code
        amount[rows] = np.round(rng.lognormal(mu, sigma, int(rows.sum())), 2)
    return amount
