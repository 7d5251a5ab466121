"""The generator's knobs: one dataclass with documented defaults, loadable from YAML.

``configs/synth.yaml`` lists the same defaults for people to copy and edit; a test keeps the two
in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

#: Planted ring kinds and what each one plants.
RING_KINDS: dict[str, str] = {
    "device_farm": "fresh accounts on emulator devices shared in an overlapping chain",
    "payment_ring": "established accounts sharing payment instruments in a chain",
    "card_testing": "fresh accounts testing a pool of stolen cards with small payments",
    "mule_cycle": "money passed around a cycle of mule accounts, hop after hop",
    "fan_in": "many mules sending just-below-threshold transfers to one collector",
    "fan_out": "one account spreading money over many mules",
    "review_ring": "accounts reviewing each other in lockstep from shared devices",
    "layering_chain": "money passed along a chain of mules within hours, cashed out at the end",
    "scatter_gather": "one account scatters money over mules who pass it on to one collector",
    "gather_scatter": "mules gather money into one account that scatters it over other mules",
    "bipartite_flow": "a set of mules paying a set of other mules, who cash out",
}
#: What a planted pair (a "ring" of two, on with ``pair_fraction``) plants.
PAIR_KIND = ("pair", "two colluding accounts (a fraudster's second account, a buyer-seller "
             "collusion) sharing devices and cards, acting in lockstep and paying each other")
#: Honest flows that look like laundering shapes (on with ``honest_flow_fraction``).
HONEST_FLOW_KINDS: dict[str, str] = {
    "salary": "an employer paying its staff on payday",
    "rent_split": "flatmates paying their landlord their share of the rent",
    "marketplace": "a marketplace collecting buyers' payments and paying sellers weekly",
}

#: A knobs dataclass (SynthConfig, CardsConfig).
C = TypeVar("C")


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the synthetic interaction-log generator (all have realistic defaults).

    Parameters
    ----------
    start
        First day of the simulated window (UTC, ISO date).
    chunk_accounts
        Accounts generated per output part; bounds memory. Output for a seed is identical only
        for the same ``chunk_accounts``.
    mean_events_per_account, activity_sigma, max_events_per_account
        Benign activity per account is lognormal with this mean and log-scale spread (a heavy
        tail of power users), capped.
    new_account_fraction
        Share of benign accounts that sign up inside the window.
    household_size_weights
        Relative frequency of households of 1, 2, ... members.
    household_device_share, household_card_share
        Probability that a multi-member household shares a device / a payment card.
    household_couple_share
        Share of households of three or more members sharing a device and a card in which two
        members (a couple) also share a second device and a second card (a tablet, a joint
        card), each using them at times of its own: honest pairs sharing two devices and two
        cards, the look-alikes of colluding pairs; 0 by default (no such couples).
    couple_alone_share
        Share of households of two sharing a device and a card (a couple living alone) that also
        share a second device, a second card or both (a third each; a tablet and a laptop with
        a joint card), each member using them at times of its own: honest pairs alone sharing
        what colluding pairs share, no third account to make them a household's; 0 by default.
    couple_turns_share
        Share of the second member's uses of each device a couple alone shares (the family's
        and the second, with ``couple_alone_share``) that come 2-30 min after one of the first
        member's uses of it: at home together they take turns on the tablet, minutes apart,
        as colluders do; 0 by default (every use at a time of its own).
    devices_per_account_weights, cards_per_account_weights
        Relative frequency of accounts with 1, 2, ... personal devices / cards.
    mobile_fraction, accounts_per_nat_ip
        Share of accounts on mobile carriers and how many accounts share one carrier-NAT
        address on average.
    ipv6_fraction
        Share of home and carrier addresses that are IPv6.
    public_wifi_fraction, accounts_per_public_ip
        Share of accounts that use public Wi-Fi (cafes, campuses) and accounts per such address.
    office_fraction, accounts_per_office_device
        Share of accounts that use shared office or library machines, and users per machine.
    travel_ip_rate
        Share of benign events from a one-off address (travel, hotels).
    session_continue_rate
        Typical probability that an ordinary event follows the previous one within minutes
        (sessions make ordinary activity bursty too).
    night_shift_fraction
        Share of ordinary accounts active at night (shift workers, other time zones).
    big_transfer_fraction, micro_payment_fraction
        Share of ordinary accounts that move large sums (rent, business) and that make many
        tiny payments (apps, games, transit): the honest look-alikes of mules and card testers.
    decline_rate
        Share of benign orders and payments that are declined.
    abuse_fraction
        Share of accounts that are members of a planted ring.
    ring_size_min, ring_size_max, ring_size_median
        Ring sizes are lognormal around the median, clipped to the range.
    ring_kind_weights
        Relative frequency of each ring kind (see :data:`RING_KINDS`). The money-flow
        typologies (``layering_chain``, ``scatter_gather``, ``gather_scatter``,
        ``bipartite_flow``) are 0 by default: ``configs/synth-flows.yaml`` plants them.
    lockstep_seconds
        Typical spread of ring members' actions around each coordinated episode.
    camouflage_activity
        Ring members' ordinary activity, relative to a benign account's.
    card_test_decline_rate
        Share of stolen-card tests that are declined.
    unlabelled_ring_fraction
        Share of rings of which no member is labelled.
    ring_member_label_rate
        Probability that a member of a labelled ring appears in the labels file.
    missed_abuser_rate
        Share of labelled ring members labelled 0 (missed by reviewers).
    benign_label_rate
        Share of benign accounts that appear in the labels file.
    benign_mislabel_rate
        Share of labelled benign accounts labelled 1 (label noise).
    honest_flow_fraction
        Share of ordinary accounts in honest flows shaped like laundering (salary runs, rent
        splits, marketplace payouts; see :data:`HONEST_FLOW_KINDS`); 0 by default.
    pair_fraction
        Share of accounts (outside the rings) that are members of a planted abusive pair (see
        :data:`PAIR_KIND`; kind ``pair``, size 2 in the ring truth, labelled like rings); 0 by
        default, ``configs/synth-pairs.yaml`` plants them.
    """

    start: str = "2025-01-01"
    chunk_accounts: int = 100_000
    mean_events_per_account: float = 12.0
    activity_sigma: float = 1.1
    max_events_per_account: int = 5_000
    new_account_fraction: float = 0.15
    household_size_weights: tuple[float, ...] = (0.70, 0.15, 0.08, 0.05, 0.02)
    household_device_share: float = 0.6
    household_card_share: float = 0.4
    household_couple_share: float = 0.0
    couple_alone_share: float = 0.0
    couple_turns_share: float = 0.0
    devices_per_account_weights: tuple[float, ...] = (0.6, 0.3, 0.1)
    cards_per_account_weights: tuple[float, ...] = (0.6, 0.3, 0.1)
    mobile_fraction: float = 0.45
    accounts_per_nat_ip: int = 3_000
    ipv6_fraction: float = 0.15
    public_wifi_fraction: float = 0.2
    accounts_per_public_ip: int = 300
    office_fraction: float = 0.08
    accounts_per_office_device: int = 40
    travel_ip_rate: float = 0.03
    session_continue_rate: float = 0.4
    night_shift_fraction: float = 0.08
    big_transfer_fraction: float = 0.12
    micro_payment_fraction: float = 0.05
    decline_rate: float = 0.02
    abuse_fraction: float = 0.03
    ring_size_min: int = 4
    ring_size_max: int = 30
    ring_size_median: float = 9.0
    ring_kind_weights: dict[str, float] = field(
        default_factory=lambda: {
            "device_farm": 0.25,
            "payment_ring": 0.2,
            "card_testing": 0.15,
            "mule_cycle": 0.12,
            "fan_in": 0.08,
            "fan_out": 0.08,
            "review_ring": 0.12,
            "layering_chain": 0.0,
            "scatter_gather": 0.0,
            "gather_scatter": 0.0,
            "bipartite_flow": 0.0,
        }
    )
    lockstep_seconds: float = 300.0
    camouflage_activity: float = 0.8
    card_test_decline_rate: float = 0.5
    unlabelled_ring_fraction: float = 0.3
    ring_member_label_rate: float = 0.6
    missed_abuser_rate: float = 0.05
    benign_label_rate: float = 0.1
    benign_mislabel_rate: float = 0.02
    honest_flow_fraction: float = 0.0
    pair_fraction: float = 0.0

    def __post_init__(self) -> None:
        unknown = set(self.ring_kind_weights) - set(RING_KINDS)
        if unknown:
            raise ValueError(
                f"ring_kind_weights: unknown ring kind(s) {sorted(unknown)}; "
                f"known kinds are {sorted(RING_KINDS)}"
            )
        if not 4 <= self.ring_size_min <= self.ring_size_max:
            raise ValueError(
                f"ring sizes: need 4 <= ring_size_min <= ring_size_max, got "
                f"{self.ring_size_min}..{self.ring_size_max}"
            )
        if self.chunk_accounts < 100:
            raise ValueError(f"chunk_accounts must be at least 100, got {self.chunk_accounts}")
        for name in ("abuse_fraction", "mobile_fraction", "office_fraction",
                     "public_wifi_fraction", "new_account_fraction", "session_continue_rate",
                     "night_shift_fraction", "big_transfer_fraction",
                     "micro_payment_fraction", "honest_flow_fraction", "pair_fraction",
                     "household_couple_share", "couple_alone_share",
                     "couple_turns_share"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    @classmethod
    def from_knobs(cls, **knobs: Any) -> SynthConfig:
        """Build a config from keyword overrides, naming any unknown knob in the error."""
        return config_from_knobs(cls, knobs, "generator")

    def to_dict(self) -> dict[str, Any]:
        """The knobs as plain YAML-friendly values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def load_config(path: str | os.PathLike[str]) -> SynthConfig:
    """Read generator knobs from a YAML file (a mapping of knob name to value).

    Raises
    ------
    ValueError
        If the file is not YAML (naming its line and column) or not a mapping, names an
        unknown knob or gives a bad value.
    """
    return load_knobs(SynthConfig, path, "generator")


def config_from_knobs(cls: type[C], knobs: Mapping[str, Any], world: str) -> C:
    """Build a knobs dataclass from overrides; YAML lists become tuples.

    Parameters
    ----------
    cls
        The knobs dataclass (:class:`SynthConfig`, :class:`~ingest.synth.cards_config.CardsConfig`).
    knobs
        Knob name to value; names not fields of ``cls`` are an error.
    world
        What the knobs drive (``"generator"``, ``"card-world"``), for the error message.

    Raises
    ------
    ValueError
        Naming the unknown knobs and listing the known ones, or from ``cls``'s own checks.
    """
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(knobs) - known)
    if unknown:
        raise ValueError(f"unknown {world} knob(s) {unknown}; known knobs are {sorted(known)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()})


def load_knobs(cls: type[C], path: str | os.PathLike[str], world: str) -> C:
    """Read a knobs dataclass from a YAML file (a mapping of knob name to value).

    Parameters
    ----------
    cls
        The knobs dataclass to build.
    path
        The YAML file; empty means all defaults.
    world
        What the knobs drive, for the error messages.

    Raises
    ------
    ValueError
        Starting with the file: if it is not YAML (naming its line and column) or not a
        mapping, names an unknown knob or gives a bad value.
    """
    try:
        with Path(path).open(encoding="utf-8") as stream:  # errors then name the file
            data = yaml.safe_load(stream) or {}
    except yaml.YAMLError as err:  # its message gives the line and column
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of {world} knobs, got {type(data).__name__}")
    try:
        return config_from_knobs(cls, data, world)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from err
