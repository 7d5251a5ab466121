"""The snapshot's node feature rows, kept current event by event in numpy.

:class:`LiveFeatures` holds every event in growable numpy columns (timestamps, event type code,
amount, the row of each node an event names, float attributes, the value codes of string
attributes with share features) and, per node role (an account
as actor, an account as counterparty, an entity of each relation), the positions of the events
that decide that node's row. When events arrive, :meth:`LiveFeatures.add` appends them and
:meth:`LiveFeatures.rows` recomputes the touched nodes' rows from their own events only, with
the formulas of :mod:`graph.snapshot_sql` (:func:`~graph.snapshot_sql.account_nodes_sql` and
:func:`~graph.snapshot_sql.entity_nodes_sql`): counts per event type, amount sums, means,
maxima and population deviation, first and last times, active UTC days and burstiness from the
node's sorted timestamps, time-of-day spread, night fraction, distinct neighbours, the shares of a
string attribute's values (the snapshot's values: one it lacks counts in no share but in the
denominator, as a build given the snapshot's values counts it). Each row
equals what a full build of the same events writes, up to floating-point summation order
(tests/graph/test_live_features.py checks it against :mod:`graph.build`). No SQL runs per
event, and no pass over other nodes' events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.snapshot import ACCOUNT
from graph.snapshot_sql import NIGHT_HOURS, RelationSource, event_type_features

_DAY_US = 86_400_000_000
#: The events' time type (microseconds since the epoch, UTC), read as int64.
_TS_TYPE = pa.timestamp("us", tz="UTC")
#: From this many rows at once, :meth:`LiveFeatures.rows` computes them in grouped steps (their
#: fixed cost, ~0.2-0.35 ms, is that of 3-4 rows one by one).
_MANY = 4
_NIGHT_US = (NIGHT_HOURS[0] * 3_600_000_000, NIGHT_HOURS[1] * 3_600_000_000)
#: Role of an account's own events (``account_id``).
ACTOR = "actor"
#: The folder of a saved live feature set (:meth:`LiveFeatures.save`) holding its busy
#: entities' running rows over the stored events (:meth:`LiveFeatures.save_busy`).
BUSY = "busy"
#: Changes when what :meth:`LiveFeatures.save_busy` writes changes.
_BUSY_FORMAT = 1


class _Ids:
    """Node ids in row order: the ones an index was built over in one Arrow string array (a
    few bytes an id, no Python object each), the ones added since in a list."""

    def __init__(self, base: pa.Array) -> None:
        self.base = base
        self.added: list[str] = []

    def __len__(self) -> int:
        return len(self.base) + len(self.added)

    def __getitem__(self, row: int | slice) -> str | list[str]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if row < len(self.base):
            return self.base[row].as_py()
        return self.added[row - len(self.base)]

    def take(self, rows: np.ndarray) -> list[str]:
        """The ids of ``rows`` (non-negative, repeats allowed), the built ones read in one
        Arrow ``take`` (one at a time, a scalar's ``as_py`` costs ~2 us)."""
        rows = np.asarray(rows, dtype=np.int64)
        inside = rows < len(self.base)
        if inside.all():
            return self.base.take(pa.array(rows)).to_pylist()
        out = np.empty(len(rows), dtype=object)
        out[inside] = self.base.take(pa.array(rows[inside])).to_pylist()
        out[~inside] = [self.added[r] for r in (rows[~inside] - len(self.base)).tolist()]
        return out.tolist()

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self.base), 65_536):
            yield from self.base.slice(start, 65_536).to_pylist()
        yield from self.added

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (_Ids, list, tuple)):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def append(self, node_id: str) -> None:
        """Add ``node_id`` as the next row."""
        self.added.append(node_id)

    def arrow(self) -> pa.Array:
        """Every id as one Arrow array."""
        if not self.added:
            return self.base
        return pa.concat_arrays([self.base, pa.array(self.added, type=self.base.type)])


class _Rows:
    """Node id -> row: the built ids by their string hash (sorted, binary searched; the id
    compared to tell hash collisions apart), the added ones in a dict."""

    def __init__(self, ids: _Ids, node_ids: list[str]) -> None:
        self.ids = ids
        hashes = np.fromiter((hash(i) for i in node_ids), dtype=np.int64, count=len(node_ids))
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.order = order.astype(np.int32)
        self.added: dict[str, int] = {}

    def get(self, node_id: str, default: int | None = None) -> int | None:
        """The row of ``node_id`` (``default`` when unknown)."""
        hashes = self.hashes
        if len(hashes):
            key = hash(node_id)
            at = int(np.searchsorted(hashes, key))
            while at < len(hashes) and hashes[at] == key:
                row = int(self.order[at])
                if self.ids.base[row].as_py() == node_id:
                    return row
                at += 1
        return self.added.get(node_id, default)

    def find(self, node_ids: list[str]) -> np.ndarray:
        """Rows of ``node_ids`` (``-1`` for an unknown one): :meth:`get` of each, with one
        binary search and one id comparison for all of them (a hash shared by several built
        ids is settled by :meth:`get`)."""
        count = len(node_ids)
        if count <= 2:
            return np.array([self.get(i, -1) for i in node_ids], dtype=np.int64)
        out = np.full(count, -1, dtype=np.int64)
        hashes = self.hashes
        if count and len(hashes):
            keys = np.fromiter(map(hash, node_ids), dtype=np.int64, count=count)
            at = np.minimum(np.searchsorted(hashes, keys), len(hashes) - 1)
            hit = np.flatnonzero(hashes[at] == keys)
            if len(hit):
                rows = self.order[at[hit]].tolist()
                base = self.ids.base
                found = (base.take(pa.array(rows)).to_pylist() if len(rows) > 16
                         else [base[row].as_py() for row in rows])
                for k, row, node_id in zip(hit.tolist(), rows, found, strict=True):
                    out[k] = row if node_id == node_ids[k] else self.get(node_ids[k], -1)
        if self.added:
            added = self.added
            for k in np.flatnonzero(out < 0).tolist():
                out[k] = added.get(node_ids[k], -1)
        return out

    def __getitem__(self, node_id: str) -> int:
        row = self.get(node_id)
        if row is None:
            raise KeyError(node_id)
        return row

    def __contains__(self, node_id: object) -> bool:
        return isinstance(node_id, str) and self.get(node_id) is not None

    def __len__(self) -> int:
        return len(self.ids)

    def __setitem__(self, node_id: str, row: int) -> None:
        self.added[node_id] = row


