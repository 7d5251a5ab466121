"""Opaque, collision-free identifiers for generated entities, built without Python loops.

Every generated entity is named by a *key*: a small integer salt (what kind of entity it is) in
the top byte and an index below it. Keys are hashed with splitmix64, mixed with the seed, so the
same seed always gives the same ids while ids reveal nothing about who owns an entity. Strings are
assembled as fixed-width byte matrices and handed to Arrow without copying.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_SALT_SHIFT = np.uint64(56)


def entity_key(salt: int, index: np.ndarray) -> np.ndarray:
    """Key of entities of kind ``salt`` (0..255) with indices ``index`` (< 2**56)."""
    return (np.uint64(salt) << _SALT_SHIFT) | np.asarray(index).astype(np.uint64)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective, well-mixing hash of 64-bit integers."""
    z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hashed(keys: np.ndarray, seed: int) -> np.ndarray:
    """Seeded hash of entity keys (distinct keys give distinct hashes)."""
    mix = splitmix64(np.array([seed], dtype=np.uint64))[0]
    return splitmix64(np.asarray(keys, dtype=np.uint64) ^ mix)


def _fixed_width(chars: np.ndarray) -> pa.StringArray:
    """Arrow strings from an ``(n, width)`` uint8 matrix of ASCII characters (one row each)."""
    n, width = chars.shape
    data = np.ascontiguousarray(chars).tobytes()
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)
    ).cast(pa.string())


def _with_prefix(prefix: str, body: np.ndarray) -> np.ndarray:
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    return np.hstack([np.broadcast_to(head, (len(body), len(head))), body])


def hex_ids(prefix: str, hashes: np.ndarray, digits: int = 16) -> pa.StringArray:
    """``prefix`` followed by the low ``digits`` hex digits of each hash, e.g. ``dev_9f3a...``."""
    shifts = np.arange(4 * (digits - 1), -1, -4, dtype=np.uint64)
    nibbles = (np.asarray(hashes, dtype=np.uint64)[:, None] >> shifts) & np.uint64(0xF)
    return _fixed_width(_with_prefix(prefix, _HEX[nibbles]))


def decimal_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """``prefix`` followed by each number zero-padded to ``width`` digits, e.g. ``acct_000042``."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (np.asarray(numbers, dtype=np.int64)[:, None] // powers) % 10
    return _fixed_width(_with_prefix(prefix, _DIGITS[digits]))


def sequential_ids(prefix: str, first: int, n: int, width: int) -> pa.StringArray:
    """``decimal_ids(prefix, first .. first + n - 1, width)``, built by tiling, not dividing.

    Consecutive numbers share their leading digits in blocks of 1000 and cycle through the last
    three, so the character matrix is assembled from two small tables.
    """
    block = 1000
    low = _DIGITS[(np.arange(block)[:, None] // np.array([100, 10, 1])) % 10]
    start, stop = first // block, (first + n + block - 1) // block
    powers = 10 ** np.arange(width - 4, -1, -1, dtype=np.int64)
    high = _DIGITS[(np.arange(start, stop, dtype=np.int64)[:, None] // powers) % 10]
    body = np.concatenate(
        [np.repeat(high, block, axis=0), np.tile(low, (stop - start, 1))], axis=1)
    skip = first - start * block
    return _fixed_width(_with_prefix(prefix, body[skip: skip + n]))


def decimal_width(largest: int, minimum: int = 6) -> int:
    """Digits needed to write ``largest`` (at least ``minimum``)."""
    return max(minimum, len(str(max(int(largest), 0))))


def ipv4_strings(hashes: np.ndarray) -> pa.StringArray:
    """Public-looking dotted-quad IPv4 addresses derived from hashes.

    The first octet avoids private, loopback, link-local, carrier-grade-NAT, benchmarking,
    documentation and multicast ranges, so every address parses and looks routable.
    """
    h = np.asarray(hashes, dtype=np.uint64)
    first = 11 + (h % np.uint64(212)).astype(np.int64)
    first += np.isin(first, (100, 127, 169, 172, 192, 198, 203)).astype(np.int64)
    octets = [first] + [((h >> np.uint64(s)) & np.uint64(0xFF)).astype(np.int64) for s in (8, 16)]
    octets.append(1 + ((h >> np.uint64(24)) % np.uint64(254)).astype(np.int64))
    parts = [pa.array(o).cast(pa.string()) for o in octets]
    return pc.binary_join_element_wise(*parts, ".")


def ipv6_strings(hashes: np.ndarray) -> pa.StringArray:
    """Full-form global-unicast IPv6 addresses (``2a02:xxxx:...``) derived from hashes."""
    h = np.asarray(hashes, dtype=np.uint64)
    low = splitmix64(h)
    shifts = np.arange(60, -1, -4, dtype=np.uint64)
    nib = np.hstack([(h[:, None] >> shifts) & np.uint64(0xF), (low[:, None] >> shifts)
                     & np.uint64(0xF)])[:, :28]
    groups = _HEX[nib].reshape(len(h), 7, 4)
    colon = np.full((len(h), 7, 1), ord(":"), dtype=np.uint8)
    body = np.concatenate([colon, groups], axis=2).reshape(len(h), 35)
    return _fixed_width(_with_prefix("2a02", body))
