"""The card world's files as Arrow tables: events, label files, truth tables and rings.

Entities are integer indices until here; each distinct one is formatted once and events refer to
it through dictionary columns, as the social world's output does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.synth.cards_fraud import BustOutRings, Compromises
from ingest.synth.cards_labels import EntityLabels
from ingest.synth.cards_world import DAY, KIND_NAMES, CardTransactions, CardWorld
from ingest.synth.generate import RING_SCHEMA
from ingest.synth.ids import decimal_ids, entity_key, hashed, hex_ids, ipv4_strings, sequential_ids
from ingest.synth.output import EVENT_ID_WIDTH, EVENT_SCHEMA, TS_TYPE, seconds_to_ts

_CARD, _TERMINAL, _DEVICE, _IP = 64, 65, 66, 67
CHANNELS = ("pos", "online")
TERMINAL_TYPE = "Terminal"
CARD_TYPE = "PaymentMethod"

CARD_EVENT_SCHEMA = pa.schema([*EVENT_SCHEMA, ("terminal_id", pa.string())])
# Label files are CSV: their times are ISO-8601 text (``2025-01-01T08:30:00Z``).
EVENT_LABEL_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("label", pa.int8()), ("known_at", pa.string())])
ENTITY_LABEL_SCHEMA = pa.schema([
    ("entity_id", pa.string()), ("node_type", pa.string()), ("label", pa.int8()),
    ("known_at", pa.string())])
ACCOUNT_LABEL_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("label", pa.int8()), ("ts", pa.string())])
TRUTH_EVENT_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("ts", TS_TYPE), ("account_id", pa.string()),
    ("payment_id", pa.string()), ("terminal_id", pa.string()), ("is_fraud", pa.bool_()),
    ("fraud_kind", pa.string())])
TRUTH_ENTITY_SCHEMA = pa.schema([
    ("entity_id", pa.string()), ("node_type", pa.string()), ("owner_id", pa.string()),
    ("online", pa.bool_()), ("compromised", pa.bool_()), ("kind", pa.string()),
    ("compromised_from", TS_TYPE), ("compromised_until", TS_TYPE),
    ("source_terminal", pa.string()), ("detected_at", TS_TYPE)])
TRUTH_ACCOUNT_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("is_abusive", pa.bool_()), ("ring_id", pa.string())])


@dataclass
class CardIds:
    """The strings of every account, card, terminal, device and address of a world."""

    accounts: pa.Array
    cards: pa.Array
    terminals: pa.Array
    devices: pa.Array
    ips: pa.Array

    @classmethod
    def of(cls, world: CardWorld, n_devices: int, n_ips: int, seed: int) -> CardIds:
        """Ids of ``world`` with ``n_devices`` devices and ``n_ips`` addresses in all."""
        width = max(6, len(str(max(world.n_customers - 1, 0))))

        def named(prefix: str, salt: int, n: int) -> pa.Array:
            return hex_ids(prefix, hashed(entity_key(salt, np.arange(n)), seed))

        return cls(
            accounts=decimal_ids("acct_", np.arange(world.n_customers), width),
            cards=named("card_", _CARD, world.n_cards),
            terminals=named("term_", _TERMINAL, world.n_terminals),
            devices=named("dev_", _DEVICE, n_devices),
            ips=ipv4_strings(hashed(entity_key(_IP, np.arange(n_ips)), seed)),
        )


def _text_rows(strings: list[str]) -> np.ndarray:
    """An ``(n, width)`` byte matrix of ``n`` ASCII strings of one width."""
    return np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8).reshape(
        len(strings), -1)


@lru_cache(maxsize=1)
def _clock_rows() -> np.ndarray:
    return _text_rows([f"{x // 3600:02d}:{x // 60 % 60:02d}:{x % 60:02d}Z" for x in range(DAY)])


def iso_seconds(seconds: np.ndarray) -> pa.Array:
    """ISO-8601 UTC text (``2025-01-01T08:30:00Z``) of epoch seconds (years 1970-9999).

    Each distinct day and each second of the day is formatted once, then gathered: pyarrow's
    and numpy's own formatting is several times slower on millions of times.
    """
    s = np.asarray(seconds, dtype=np.int64)
    if not len(s):
        return pa.array([], pa.string())
    day = s // DAY
    first = int(day.min())
    dates = np.arange(first, int(day.max()) + 1).astype("M8[D]")
    date_rows = _text_rows([f"{d}T" for d in dates.tolist()])
    chars = np.hstack([date_rows[day - first], _clock_rows()[s - day * DAY]])
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(np.ascontiguousarray(chars).tobytes()),
    ).cast(pa.string())


def _coded(index: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    """Dictionary column of entity ``index`` (-1 = null) into the strings ``dictionary``."""
    index = np.asarray(index)
    return pa.DictionaryArray.from_arrays(
        pa.array(index.astype(np.int32), mask=index < 0), dictionary)


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value]))


def _plain(index: np.ndarray, strings: pa.Array) -> pa.Array:
    index = np.asarray(index)
    return strings.take(pa.array(np.maximum(index, 0), mask=index < 0))


def events_table(tx: CardTransactions, ids: CardIds, first: int) -> pa.Table:
    """Canonical events (plus ``terminal_id``) of ``tx``, numbered from event ``first``."""
    n = len(tx)
    schema = pa.schema([
        pa.field(f.name, f.type if f.name in ("event_id", "ts", "amount")
                 else pa.dictionary(pa.int32(), f.type)) for f in CARD_EVENT_SCHEMA])
    return pa.Table.from_arrays([
        sequential_ids("evt_", first, n, EVENT_ID_WIDTH),
        seconds_to_ts(tx.ts),
        _coded(tx.customer, ids.accounts),
        _constant("payment", n),
        _coded(tx.device, ids.devices),
        _coded(tx.ip, ids.ips),
        _coded(tx.card, ids.cards),
        _coded(np.full(n, -1), pa.array([], pa.string())),
        pa.array(tx.amount),
        _coded(tx.online.astype(np.int64), pa.array(CHANNELS)),
        _constant("ok", n),
        _coded(tx.terminal, ids.terminals),
    ], schema=schema)


def event_ids(n: int) -> pa.Array:
    """The ids of events ``0 .. n - 1`` (as :func:`events_table` writes them)."""
    return sequential_ids("evt_", 0, n, EVENT_ID_WIDTH)


def event_label_table(ids: pa.Array, label: np.ndarray, known_at: np.ndarray) -> pa.Table:
    """``event_id, label, known_at``."""
    return pa.Table.from_arrays(
        [ids, pa.array(label, type=pa.int8()), iso_seconds(known_at)],
        schema=EVENT_LABEL_SCHEMA)


def entity_label_table(terminals: EntityLabels, cards: EntityLabels, ids: CardIds) -> pa.Table:
    """``entity_id, node_type, label, known_at``: terminals, then cards."""
    parts = []
    for labels, strings, node_type in ((terminals, ids.terminals, TERMINAL_TYPE),
                                       (cards, ids.cards, CARD_TYPE)):
        n = len(labels.entity)
        parts.append(pa.Table.from_arrays([
            _plain(labels.entity, strings), pa.array([node_type] * n, pa.string()),
            pa.array(labels.label, type=pa.int8()), iso_seconds(labels.known_at),
        ], schema=ENTITY_LABEL_SCHEMA))
    return pa.concat_tables(parts)


def account_label_table(ids: CardIds, label: np.ndarray, known_at: np.ndarray) -> pa.Table:
    """``account_id, label, ts`` of every customer."""
    return pa.Table.from_arrays(
        [ids.accounts, pa.array(label, type=pa.int8()), iso_seconds(known_at)],
        schema=ACCOUNT_LABEL_SCHEMA)


def truth_events_table(tx: CardTransactions, event_id: pa.Array, ids: CardIds) -> pa.Table:
    """Every event's true status: ``is_fraud`` and what made it (``fraud_kind``, "" if honest)."""
    return pa.Table.from_arrays([
        event_id, seconds_to_ts(tx.ts), _plain(tx.customer, ids.accounts),
        _plain(tx.card, ids.cards), _plain(tx.terminal, ids.terminals),
        pa.array(tx.kind != 0), pa.array(np.array(KIND_NAMES, dtype=object)[tx.kind],
                                         type=pa.string()),
    ], schema=TRUTH_EVENT_SCHEMA)


