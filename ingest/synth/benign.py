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
    CARD_PERSONAL,
    DAY,
    DEV_HOUSEHOLD,
    DEV_OFFICE,
    DEV_PERSONAL,
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


def diurnal_times(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray | int,
                  utc_offset: np.ndarray | int) -> np.ndarray:
    """Event times in ``[lo, hi)`` whose local hour of day follows :data:`DIURNAL`."""
    uniform = lo + (rng.random(len(lo)) * (hi - lo)).astype(np.int64)
    ts = at_diurnal_hour(rng, uniform, utc_offset)
    outside = (ts < lo) | (ts >= hi)
    ts[outside] = uniform[outside]
    return ts


def at_diurnal_hour(rng: np.random.Generator, ts: np.ndarray,
                    utc_offset: np.ndarray | int) -> np.ndarray:
    """``ts`` moved to a local hour drawn from :data:`DIURNAL`, on the same local day."""
    n = len(ts)
    local_day = (ts + utc_offset) // DAY * DAY - utc_offset
    hour = np.searchsorted(_DIURNAL_CDF, rng.random(n), side="right")
    return local_day + hour * 3600 + rng.integers(0, 3600, n)


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
    ts = _session_times(rng, pop, local, active_from[local], end)
    batch = EventBatch.empty_like(pop.account[local], ts, event_type)

    batch.device = _devices(rng, pop, local)
    batch.ip = _addresses(rng, pop, local, config, first_event)
    money = (event_type == ORDER) | (event_type == PAYMENT)
    batch.card = np.where(money, _cards(rng, pop, local), np.uint64(0))
    if config.household_couple_share > 0:  # off by default: nothing drawn, worlds unchanged
        couple = couple_members(rng, pop, config.household_couple_share)
        _couples(rng, pop, local, money, batch, couple, couple)
    if config.couple_alone_share > 0:  # off by default: nothing drawn, worlds unchanged
        device, card = couples_alone(rng, pop, config.couple_alone_share)
        _couples(rng, pop, local, money, batch, device, card)
        if config.couple_turns_share > 0:  # off by default as well
            _turns(rng, pop, local, batch, device, config.couple_turns_share, end,
                   active_from)
    batch.counterparty = _counterparties(rng, pop, pools, local, event_type)
    batch.amount = _amounts(rng, event_type, pop, local)
    declined = rng.random(n) < config.decline_rate
    batch.status = np.where(money, np.where(declined, DECLINED, OK), -1).astype(np.int8)

    signups = np.flatnonzero(emit_signup & (pop.signup >= start))
    signup_batch = EventBatch.empty_like(
        pop.account[signups], pop.signup[signups], np.full(len(signups), SIGNUP))
    signup_batch.device = pop.personal_device_key(signups)
    signup_batch.ip = pop.home_ip_key(signups)
    return EventBatch.concat([signup_batch, batch])


def _session_times(rng: np.random.Generator, pop: Population, local: np.ndarray,
                   lo: np.ndarray, end: int) -> np.ndarray:
    """Diurnal times where many events continue the account's previous event within minutes.

    ``local`` must be grouped by account. An event either starts a session at a diurnal time
    or follows the latest session start of its account, a few minutes per step later.
    """
    n = len(local)
    position = np.arange(n)
    starts = diurnal_times(rng, lo, end, pop.utc_offset[local])
    first_of_account = np.r_[True, local[1:] != local[:-1]]
    new_session = first_of_account | (rng.random(n) >= pop.session_rate[local])
    anchor = np.maximum.accumulate(np.where(new_session, position, 0))
    later = (position - anchor) * rng.exponential(120.0, n).astype(np.int64)
    return np.minimum(starts[anchor] + later, end - 1)


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


#: A couple's second device and card: the household's keys with this bit in the index.
COUPLE_BIT = 1 << 55
#: Share of a couple member's events on the couple's device, and of its payments with its card,
#: in place of its own (as often as the family's device and card).
_COUPLE_DEVICE_RATE, _COUPLE_CARD_RATE = 0.35, 0.4


def couple_members(rng: np.random.Generator, pop: Population, share: float) -> np.ndarray:
    """Per account of ``pop``: whether it is one of a couple, the first two members of a
    household of three or more that shares a device and a card, drawn with ``share``."""
    position = np.empty(pop.size, dtype=np.int64)
    position[pop.members_order] = np.arange(pop.size)
    position -= pop.household_start
    drawn = rng.random(pop.size)[pop.members_order[pop.household_start]] < share
    return (drawn & (pop.household_size >= 3) & pop.shares_device & pop.shares_card
            & (position < 2))


