"""Turn generated arrays into Arrow tables and write the generator's files.

Entity keys become strings once per distinct entity (factorise, format the distinct ones) and
events refer to them through Arrow dictionary columns, which Parquet stores as they are: string
building stays far below one operation per event. Files are written with plain string types.
"""

from __future__ import annotations

import gzip
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ingest.synth.events import EVENT_TYPES, STATUSES, EventBatch
from ingest.synth.ids import (
    decimal_ids,
    hashed,
    hex_ids,
    ipv4_strings,
    ipv6_strings,
    sequential_ids,
)
from ingest.synth.world import DEV_RING, IP_HOME, IP_NAT

TS_TYPE = pa.timestamp("us", tz="UTC")
CHANNELS = ("web", "ios", "android")
EVENT_ID_WIDTH = 12
_SALT_SHIFT = np.uint64(56)

EVENT_SCHEMA = pa.schema([
    ("event_id", pa.string()),
    ("ts", TS_TYPE),
    ("account_id", pa.string()),
    ("event_type", pa.string()),
    ("device_id", pa.string()),
    ("ip", pa.string()),
    ("payment_id", pa.string()),
    ("counterparty_id", pa.string()),
    ("amount", pa.float64()),
    ("channel", pa.string()),
    ("status", pa.string()),
])


_DICTIONARY_EVENT_SCHEMA = pa.schema([
    pa.field(f.name, f.type if f.name in ("event_id", "ts", "amount")
             else pa.dictionary(pa.int32(), f.type))
    for f in EVENT_SCHEMA
])


class IdFormatter:
    """Strings for accounts and entity keys of one generated population (depends on the seed)."""

    def __init__(self, seed: int, n_accounts: int, ipv6_fraction: float) -> None:
        self.seed = seed
        self.account_width = max(6, len(str(max(n_accounts - 1, 0))))
        self.ipv6_per_mille = int(round(1000 * ipv6_fraction))

    def accounts(self, index: np.ndarray) -> pa.Array:
        """Account ids (``acct_000042``) of global account indices."""
        return decimal_ids("acct_", index, self.account_width)

    def devices(self, keys: np.ndarray) -> pa.Array:
        """Device ids (``dev_<16 hex>``) of device keys."""
        return hex_ids("dev_", hashed(keys, self.seed))

    def cards(self, keys: np.ndarray) -> pa.Array:
        """Payment-instrument tokens (``card_<16 hex>``) of card keys."""
        return hex_ids("card_", hashed(keys, self.seed))

    def addresses(self, keys: np.ndarray) -> pa.Array:
        """IP addresses of address keys; a share of home and carrier-NAT addresses are IPv6."""
        h = hashed(keys, self.seed)
        text = ipv4_strings(h)
        dual_stack = np.isin(keys >> _SALT_SHIFT, (IP_HOME, IP_NAT))
        v6 = dual_stack & (h % np.uint64(1000) < self.ipv6_per_mille)
        if v6.any():
            text = pc.replace_with_mask(text, pa.array(v6), ipv6_strings(h[v6]))
        return text

    def channels(self, keys: np.ndarray) -> np.ndarray:
        """Index into :data:`CHANNELS` of the app each device runs (-1 for no device).

        Emulator farms run the Android app.
        """
        codes, uniques = pd.factorize(keys)
        per_device = (hashed(uniques, self.seed) >> np.uint64(40)) % np.uint64(len(CHANNELS))
        per_device = np.where((uniques >> _SALT_SHIFT) == DEV_RING, CHANNELS.index("android"),
                              per_device.astype(np.int64))
        return np.where(keys == 0, -1, per_device[codes])


def _decoded(keys: np.ndarray, null: np.ndarray, fmt) -> pa.Array:
    """Strings for ``keys`` (null where ``null``), formatting each distinct key once."""
    if null.all():
        return pa.DictionaryArray.from_arrays(
            pa.nulls(len(keys), pa.int32()), pa.array([], pa.string()))
    codes = np.full(len(keys), -1, dtype=np.int32)
    codes[~null], uniques = pd.factorize(keys[~null])
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=null), fmt(np.asarray(uniques)))


def _codes(codes: np.ndarray, vocabulary: tuple[str, ...]) -> pa.Array:
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(vocabulary))


