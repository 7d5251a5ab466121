"""The card world's honest side: customers, cards, devices, merchant terminals and purchases.

Customers live on a 100 x 100 map and buy at physical terminals near home, weighted by each
terminal's popularity, so every terminal is shared by the customers around it; a small share of
terminals are online merchants anyone may use, whose heavy-tailed popularity makes the big ones
hubs of hundreds of customers. Entities are integer indices here (-1 = none); strings come later.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ingest.synth.cards_config import CardsConfig

DAY = 86_400
MAP_SIZE = 100.0
#: ``CardTransactions.kind`` codes: what made a purchase (0 = an honest one).
HONEST, TERMINAL, STOLEN, SKIMMED, BUST_OUT = range(5)
KIND_NAMES = ("", "compromised_terminal", "stolen_card", "skimmed_card", "bust_out")
_BLOCK = 256


@dataclass
class CardTransactions:
    """Purchases as parallel arrays: who, with which card, where, when, how much.

    ``device`` and ``ip`` are -1 for card-present purchases; ``kind`` says what made the purchase
    (:data:`KIND_NAMES`), and honest purchases on a compromised terminal become ``TERMINAL``.
    """

    customer: np.ndarray
    card: np.ndarray
    terminal: np.ndarray
    ts: np.ndarray
    amount: np.ndarray
    online: np.ndarray
    device: np.ndarray
    ip: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.customer)

    @classmethod
    def concat(cls, parts: list[CardTransactions]) -> CardTransactions:
        """One batch holding all purchases of ``parts`` in order."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                      for f in fields(cls)})

    def take(self, rows: np.ndarray) -> CardTransactions:
        """The purchases at positions ``rows``."""
        return CardTransactions(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


@dataclass
class CardWorld:
    """Customers, their cards and devices, and the merchant terminals they buy at.

    Card ``c < n_customers`` is customer ``c``'s main card; second cards follow. Devices of
    customer ``c`` are ``device_first[c] .. device_first[c] + device_count[c] - 1``. The nearby
    terminals of customer ``c`` are ``nearby[nearby_offset[c]:nearby_offset[c + 1]]``.
    """

    home: np.ndarray
    mean_amount: np.ndarray
    tx_per_day: np.ndarray
    night_owl: np.ndarray
    online_rate: np.ndarray
    second_card: np.ndarray
    card_owner: np.ndarray
    device_first: np.ndarray
    device_count: np.ndarray
    home_ip: np.ndarray
    terminal_xy: np.ndarray
    online_terminals: np.ndarray
    physical_terminals: np.ndarray
    online_weight: np.ndarray
    nearby_offset: np.ndarray
    nearby: np.ndarray
    nearby_cumweight: np.ndarray

    @property
    def n_customers(self) -> int:
        """Number of customers (accounts)."""
        return len(self.home)

    @property
    def n_cards(self) -> int:
        """Number of cards."""
        return len(self.card_owner)

    @property
    def n_terminals(self) -> int:
        """Number of terminals, physical and online."""
        return len(self.terminal_xy)

    @property
    def n_devices(self) -> int:
        """Number of customers' own devices."""
        return int(self.device_count.sum())

    @property
    def n_ips(self) -> int:
        """Number of customers' home and carrier addresses."""
        return int(self.home_ip.max()) + 1 if len(self.home_ip) else 0

    def online_pick(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` online terminals drawn by popularity."""
        return self.online_terminals[rng.choice(len(self.online_terminals), size=n,
                                                p=self.online_weight)]

    def nearby_pick(self, rng: np.random.Generator, customer: np.ndarray) -> np.ndarray:
        """One nearby terminal for each of ``customer``, drawn by the terminals' popularity."""
        first = self.nearby_offset[customer]
        last = self.nearby_offset[customer + 1] - 1
        cum = self.nearby_cumweight
        base = np.where(first > 0, cum[np.maximum(first - 1, 0)], 0.0)
        target = base + rng.random(len(customer)) * (cum[last] - base)
        slot = np.clip(np.searchsorted(cum, target, side="right"), first, last)
        return self.nearby[slot]


def build_world(rng: np.random.Generator, n_customers: int, config: CardsConfig) -> CardWorld:
    """Draw the customers, cards, devices, addresses and terminals of a world."""
    n = n_customers
    home = rng.uniform(0, MAP_SIZE, size=(n, 2))
    mean_amount = rng.uniform(config.mean_amount_min, config.mean_amount_max, size=n)
    tx_per_day = rng.uniform(0, config.tx_per_day_max, size=n)
    night_owl = rng.random(n) < config.night_owl_fraction
    # Beta with shape 1.5: most customers buy online now and then, a few mostly online.
    shape = 1.5
    online_rate = rng.beta(shape, shape * (1 - config.online_rate_mean) / config.online_rate_mean,
                           size=n)
    has_second = rng.random(n) < config.second_card_fraction
    second_card = np.full(n, -1, dtype=np.int64)
    second_card[has_second] = n + np.arange(int(has_second.sum()))
    card_owner = np.concatenate([np.arange(n), np.flatnonzero(has_second)])
    device_count = rng.integers(1, config.devices_per_customer_max + 1, size=n)
    device_first = np.concatenate([[0], np.cumsum(device_count)[:-1]])
    home_ip = _home_addresses(rng, n, config)

    n_terminals = max(2, int(round(n * config.terminals_per_customer)))
    n_online = max(1, int(round(n_terminals * config.online_terminal_fraction)))
    online = rng.permutation(n_terminals)[:n_online]
    is_online = np.zeros(n_terminals, dtype=bool)
    is_online[online] = True
    online.sort()
    terminal_xy = rng.uniform(0, MAP_SIZE, size=(n_terminals, 2))
    terminal_xy[is_online] = np.nan
    physical = np.flatnonzero(~is_online)
    weight = rng.lognormal(0.0, config.terminal_popularity_sigma, size=n_terminals)
    online_weight = 1.0 / np.arange(1, n_online + 1) ** config.online_popularity_exponent
    online_weight = rng.permutation(online_weight / online_weight.sum())
    offset, nearby = _nearby_terminals(home, terminal_xy[physical], config.nearby_terminals)
    nearby = physical[nearby]
    return CardWorld(
        home=home, mean_amount=mean_amount, tx_per_day=tx_per_day, night_owl=night_owl,
        online_rate=online_rate, second_card=second_card, card_owner=card_owner,
        device_first=device_first, device_count=device_count, home_ip=home_ip,
        terminal_xy=terminal_xy, online_terminals=online, physical_terminals=physical,
        online_weight=online_weight, nearby_offset=offset, nearby=nearby,
        nearby_cumweight=np.cumsum(weight[nearby]),
    )


def _home_addresses(rng: np.random.Generator, n: int, config: CardsConfig) -> np.ndarray:
    """Each customer's address online: a home line of their own, or a shared carrier NAT."""
    mobile = rng.random(n) < config.mobile_fraction
    n_nat = max(1, -(-int(mobile.sum()) // config.customers_per_nat_ip))
    home_ip = np.arange(n, dtype=np.int64)
    home_ip[mobile] = n + rng.integers(0, n_nat, size=int(mobile.sum()))
    return home_ip


def _nearby_terminals(home: np.ndarray, where: np.ndarray,
                      mean_nearby: float) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the physical terminals within each customer's radius (at least the nearest).

    The radius makes the expected count ``mean_nearby`` whatever the terminal density.
    """
    radius2 = mean_nearby * MAP_SIZE * MAP_SIZE / (np.pi * max(len(where), 1))
    counts, columns = [], []
    for first in range(0, len(home), _BLOCK):
        block = home[first:first + _BLOCK]
        d2 = ((block[:, 0, None] - where[None, :, 0]) ** 2
              + (block[:, 1, None] - where[None, :, 1]) ** 2)
        near = d2 <= radius2
        near[np.arange(len(block)), d2.argmin(axis=1)] = True
        rows, cols = np.nonzero(near)
        counts.append(np.bincount(rows, minlength=len(block)))
        columns.append(cols)
    offset = np.concatenate([[0], np.cumsum(np.concatenate(counts))])
    return offset, np.concatenate(columns)


def time_of_day(rng: np.random.Generator, night_owl: np.ndarray,
                hour_sd: float) -> np.ndarray:
    """Seconds after midnight of purchases: around noon (spread ``hour_sd`` hours), or around
    22:00 for night owls."""
    centre = np.where(night_owl, 22 * 3600, 12 * 3600)
    spread = np.where(night_owl, 4 * 3600, hour_sd * 3600)
    return np.mod(rng.normal(centre, spread), DAY).astype(np.int64)


def honest_transactions(rng: np.random.Generator, world: CardWorld, config: CardsConfig,
                        start: int, days: int) -> CardTransactions:
    """Every customer's own purchases over ``days`` days (Poisson per customer and day)."""
    n = world.n_customers
    per_day = rng.poisson(world.tx_per_day[:, None], size=(n, days)).ravel()
    customer = np.repeat(np.repeat(np.arange(n), days), per_day)
    day = np.repeat(np.tile(np.arange(days), n), per_day)
    m = len(customer)
    ts = start + day * DAY + time_of_day(rng, world.night_owl[customer], config.purchase_hour_sd)
    second = world.second_card[customer]
    card = np.where((second >= 0) & (rng.random(m) < config.second_card_share), second, customer)
    online = rng.random(m) < world.online_rate[customer]
    travel = ~online & (rng.random(m) < config.travel_rate)
    local = ~online & ~travel
    terminal = np.empty(m, dtype=np.int64)
    terminal[local] = world.nearby_pick(rng, customer[local])
    terminal[online] = world.online_pick(rng, int(online.sum()))
    terminal[travel] = rng.choice(world.physical_terminals, size=int(travel.sum()))
    amount = usual_amounts(rng, world.mean_amount[customer])
    big = rng.random(m) < config.big_purchase_rate
    amount[big] *= rng.lognormal(np.log(config.big_purchase_factor), 0.4, size=int(big.sum()))
    device = np.where(online, world.device_first[customer]
                      + (rng.random(m) * world.device_count[customer]).astype(np.int64), -1)
    ip = np.where(online, world.home_ip[customer], -1)
    return CardTransactions(
        customer=customer, card=card, terminal=terminal, ts=ts, amount=np.round(amount, 2),
        online=online, device=device, ip=ip, kind=np.full(m, HONEST, dtype=np.int8),
    )


def usual_amounts(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """Amounts around each ``mean`` (spread half the mean; never negative, as the handbook)."""
    amount = rng.normal(mean, mean / 2)
    low = amount < 0.01
    amount[low] = rng.uniform(0.01, 2 * mean[low])
    return amount
