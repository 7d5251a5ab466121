"""The card world's entry point: customers, terminals and purchases -> events, labels, truth."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from ingest.files import replace_dir
from ingest.progress import progress_display
from ingest.synth.cards_config import CardsConfig
from ingest.synth.cards_fraud import (
    Compromises,
    bust_out_rings,
    compromise_cards,
    compromise_terminals,
    fraud_transactions,
    mark_terminal_fraud,
)
from ingest.synth.cards_labels import account_labels, card_labels, event_labels, terminal_labels
from ingest.synth.cards_output import (
    ACCOUNT_LABEL_SCHEMA,
    ENTITY_LABEL_SCHEMA,
    EVENT_LABEL_SCHEMA,
    TRUTH_ACCOUNT_SCHEMA,
    TRUTH_ENTITY_SCHEMA,
    TRUTH_EVENT_SCHEMA,
    CardIds,
    account_label_table,
    entity_label_table,
    event_ids,
    event_label_table,
    events_table,
    rings_table,
    truth_accounts_table,
    truth_entities_table,
    truth_events_table,
)
from ingest.synth.cards_world import (
    BUST_OUT,
    DAY,
    KIND_NAMES,
    CardTransactions,
    build_world,
    honest_transactions,
)
from ingest.synth.generate import RING_SCHEMA, check_arguments
from ingest.synth.ids import decimal_ids, decimal_width
from ingest.synth.output import PartWriter, TableAppender

MIN_CUSTOMERS = 100
#: Mixed into the seed so the card world never draws the social world's numbers.
_STREAM = 0xCA4D


@dataclass(frozen=True)
class CardsResult:
    """Where the card world went, and how much of it there is."""

    out_dir: Path
    event_files: list[Path]
    n_accounts: int
    n_terminals: int
    n_cards: int
    n_events: int
    n_fraud_events: int
    n_compromised_terminals: int
    n_compromised_cards: int
    n_abusive: int
    n_rings: int
    seconds: float


def generate_cards(
    out_dir: str | Path,
    *,
    n_accounts: int = 5_000,
    seed: int = 0,
    days: int = 30,
    fmt: str = "parquet",
    progress: bool = True,
    overwrite: bool = False,
    **knobs,
) -> CardsResult:
    """Generate a card-transaction world with compromised terminals and cards, and its truth.

    Writes into ``out_dir``: ``events/part-*.parquet`` (or ``.csv.gz``: canonical event columns,
    ``event_type`` ``payment``, plus ``channel`` ``pos`` / ``online`` and ``terminal_id``;
    ``device_id`` and ``ip`` only online); ``event_labels.csv`` (``event_id, label, known_at``:
    every purchase, frauds known at their chargeback, genuine ones at settlement);
    ``entity_labels.csv`` (``entity_id, node_type, label, known_at``: found compromised
    terminals and cards, and honest ones cleared); ``labels.csv`` (``account_id, label, ts``:
    see :func:`~ingest.synth.cards_labels.account_labels`); ``truth_events.parquet``,
    ``truth_entities.parquet``, ``truth_accounts.parquet`` and ``rings.parquet`` (full truth,
    for evaluation) and ``synth.json`` (settings and counts). The directory appears complete or
    not at all.

    Parameters
    ----------
    out_dir
        Output directory; must not exist or be empty unless ``overwrite``.
    n_accounts
        Customers (at least 100); terminals are ``terminals_per_customer`` times as many.
    seed
        Random seed; the same seed and knobs give identical files.
    days
        Length of the simulated window in days (at least 2).
    fmt
        ``"parquet"`` or ``"csv.gz"`` for the event parts.
    progress
        Show a progress display on stderr.
    overwrite
        Replace an existing non-empty ``out_dir``.
    **knobs
        Overrides of :class:`~ingest.synth.cards_config.CardsConfig` fields.

    Returns
    -------
    CardsResult
        Paths and counts.

    Examples
    --------
    >>> result = generate_cards("/tmp/cards-small", n_accounts=500, seed=1, progress=False,
    ...                         overwrite=True)
    >>> result.n_terminals
    1000
    """
    config = CardsConfig.from_knobs(**knobs)
    check_arguments(n_accounts, days, fmt, min_accounts=MIN_CUSTOMERS)
    target = Path(out_dir)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{target} already exists and is not empty; choose another directory or "
            "pass overwrite=True (--force on the command line) to replace it")
    began = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with progress_display(progress) as show:
            task = show.add("synth cards", total=1)
            counts, files = _write_all(tmp, n_accounts, seed, days, fmt, config)
            show.advance(task)
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return CardsResult(out_dir=target, event_files=[target / "events" / f.name for f in files],
                       seconds=time.perf_counter() - began, **counts)


def _write_all(root: Path, n: int, seed: int, days: int, fmt: str,
               config: CardsConfig) -> tuple[dict[str, int], list[Path]]:
    start = int(datetime.fromisoformat(config.start).replace(tzinfo=UTC).timestamp())
    end = start + days * DAY
    rng = np.random.default_rng([seed, _STREAM])
    world = build_world(rng, n, config)
    honest = honest_transactions(rng, world, config, start, days)
    terminal, terminal_from = compromise_terminals(rng, world, config, start, days)
    terminal_until = terminal_from + config.terminal_window_days * DAY
    mark_terminal_fraud(honest, terminal, terminal_from, terminal_until, world.n_terminals)
    card, card_kind, card_from, card_source = compromise_cards(
        rng, honest, world, config, start, days)
    inside = card_from < end
    card, card_kind, card_from, card_source = (
        card[inside], card_kind[inside], card_from[inside], card_source[inside])
    card_until = card_from // DAY * DAY + config.card_window_days * DAY
    tools = config.fraud_device_pool or len(card)
    fraud = fraud_transactions(rng, world, config, card, card_kind, card_from, end,
                               world.n_devices, world.n_ips)
    rings, ring_tx = bust_out_rings(rng, world, config, start, days,
                                    world.n_devices + tools, world.n_ips + tools)
    tx = CardTransactions.concat([honest, fraud, ring_tx])
    tx = tx.take(np.argsort(tx.ts, kind="stable"))
    truth = Compromises(terminal=terminal, terminal_from=terminal_from,
                        terminal_until=terminal_until, card=card, card_kind=card_kind,
                        card_from=card_from, card_until=card_until, card_source=card_source)

    label, known_at = event_labels(rng, tx, config)
    terminals = terminal_labels(rng, world.n_terminals, truth, config, start, end)
    cards = card_labels(rng, world.n_cards, tx, truth, config, start, end)
    account_label, account_known = account_labels(
        n, world.card_owner, tx, label, known_at, cards, end)
    abusive = np.zeros(n, dtype=bool)
    abusive[world.card_owner[card]] = True
    abusive[rings.members] = True

    ids = CardIds.of(world, world.n_devices + tools + 2 * len(rings),
                     world.n_ips + tools + len(rings), seed)
    with PartWriter(root / "events", fmt) as parts:
        for index, first in enumerate(range(0, len(tx), config.part_events)):
            rows = np.arange(first, min(first + config.part_events, len(tx)))
            parts.write(index, events_table(tx.take(rows), ids, first))
    all_ids = event_ids(len(tx))
    ring_ids = decimal_ids("ring_", np.arange(len(rings)), decimal_width(len(rings)))
    _write(root / "event_labels.csv", EVENT_LABEL_SCHEMA,
           event_label_table(all_ids, label, known_at))
    _write(root / "entity_labels.csv", ENTITY_LABEL_SCHEMA,
           entity_label_table(terminals, cards, ids))
    _write(root / "labels.csv", ACCOUNT_LABEL_SCHEMA,
           account_label_table(ids, account_label, account_known))
    _write(root / "truth_events.parquet", TRUTH_EVENT_SCHEMA,
           truth_events_table(tx, all_ids, ids))
    _write(root / "truth_entities.parquet", TRUTH_ENTITY_SCHEMA,
           truth_entities_table(world, truth, terminals, cards, ids))
    _write(root / "truth_accounts.parquet", TRUTH_ACCOUNT_SCHEMA,
           truth_accounts_table(ids, abusive, rings, ring_ids))
    _write(root / "rings.parquet", RING_SCHEMA, rings_table(rings, ring_ids, ids, account_label))

    by_kind = np.bincount(tx.kind, minlength=len(KIND_NAMES))
    counts = {
        "n_accounts": n, "n_terminals": world.n_terminals, "n_cards": world.n_cards,
        "n_events": len(tx), "n_fraud_events": int(by_kind[1:].sum()),
        "n_compromised_terminals": len(terminal), "n_compromised_cards": len(card),
        "n_abusive": int(abusive.sum()), "n_rings": len(rings),
    }
    (root / "synth.json").write_text(json.dumps({
        "world": "cards", "seed": seed, "days": days, "format": fmt, **counts,
        "fraud_events_by_kind": {KIND_NAMES[k]: int(by_kind[k])
                                 for k in range(1, BUST_OUT + 1)},
        "n_event_labels": len(label), "n_event_positives": int(label.sum()),
        "n_entity_labels": len(terminals.entity) + len(cards.entity),
        "n_account_positives": int(account_label.sum()),
        "config": config.to_dict(),
    }, indent=2))
    return counts, parts.paths


def _write(path: Path, schema: pa.Schema, table: pa.Table) -> None:
    appender = TableAppender(path, schema)
    appender.append(table)
    appender.close()