def seconds_to_ts(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds as UTC microsecond timestamps."""
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, type=pa.int64()).cast(TS_TYPE)


def _account_range(account: np.ndarray, first: int, n: int, ids: IdFormatter) -> pa.Array:
    """Ids of actors who all lie in ``first .. first + n - 1`` (no factorising needed)."""
    codes = pa.array((account - first).astype(np.int32))
    return pa.DictionaryArray.from_arrays(codes, ids.accounts(np.arange(first, first + n)))


def events_table(batch: EventBatch, first_event: int, first_account: int, n_accounts: int,
                 ids: IdFormatter) -> pa.Table:
    """The canonical event table of ``batch`` (in output order; strings dictionary-encoded).

    All actors of ``batch`` are among the ``n_accounts`` accounts from ``first_account`` on.
    """
    no_device = batch.device == 0
    return pa.Table.from_arrays([
        sequential_ids("evt_", first_event, len(batch), EVENT_ID_WIDTH),
        seconds_to_ts(batch.ts),
        _account_range(batch.account, first_account, n_accounts, ids),
        _codes(batch.event_type, EVENT_TYPES),
        _decoded(batch.device, no_device, ids.devices),
        _decoded(batch.ip, batch.ip == 0, ids.addresses),
        _decoded(batch.card, batch.card == 0, ids.cards),
        _decoded(batch.counterparty, batch.counterparty < 0, ids.accounts),
        pa.array(batch.amount, mask=np.isnan(batch.amount)),
        _codes(ids.channels(batch.device), CHANNELS),
        _codes(batch.status, STATUSES),
    ], schema=_DICTIONARY_EVENT_SCHEMA)


def decoded(table: pa.Table) -> pa.Table:
    """``table`` with dictionary columns turned into their plain value types."""
    return table.cast(pa.schema([
        pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
        for f in table.schema
    ]))


def iso_text(ts: pa.Array) -> pa.Array:
    """ISO-8601 text (``2025-01-01T08:30:00Z``) of UTC timestamps, keeping nulls."""
    return pc.strftime(ts.cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")


def for_csv(table: pa.Table) -> pa.Table:
    """``table`` with timestamp columns written as ISO-8601 text."""
    for i, col in enumerate(table.schema):
        if pa.types.is_timestamp(col.type):
            table = table.set_column(i, col.name, iso_text(table.column(i).combine_chunks()))
    return table


class PartWriter:
    """Writes the events of each chunk to ``events/part-NNNNN.parquet`` or ``.csv.gz``.

    A part is written on a background thread while the next chunk is generated (Arrow and zlib
    release the GIL); at most one part waits, so memory stays bounded. Parts are read back with
    the plain :data:`EVENT_SCHEMA` types. Use as a context manager.
    """

    def __init__(self, directory: Path, fmt: str) -> None:
        self.directory = directory
        self.fmt = fmt
        self.paths: list[Path] = []
        directory.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-writer")
        self._pending: Future[None] | None = None

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)

    def write(self, index: int, table: pa.Table) -> Path:
        """Queue one part for writing (after the previous one finished) and return its path."""
        self._wait()
        path = self.directory / f"part-{index:05d}.{self.fmt}"
        self._pending = self._pool.submit(self._write, path, table)
        self.paths.append(path)
        return path

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _write(self, path: Path, table: pa.Table) -> None:
        if self.fmt == "parquet":
            # Without the stored Arrow schema, readers see plain strings, not dictionaries.
            # Min/max statistics of id strings cost half the write time and help no reader.
            pq.write_table(table, path, compression="snappy", store_schema=False,
                           write_statistics=["ts", "amount"])
        else:
            with gzip.open(path, "wb", compresslevel=1) as sink:
                pacsv.write_csv(for_csv(decoded(table)), sink)


class TableAppender:
    """Appends chunk tables to one Parquet or CSV file, opened on first write."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None

    def append(self, table: pa.Table) -> None:
        """Append ``table`` (which has this appender's schema)."""
        if self.path.suffix == ".csv":
            table = for_csv(table)
            if self._writer is None:
                self._writer = pacsv.CSVWriter(os.fspath(self.path), table.schema)
        elif self._writer is None:
            self._writer = pq.ParquetWriter(os.fspath(self.path), self.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        """Finish the file (an empty one with a header when nothing was appended)."""
        if self._writer is None:
            self.append(self.schema.empty_table())
        self._writer.close()