def truth_entities_table(world: CardWorld, truth: Compromises, terminals: EntityLabels,
                         cards: EntityLabels, ids: CardIds) -> pa.Table:
    """Every terminal and card: compromised or not, how, its window, when it was found."""
    parts = []
    for n, compromised, kind, began, until, source, found, strings, owner, online, node_type in (
        (world.n_terminals, truth.terminal, np.full(len(truth.terminal), 1),
         truth.terminal_from, truth.terminal_until, np.full(len(truth.terminal), -1), terminals,
         ids.terminals, np.full(world.n_terminals, -1), np.isnan(world.terminal_xy[:, 0]),
         TERMINAL_TYPE),
        (world.n_cards, truth.card, truth.card_kind, truth.card_from, truth.card_until,
         truth.card_source, cards, ids.cards, world.card_owner, None, CARD_TYPE),
    ):
        kind_of = np.zeros(n, dtype=np.int64)
        kind_of[compromised] = kind
        window = np.full((2, n), -1, dtype=np.int64)
        window[0, compromised], window[1, compromised] = began, until
        source_of = np.full(n, -1, dtype=np.int64)
        source_of[compromised] = source
        detected = np.full(n, -1, dtype=np.int64)
        hit = found.label == 1
        detected[found.entity[hit]] = found.known_at[hit]
        parts.append(pa.Table.from_arrays([
            strings, pa.array([node_type] * n, pa.string()), _plain(owner, ids.accounts),
            pa.array(online, type=pa.bool_()) if online is not None else pa.nulls(n, pa.bool_()),
            pa.array(kind_of > 0),
            pa.array(np.array(KIND_NAMES, dtype=object)[kind_of], type=pa.string()),
            _masked_ts(window[0]), _masked_ts(window[1]), _plain(source_of, ids.terminals),
            _masked_ts(detected),
        ], schema=TRUTH_ENTITY_SCHEMA))
    return pa.concat_tables(parts)