class NodeIndex:
    """One node type's ids in row order (:attr:`ids`, a sequence) and id -> row (:attr:`row`,
    a mapping with ``[]``, ``get`` and ``in``), new ids appended by :meth:`rows`.

    The ids it is built over are kept as one Arrow string array and their hashes in a sorted
    numpy array (some 35 bytes an id, against some 270 for a Python list and dict of the
    same: a gigabyte at 4.4 million nodes); a lookup costs a binary search (microseconds).
    """

    def __init__(self, ids: list[str] | None = None) -> None:
        node_ids = [] if ids is None else [str(i) for i in ids]
        self.ids = _Ids(pa.array(node_ids, type=pa.large_string()))
        self.row = _Rows(self.ids, node_ids)
        self._known: pa.Array | None = None

    @classmethod
    def of(cls, ids: list[str]) -> NodeIndex:
        """An index over ``ids`` (rows 0..n-1 in their order)."""
        return cls(ids)

    def rows(self, values: list[str | None]) -> np.ndarray:
        """Rows of ``values`` (``-1`` for null), new ids appended."""
        present = [i for i, value in enumerate(values) if value is not None]
        out = np.full(len(values), -1, dtype=np.int64)
        if not present:
            return out
        named = values if len(present) == len(values) else [values[i] for i in present]
        found = self.row.find(named)
        out[present] = found
        for k in np.flatnonzero(found < 0).tolist():
            value = named[k]
            row = self.row.get(value)  # an id new to this call, or named twice in it
            if row is None:
                row = self.row[value] = len(self.ids)
                self.ids.append(value)
            out[present[k]] = row
        return out

    def find_ids(self, values: list[str]) -> np.ndarray:
        """Rows of ``values`` (``-1`` for an unknown id); nothing appended (one binary search
        for all of them: :meth:`_Rows.find`)."""
        return self.row.find(values)

    def find(self, values: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Rows of ``values`` (``-1`` for null or unknown), vectorised in Arrow (no Python
        string per value); nothing appended."""
        known = self._known
        if known is None or len(known) != len(self.ids) or known.type != values.type:
            known = self._known = self.ids.arrow().cast(values.type)
        codes = pc.fill_null(pc.index_in(values, value_set=known), -1)
        return codes.to_numpy(zero_copy_only=False).astype(np.int64)


class _Postings:
    """Event positions per node row: a CSR over the loaded events plus appended lists."""

    def __init__(self, codes: np.ndarray) -> None:
        valid = np.flatnonzero(codes >= 0)
        # Positions grouped by row, in order within each: one sort of (row, position) keys
        # (some 6x faster than a stable argsort of the rows); int32 positions: half the
        # memory of int64 (events are counted in int32 rows).
        keys = (codes[valid].astype(np.int64) << 32) | valid
        keys.sort()
        self.positions = (keys & 0xFFFFFFFF).astype(np.int32)
        del keys
        size = int(codes.max()) + 1 if len(valid) else 0
        self.rowptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(codes[valid], minlength=size), out=self.rowptr[1:])
        self.added: dict[int, list[int]] = {}

    @classmethod
    def held(cls, positions: np.ndarray, rowptr: np.ndarray) -> _Postings:
        """Postings of loaded events computed before (:meth:`LiveFeatures.save`)."""
        postings = cls.__new__(cls)
        postings.positions, postings.rowptr, postings.added = positions, rowptr, {}
        return postings

    def extended(self, codes: np.ndarray, first: int) -> _Postings:
        """These postings with the events of ``codes`` (positions ``first`` on) appended: the
        CSR a build of all the events at once gives (each row's positions in order)."""
        valid = np.flatnonzero(codes >= 0)
        rows = codes[valid].astype(np.int64)
        order = np.argsort(rows, kind="stable")
        rows, positions = rows[order], (valid[order] + first).astype(np.int32)
        size = max(len(self.rowptr) - 1, int(rows.max()) + 1 if len(rows) else 0)
        rowptr = np.empty(size + 1, dtype=np.int64)
        rowptr[:len(self.rowptr)] = self.rowptr
        rowptr[len(self.rowptr):] = self.rowptr[-1] if len(self.rowptr) else 0
        merged = np.insert(self.positions, rowptr[rows + 1], positions)
        rowptr[1:] += np.cumsum(np.bincount(rows, minlength=size))
        return _Postings.held(merged, rowptr)

    def truncated(self, size: int) -> _Postings:
        """These postings (without appended lists) of the positions below ``size`` only."""
        counts = np.diff(self.rowptr)
        row = np.repeat(np.arange(len(counts)), counts)
        keep = self.positions < size
        kept = np.bincount(row[keep], minlength=len(counts))
        used = np.flatnonzero(kept)
        kept = kept[:used[-1] + 1 if len(used) else 0]
        rowptr = np.zeros(len(kept) + 1, dtype=np.int64)
        np.cumsum(kept, out=rowptr[1:])
        return _Postings.held(self.positions[keep], rowptr)

    def add(self, codes: np.ndarray, first: int) -> None:
        for i, code in enumerate(codes.tolist()):
            if code >= 0:
                self.added.setdefault(code, []).append(first + i)

    def count(self, row: int) -> int:
        """Events of ``row``."""
        base = (int(self.rowptr[row + 1] - self.rowptr[row]) if row < len(self.rowptr) - 1
                else 0)
        return base + len(self.added.get(row, ()))

    def of(self, row: int) -> np.ndarray:
        base = (self.positions[self.rowptr[row]:self.rowptr[row + 1]]
                if row < len(self.rowptr) - 1 else np.empty(0, dtype=np.int32))
        extra = self.added.get(row)
        return base if extra is None else np.concatenate([base, extra])

    def _base(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each of ``rows``' loaded positions start, and how many there are."""
        inside = rows < len(self.rowptr) - 1
        start = self.rowptr[np.where(inside, rows, 0)]
        return start, self.rowptr[np.where(inside, rows + 1, 0)] - start

    def counts(self, rows: np.ndarray) -> np.ndarray:
        """:meth:`count` of each of ``rows``."""
        counts = self._base(rows)[1]
        if self.added:
            added = self.added
            counts = counts + np.fromiter((len(added.get(r, ())) for r in rows.tolist()),
                                          dtype=np.int64, count=len(rows))
        return counts

    def many(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`of` of each of ``rows``, one after the other in one array, and how many
        positions each has (a few array steps for all, not one call a row)."""
        start, base = self._base(rows)
        added = self.added
        extra = [added.get(r, ()) for r in rows.tolist()] if added else []
        extra_n = (np.fromiter(map(len, extra), dtype=np.int64, count=len(rows)) if added
                   else np.zeros(len(rows), dtype=np.int64))
        n = base + extra_n
        offset = np.cumsum(n) - n
        out = np.empty(int(n.sum()), dtype=np.int64)
        out[_ranges(offset, base)] = self.positions[_ranges(start, base)]
        if extra_n.any():
            out[_ranges(offset + base, extra_n)] = list(chain.from_iterable(extra))
        return out, n


class _BusyEntities:
    """Running rows of one relation's busy entities (those of at least ``summary_events``
    events), one slot each in a table of arrays: events taken in, counts per type, first and
    last time, the sum of squared gaps between consecutive times, time-of-day sums, amount
    sum, count and maximum, distinct accounts and UTC days (the (slot, account) and
    (slot, day) pairs seen kept in two sets of integers), and each slot's sorted times.
    :meth:`update` takes in every slot's new events in one set of array steps; only the
    insertion of each slot's new times into its sorted times (a binary search and a copy) is
    a step per entity. A new time changes the sum of squared gaps only at the gap it falls
    in, whatever its time. :meth:`values` reads the rows as :meth:`LiveFeatures._entity`
    computes them, up to floating-point summation order (the gap deviation from the sum of
    squared gaps: ``sd**2 = s2 / gaps - mean**2``).

    A slot first takes in its entity's stored events (those at positions below the ``base``
    that :meth:`update` is given, all of them at once; every event when it has none), then
    the later ones as they come: so a slot's values are the same whether its stored events
    were taken in when the entity was first read or earlier (by :meth:`stored`, saved and
    restored: :meth:`save`, :meth:`restore`), the same floating-point sums in the same
    order."""

    _FLOATS = ("first", "last", "s2", "cos", "sin", "amount_sum", "amount_max")
    _INTS = ("held", "night", "amount_n", "accounts", "days")

    def __init__(self, width: int) -> None:
        self.width = width
        self.size = 0
        self.slot = np.full(0, -1, dtype=np.int64)  # entity row -> slot (-1: none)
        for name in self._FLOATS:
            setattr(self, name, np.zeros(0))
        for name in self._INTS:
            setattr(self, name, np.zeros(0, dtype=np.int64))
        self.types = np.zeros((0, width), dtype=np.int64)
        self.times: list[np.ndarray] = []  # slot -> its event times (seconds), sorted
        self._pairs: set[int] = set()
        self._days: set[int] = set()
        # the (slot, account) and (slot, day) keys of restored slots, sorted (not in the sets)
        self._held_pairs = np.empty(0, dtype=np.int64)
        self._held_days = np.empty(0, dtype=np.int64)
        self.changed = False  # whether anything was taken in since made or restored

    def __len__(self) -> int:
        return self.size

    def slots(self, rows: np.ndarray) -> np.ndarray:
        """The slot of each of ``rows`` (``-1``: none yet)."""
        inside = rows < len(self.slot)
        if inside.all():
            return self.slot[rows]
        out = np.full(len(rows), -1, dtype=np.int64)
        out[inside] = self.slot[rows[inside]]
        return out

    def _new_slots(self, rows: np.ndarray) -> np.ndarray:
        """Slots (zeroed) for ``rows``, which have none."""
        if len(rows) and int(rows.max()) >= len(self.slot):
            grown = np.full(int(rows.max()) + 1 + len(self.slot) // 8 + 1024, -1, dtype=np.int64)
            grown[:len(self.slot)] = self.slot
            self.slot = grown
        slots = np.arange(self.size, self.size + len(rows))
        self.size += len(rows)
        if self.size > len(self.held):
            capacity, used = self.size + self.size // 8 + 64, len(self.held)
            for name in (*self._FLOATS, *self._INTS):
                setattr(self, name, _grow(getattr(self, name), used, capacity))
            types = np.zeros((capacity, self.width), dtype=np.int64)
            types[:used] = self.types
            self.types = types
        self.slot[rows] = slots
        for name in (*self._FLOATS, *self._INTS):
            getattr(self, name)[slots] = 0
        self.types[slots] = 0
        return slots

    def update(self, features: LiveFeatures, postings: _Postings, rows: np.ndarray,
               base: int) -> np.ndarray:
        """Take in the events of ``rows`` (distinct, each with at least one event) not taken in
        yet, a new slot's stored ones (positions below ``base``) first; their slots."""
        slots = self.slots(rows)
        new = slots < 0
        if new.any():
            slots[new] = self._new_slots(rows[new])
            self._take_stored(features, postings, rows[new], slots[new], base)
        counts = postings.counts(rows)
        more = np.flatnonzero(counts > self.held[slots])
        if len(more):
            positions, k = self._later(postings, rows[more], self.held[slots[more]],
                                       counts[more])
            self._take(features, slots[more], positions, k, fresh=False)
        return slots

    def stored(self, features: LiveFeatures, postings: _Postings, rows: np.ndarray,
               base: int, chunk: int = 1 << 20) -> None:
        """Slots for ``rows`` (distinct, ascending, none with a slot yet), their stored events
        (positions below ``base``) taken in, about ``chunk`` events at a time."""
        ends = np.cumsum(postings._base(rows)[1])
        cuts = np.unique(np.searchsorted(ends, np.arange(chunk, ends[-1] if len(ends) else 0,
                                                          chunk)) + 1)
        for part in np.split(rows, cuts[cuts < len(rows)].tolist()):
            if len(part):
                self._take_stored(features, postings, part, self._new_slots(part), base)

    def _take_stored(self, features: LiveFeatures, postings: _Postings, rows: np.ndarray,
                     slots: np.ndarray, base: int) -> None:
        """Take the stored events (positions below ``base``) of ``rows`` into their new
        ``slots``; all of a row's events when it has none."""
        positions, n = postings.many(rows)
        seg = np.repeat(np.arange(len(rows)), n)
        below = positions < base
        if not below.all():  # a row's positions ascend: those below base come first
            stored = np.bincount(seg[below], minlength=len(rows))
            below |= (stored == 0)[seg]
            positions, n = positions[below], np.bincount(seg[below], minlength=len(rows))
        self._take(features, slots, positions, n, fresh=True)

    @staticmethod
    def _later(postings: _Postings, rows: np.ndarray, held: np.ndarray,
               counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The positions of each of ``rows`` after its first ``held`` (one row after the
        other), and how many each has: ``counts - held``."""
        k = counts - held
        start, stored = postings._base(rows)
        added = postings.added
        if (held >= stored).all():  # all but appended ones taken in: the tails of their lists
            chunks = [added[r][h - s:] for r, h, s in zip(rows.tolist(), held.tolist(),
                                                          stored.tolist(), strict=True)]
            return np.fromiter(chain.from_iterable(chunks), dtype=np.int64,
                               count=int(k.sum())), k
        parts = []
        for r, h, b, s in zip(rows.tolist(), held.tolist(), start.tolist(), stored.tolist(),
                              strict=True):
            parts.append(postings.positions[b + min(h, s):b + s].astype(np.int64))
            parts.append(np.asarray(added.get(r, ())[max(h - s, 0):], dtype=np.int64))
        return np.concatenate(parts), k

    def _take(self, features: LiveFeatures, slots: np.ndarray, positions: np.ndarray,
              n: np.ndarray, fresh: bool) -> None:
        """Add the events at ``positions`` (``n[i]`` of them for ``slots[i]``, one slot after
        the other) to the slots' aggregates (``fresh``: slots empty before)."""
        self.changed = True
        count = len(slots)
        seg = np.repeat(np.arange(count), n)
        positions, ts = _by_time(positions, features._ts[positions], seg)
        at = _At(positions)
        times = ts / 1e6
        start = np.cumsum(n) - n
        end = start + n - 1
        if fresh:
            self.first[slots], self.last[slots] = times[start], times[end]
            same = seg[1:] == seg[:-1]
            self.s2[slots] = np.bincount(seg[1:][same], weights=np.diff(times)[same] ** 2,
                                         minlength=count)
            for slot, part in zip(slots.tolist(), np.split(times, start[1:].tolist()),
                                  strict=True):
                self._set_times(slot, part)
        else:
            self.s2[slots] += self._insert(seg, times, slots, start, n)
            self.first[slots] = np.minimum(self.first[slots], times[start])
            self.last[slots] = np.maximum(self.last[slots], times[end])
        self.held[slots] += n
        self.types[slots] += np.bincount(seg * self.width + at(features._type) + 1,
                                         minlength=count * self.width).reshape(count, self.width)
        of_day = np.fmod(ts, _DAY_US)
        angle = 2 * np.pi * of_day / float(_DAY_US)
        self.cos[slots] += np.bincount(seg, weights=np.cos(angle), minlength=count)
        self.sin[slots] += np.bincount(seg, weights=np.sin(angle), minlength=count)
        self.night[slots] += np.bincount(
            seg, weights=(of_day >= _NIGHT_US[0]) & (of_day < _NIGHT_US[1]),
            minlength=count).astype(np.int64)
        total, number, top = _sums(at(features._amount), seg, count)
        had = self.amount_n[slots] > 0
        self.amount_max[slots] = np.where(had & (number > 0),
                                          np.maximum(self.amount_max[slots], top),
                                          np.where(had, self.amount_max[slots], top))
        self.amount_sum[slots] += total
        self.amount_n[slots] += number
        owner = slots[seg] << 32
        self.accounts[slots] += self._count_new(
            self._pairs, self._held_pairs, owner | at(features._codes[ACTOR]).astype(np.int64),
            count, seg, fresh)
        days = np.floor_divide(ts, _DAY_US) + (1 << 31)
        self.days[slots] += self._count_new(self._days, self._held_days, owner | days, count,
                                            seg, fresh)

    def _set_times(self, slot: int, times: np.ndarray) -> None:
        if slot < len(self.times):
            self.times[slot] = times
        else:
            self.times.append(times)

    def _insert(self, seg: np.ndarray, times: np.ndarray, slots: np.ndarray, start: np.ndarray,
                n: np.ndarray) -> np.ndarray:
        """Insert each slot's new ``times`` (sorted within each slot, ``seg`` its number) into
        its sorted times; per slot, the change of its sum of squared gaps: a run of new times
        falling between two held ones replaces that gap by the gaps through them."""
        count = len(slots)
        at = np.empty(len(times), dtype=np.int64)
        before = np.empty(len(times))
        after = np.empty(len(times))
        held = np.empty(count, dtype=np.int64)
        for i, (slot, lo, k) in enumerate(zip(slots.tolist(), start.tolist(), n.tolist(),
                                              strict=True)):
            old = self.times[slot]
            new = times[lo:lo + k]
            where = np.searchsorted(old, new, side="right")
            at[lo:lo + k] = where
            held[i] = len(old)
            before[lo:lo + k] = old[np.maximum(where - 1, 0)]
            after[lo:lo + k] = old[np.minimum(where, len(old) - 1)]
            self.times[slot] = _inserted(old, where, new)
        # Runs: consecutive new times of one slot between the same two held ones.
        opens = np.ones(len(times), dtype=bool)
        opens[1:] = (seg[1:] != seg[:-1]) | (at[1:] != at[:-1])
        closes = np.ones(len(times), dtype=bool)
        closes[:-1] = opens[1:]
        has_before, has_after = at > 0, at < held[seg]
        inner = ~opens
        delta = np.zeros(count)
        delta += np.bincount(seg[1:][inner[1:]], weights=np.diff(times)[inner[1:]] ** 2,
                             minlength=count)
        first = opens & has_before
        delta += np.bincount(seg[first], weights=(times[first] - before[first]) ** 2,
                             minlength=count)
        last = closes & has_after
        delta += np.bincount(seg[last], weights=(after[last] - times[last]) ** 2,
                             minlength=count)
        split = opens & has_before & has_after
        delta -= np.bincount(seg[split], weights=(after[split] - before[split]) ** 2,
                             minlength=count)
        return delta

    @staticmethod
    def _count_new(seen: set[int], held: np.ndarray, keys: np.ndarray, count: int,
                   seg: np.ndarray, fresh: bool = False) -> np.ndarray:
        """Add ``keys`` (one per event, its segment ``seg``) to ``seen``; per segment, how
        many were neither there nor among ``held`` (sorted; restored slots' keys) (``fresh``:
        none can be, the keys' slots being new: not looked up one by one)."""
        keys, first = np.unique(keys, return_index=True)
        listed = keys.tolist()
        if fresh:
            seen.update(listed)
            return np.bincount(seg[first], minlength=count)
        known = np.zeros(len(keys), dtype=bool)
        if len(held):
            at = np.minimum(np.searchsorted(held, keys), len(held) - 1)
            known = held[at] == keys
        if seen:
            known |= np.fromiter((k in seen for k in listed), dtype=bool, count=len(listed))
        seen.update(listed)
        return np.bincount(seg[first[~known]], minlength=count)

    def save(self, directory: Path) -> None:
        """Write the slots (each one's entity row, aggregates, sorted times and distinct
        keys) into ``directory`` (made), one ``.npy`` file each, for :meth:`restore`."""
        directory.mkdir(parents=True)
        size = self.size
        rows = np.empty(size, dtype=np.int64)
        used = np.flatnonzero(self.slot >= 0)
        rows[self.slot[used]] = used
        np.save(directory / "rows.npy", rows)
        for name in (*self._FLOATS, *self._INTS):
            np.save(directory / f"{name}.npy", getattr(self, name)[:size])
        np.save(directory / "types.npy", self.types[:size])
        np.save(directory / "times.npy", np.concatenate(self.times[:size]) if size
                else np.empty(0))
        for name, seen, held in (("pair_keys", self._pairs, self._held_pairs),
                                 ("day_keys", self._days, self._held_days)):
            keys = np.fromiter(seen, dtype=np.int64, count=len(seen))
            np.save(directory / f"{name}.npy", np.union1d(keys, held))

    @classmethod
    def restore(cls, directory: Path, width: int) -> _BusyEntities:
        """The slots :meth:`save` wrote into ``directory`` (their times and keys
        memory-mapped: copied only as a slot takes in new events); ``ValueError`` when its
        files do not fit together or ``width`` event types."""
        table = cls(width)
        rows = np.load(directory / "rows.npy")
        size = len(rows)
        for name in (*cls._FLOATS, *cls._INTS):
            values = np.load(directory / f"{name}.npy")
            if len(values) != size:
                raise ValueError(f"{directory / name}.npy: {len(values)} slots, not {size}")
            setattr(table, name, _grow(values, size, size + size // 8 + 64))
        types = np.load(directory / "types.npy")
        if types.shape != (size, width):
            raise ValueError(f"{directory / 'types.npy'}: shape {types.shape}, not "
                             f"{(size, width)}")
        table.types = np.zeros((len(table.held), width), dtype=np.int64)
        table.types[:size] = types
        times = np.load(directory / "times.npy", mmap_mode="r").view(np.ndarray)
        ends = np.cumsum(table.held[:size])
        if (ends[-1] if size else 0) != len(times):
            raise ValueError(f"{directory / 'times.npy'}: {len(times)} times for "
                             f"{ends[-1] if size else 0} events")
        table.times = np.split(times, ends[:-1].tolist()) if size else []
        table._held_pairs = np.load(directory / "pair_keys.npy", mmap_mode="r").view(np.ndarray)
        table._held_days = np.load(directory / "day_keys.npy", mmap_mode="r").view(np.ndarray)
        table.slot = np.full(int(rows.max()) + 1 + size // 8 + 1024 if size else 0, -1,
                             dtype=np.int64)
        table.slot[rows] = np.arange(size)
        table.size = size
        return table

    def values(self, slots: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """The rows of ``slots`` (``names``: the event type features in order)."""
        n = self.held[slots].astype(np.float64)
        types = self.types[slots]
        values: dict[str, np.ndarray] = {"n_events": n}
        values.update({name: types[:, j + 1] for j, name in enumerate(names)})
        values["n_events_other"] = types[:, 0]
        first, last = self.first[slots], self.last[slots]
        gap_n = n - 1
        several = gap_n > 0
        gap_mean = np.divide(last - first, gap_n, out=np.zeros(len(n)), where=several)
        variance = np.divide(self.s2[slots], gap_n, out=np.zeros(len(n)), where=several)
        gap_sd = np.sqrt(np.maximum(variance - gap_mean ** 2, 0.0))
        active = self.days[slots].astype(np.float64)
        values["active_days"] = active
        bursty = (gap_n >= 2) & (gap_sd + gap_mean > 0)
        values["burstiness"] = np.divide(gap_sd - gap_mean, gap_sd + gap_mean,
                                         out=np.zeros(len(n)), where=bursty)
        values["lifetime_days"] = (last - first) / 86400.0
        values["events_per_active_day"] = n / active
        values["tod_spread"] = 1 - np.sqrt((self.cos[slots] / n) ** 2
                                           + (self.sin[slots] / n) ** 2)
        values["night_fraction"] = self.night[slots] / n
        accounts = self.accounts[slots].astype(np.float64)
        values["n_accounts"] = accounts
        values["events_per_account"] = n / accounts
        number = self.amount_n[slots]
        total = self.amount_sum[slots]
        values["amount_sum"] = total
        values["amount_mean"] = np.divide(total, number, out=np.zeros(len(n)), where=number > 0)
        values["amount_max"] = np.where(number > 0, self.amount_max[slots], 0.0)
        return values


class _Column:
    """One column of the held events read by positions as one array: the events held before
    the first :meth:`LiveFeatures.add` or :meth:`LiveFeatures.reserve` (say, mapped read-only
    from the stored events' cache: never copied into the process) and those appended since,
    held apart (grown by an eighth when full)."""

    def __init__(self, held: np.ndarray) -> None:
        self.held = held
        self.tail = np.empty(0, dtype=held.dtype)
        self.size = len(held)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, positions: np.ndarray | slice) -> np.ndarray:
        if isinstance(positions, slice):
            cut = len(self.held)
            return np.concatenate([self.held, self.tail[:self.size - cut]])[positions]
        return self.take(positions, self.split(positions))

    def split(self, positions: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """Where ``positions`` fall: ``None`` when all among the held events, else (which
        are appended, which are held, the held ones' positions, the appended ones' positions
        in the tail), for :meth:`take` of any column of the same events."""
        cut = len(self.held)
        if self.size == cut:
            return None
        late = positions >= cut
        if not late.any():
            return None
        early = ~late
        return late, early, positions[early], positions[late] - cut

    def take(self, positions: np.ndarray, split: tuple[np.ndarray, ...] | None) -> np.ndarray:
        """The values at ``positions``, which fall as ``split`` (:meth:`split`) says."""
        if split is None:
            return self.held[positions]
        late, early, held, appended = split
        out = np.empty(len(positions), dtype=self.held.dtype)
        out[early] = self.held[held]
        out[late] = self.tail[appended]
        return out

    def reserve(self, n: int) -> None:
        """Room for ``n`` more values without growing."""
        used = self.size - len(self.held)
        if used + n > len(self.tail):
            self.tail = _grow(self.tail, used, used + n + len(self.tail) // 8 + 1024)

    def append(self, values: np.ndarray) -> None:
        """Append ``values``."""
        self.reserve(len(values))
        used = self.size - len(self.held)
        self.tail[used:used + len(values)] = values
        self.size += len(values)


class _At:
    """Reads of event columns (arrays or :class:`_Column` s of the same events) at one array
    of positions, the positions split into held and appended ones once for all the columns
    read (:meth:`_Column.split`), not once a column."""

    def __init__(self, positions: np.ndarray) -> None:
        self.positions = positions
        self._split: tuple[np.ndarray, ...] | None = None
        self._found = False

    def __call__(self, column: np.ndarray | _Column) -> np.ndarray:
        if not isinstance(column, _Column):
            return column[self.positions]
        if not self._found:
            self._split, self._found = column.split(self.positions), True
        return column.take(self.positions, self._split)


class LiveFeatures:
    """Node feature rows of a graph of events, recomputed per touched node from numpy columns.

    Parameters
    ----------
    index
        Node type -> :class:`NodeIndex` (the snapshot's rows; shared with the caller, grown
        in place as new ids arrive).
    event_types
        The snapshot's frequent event types in order (its ``event_type_features`` keys).
    relations
        The snapshot's relations (as :func:`graph.snapshot_sql.relation_sources` names them).
    float_attributes
        Float attribute columns (``attr_<name>_mean`` features).
    attribute_shares
        String attribute -> value -> its share feature (the snapshot's ``attribute_shares``).
    summary_events
        An entity with at least this many events keeps its row as running aggregates
        (:class:`_BusyEntities`, one table per relation), extended by the events that
        arrive after it. Its stored events (those :meth:`load` or :meth:`restore` took in,
        the first :attr:`base`) are taken in first, at once: the aggregates of every entity
        with that many stored events can be saved with them and read back
        (:meth:`save_busy`, :meth:`restore_busy`) instead of being computed when first read,
        the same values either way.
    """

    def __init__(self, index: dict[str, NodeIndex], event_types: list[str],
                 relations: list[RelationSource], float_attributes: list[str],
                 summary_events: int = 128, *,
                 attribute_shares: dict[str, dict[str, str]] | None = None) -> None:
        self.index = index
        self.summary_events = summary_events
        self._busy: dict[str, _BusyEntities] = {}
        #: The stored events: those at positions below it (the busy entities' first take).
        self.base = 0
        self.event_types = list(event_types)
        self.type_code = {t: i for i, t in enumerate(self.event_types)}
        self.type_names = event_type_features(self.event_types)
        self.relations = [r for r in relations if r.node_type in index]
        self.float_attributes = list(float_attributes)
        self.attribute_shares = {a: dict(v) for a, v in (attribute_shares or {}).items()}
        self._value_code = {a: {text: k for k, text in enumerate(values)}
                            for a, values in self.attribute_shares.items()}
        self.transacted = next((r for r in self.relations if r.column == "counterparty_id"),
                               None)
        # role -> (event column, node type)
        self.roles = {ACTOR: ("account_id", ACCOUNT),
                      **{r.name: (r.column, r.node_type) for r in self.relations}}
        self.size = 0
        self._ts = np.empty(0, dtype=np.int64)
        self._type = np.empty(0, dtype=np.int32)
        self._amount = np.empty(0, dtype=np.float64)
        self._codes = {role: np.empty(0, dtype=np.int32) for role in self.roles}
        self._attrs = {a: np.empty(0, dtype=np.float64) for a in self.float_attributes}
        self._texts = {a: np.empty(0, dtype=np.int32) for a in self.attribute_shares}
        self._postings = {role: _Postings(np.empty(0, dtype=np.int64)) for role in self.roles}

    # ------------------------------------------------------------------------------ events
    def _columns(self, events: pa.Table, bulk: bool) -> dict[str, np.ndarray]:
        ts = events.column("ts")
        if ts.type != _TS_TYPE:  # events are read and posted in it: no cast (~30 us each)
            ts = ts.cast(_TS_TYPE)
        names = events.column("event_type")
        types = (pc.fill_null(pc.index_in(names, value_set=pa.array(self.event_types,
                                                                    type=names.type)), -1)
                 .to_numpy(zero_copy_only=False).astype(np.int32) if bulk
                 else np.array([self.type_code.get(t, -1) for t in names.to_pylist()],
                               dtype=np.int32))
        out = {"ts": ts.to_numpy(zero_copy_only=False).view(np.int64).astype(np.int64),
               "type": types,
               "amount": _floats(events, "amount")}
        new: dict[str, list[tuple[str, np.ndarray, list[str]]]] = {}
        for role, (column, node_type) in self.roles.items():
            if column not in events.column_names:
                out[role] = np.full(events.num_rows, -1, dtype=np.int32)
                continue
            values = events.column(column)
            if not bulk:
                out[role] = self.index[node_type].rows(values.to_pylist()).astype(np.int32)
                continue
            index = self.index[node_type]
            codes = (index.find(values) if events.num_rows * 8 > len(index.ids)
                     else index.find_ids(values.to_pylist()))
            missing = np.flatnonzero((codes < 0)
                                     & pc.is_valid(values).to_numpy(zero_copy_only=False))
            if len(missing):
                new.setdefault(node_type, []).append(
                    (role, missing, values.take(pa.array(missing)).to_pylist()))
            out[role] = codes.astype(np.int32)
        for node_type, parts in new.items():
            # New ids get rows in the order the events name them (an event's roles in
            # order), so events read in parts or appended later number them alike.
            at = np.concatenate([missing for _, missing, _ in parts])
            part = np.repeat(np.arange(len(parts)), [len(missing) for _, missing, _ in parts])
            order = np.lexsort((part, at))
            named = list(chain.from_iterable(ids for _, _, ids in parts))
            rows = self.index[node_type].rows([named[k] for k in order.tolist()])
            found = np.empty(len(order), dtype=np.int64)
            found[order] = rows
            for k, (role, missing, _) in enumerate(parts):
                out[role][missing] = found[part == k]
        for a in self.float_attributes:
            out[f"attr:{a}"] = _floats(events, a)
        for a, values in self.attribute_shares.items():
            out[f"text:{a}"] = self._value_codes(events, a, list(values), bulk)
        return out

    def _value_codes(self, events: pa.Table, name: str, values: list[str],
                     bulk: bool) -> np.ndarray:
        """Each event's code of string attribute ``name``: the position of its value in
        ``values`` (exact text), ``len(values)`` for another value, -1 for none."""
        if name not in events.column_names:
            return np.full(events.num_rows, -1, dtype=np.int32)
        column = events.column(name)
        if not bulk:
            code = self._value_code[name]
            return np.array([-1 if v is None else code.get(v, len(values))
                             for v in column.to_pylist()], dtype=np.int32)
        if not pa.types.is_string(column.type):
            column = column.cast(pa.string())
        found = pc.index_in(column, value_set=pa.array(values, type=pa.string()))
        codes = pc.fill_null(found, len(values)).to_numpy(zero_copy_only=False).astype(np.int32)
        codes[~pc.is_valid(column).to_numpy(zero_copy_only=False)] = -1
        return codes

    def load(self, events: pa.Table | Iterable[pa.Table]) -> None:
        """Hold ``events`` (the stored ones, before any :meth:`add`): a table, or tables in
        turn (each one's text freed once its numpy columns are taken, so the load never holds
        every event's text at once)."""
        if self.size:
            raise RuntimeError("load() runs once, before add()")
        parts = [self._columns(table, bulk=True)
                 for table in ([events] if isinstance(events, pa.Table) else events)]
        for index in self.index.values():
            index._known = None  # the bulk lookup's id array is not needed again
        if not parts:
            return
        cols = {}
        for key in list(parts[0]):  # column by column: the parts freed as they are joined
            cols[key] = np.concatenate([part.pop(key) for part in parts])
        self._ts, self._type, self._amount = cols["ts"], cols["type"], cols["amount"]
        self._codes = {role: cols[role] for role in self.roles}
        self._attrs = {a: cols[f"attr:{a}"] for a in self.float_attributes}
        self._texts = {a: cols[f"text:{a}"] for a in self.attribute_shares}
        self._postings = {role: _Postings(cols[role]) for role in self.roles}
        self.size = self.base = len(cols["ts"])

    def _held(self) -> dict[str, np.ndarray]:
        """The loaded events' arrays by file name (:meth:`save`, :meth:`restore`)."""
        out = {"ts": self._ts, "type": self._type, "amount": self._amount}
        for k, role in enumerate(self.roles):
            out[f"codes_{k}"] = self._codes[role]
            out[f"positions_{k}"] = self._postings[role].positions
            out[f"rowptr_{k}"] = self._postings[role].rowptr
        for k, a in enumerate(self.float_attributes):
            out[f"attr_{k}"] = self._attrs[a]
        for k, a in enumerate(self.attribute_shares):
            out[f"text_{k}"] = self._texts[a]
        return out

    def save(self, directory: Path) -> None:
        """Write what :meth:`load` took in (every column and each role's postings, one
        ``.npy`` file each) into ``directory``, for :meth:`restore`, and the busy entities'
        running rows over the stored events into its :data:`BUSY` folder
        (:meth:`save_busy`); right after the load only (events added since would be left
        out)."""
        if isinstance(self._ts, _Column) or any(p.added for p in self._postings.values()):
            raise RuntimeError("save() runs right after load(), before add() or reserve()")
        for name, values in self._held().items():
            np.save(directory / f"{name}.npy", values)
        self.save_busy(directory / BUSY)

    def _busy_relations(self) -> list[str]:
        """The relations whose entities can keep running rows (:meth:`rows` reads an entity
        type's from its first relation)."""
        types = dict.fromkeys(r.node_type for r in self.relations if r.node_type != ACCOUNT)
        return [self._relation(t).name for t in types]

    def _busy_meta(self) -> dict[str, object]:
        return {"format": _BUSY_FORMAT, "base": self.base, "summary_events": self.summary_events,
                "width": len(self.event_types) + 1, "relations": self._busy_relations()}

    def save_busy(self, directory: Path) -> None:
        """Write the running rows of every entity with at least :attr:`summary_events`
        stored events (positions below :attr:`base`) over those events into ``directory``
        (made; ``meta.json`` last), for :meth:`restore_busy`: a relation's rows restored and
        unchanged since as they are, else computed now (and not kept). Before any
        :meth:`add`."""
        if any(p.added for p in self._postings.values()):
            raise RuntimeError("save_busy() runs before add()")
        directory.mkdir(parents=True)
        width = len(self.event_types) + 1
        for name in self._busy_relations():
            table = self._busy.get(name)
            if table is None or table.changed:
                table = _BusyEntities(width)
                postings = self._postings[name]
                table.stored(self, postings, self._stored_busy(postings), self.base)
            table.save(directory / name)
        (directory / "meta.json").write_text(json.dumps(self._busy_meta()))

    def _stored_busy(self, postings: _Postings) -> np.ndarray:
        """The rows with at least :attr:`summary_events` events at positions below
        :attr:`base`, ascending."""
        counts = np.diff(postings.rowptr)
        if len(postings.positions) and int(postings.positions.max()) >= self.base:
            below = np.zeros(len(postings.positions) + 1, dtype=np.int64)
            np.cumsum(postings.positions < self.base, out=below[1:])
            counts = below[postings.rowptr[1:]] - below[postings.rowptr[:-1]]
        return np.flatnonzero(counts >= max(self.summary_events, 1))

    def restore_busy(self, directory: Path) -> bool:
        """Hold the running rows :meth:`save_busy` wrote into ``directory`` (memory-mapped
        where large) instead of computing them when first read; False (nothing held) when
        there are none (no ``meta.json``); ``ValueError`` when they were saved for another
        :attr:`base`, setting or event types, or their files do not fit together. Before any
        row is read."""
        meta_file = directory / "meta.json"
        if not meta_file.is_file():
            return False
        if self._busy:
            raise RuntimeError("restore_busy() runs before any busy entity's row is read")
        meta, want = json.loads(meta_file.read_text()), self._busy_meta()
        if meta != want:
            raise ValueError(f"{meta_file}: saved for {meta}, not {want}")
        busy = {}
        for name in self._busy_relations():
            table = _BusyEntities.restore(directory / name, int(want["width"]))
            ends = len(self._postings[name].rowptr) - 1
            if len(table) and int(np.flatnonzero(table.slot >= 0)[-1]) >= ends:
                raise ValueError(f"{directory / name}: rows beyond the {ends} of {name}")
            busy[name] = table
        self._busy = busy
        return True

    def restore(self, directory: Path, size: int, base: int | None = None) -> None:
        """Hold the ``size`` events :meth:`save` wrote into ``directory`` (instead of
        :meth:`load`), memory-mapped read-only: a column is copied into the process when events
        are first added (it grows then), the postings are only read, so the pages no update
        reads are never resident. Saved by a live feature set of the same roles and attributes
        over the same node rows (the caller's key says so); a file missing or of another
        length raises ``OSError`` / ``ValueError`` and leaves this one empty. ``base``: how
        many of them are stored events (:attr:`base`; the rest were appended by
        :meth:`extend` before the save), all unless given. The busy entities' saved rows are
        read by :meth:`restore_busy`."""
        if self.size:
            raise RuntimeError("restore() runs once, before add()")
        # plain arrays over the mapping (np.memmap's Python __getitem__ costs ~2 us a read)
        held = {name: np.load(directory / f"{name}.npy", mmap_mode="r").view(np.ndarray)
                for name in self._held()}
        for name, values in held.items():
            if not name.startswith(("rowptr_", "positions_")) and len(values) != size:
                raise ValueError(f"{directory / name}.npy: {len(values)} rows, not {size}")
        self._ts, self._type, self._amount = held["ts"], held["type"], held["amount"]
        self._codes = {role: held[f"codes_{k}"] for k, role in enumerate(self.roles)}
        self._attrs = {a: held[f"attr_{k}"] for k, a in enumerate(self.float_attributes)}
        self._texts = {a: held[f"text_{k}"] for k, a in enumerate(self.attribute_shares)}
        self._postings = {role: _Postings.held(held[f"positions_{k}"], held[f"rowptr_{k}"])
                          for k, role in enumerate(self.roles)}
        self.size = size
        self.base = size if base is None else base

    def truncate(self, size: int) -> None:
        """Hold only the first ``size`` events (before any :meth:`add`): say, a restored
        cache's events up to the segments the store still has."""
        if any(p.added for p in self._postings.values()) or size > self.size:
            raise RuntimeError("truncate() runs before add(), to at most the events held")
        self._ts, self._type, self._amount = self._ts[:size], self._type[:size], self._amount[:size]
        self._codes = {role: codes[:size] for role, codes in self._codes.items()}
        self._attrs = {a: values[:size] for a, values in self._attrs.items()}
        self._texts = {a: codes[:size] for a, codes in self._texts.items()}
        self._postings = {role: p.truncated(size) for role, p in self._postings.items()}
        self.size = size
        if size < self.base:  # stored events cut: running rows over them no longer hold
            self.base = size
            self._busy = {}

    def extend(self, events: Iterable[pa.Table]) -> None:
        """Append ``events`` (tables in turn) to the held ones as :meth:`load` would have held
        them after those (the same columns and postings), before any :meth:`add`: say, the
        service's logged events appended to a restored cache (copied into the process, for
        :meth:`save`)."""
        if any(p.added for p in self._postings.values()):
            raise RuntimeError("extend() runs before add()")
        parts = [self._columns(table, bulk=True) for table in events]
        for index in self.index.values():
            index._known = None
        if not parts:
            return
        first = self.size
        cols = {key: np.concatenate([part.pop(key) for part in parts]) for key in list(parts[0])}
        self._ts = np.concatenate([self._ts[:first], cols["ts"]])
        self._type = np.concatenate([self._type[:first], cols["type"]])
        self._amount = np.concatenate([self._amount[:first], cols["amount"]])
        for role in self.roles:
            self._codes[role] = np.concatenate([self._codes[role][:first], cols[role]])
            self._postings[role] = self._postings[role].extended(cols[role], first)
        for a in self.float_attributes:
            self._attrs[a] = np.concatenate([self._attrs[a][:first], cols[f"attr:{a}"]])
        for a in self.attribute_shares:
            self._texts[a] = np.concatenate([self._texts[a][:first], cols[f"text:{a}"]])
        self.size = len(self._ts)

    def reserve(self, n: int) -> None:
        """Room for ``n`` more events, and an eighth of those held, without growing again. The
        events held until then are never copied: the columns hold the events appended after
        them apart (:class:`_Column`; at 1M accounts the copy of the stored events' columns
        mapped from their cache was ~0.4 GB of the process's memory)."""
        if not isinstance(self._ts, _Column):
            self._ts, self._type, self._amount = (_Column(self._ts), _Column(self._type),
                                                  _Column(self._amount))
            self._codes = {r: _Column(c) for r, c in self._codes.items()}
            self._attrs = {a: _Column(c) for a, c in self._attrs.items()}
            self._texts = {a: _Column(c) for a, c in self._texts.items()}
        for column in self._columns_held():
            column.reserve(n)

    def _columns_held(self) -> list[_Column]:
        return [self._ts, self._type, self._amount, *self._codes.values(),
                *self._attrs.values(), *self._texts.values()]

    def add(self, events: pa.Table) -> dict[str, np.ndarray]:
        """Append ``events`` (canonical columns); the rows per node type they touch (new
        nodes get rows at the end of their type's :class:`NodeIndex`)."""
        return self.touched(self.append(events))

    def append(self, events: pa.Table) -> dict[str, np.ndarray]:
        """Append ``events`` (canonical columns): :meth:`add`, answering each role's node row
        per event instead (:meth:`codes`)."""
        cols = self._columns(events, bulk=False)
        first, n = self.size, events.num_rows
        self.reserve(n)
        self._ts.append(cols["ts"])
        self._type.append(cols["type"])
        self._amount.append(cols["amount"])
        for role in self.roles:
            self._codes[role].append(cols[role])
            self._postings[role].add(cols[role], first)
        for a in self.float_attributes:
            self._attrs[a].append(cols[f"attr:{a}"])
        for a in self.attribute_shares:
            self._texts[a].append(cols[f"text:{a}"])
        self.size = first + n
        return {role: cols[role] for role in self.roles}

    def touched_by(self, events: pa.Table) -> dict[str, np.ndarray]:
        """The rows per node type that ``events`` name (say, held ones replayed into a graph
        built before them), new ids appended to the index."""
        return self.touched(self.codes(events))

    def codes(self, events: pa.Table) -> dict[str, np.ndarray]:
        """Role (:data:`ACTOR`, or a relation's name) -> the row of each event's node of that
        role (int32, -1: none), new ids appended to the index; nothing held changes."""
        cols = self._columns(events, bulk=False)
        return {role: cols[role] for role in self.roles}

    def touched(self, codes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The distinct rows per node type that the events of ``codes`` (:meth:`codes`)
        name."""
        touched: dict[str, list[np.ndarray]] = {}
        for role, (_, node_type) in self.roles.items():
            touched.setdefault(node_type, []).append(codes[role][codes[role] >= 0])
        rows = {t: np.unique(np.concatenate(parts)).astype(np.int64)
                for t, parts in touched.items()}
        return {t: r for t, r in rows.items() if len(r)}

    # ------------------------------------------------------------------------------ rows
    def rows(self, node_type: str, rows: np.ndarray, columns: list[str]) -> np.ndarray:
        """Feature values ``(len(rows), len(columns))`` float64 of ``rows`` of ``node_type``:
        a few rows one by one, more (a batch's) at once in grouped numpy steps; the entities
        of many events from their running aggregates, all of them at once
        (:class:`_BusyEntities`)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), len(columns)), dtype=np.float64)
        rest = np.arange(len(rows))
        if node_type != ACCOUNT and len(rows):
            relation = self._relation(node_type).name
            busy = self._postings[relation].counts(rows) >= max(self.summary_events, 1)
            if busy.any():
                rest = np.flatnonzero(~busy)
                busy = np.flatnonzero(busy)
                out[busy] = _pick(node_type, self._busy_rows(relation, rows[busy]), columns).T
        if len(rest) >= _MANY:
            values = (self._accounts_many if node_type == ACCOUNT
                      else self._entities_many)(node_type, rows[rest])
            out[rest] = _pick(node_type, values, columns).T
            return out
        compute = self._account if node_type == ACCOUNT else self._entity
        for i in rest.tolist():
            out[i] = _pick(node_type, compute(node_type, int(rows[i])), columns)
        return out

    def _busy_rows(self, relation: str, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The rows of the busy entities ``rows`` of ``relation`` (each with at least one
        event), their running aggregates first brought up to date."""
        table = self._busy.get(relation)
        if table is None:
            table = self._busy[relation] = _BusyEntities(len(self.event_types) + 1)
        distinct, inverse = np.unique(rows, return_inverse=True)
        slots = table.update(self, self._postings[relation], distinct, self.base)
        return table.values(slots[inverse], self.type_names)

    def _relation(self, node_type: str) -> RelationSource:
        return next(r for r in self.relations if r.node_type == node_type)

    def _activity_many(self, positions: np.ndarray, n: np.ndarray,
                       ) -> tuple[dict[str, np.ndarray], _At, np.ndarray]:
        """:meth:`_activity` of many nodes at once (``positions``: each node's event
        positions one node after the other, ``n`` of each: :meth:`_Postings.many`): the
        values (one array each), and the reads at the positions (:class:`_At`) with their
        node (segment) numbers, grouped by node and in time order within it."""
        count = len(n)
        seg = np.repeat(np.arange(count), n)
        positions, ts = _by_time(positions, self._ts[positions], seg)
        at = _At(positions)
        width = len(self.event_types) + 1
        types = np.bincount(seg * width + at(self._type) + 1,
                            minlength=count * width).reshape(count, width)
        values: dict[str, np.ndarray] = {"n_events": n.astype(np.float64)}
        values.update({name: types[:, j + 1] for j, name in enumerate(self.type_names)})
        values["n_events_other"] = types[:, 0]
        has = n > 0
        times = ts / 1e6
        start = np.cumsum(n) - n
        first = np.zeros(count)
        last = np.zeros(count)
        first[has], last[has] = times[start[has]], times[start[has] + n[has] - 1]
        gap_n = n - 1
        several = gap_n > 0
        same = seg[1:] == seg[:-1]
        gap_seg = seg[1:][same]
        gap_mean = np.zeros(count)
        gap_mean[several] = (last[several] - first[several]) / gap_n[several]
        deviation = np.bincount(gap_seg, weights=(np.diff(times)[same] - gap_mean[gap_seg]) ** 2,
                                minlength=count)
        gap_sd = np.zeros(count)
        gap_sd[several] = np.sqrt(deviation[several] / gap_n[several])
        days = np.floor(times / 86400)
        changes = np.bincount(gap_seg, weights=(days[1:] != days[:-1])[same], minlength=count)
        active = np.where(several, 1 + changes, has.astype(np.float64))
        values["active_days"] = active
        bursty = (gap_n >= 2) & (gap_sd + gap_mean > 0)
        values["burstiness"] = np.zeros(count)
        values["burstiness"][bursty] = ((gap_sd[bursty] - gap_mean[bursty])
                                        / (gap_sd[bursty] + gap_mean[bursty]))
        values["lifetime_days"] = (last - first) / 86400.0
        values["events_per_active_day"] = np.divide(n, active, out=np.zeros(count),
                                                    where=active > 0)
        of_day = np.fmod(ts, _DAY_US)
        angle = 2 * np.pi * of_day / float(_DAY_US)
        cos = np.bincount(seg, weights=np.cos(angle), minlength=count)
        sin = np.bincount(seg, weights=np.sin(angle), minlength=count)
        night = np.bincount(seg, weights=(of_day >= _NIGHT_US[0]) & (of_day < _NIGHT_US[1]),
                            minlength=count)
        safe = np.maximum(n, 1)
        values["tod_spread"] = np.where(has, 1 - np.sqrt((cos / safe) ** 2 + (sin / safe) ** 2),
                                        0.0)
        values["night_fraction"] = np.where(has, night / safe, 0.0)
        return values, at, seg

    def _entities_many(self, node_type: str, rows: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`_entity` of many ``rows`` at once."""
        postings = self._postings[self._relation(node_type).name]
        values, at, seg = self._activity_many(*postings.many(rows))
        count = len(rows)
        n_accounts = _distinct(seg, at(self._codes[ACTOR]), count, False)
        values["n_accounts"] = n_accounts
        values["events_per_account"] = values["n_events"] / n_accounts
        total, number, top = _sums(at(self._amount), seg, count)
        values["amount_sum"] = total
        values["amount_mean"] = np.divide(total, number, out=np.zeros(count), where=number > 0)
        values["amount_max"] = top
        return values

    def _accounts_many(self, node_type: str, rows: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`_account` of many ``rows`` at once."""
        count = len(rows)
        values, acted, seg = self._activity_many(*self._postings[ACTOR].many(rows))
        amounts = acted(self._amount)
        total, number, top = _sums(amounts, seg, count)
        mean = np.divide(total, number, out=np.zeros(count), where=number > 0)
        values["amount_out_sum"], values["amount_out_mean"] = total, mean
        values["amount_out_max"] = top
        ok = ~np.isnan(amounts)
        squares = np.bincount(seg[ok], weights=(amounts[ok] - mean[seg[ok]]) ** 2,
                              minlength=count)
        values["amount_out_std"] = np.sqrt(np.divide(squares, number, out=np.zeros(count),
                                                     where=number > 0))
        for a in self.float_attributes:
            total, number, _ = _sums(acted(self._attrs[a]), seg, count)
            values[f"attr_{a}_mean"] = np.divide(total, number, out=np.zeros(count),
                                                 where=number > 0)
        values.update(self._shares(acted, seg, count))
        received, received_n = (self._postings[self.transacted.name].many(rows)
                                 if self.transacted else (np.empty(0, dtype=np.int64),
                                                          np.zeros(count, dtype=np.int64)))
        received_seg = np.repeat(np.arange(count), received_n)
        received = _At(received)
        values["n_in_events"] = received_n.astype(np.float64)
        total, number, _ = _sums(received(self._amount), received_seg, count)
        values["amount_in_sum"] = total
        values["amount_in_mean"] = np.divide(total, number, out=np.zeros(count),
                                             where=number > 0)
        for a in self.float_attributes:
            total, number, _ = _sums(received(self._attrs[a]), received_seg, count)
            values[f"attr_{a}_in_mean"] = np.divide(total, number, out=np.zeros(count),
                                                    where=number > 0)
        for rel in self.relations:
            name = rel.name.lower()
            distinct = _distinct(seg, acted(self._codes[rel.name]), count, True)
            if rel is self.transacted:
                values[f"deg_{name}_out"] = distinct
                values[f"deg_{name}_in"] = _distinct(
                    received_seg, received(self._codes[ACTOR]), count, False)
            else:
                values[f"deg_{name}"] = distinct
        return values

    def _shares(self, at: _At, seg: np.ndarray, count: int) -> dict[str, np.ndarray]:
        """Per segment of the events read by ``at`` (``seg``: each one's segment), each
        string attribute value's share of the events with a value of that attribute (0 where
        none has one)."""
        out: dict[str, np.ndarray] = {}
        for a, values in self.attribute_shares.items():
            codes = at(self._texts[a])
            some = codes >= 0
            width = len(values) + 1
            counts = np.bincount(seg[some] * width + codes[some],
                                 minlength=count * width).reshape(count, width)
            number = counts.sum(axis=1)
            for k, column in enumerate(values.values()):
                out[column] = np.divide(counts[:, k], number, out=np.zeros(count),
                                        where=number > 0)
        return out

    def _activity(self, at: _At) -> dict[str, float]:
        """Counts per type, time-of-day, timeline statistics of the events ``at`` reads."""
        n = len(at.positions)
        ts = np.sort(at(self._ts))
        types = np.bincount(at(self._type) + 1, minlength=len(self.event_types) + 1)
        values: dict[str, float] = {"n_events": n}
        values.update(zip(self.type_names, types[1:].tolist(), strict=True))
        values["n_events_other"] = int(types[0])
        values.update(_timeline(ts / 1e6))
        active = values["active_days"]
        values["events_per_active_day"] = n / active if active else 0.0
        if n:
            of_day = np.fmod(ts, _DAY_US)
            angle = 2 * np.pi * of_day / float(_DAY_US)
            cos, sin = float(np.cos(angle).sum()), float(np.sin(angle).sum())
            night = np.count_nonzero((of_day >= _NIGHT_US[0]) & (of_day < _NIGHT_US[1]))
            values["tod_spread"] = 1 - np.sqrt((cos / n) ** 2 + (sin / n) ** 2)
            values["night_fraction"] = night / n
        else:
            values["tod_spread"] = values["night_fraction"] = 0.0
        return values

    def _entity(self, node_type: str, row: int) -> dict[str, float]:
        rel = next(r for r in self.relations if r.node_type == node_type)
        positions = self._postings[rel.name].of(row)
        at = _At(positions)  # the positions split once for every column read
        values = self._activity(at)
        amounts = at(self._amount)
        amounts = amounts[~np.isnan(amounts)]
        n_accounts = len(set(at(self._codes[ACTOR]).tolist()))
        values["n_accounts"] = n_accounts
        values["events_per_account"] = len(positions) / n_accounts
        values["amount_sum"] = float(amounts.sum()) if len(amounts) else 0.0
        values["amount_mean"] = float(amounts.sum() / len(amounts)) if len(amounts) else 0.0
        values["amount_max"] = float(amounts.max()) if len(amounts) else 0.0
        return values

    def _account(self, node_type: str, row: int) -> dict[str, float]:
        positions = self._postings[ACTOR].of(row)
        acted = _At(positions)  # the positions split once for every column read
        values = self._activity(acted)
        amounts = acted(self._amount)
        amounts = amounts[~np.isnan(amounts)]
        some = len(amounts) > 0
        values["amount_out_sum"] = float(amounts.sum()) if some else 0.0
        values["amount_out_mean"] = float(amounts.mean()) if some else 0.0
        values["amount_out_max"] = float(amounts.max()) if some else 0.0
        values["amount_out_std"] = float(amounts.std()) if some else 0.0
        for a in self.float_attributes:
            attr = acted(self._attrs[a])
            attr = attr[~np.isnan(attr)]
            values[f"attr_{a}_mean"] = float(attr.mean()) if len(attr) else 0.0
        values.update({c: float(v[0]) for c, v in
                       self._shares(acted, np.zeros(len(positions), dtype=np.int64),
                                    1).items()})
        received = _At(self._postings[self.transacted.name].of(row) if self.transacted
                       else np.empty(0, dtype=np.int64))
        amounts_in = received(self._amount)
        amounts_in = amounts_in[~np.isnan(amounts_in)]
        values["n_in_events"] = len(received.positions)
        values["amount_in_sum"] = float(amounts_in.sum()) if len(amounts_in) else 0.0
        values["amount_in_mean"] = (float(amounts_in.sum() / len(amounts_in))
                                    if len(amounts_in) else 0.0)
        for a in self.float_attributes:
            attr = received(self._attrs[a])
            attr = attr[~np.isnan(attr)]
            values[f"attr_{a}_in_mean"] = float(attr.sum() / len(attr)) if len(attr) else 0.0
        for rel in self.relations:
            name = rel.name.lower()
            distinct = len(set(acted(self._codes[rel.name]).tolist()) - {-1})
            if rel is self.transacted:
                values[f"deg_{name}_out"] = distinct
                values[f"deg_{name}_in"] = len(set(received(self._codes[ACTOR]).tolist()))
            else:
                values[f"deg_{name}"] = distinct
        return values


def _pick(node_type: str, values: dict, columns: list[str]) -> np.ndarray:
    """``values`` of ``columns`` in order (scalars or arrays); a clear error for one not
    computed."""
    try:
        return np.array([values[c] for c in columns], dtype=np.float64)
    except KeyError as err:
        raise KeyError(f"{node_type} feature {err} is not computed by LiveFeatures; "
                       f"it computes {sorted(values)}") from None


def _sums(values: np.ndarray, seg: np.ndarray,
          count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per segment of ``values`` (NaN left out): sum, number and maximum (0 where none)."""
    ok = ~np.isnan(values)
    total = np.bincount(seg[ok], weights=values[ok], minlength=count)
    number = np.bincount(seg[ok], minlength=count)
    top = np.full(count, -np.inf)
    np.maximum.at(top, seg[ok], values[ok])
    top[number == 0] = 0.0
    return total, number, top


def _distinct(seg: np.ndarray, codes: np.ndarray, count: int, valid_only: bool) -> np.ndarray:
    """Distinct ``codes`` per segment (only those >= 0 when ``valid_only``)."""
    if valid_only:
        keep = codes >= 0
        seg, codes = seg[keep], codes[keep]
    if not len(codes):
        return np.zeros(count, dtype=np.int64)
    width = int(codes.max()) + 2
    pairs = np.unique(seg.astype(np.int64) * width + codes.astype(np.int64) + 1)
    return np.bincount(pairs // width, minlength=count)


def _floats(events: pa.Table, column: str) -> np.ndarray:
    if column not in events.column_names:
        return np.full(events.num_rows, np.nan)
    values = pc.cast(events.column(column), pa.float64())
    return values.to_numpy(zero_copy_only=False).astype(np.float64)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The integers ``starts[i] .. starts[i] + lengths[i] - 1`` of each ``i``, in order."""
    total = int(lengths.sum())
    return np.arange(total) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)


def _by_time(positions: np.ndarray, ts: np.ndarray,
             seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``positions`` and their times ``ts`` (int64) ordered by segment (``seg``, non-decreasing
    from 0), then time, ties in their order: ``np.lexsort((ts, seg))``'s order. When the
    segment and the time since the earliest fit one int64 key (90 days of microseconds take
    43 bits, leaving 2**19 segments), one stable sort of that key instead, the same order:
    each segment's times are mostly in order already (stored events nearly all are), so the
    key mostly is, where the lexsort's first pass sorts all segments' times mixed together;
    no sort when the key is in order."""
    if len(ts) < 2:
        return positions, ts
    lo = int(ts.min())
    bits = (int(ts.max()) - lo).bit_length()
    if bits + int(seg[-1]).bit_length() <= 62:
        key = ts - lo
        key |= seg << bits
        if not (key[1:] < key[:-1]).any():
            return positions, ts
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((ts, seg))
    return positions[order], ts[order]


def _inserted(values: np.ndarray, where: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``np.insert(values, where, new)`` for ascending ``where`` (each of ``new`` before
    ``values[where[i]]``, in their order), without ``np.insert``'s set-up (~15 us a call,
    against ~3 us here; a busy entity's new times are inserted this way each batch)."""
    if len(new) == 1:
        at = int(where[0])
        return np.concatenate((values[:at], new, values[at:]))
    out = np.empty(len(values) + len(new), dtype=values.dtype)
    placed = where + np.arange(len(new))
    rest = np.ones(len(out), dtype=bool)
    rest[placed] = False
    out[placed] = new
    out[rest] = values
    return out


def _grow(values: np.ndarray, used: int, capacity: int) -> np.ndarray:
    grown = np.empty(capacity, dtype=values.dtype)
    grown[:used] = values[:used]
    return grown


def _timeline(times: np.ndarray) -> dict[str, float]:
    """``active_days``, ``burstiness`` and ``lifetime_days`` of sorted event ``times`` (seconds),
    as the snapshot SQL computes them (0 active days without events)."""
    n, gap_n = len(times), len(times) - 1
    if gap_n > 0:
        gap_mean = (times[-1] - times[0]) / gap_n
        gap_sd = float(np.sqrt(np.sum((np.diff(times) - gap_mean) ** 2) / gap_n))
        days = np.floor(times / 86400)
        active = 1 + int(np.count_nonzero(days[1:] != days[:-1]))
    else:
        gap_mean = gap_sd = 0.0
        active = 1 if n else 0
    return {
        "active_days": active,
        "burstiness": ((gap_sd - gap_mean) / (gap_sd + gap_mean)
                       if gap_n >= 2 and gap_sd + gap_mean > 0 else 0.0),
        "lifetime_days": (times[-1] - times[0]) / 86400.0 if n else 0.0,
    }
