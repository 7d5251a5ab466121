"""Localities learnt from the account-entity graph: neighbours meeting near home are no ring."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from graph.rings.candidates import find_ring_candidates
from graph.rings.config import RingConfig
from graph.rings.localities import (
    Localities,
    entry_locality_rate,
    find_localities,
    find_locality_scales,
    home_anchors,
    home_entries,
    home_types,
    pair_locality_mean,
    type_kinds,
)
from tests.graph.rings.helpers import edges, snapshot


def _towns(seed: int = 0, n_towns: int = 8, people: int = 120, shops: int = 30):
    """``n_towns`` towns of ``people`` customers, each shopping at 8 of the 13 of its town's
    ``shops`` nearest home (a tenth also once in the next town), one device each; plus a ring
    of 5 shopping in town 0 and sharing two devices nobody else uses."""
    rng = np.random.default_rng(seed)
    shop = []
    for t in range(n_towns):
        for i in range(people):
            home = rng.integers(shops)
            near = (home + rng.choice(np.arange(-6, 7), size=8, replace=False)) % shops
            shop += [(f"t{t}c{i}", f"m{t}_{m}") for m in near]
            if rng.random() < 0.1:
                shop.append((f"t{t}c{i}", f"m{(t + 1) % n_towns}_{rng.integers(shops)}"))
    ring = [f"r{i}" for i in range(5)]
    shop += [(a, f"m0_{m}") for a in ring for m in rng.choice(shops, size=8, replace=False)]
    devices = [(a, d) for a in ring for d in ("rd0", "rd1")]
    own = [(f"t{t}c{i}", f"d{t}_{i}") for t in range(n_towns) for i in range(people)]
    return snapshot(USED_DEVICE=edges(devices + own), PAID_WITH=edges(shop)), ring


def test_neighbours_meeting_near_home_are_no_ring_but_a_ring_sharing_devices_stays():
    snap, ring = _towns()
    for locality, honest_reported in ((False, True), (True, False)):
        found = find_ring_candidates(snap, RingConfig(locality=locality, min_surprise=-np.inf))
        honest = [c.features["surprise"] for c in found if not set(c.members) & set(ring)]
        assert len(honest) >= 20, "the search itself lists groups of neighbours"
        assert (max(honest) >= RingConfig().min_surprise) == honest_reported
        assert any(c.members == ring and c.features["surprise"] > 5.0 for c in found)


def test_localities_are_towns_of_one_type_and_a_rings_private_devices_are_none():
    # two towns of 4 customers on 3 shops each, joined by one visit; a ring of 3 on 1 device
    uses = np.zeros((11, 8))
    uses[0:4, 0:3] = 1.0
    uses[4:8, 3:6] = 1.0
    uses[3, 3] = 1.0
    uses[8:11, 6] = 1.0  # the ring's device
    uses[8:11, 0:3] = 1.0  # the ring shops in town 0
    uses[0, 7] = uses[4, 7] = 1.0  # a device two customers share
    codes = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    found = find_localities(sp.csr_matrix(uses), codes, max_degree=20, min_users=4)
    town = found.of_entity[:6]
    assert town[0] == town[1] == town[2] >= 0 and town[3] == town[4] == town[5] >= 0
    assert town[0] != town[3] and found.count == 2
    assert found.of_entity[6] == found.of_entity[7] == -1  # three and two users: too few
    assert found.type_code.tolist() == [0, 0]
    assert sorted(found.edges.tolist()) == [13.0, 21.0]
    at = found.of_entity[0]
    assert found.pairs[at] == 3 * 7 * 6  # sum over shops of d (d - 1)
    assert found.account_degree[3, at] == 3 and found.account_degree[3, found.of_entity[3]] == 1
    # the hub cap leaves popular entities out of every locality
    capped = find_localities(sp.csr_matrix(uses), codes, max_degree=5, min_users=4)
    assert capped.of_entity[0] == -1


def test_entry_rate_and_pair_mean_follow_the_formulas():
    uses = np.zeros((11, 8))
    uses[0:4, 0:3] = 1.0
    uses[4:8, 3:6] = 1.0
    uses[8:11, 0] = 1.0
    codes = np.zeros(8, dtype=np.int64)
    found = find_localities(sp.csr_matrix(uses), codes, max_degree=20, min_users=4)
    a = found.of_entity[0]
    # group {0, 1, 8}: members' degrees in town 0 are 3, 3 and 1; town 0 has 15 uses
    membership = sp.csr_matrix(([1.0, 1.0, 1.0], ([0, 0, 0], [0, 1, 8])), shape=(1, 11))
    shared = sp.csr_matrix(([3.0, 2.0], ([0, 0], [0, 1])), shape=(1, 8))
    rate = entry_locality_rate(membership, shared, found)
    assert np.allclose(rate, (7.0 / 3.0) / 15.0)
    mean = pair_locality_mean(np.array([0, 0]), np.array([1, 4]), found, 1)
    pairs = 7 * 6 + 4 * 3 + 4 * 3
    assert np.isclose(mean[0, 0], 3 * 3 * pairs / 15.0 ** 2)
    assert mean[1, 0] == 0.0  # different towns: no locality in common
    assert found.of_entity[0] == a


def test_scales_are_nested_and_a_single_scale_is_find_localities():
    snap, _ = _towns(n_towns=6, people=60)
    from graph.rings.projection import account_entity_incidence

    uses = account_entity_incidence(snap).matrix
    codes = np.zeros(uses.shape[1], dtype=np.int64)
    fine_res, coarse_res = 64.0, 1.0
    coarse, fine = find_locality_scales(uses, codes, 200, 20, (coarse_res, fine_res), seed=3)
    alone = find_localities(uses, codes, 200, 20, fine_res, seed=3)
    assert np.array_equal(fine.of_entity, alone.of_entity)
    assert (fine.account_degree != alone.account_degree).nnz == 0
    assert coarse.count <= fine.count and coarse.count >= 1
    # every fine locality lies inside one coarse locality
    both = (fine.of_entity >= 0) & (coarse.of_entity >= 0)
    pairs = set(zip(fine.of_entity[both].tolist(), coarse.of_entity[both].tolist(), strict=True))
    assert len({f for f, _ in pairs}) == len(pairs)


def test_nested_scales_also_clear_the_neighbours_and_keep_the_ring():
    snap, ring = _towns()
    found = find_ring_candidates(snap, RingConfig(locality_nested=True,
                                                  min_surprise=-np.inf))
    honest = [c.features["surprise"] for c in found if not set(c.members) & set(ring)]
    assert len(honest) >= 20 and max(honest) < RingConfig().min_surprise
    assert any(c.members == ring and c.features["surprise"] > 5.0 for c in found)


def test_a_group_owning_localities_of_two_types_is_judged_by_its_home_type_s_only():
    # six accounts on the same two devices (type 0), three on each of two cards (type 1),
    # nobody else on them: one locality of each type, both the six's own
    found = Localities(
        of_entity=np.array([0, 0, 1, 1]), edges=np.array([12.0, 6.0]),
        pairs=np.array([60.0, 12.0]), type_code=np.array([0, 1]),
        account_degree=sp.csr_matrix(np.column_stack([np.full(6, 2.0), np.ones(6)])))
    assert found.users.tolist() == [6.0, 6.0]
    farm = sp.csr_matrix(np.ones((1, 6)))
    shared = sp.csr_matrix(np.array([[6.0, 6.0, 3.0, 3.0]]))
    assert home_types(farm, [found], 2).tolist() == [0]  # 12 uses of devices, 6 of cards
    free = entry_locality_rate(farm, shared, found)
    judged = entry_locality_rate(farm, shared, found, home_types(farm, [found], 2))
    assert (free > 0).all()
    assert np.allclose(judged[:2], free[:2]) and (judged[2:] == 0.0).all()
    # three of the six are half the users of each locality, not more: they own none
    half = sp.csr_matrix(np.array([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]]))
    part = sp.csr_matrix(np.array([[3.0, 3.0, 3.0, 0.0]]))
    assert home_types(half, [found], 2).tolist() == [-1]
    assert np.allclose(entry_locality_rate(half, part, found, home_types(half, [found], 2)),
                       entry_locality_rate(half, part, found))


def test_one_place_s_types_are_one_kind_and_other_types_their_own() -> None:
    assert type_kinds(np.array(["Device", "IP", "PaymentMethod"]), ("Device", "IP")).tolist() \
        == [0, 0, 2]
    assert type_kinds(np.array(["Email", "IP", "Phone"]), ("Device", "IP")).tolist() == [0, 1, 2]
    assert type_kinds(np.array([], dtype=object), ("Device", "IP")).tolist() == []


def _hostel() -> tuple[Localities, sp.csr_matrix, sp.csr_matrix]:
    """Six travellers on a hostel's two PCs (type 0, locality 0) behind its two Wi-Fi IPs
    (type 1, locality 1), sharing three cards (type 2, locality 2) nobody else uses, two of
    them at a shop terminal (type 2, locality 3) with two townspeople."""
    terminal = np.r_[1.0, 1.0, np.zeros(4)]
    found = Localities(
        of_entity=np.array([0, 0, 1, 1, 2, 2, 2, 3]), edges=np.array([12.0, 12.0, 18.0, 4.0]),
        pairs=np.array([60.0, 60.0, 90.0, 12.0]), type_code=np.array([0, 1, 2, 2]),
        account_degree=sp.csr_matrix(np.vstack([
            np.column_stack([np.full(6, 2.0), np.full(6, 2.0), np.full(6, 3.0), terminal]),
            [[0.0, 0.0, 0.0, 1.0]] * 2])))
    travellers = sp.csr_matrix(np.r_[np.ones(6), 0.0, 0.0][None, :])
    shared = sp.csr_matrix(np.array([[6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 2.0]]))
    return found, travellers, shared


def test_a_place_s_pcs_and_wifi_are_one_home_its_cards_stay_evidence() -> None:
    found, travellers, shared = _hostel()
    kinds = type_kinds(np.array(["Device", "IP", "PaymentMethod"]), ("Device", "IP"))
    # a type each, the cards (18 uses) would be its home and the PCs and IPs (12 each) evidence
    assert home_types(travellers, [found], 3).tolist() == [2]
    home = home_types(travellers, [found], 3, kinds)
    assert home.tolist() == [0]  # one place: 24 uses of its PCs and Wi-Fi
    free = entry_locality_rate(travellers, shared, found)
    judged = entry_locality_rate(travellers, shared, found, home, kinds)
    # PCs and IPs explained by their localities; the cards (its own locality) not; the
    # terminal (two of its four users) as before
    assert (free > 0).all()
    assert np.allclose(judged[:4], free[:4]) and (judged[4:7] == 0.0).all()
    assert judged[7] == free[7]
    assert home_entries(travellers, shared, [found], home, kinds).tolist() == [True] * 4 + [
        False] * 4
    # picked as its place's users: all six of its PCs' and IPs' six users, of 2 such places
    members, users, peers = home_anchors(travellers, [found], home, kinds)
    assert (members.tolist(), users.tolist(), peers.tolist()) == ([6.0], [6.0], [2.0])
    none = home_anchors(travellers, [found], np.array([-1]), kinds)
    assert [x.tolist() for x in none] == [[0.0], [0.0], [0.0]]


def test_groups_up_to_max_size_own_no_locality_so_their_rates_are_unchanged():
    snap, ring = _towns()
    from graph.rings.projection import account_entity_incidence

    uses = account_entity_incidence(snap).matrix
    codes = np.zeros(uses.shape[1], dtype=np.int64)
    cfg = RingConfig()
    found = find_localities(uses, codes, cfg.hub_degree_cap,
                            max(cfg.locality_min_users, cfg.max_size + 1))
    rng = np.random.default_rng(1)
    groups = [rng.choice(uses.shape[0], size=cfg.max_size, replace=False) for _ in range(20)]
    membership = sp.csr_matrix((np.ones(20 * cfg.max_size), (
        np.repeat(np.arange(20), cfg.max_size), np.concatenate(groups))),
        shape=(20, uses.shape[0]))
    per_entity = (membership @ uses).tocsr()
    shared = per_entity.multiply(per_entity >= 2).tocsr()
    home = home_types(membership, [found], 1)
    assert found.count > 0 and (home == -1).all()
    assert np.array_equal(entry_locality_rate(membership, shared, found, home),
                          entry_locality_rate(membership, shared, found))
