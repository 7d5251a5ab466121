"""The card world's knobs: one dataclass with documented defaults, loadable from YAML.

``configs/synth-cards.yaml`` lists the same defaults for people to copy and edit; a test keeps the
two in step. The world follows the fraud-detection handbook's simulator (Le Borgne et al.,
"Reproducible machine learning for credit card fraud detection", chapter 3), with the honest
look-alikes of every fraud signal added so no single feature gives fraud away.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from ingest.synth.config import config_from_knobs, load_knobs


@dataclass(frozen=True)
class CardsConfig:
    """Knobs of the card-transaction world (all have realistic defaults).

    Parameters
    ----------
    start
        First day of the simulated window (UTC, ISO date).
    terminals_per_customer
        Merchant terminals per customer (the handbook: 10,000 terminals for 5,000 customers).
    online_terminal_fraction
        Share of terminals that are online merchants: no location, anyone may buy there, and
        their popularity is heavy-tailed, so the big ones are hubs of hundreds of customers.
    nearby_terminals
        Mean number of physical terminals within a customer's shopping radius (the radius is
        derived from it, so the world looks alike at every size).
    terminal_popularity_sigma
        Log-scale spread of physical terminals' popularity (supermarkets and corner shops).
    online_popularity_exponent
        Zipf exponent of online merchants' popularity.
    mean_amount_min, mean_amount_max
        A customer's mean amount is uniform in this range; the spread is half the mean.
    tx_per_day_max
        A customer's mean transactions per day are uniform in ``[0, tx_per_day_max]``.
    second_card_fraction, second_card_share
        Share of customers holding a second card, and the share of their purchases made with it.
    online_rate_mean
        Mean share of a customer's purchases made online (card not present; beta-distributed).
    travel_rate
        Share of honest purchases at a physical terminal anywhere (travel): far from home.
    big_purchase_rate, big_purchase_factor
        Share of honest purchases that are big (furniture, flights), and the median factor by
        which they exceed the customer's usual amount.
    purchase_hour_sd
        Spread (hours) of honest purchase times around noon (the handbook: 20,000 s, 5.6 h;
        times wrap round midnight, so about 14 % of honest purchases fall between 00:00 and
        06:00, as fraud often does).
    night_owl_fraction
        Share of customers who shop mostly late in the evening and at night.
    devices_per_customer_max
        Online purchases come from one of 1..this many personal devices of the customer.
    mobile_fraction, customers_per_nat_ip
        Share of customers online through a carrier NAT, and customers sharing one such address.
    compromised_terminals_per_day
        Physical terminals compromised (skimmers) per day, per 10,000 terminals (the handbook: 2).
    terminal_window_days
        Days a terminal stays compromised: every purchase on it in the window is fraud.
    skim_rate, skim_delay_days
        Probability that a card used at a compromised terminal is skimmed, and the median days
        until fraudsters start using its data (lognormal): the common-point-of-purchase signal.
    stolen_cards_per_day
        Cards stolen by other means per day, per 10,000 cards (the handbook: 6 customers / 10k).
    card_window_days
        Days a compromised card is used by fraudsters.
    fraud_tx_per_day
        Mean fraudulent purchases per day on a compromised card (its owner keeps buying too).
    fraud_online_rate
        Share of fraudulent purchases made online (card not present); the rest are at physical
        terminals chosen anywhere, so mostly far from the owner's home.
    fraud_amount_factor, fraud_amount_sigma
        Fraudulent amounts are the owner's usual mean times a lognormal factor with this median
        and log-scale spread (honest big purchases overlap them).
    fraud_night_rate
        Share of fraudulent purchases made at night (00:00-06:00).
    fraud_device_pool
        Online fraud comes from a pool of this many fraudster devices (and as many proxy
        addresses) shared by all compromised cards; 0 (default) gives every compromised card its
        own device and address, so fraud victims share nothing but honest hubs.
    ring_fraction
        Share of customers in bust-out rings (collusion; 0 = no collusion, the default).
    ring_size_min, ring_size_max
        Ring sizes are uniform in this range.
    ring_window_days, ring_tx_per_member, ring_amount_factor, ring_card_swap_rate
        A ring's bust-out lasts this many days; each member makes this many purchases on average
        (online, from the ring's shared devices and address), of this many times their usual
        amount, paying with another member's card at this rate.
    chargeback_median_days, chargeback_sigma
        A reported fraud's label is known this many days after the purchase (median; lognormal).
    unreported_fraud_rate
        Share of frauds never reported: labelled 0 like genuine purchases (label noise).
    genuine_known_days
        A genuine purchase's label (0) is known this many days after it (settlement).
    terminal_detection_rate, terminal_detection_days
        Share of compromised terminals found, and median days from compromise to discovery.
    card_detection_rate, card_detection_days
        Share of compromised cards reported, and median days from their first fraud to report.
    honest_entity_label_rate
        Share of honest terminals and cards labelled 0 (checked and cleared) in the entity labels.
    part_events
        Events per output part file.
    """

    start: str = "2025-01-01"
    terminals_per_customer: float = 2.0
    online_terminal_fraction: float = 0.02
    nearby_terminals: float = 100.0
    terminal_popularity_sigma: float = 1.5
    online_popularity_exponent: float = 1.1
    mean_amount_min: float = 5.0
    mean_amount_max: float = 100.0
    tx_per_day_max: float = 4.0
    second_card_fraction: float = 0.2
    second_card_share: float = 0.3
    online_rate_mean: float = 0.15
    travel_rate: float = 0.02
    big_purchase_rate: float = 0.02
    big_purchase_factor: float = 4.0
    purchase_hour_sd: float = 5.56
    night_owl_fraction: float = 0.05
    devices_per_customer_max: int = 2
    mobile_fraction: float = 0.4
    customers_per_nat_ip: int = 300
    compromised_terminals_per_day: float = 2.0
    terminal_window_days: int = 28
    skim_rate: float = 0.1
    skim_delay_days: float = 7.0
    stolen_cards_per_day: float = 2.0
    card_window_days: int = 14
    fraud_tx_per_day: float = 1.0
    fraud_online_rate: float = 0.5
    fraud_amount_factor: float = 2.0
    fraud_amount_sigma: float = 0.6
    fraud_night_rate: float = 0.3
    fraud_device_pool: int = 0
    ring_fraction: float = 0.0
    ring_size_min: int = 3
    ring_size_max: int = 8
    ring_window_days: int = 14
    ring_tx_per_member: float = 8.0
    ring_amount_factor: float = 4.0
    ring_card_swap_rate: float = 0.3
    chargeback_median_days: float = 14.0
    chargeback_sigma: float = 0.6
    unreported_fraud_rate: float = 0.05
    genuine_known_days: float = 7.0
    terminal_detection_rate: float = 0.8
    terminal_detection_days: float = 21.0
    card_detection_rate: float = 0.9
    card_detection_days: float = 5.0
    honest_entity_label_rate: float = 0.2
    part_events: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("online_terminal_fraction", "second_card_fraction", "second_card_share",
                     "online_rate_mean", "travel_rate", "big_purchase_rate",
                     "night_owl_fraction", "mobile_fraction", "skim_rate", "fraud_online_rate",
                     "fraud_night_rate", "ring_fraction", "ring_card_swap_rate",
                     "unreported_fraud_rate", "terminal_detection_rate", "card_detection_rate",
                     "honest_entity_label_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.online_rate_mean <= 0.0:
            raise ValueError(f"online_rate_mean must be above 0, got {self.online_rate_mean}")
        for name in ("terminals_per_customer", "nearby_terminals", "mean_amount_min",
                     "tx_per_day_max", "big_purchase_factor", "fraud_amount_factor",
                     "purchase_hour_sd", "ring_amount_factor", "chargeback_median_days",
                     "skim_delay_days", "terminal_detection_days", "card_detection_days"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be above 0, got {getattr(self, name)}")
        if self.mean_amount_max < self.mean_amount_min:
            raise ValueError(
                f"mean amounts: need mean_amount_min <= mean_amount_max, got "
                f"{self.mean_amount_min}..{self.mean_amount_max}")
        if not 2 <= self.ring_size_min <= self.ring_size_max:
            raise ValueError(
                f"ring sizes: need 2 <= ring_size_min <= ring_size_max, got "
                f"{self.ring_size_min}..{self.ring_size_max}")
        for name in ("terminal_window_days", "card_window_days", "ring_window_days",
                     "devices_per_customer_max", "customers_per_nat_ip", "part_events"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.fraud_device_pool < 0:
            raise ValueError(f"fraud_device_pool must be 0 or more, got {self.fraud_device_pool}")

    @classmethod
    def from_knobs(cls, **knobs: Any) -> CardsConfig:
        """Build a config from keyword overrides, naming any unknown knob in the error."""
        return config_from_knobs(cls, knobs, "card-world")

    def to_dict(self) -> dict[str, Any]:
        """The knobs as plain YAML-friendly values."""
        return asdict(self)


def load_cards_config(path: str | os.PathLike[str]) -> CardsConfig:
    """Read card-world knobs from a YAML file (a mapping of knob name to value).

    Raises
    ------
    ValueError
        If the file is not YAML (naming its line and column) or not a mapping, names an
        unknown knob or gives a bad value.
    """
    return load_knobs(CardsConfig, path, "card-world")
