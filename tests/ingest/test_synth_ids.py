"""Tests of the generator's id building (ingest/synth/ids.py)."""

from __future__ import annotations

import ipaddress

import numpy as np

from ingest.synth.ids import (
    decimal_ids,
    decimal_width,
    entity_key,
    hashed,
    hex_ids,
    ipv4_strings,
    ipv6_strings,
    sequential_ids,
)


def test_keys_of_different_kinds_never_collide():
    a = entity_key(1, np.arange(1000))
    b = entity_key(2, np.arange(1000))
    assert len(np.intersect1d(a, b)) == 0
    assert len(np.unique(hashed(np.concatenate([a, b]), seed=0))) == 2000


def test_hash_depends_on_the_seed():
    keys = entity_key(3, np.arange(100))
    assert (hashed(keys, 0) == hashed(keys, 0)).all()
    assert not (hashed(keys, 0) == hashed(keys, 1)).any()


def test_hex_and_decimal_ids():
    assert hex_ids("dev_", np.array([0xABC, 2**64 - 1], dtype=np.uint64)).to_pylist() == [
        "dev_0000000000000abc", "dev_ffffffffffffffff"]
    assert decimal_ids("acct_", np.array([0, 42, 999_999]), 6).to_pylist() == [
        "acct_000000", "acct_000042", "acct_999999"]
    for first, n in ((0, 5), (998, 4), (123_456, 2500)):
        assert sequential_ids("evt_", first, n, 9).to_pylist() == decimal_ids(
            "evt_", np.arange(first, first + n), 9).to_pylist()
    assert decimal_width(9_999_999) == 7
    assert decimal_width(12) == 6


def test_ip_addresses_parse_and_look_public():
    h = hashed(np.arange(5000, dtype=np.uint64), seed=0)
    for text in ipv4_strings(h).to_pylist():
        assert ipaddress.IPv4Address(text).is_global
    for text in ipv6_strings(h[:100]).to_pylist():
        assert ipaddress.IPv6Address(text).is_global