def couples_alone(rng: np.random.Generator, pop: Population,
                  share: float) -> tuple[np.ndarray, np.ndarray]:
    """Per account of ``pop``: whether it is one of a couple living alone (a household of two
    that shares a device and a card, drawn with ``share``) that also shares a second device,
    and whether a second card; a couple draws the device, the card or both, a third each (with
    the family's ones: two devices and one card, like a tablet and a laptop with a joint card;
    one device and two cards; two of each)."""
    first = pop.members_order[pop.household_start]
    alone = ((rng.random(pop.size)[first] < share) & (pop.household_size == 2)
             & pop.shares_device & pop.shares_card)
    what = rng.integers(0, 3, pop.size)[first]
    return alone & (what != 1), alone & (what != 0)


def _couples(rng: np.random.Generator, pop: Population, local: np.ndarray, money: np.ndarray,
             batch: EventBatch, device: np.ndarray, card: np.ndarray) -> None:
    """A couple's members (per account: ``device``, ``card``, whether it uses the couple's
    second device, second card) use them besides the family's, at times of their own
    (``batch`` is changed in place)."""
    pick = rng.random((2, len(local)))
    key = pop.household[local] | COUPLE_BIT
    # in place of a personal device or card: the family's are used as often as before
    salt = np.uint64(56)
    on_device = (device[local] & (pick[0] < _COUPLE_DEVICE_RATE)
                 & (batch.device >> salt == DEV_PERSONAL))
    batch.device[on_device] = entity_key(DEV_HOUSEHOLD, key[on_device])
    on_card = (card[local] & money & (pick[1] < _COUPLE_CARD_RATE)
               & (batch.card >> salt == CARD_PERSONAL))
    batch.card[on_card] = entity_key(CARD_HOUSEHOLD, key[on_card])


def _turns(rng: np.random.Generator, pop: Population, local: np.ndarray, batch: EventBatch,
           device: np.ndarray, share: float, end: int, active_from: np.ndarray) -> None:
    """Couples living alone (per account: ``device``, whether it uses the couple's second
    device) take turns on the devices only the two use, the family's and the second:
    ``share`` of the second member's uses of each come 2-30 min after one of the first
    member's uses of it (at home together, one after the other, as colluders take turns), the
    others at times of its own; never before the second member's ``active_from`` (its signup
    or the window's start: a use that would come earlier keeps its own time; ``batch`` is
    changed in place)."""
    ours = device[local] & ((batch.device == entity_key(DEV_HOUSEHOLD, pop.household[local]))
                            | (batch.device == entity_key(DEV_HOUSEHOLD,
                                                          pop.household[local] | COUPLE_BIT)))
    on = np.flatnonzero(ours)
    first = pop.members_order[pop.household_start[local[on]]] == local[on]
    lead = on[first][np.argsort(batch.device[on[first]], kind="stable")]
    follow = on[~first][rng.random(int((~first).sum())) < share]
    lo = np.searchsorted(batch.device[lead], batch.device[follow], "left")
    hi = np.searchsorted(batch.device[lead], batch.device[follow], "right")
    follow, lo, hi = follow[hi > lo], lo[hi > lo], hi[hi > lo]
    after = lead[lo + (rng.random(len(follow)) * (hi - lo)).astype(np.int64)]
    moved = np.minimum(batch.ts[after] + rng.integers(120, 1_801, len(follow)), end - 1)
    alive = moved >= active_from[local[follow]]
    batch.ts[follow[alive]] = moved[alive]


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


def _amounts(rng: np.random.Generator, event_type: np.ndarray, pop: Population,
             local: np.ndarray) -> np.ndarray:
    """Lognormal money amounts in cents precision; NaN for events without money.

    Transfers are centred on the account's own scale (some move rent-sized sums); micro-payers
    pay a few units at a time.
    """
    mu = np.select([event_type == ORDER, event_type == PAYMENT, event_type == TRANSFER],
                   [3.3, 3.8, pop.transfer_mu[local]], default=0.0)
    amount = rng.lognormal(mu, np.where(event_type == TRANSFER, 1.0, 0.9))
    micro = (event_type == PAYMENT) & pop.micro_payer[local]
    amount[micro] = rng.uniform(0.5, 6.0, int(micro.sum()))
    money = (event_type == ORDER) | (event_type == PAYMENT) | (event_type == TRANSFER)
    return np.where(money, np.round(amount, 2), np.nan)
