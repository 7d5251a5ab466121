"""The benign world of one chunk of accounts: households, devices, cards, addresses, habits.

Everything is drawn per account as numpy arrays; events later pick from these. Entities shared
beyond one chunk (carrier-NAT addresses, public Wi-Fi, office machines) are global pools indexed
the same way in every chunk, so hubs grow with the population as they do in real logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.synth.config import SynthConfig
from ingest.synth.ids import entity_key

DAY = 86_400

# Entity kinds (the salt of an entity key, see ids.entity_key). 0 means "no entity".
DEV_PERSONAL, DEV_HOUSEHOLD, DEV_OFFICE, DEV_RING = 1, 2, 3, 4
CARD_PERSONAL, CARD_HOUSEHOLD, CARD_RING = 5, 6, 7
IP_HOME, IP_NAT, IP_PUBLIC, IP_TRAVEL, IP_RING = 8, 9, 10, 11, 12
#: Personal devices / cards per account are numbered ``account * SLOTS + j``.
SLOTS = 4
#: Ring-level entities are numbered ``ring * RING_SLOTS + j``.
RING_SLOTS = 64

#: Relative event-type frequency of an ordinary account (signups are separate).
BENIGN_TYPE_WEIGHTS = {"login": 0.45, "order": 0.22, "payment": 0.10, "transfer": 0.13,
                       "review": 0.10}
#: Activity by local hour of day (0..23): quiet nights, evening peak.
DIURNAL = np.array([0.5, 0.3, 0.2, 0.2, 0.2, 0.3, 0.6, 1.0, 1.4, 1.5, 1.5, 1.6,
                    1.7, 1.6, 1.5, 1.5, 1.6, 1.8, 2.0, 2.2, 2.3, 2.0, 1.5, 0.9])
#: Users' UTC offsets in hours and how common each is (a mostly European service).
UTC_OFFSETS = np.array([-8, -6, -5, -3, 0, 1, 2, 3, 5.5, 8])
UTC_OFFSET_WEIGHTS = np.array([0.05, 0.05, 0.1, 0.03, 0.2, 0.3, 0.12, 0.05, 0.05, 0.05])


@dataclass(frozen=True)
class Pools:
    """Sizes of the population-wide shared-entity pools."""

    n_accounts: int
    nat_ips: int
    public_ips: int
    office_devices: int

    @classmethod
    def for_population(cls, n_accounts: int, config: SynthConfig) -> Pools:
        """Pool sizes for ``n_accounts`` accounts."""
        def size(users: float, per: int) -> int:
            return max(1, int(np.ceil(users / per)))

        return cls(
            n_accounts=n_accounts,
            nat_ips=size(n_accounts * config.mobile_fraction, config.accounts_per_nat_ip),
            public_ips=size(n_accounts * config.public_wifi_fraction,
                            config.accounts_per_public_ip),
            office_devices=size(n_accounts * config.office_fraction,
                                config.accounts_per_office_device),
        )


@dataclass
class Population:
    """Per-account attributes of the accounts ``first .. first + n - 1`` (arrays of length n)."""

    first: int
    account: np.ndarray          # global account index
    signup: np.ndarray           # signup time, epoch seconds (may precede the window)
    household: np.ndarray        # global household index
    household_size: np.ndarray
    household_start: np.ndarray  # where the household's members start in ``members_order``
    members_order: np.ndarray    # local account indices, grouped by household
    shares_device: np.ndarray    # bool: the household has a shared device
    shares_card: np.ndarray      # bool: the household has a shared card
    n_devices: np.ndarray
    n_cards: np.ndarray
    nat_ip: np.ndarray           # carrier-NAT pool indices (primary, secondary); -1 = not mobile
    nat_ip2: np.ndarray
    public_ip: np.ndarray        # public Wi-Fi pool index; -1 = none
    office_device: np.ndarray    # office-machine pool index; -1 = none
    utc_offset: np.ndarray       # seconds
    activity: np.ndarray         # benign events wanted over the whole window
    session_rate: np.ndarray     # probability that an event continues the previous session
    transfer_mu: np.ndarray      # log-scale centre of the account's transfer amounts
    micro_payer: np.ndarray      # bool: pays tiny amounts (apps, games, transit)
    type_mix: np.ndarray         # (n, len(BENIGN_TYPE_WEIGHTS)) event-type probabilities

    @property
    def size(self) -> int:
        """Number of accounts."""
        return len(self.account)

    def home_ip_key(self, local: np.ndarray) -> np.ndarray:
        """Entity key of the home address of accounts ``local``."""
        return entity_key(IP_HOME, self.household[local])

    def personal_device_key(self, local: np.ndarray, slot: np.ndarray | int = 0) -> np.ndarray:
        """Entity key of personal device ``slot`` of accounts ``local``."""
        return entity_key(DEV_PERSONAL, self.account[local] * SLOTS + slot)

    def personal_card_key(self, local: np.ndarray, slot: np.ndarray | int = 0) -> np.ndarray:
        """Entity key of personal card ``slot`` of accounts ``local``."""
        return entity_key(CARD_PERSONAL, self.account[local] * SLOTS + slot)


def skewed_index(rng: np.random.Generator, size: int, n: int, skew: float) -> np.ndarray:
    """Indices in ``[0, n)`` where a few are very popular (power-law-like), scattered over it.

    ``skew`` > 1 concentrates mass on few indices; the popular ones are spread by a fixed
    bijection so that popularity is unrelated to the index value.
    """
    raw = np.minimum((n * rng.random(size) ** skew).astype(np.int64), n - 1)
    stride = 1_000_003
    while n > 1 and np.gcd(stride, n) != 1:
        stride += 2
    return (raw * stride + n // 3) % n


def _weighted_choice(rng: np.random.Generator, weights, size: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return np.searchsorted(np.cumsum(w) / w.sum(), rng.random(size), side="right")


def build_population(rng: np.random.Generator, first: int, n: int, pools: Pools,
                     config: SynthConfig, start: int, end: int) -> Population:
    """Draw the accounts ``first .. first + n - 1`` and their everyday entities and habits."""
    sizes = 1 + _weighted_choice(rng, config.household_size_weights, n)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    sizes[-1] -= sizes.sum() - n
    sizes = sizes[sizes > 0]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    order = rng.permutation(n)
    hh_of_position = np.repeat(np.arange(len(sizes)), sizes)
    household_local = np.empty(n, dtype=np.int64)
    household_local[order] = hh_of_position
    multi = sizes > 1
    hh_device = multi & (rng.random(len(sizes)) < config.household_device_share)
    hh_card = multi & (rng.random(len(sizes)) < config.household_card_share)

    new = rng.random(n) < config.new_account_fraction
    signup = np.where(
        new,
        start + rng.random(n) * (end - start),
        start - rng.exponential(400 * DAY, n) - DAY,
    ).astype(np.int64)

    mobile = rng.random(n) < config.mobile_fraction
    nat = skewed_index(rng, n, pools.nat_ips, 2.0)
    nat2 = skewed_index(rng, n, pools.nat_ips, 2.0)
    public = rng.random(n) < config.public_wifi_fraction
    office = rng.random(n) < config.office_fraction

    sigma = config.activity_sigma
    mu = np.log(config.mean_events_per_account) - sigma**2 / 2
    activity = np.clip(np.rint(rng.lognormal(mu, sigma, n)), 1, config.max_events_per_account)
    session_rate = np.clip(rng.normal(config.session_continue_rate, 0.15, n), 0.0, 0.9)
    big_transfers = rng.random(n) < config.big_transfer_fraction
    transfer_mu = np.where(big_transfers, rng.uniform(6.0, 7.8, n), 4.0)
    night = rng.random(n) < config.night_shift_fraction

    weights = np.array(list(BENIGN_TYPE_WEIGHTS.values()))
    mix = weights * rng.lognormal(0.0, 1.0, (n, len(weights)))

    return Population(
        first=first,
        account=first + np.arange(n, dtype=np.int64),
        signup=signup,
        household=first + starts[household_local],
        household_size=sizes[household_local],
        household_start=starts[household_local],
        members_order=order,
        shares_device=hh_device[household_local],
        shares_card=hh_card[household_local],
        n_devices=1 + _weighted_choice(rng, config.devices_per_account_weights, n),
        n_cards=1 + _weighted_choice(rng, config.cards_per_account_weights, n),
        nat_ip=np.where(mobile, nat, -1),
        nat_ip2=np.where(mobile, nat2, -1),
        public_ip=np.where(public, skewed_index(rng, n, pools.public_ips, 1.5), -1),
        office_device=np.where(office, rng.integers(0, pools.office_devices, n), -1),
        utc_offset=(3600 * (UTC_OFFSETS[_weighted_choice(rng, UTC_OFFSET_WEIGHTS, n)]
                            + 12 * night)).astype(np.int64),
        activity=activity.astype(np.int64),
        session_rate=session_rate,
        transfer_mu=transfer_mu,
        micro_payer=rng.random(n) < config.micro_payment_fraction,
        type_mix=mix / mix.sum(axis=1, keepdims=True),
    )
