"""The null model of sharing: chance explains hubs, not rare entities shared by many."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import binom, poisson

from graph.rings.candidates import find_ring_candidates
from graph.rings.config import RingConfig
from graph.rings.null_model import (
    GROUP_TERM_CAP,
    anchors,
    colocation_signatures,
    flow_log_chance,
    links_beyond_tree,
    log10_choose,
    pair_log_chance,
    robust_surprise,
    selection_log_count,
    sharing_log_chance,
    surprise,
)
from tests.graph.rings.helpers import edges, snapshot


def test_sharing_chance_is_a_conservative_bound_on_the_binomial_tail():
    # groups of 5 and 8; entities of degree 10 and 300 among 1000 edges of one type
    shared = sp.csr_matrix(np.array([[3.0, 0.0], [2.0, 4.0]]))
    sizes = np.array([5, 8])
    degree = np.array([10.0, 300.0])
    chance = sharing_log_chance(shared, sizes, degree, np.array([0, 0]),
                                np.array([[1.0], [1.0]]), np.array([1000.0])).toarray()
    exact = [np.log10(binom.sf(2, 5, 0.01)), np.log10(binom.sf(1, 8, 0.01)),
             np.log10(binom.sf(3, 8, 0.3))]
    got = [chance[0, 0], chance[1, 0], chance[1, 1]]
    assert all(g >= e - 1e-12 for g, e in zip(got, exact, strict=True))  # never overstated
    assert got[0] < -4.0  # three of five on an entity used by 1 % is rare
    # members who each use 20 entities of the type meet on them 20 times as easily
    busy = sharing_log_chance(shared, sizes, degree, np.array([0, 0]),
                              np.array([[20.0], [20.0]]), np.array([1000.0])).toarray()
    assert busy[0, 0] > chance[0, 0] + 3.0


def test_the_anchor_is_the_entity_most_members_share_and_never_a_hub():
    shared = sp.csr_matrix(np.array([[2.0, 5.0, 3.0], [0.0, 0.0, 0.0], [6.0, 2.0, 0.0]]))
    chance = sp.csr_matrix(np.array([[-1.0, -3.0, -7.0], [0.0, 0.0, 0.0], [-0.5, -9.0, 0.0]]))
    anchor, members, beyond = anchors(shared, chance)
    assert anchor.tolist() == [1, -1, 0] and members.tolist() == [5.0, 0.0, 6.0]
    assert beyond.tolist() == [-8.0, 0.0, -9.0]
    anchor, members, beyond = anchors(shared, chance, eligible=np.array([False, True, True]))
    assert anchor.tolist() == [1, -1, 1]  # entity 0 is a hub: group 2 anchors on entity 1
    assert beyond.tolist() == [-8.0, 0.0, -0.5]


def test_selection_counts_ways_to_pick_from_the_anchor_or_to_grow_a_connected_set():
    rows, group = np.array([0, 1, 2, 3, 4]), np.array([0, 0, 0, 1, 1])
    links = np.array([1.0, 1.0, 1.0, 100.0, 1.0])
    counted = selection_log_count(links, rows, group, np.array([3, 2]),
                                  np.array([3.0, 0.0]), np.array([10.0, 0.0]),
                                  np.array([50.0, 0.0]), 1000)
    assert np.isclose(counted[0], np.log10(50) + log10_choose(10, 3))
    assert np.isclose(counted[1], np.log10(1000) + np.log10(np.e))  # grown from the hub


def test_reciprocal_transfers_count_once():
    flows = sp.csr_matrix(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]))
    chance = flow_log_chance(flows)
    assert chance.nnz == 2  # (0, 1) once, although it runs both ways, and (1, 2)
    assert np.allclose(sorted(chance.data), sorted([np.log10(1 * 2 / 4), np.log10(2 * 1 / 4)]))


def test_only_links_beyond_a_spanning_tree_are_evidence():
    # group 0: a star of 4 (3 links, all a tree needs); group 1: a triangle (one link beyond),
    # each member with 2 counterparties among 100 linked pairs
    chance = links_beyond_tree(np.array([3, 3]), np.array([8.0, 6.0]), np.array([16.0, 12.0]),
                               np.array([4, 3]), 100)
    assert chance[0] == 0.0
    assert np.isclose(chance[1], poisson.logsf(0, (36 - 12) / 400) / np.log(10))


def test_links_beyond_a_tree_counted_against_what_the_degrees_expect():
    # group 0: a 6-cycle of accounts with 3 counterparties each (one link beyond a tree, 0.00225
    # expected among its pairs); group 1: 40 accounts with 100 counterparties each and 399
    # linked pairs, where 1,560 are expected: no evidence, though each link has chance 1/5;
    # group 2: a tree (a star of 5)
    sums, squares = np.array([18.0, 4000.0, 8.0]), np.array([54.0, 400_000.0, 20.0])
    total = np.array([30_000, 2_500, 30_000])
    mean = (sums ** 2 - squares) / (4.0 * total)
    chance = [links_beyond_tree(np.array([links]), sums[[i]], squares[[i]], np.array([k]),
                                int(total[i]))[0]
              for i, (links, k) in enumerate([(6, 6), (399, 40), (4, 5)])]
    assert np.isclose(chance[0], poisson.logsf(0, mean[0]) / np.log(10))
    assert -2.7 < chance[0] < -2.6
    assert chance[1] > -1e-9 and chance[2] == 0.0


def _merchant_world(seed: int = 0):
    """400 honest shoppers, each at 3 of 40 merchants (about 30 customers each), plus a ring of
    5 sharing two devices and two cards nobody else uses."""
    rng = np.random.default_rng(seed)
    shop = [(f"c{i}", f"m{m}") for i in range(400)
            for m in rng.choice(40, size=3, replace=False)]
    ring = [f"r{i}" for i in range(5)]
    devices = [(a, d) for a in ring for d in ("rd0", "rd1")]
    cards = [(a, c) for a in ring for c in ("rc0", "rc1")]
    own = [(f"c{i}", f"d{i}") for i in range(400)]
    snap = snapshot(USED_DEVICE=edges(devices + own), PAID_WITH=edges(shop + cards,
                    list(np.arange(len(shop) + len(cards)) * 3600.0)))
    return snap, ring


def test_merchants_with_many_customers_make_no_ring_but_a_rare_sharing_ring_stays():
    snap, ring = _merchant_world()
    everything = find_ring_candidates(snap, RingConfig(min_surprise=-np.inf))
    honest = [c for c in everything if not set(c.members) & set(ring)]
    assert len(honest) >= 5, "the search itself lists groups of shoppers"
    assert max(c.features["surprise"] for c in honest) < RingConfig().min_surprise
    reported = find_ring_candidates(snap)
    assert [c.members for c in reported] == [ring]
    found = reported[0]
    assert found.features["surprise"] > 5.0
    assert set(found.evidence) == {"Device:rd0", "Device:rd1", "PaymentMethod:rc0",
                                   "PaymentMethod:rc1"}


def test_co_located_entities_count_once_distinct_ones_each():
    # group 0: 3 accounts all on one device, one IP, one card (a household);
    # group 1: 3 accounts all on two devices and two cards (two of each type)
    uses = sp.csr_matrix(np.array([[1, 1, 1, 0, 0, 0, 0]] * 3 + [[0, 0, 0, 1, 1, 1, 1]] * 3,
                                  dtype=np.float64))
    membership = sp.csr_matrix(np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]],
                                        dtype=np.float64))
    shared = (membership @ uses).tocsr()
    codes = np.array([0, 1, 2, 0, 0, 2, 2])  # Device, IP, Card
    chance = shared.copy()
    chance.data = -np.arange(1.0, shared.nnz + 1.0)
    signature = colocation_signatures(membership, uses, shared)
    _, _, plain = anchors(shared, chance)
    _, _, colocated = anchors(shared, chance, signature=signature, codes=codes)
    assert plain[0] < 0 and colocated[0] == 0.0  # one place: the anchor alone
    assert plain[1] < colocated[1] < 0  # two of a type: one entity beyond the anchor


def test_pair_chance_knows_busy_shoppers_from_shared_devices():
    # 1,000 accounts; shops: 1,000 of 10 users each, every account visits 10 (E = 10,000):
    # 45,000 pairs of co-users the search could list
    shops = pair_log_chance(np.array([[2.0]]), np.array([[10.0]]), np.array([[10.0]]),
                            np.array([1000 * 10.0 * 9.0]), np.array([10_000.0]))
    # devices: one each, but two of them used by both accounts of the pair (E = 1,002): the
    # pair is the only one of co-users (2 * 2 * 1 / 2 = 2 entity-pairs)
    devices = pair_log_chance(np.array([[2.0]]), np.array([[2.0]]), np.array([[2.0]]),
                              np.array([2 * 2.0 * 1.0]), np.array([1002.0]))
    assert -shops[0] - np.log10(45_000) < 0  # sharing 2 of 10 nearby shops: chance does it
    assert -devices[0] - np.log10(2) > 2.0  # sharing both of 2 rare devices: it does not
    mean = 10 * 10 * 1000 * 90 / 10_000 ** 2  # the exact Poisson tail beyond one shared
    assert np.isclose(shops[0], np.log10(poisson.sf(1, mean) / poisson.sf(0, mean)))


def test_pair_chance_counts_only_sharing_beyond_one_of_each_type():
    shared = np.array([[1.0, 3.0], [1.0, 1.0], [2.0, 2.0]])
    chance = pair_log_chance(shared, np.ones((3, 2)), np.ones((3, 2)), np.array([2.0, 2.0]),
                             np.array([100.0, 100.0]))
    mean = 2.0 / 100 ** 2
    beyond = [np.log10(poisson.sf(s - 1, mean) / poisson.sf(0, mean)) for s in (2.0, 3.0)]
    assert np.isclose(chance[0], beyond[1])
    assert chance[1] == 0.0  # a device and a card once each: one place, nothing to explain
    assert np.isclose(chance[2], 2 * beyond[0])  # two types beyond one: both count


def test_a_locality_rate_only_ever_makes_sharing_likelier():
    shared = sp.csr_matrix(np.array([[3.0, 2.0]]))
    args = (shared, np.array([5]), np.array([10.0, 10.0]), np.array([0, 0]),
            np.array([[2.0]]), np.array([1000.0]))
    plain = sharing_log_chance(*args).toarray()[0]
    local = sharing_log_chance(*args, locality_rate=np.array([2.0 / 40.0, 0.0])).toarray()[0]
    assert local[0] > plain[0] + 3.0  # 2 of a town's 40 uses, not of 1,000: a neighbourhood
    assert local[1] == plain[1]  # no locality (or a lower rate): the type null stands
    mean = pair_log_chance(np.array([[2.0]]), np.array([[10.0]]), np.array([[10.0]]),
                           np.array([90.0]), np.array([10_000.0]))
    near = pair_log_chance(np.array([[2.0]]), np.array([[10.0]]), np.array([[10.0]]),
                           np.array([90.0]), np.array([10_000.0]), local_mean=np.array([[0.5]]))
    assert near[0] > mean[0] + 2.0


def test_robust_surprise_needs_several_group_statistics_not_one_far_out():
    # a payroll run: its window alone far out (-27 orders), its pair class and links ordinary
    payroll = [np.array([0.0]), np.array([-27.0]), np.array([0.0])]
    # a ring: a link beyond its tree, a window and a pair class, each moderate, and a hop
    ring = [np.array([-2.0]), np.array([-7.0]), np.array([-5.0])]
    selection = np.array([14.0])
    assert robust_surprise(payroll, np.zeros(1), selection) == pytest.approx(
        [GROUP_TERM_CAP - 14.0])
    assert robust_surprise(ring, np.array([-3.0]), selection) == pytest.approx([3.0])
    # under the cap nothing changes: the surprise itself
    assert robust_surprise(ring, np.array([-3.0]), selection, cap=30.0) == pytest.approx(
        surprise(np.zeros(1), np.array([-17.0]), selection))
    # members' own tests (hops, fans) are not capped
    assert robust_surprise(payroll, np.array([-20.0]), selection) == pytest.approx(
        [GROUP_TERM_CAP + 20.0 - 14.0])
