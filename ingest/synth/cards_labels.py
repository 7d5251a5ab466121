"""What a card issuer knows, and when: labels of purchases, entities and customers.

Every purchase is labelled, as in the handbook, but not at once: a reported fraud becomes known
with its chargeback, days to weeks after the purchase; a genuine purchase is known to be genuine
once it has settled. A few frauds are never reported and stay labelled 0. Compromised terminals
and cards are found (most of them) some time after their fraud begins; a share of honest ones
are checked and cleared (label 0). A customer is labelled abusive (1) once the fraud on their
cards or their ring's bust-out is known; everyone else is labelled 0 at the end of the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.synth.cards_config import CardsConfig
from ingest.synth.cards_fraud import Compromises
from ingest.synth.cards_world import DAY, HONEST, SKIMMED, STOLEN, TERMINAL, CardTransactions

_NEVER = np.iinfo(np.int64).max


@dataclass
class EntityLabels:
    """Labels of one entity type: entity index, 0/1, when it became known (epoch seconds)."""

    entity: np.ndarray
    label: np.ndarray
    known_at: np.ndarray


def _delays(rng: np.random.Generator, median_days: float, sigma: float, n: int) -> np.ndarray:
    return (rng.lognormal(np.log(median_days), sigma, size=n) * DAY).astype(np.int64)


def event_labels(rng: np.random.Generator, tx: CardTransactions,
                 config: CardsConfig) -> tuple[np.ndarray, np.ndarray]:
    """The label (0/1) of every purchase and when it became known."""
    fraud = tx.kind != HONEST
    reported = fraud & (rng.random(len(tx)) >= config.unreported_fraud_rate)
    chargeback = _delays(rng, config.chargeback_median_days, config.chargeback_sigma, len(tx))
    known_at = np.where(reported, tx.ts + chargeback,
                        tx.ts + int(config.genuine_known_days * DAY))
    return reported.astype(np.int8), known_at


def terminal_labels(rng: np.random.Generator, n_terminals: int, truth: Compromises,
                    config: CardsConfig, start: int, end: int) -> EntityLabels:
    """Found compromised terminals (1) and a share of honest ones checked and cleared (0)."""
    found = rng.random(len(truth.terminal)) < config.terminal_detection_rate
    found_at = truth.terminal_from[found] + _delays(
        rng, config.terminal_detection_days, 0.5, int(found.sum()))
    honest = np.setdiff1d(np.arange(n_terminals), truth.terminal)
    return _with_cleared(rng, truth.terminal[found], found_at, honest, config, start, end)


def card_labels(rng: np.random.Generator, n_cards: int, tx: CardTransactions,
                truth: Compromises, config: CardsConfig, start: int, end: int) -> EntityLabels:
    """Reported compromised cards (1) and a share of honest ones checked and cleared (0).

    A compromised card is reported some days after the first fraudulent purchase made with its
    stolen or skimmed data (or after its window opened, when it was never used).
    """
    first_fraud = np.full(n_cards, _NEVER)
    card_fraud = np.isin(tx.kind, (STOLEN, SKIMMED))
    np.minimum.at(first_fraud, tx.card[card_fraud], tx.ts[card_fraud])
    found = rng.random(len(truth.card)) < config.card_detection_rate
    began = np.minimum(first_fraud[truth.card], truth.card_until)
    began = np.where(began == _NEVER, truth.card_from, began)
    found_at = began[found] + _delays(rng, config.card_detection_days, 0.5, int(found.sum()))
    honest = np.setdiff1d(np.arange(n_cards), truth.card)
    return _with_cleared(rng, truth.card[found], found_at, honest, config, start, end)


def _with_cleared(rng: np.random.Generator, found: np.ndarray, found_at: np.ndarray,
                  honest: np.ndarray, config: CardsConfig, start: int,
                  end: int) -> EntityLabels:
    cleared = honest[rng.random(len(honest)) < config.honest_entity_label_rate]
    cleared_at = rng.integers(start, end, size=len(cleared))
    entity = np.concatenate([found, cleared])
    order = np.argsort(entity, kind="stable")
    return EntityLabels(
        entity=entity[order],
        label=np.concatenate([np.ones(len(found)), np.zeros(len(cleared))]).astype(np.int8)[order],
        known_at=np.concatenate([found_at, cleared_at])[order],
    )


def account_labels(n_customers: int, card_owner: np.ndarray, tx: CardTransactions,
                   label: np.ndarray, known_at: np.ndarray, cards: EntityLabels,
                   end: int) -> tuple[np.ndarray, np.ndarray]:
    """Every customer's label (0/1) and when it became known.

    The rule: 1 from the first moment a fraud with the customer's stolen or skimmed card, or a
    bust-out purchase of the customer, is known (a reported purchase or a reported card); 0 at
    ``end`` otherwise. Purchases charged back only because the terminal was compromised do not
    make their customer abusive (the card may not have been skimmed), and victims whose fraud
    nobody reported stay 0, as in real label files.
    """
    first = np.full(n_customers, _NEVER)
    reported = (label == 1) & (tx.kind != TERMINAL)
    np.minimum.at(first, tx.customer[reported], known_at[reported])
    bad_card = cards.label == 1
    np.minimum.at(first, card_owner[cards.entity[bad_card]], cards.known_at[bad_card])
    abusive = first < _NEVER
    return abusive.astype(np.int8), np.where(abusive, first, end)