def _masked_ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds * 1_000_000, mask=seconds < 0, type=pa.int64()).cast(TS_TYPE)


def truth_accounts_table(ids: CardIds, abusive: np.ndarray, rings: BustOutRings,
                         ring_ids: pa.Array) -> pa.Table:
    """``account_id, is_abusive, ring_id`` of every customer."""
    ring_of = np.full(len(abusive), -1, dtype=np.int64)
    ring_of[rings.members] = np.repeat(np.arange(len(rings)), np.diff(rings.offset))
    return pa.Table.from_arrays(
        [ids.accounts, pa.array(abusive), _plain(ring_of, ring_ids)],
        schema=TRUTH_ACCOUNT_SCHEMA)


def rings_table(rings: BustOutRings, ring_ids: pa.Array, ids: CardIds,
                account_label: np.ndarray) -> pa.Table:
    """Planted bust-out rings in the social world's ``rings.parquet`` layout."""
    sizes = np.diff(rings.offset)
    # Two devices and one address per ring, listed device, device, address.
    entity = pa.concat_arrays([
        _prefixed("Device:", ids.devices.take(pa.array(rings.devices))),
        _prefixed("IP:", ids.ips.take(pa.array(rings.ips))),
    ])
    n = len(rings)
    order = np.concatenate([np.stack([2 * np.arange(n), 2 * np.arange(n) + 1], axis=1),
                            (2 * n + np.arange(n))[:, None]], axis=1).ravel()
    labelled = np.zeros(n, dtype=bool)
    if n:
        labelled = np.maximum.reduceat(account_label[rings.members], rings.offset[:-1]) > 0
    return pa.Table.from_arrays([
        ring_ids, pa.array(["bust_out"] * n, pa.string()), pa.array(sizes, type=pa.int32()),
        pa.ListArray.from_arrays(pa.array(rings.offset.astype(np.int32)),
                                 ids.accounts.take(pa.array(rings.members))),
        pa.ListArray.from_arrays(pa.array(np.arange(0, 3 * n + 1, 3, dtype=np.int32)),
                                 entity.take(pa.array(order.astype(np.int64)))),
        pa.array(labelled), seconds_to_ts(rings.first_ts), seconds_to_ts(rings.last_ts),
    ], schema=RING_SCHEMA)


def _prefixed(prefix: str, strings: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(prefix, strings, "")
