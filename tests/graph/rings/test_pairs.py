"""Pairs: two accounts tied by rare entities are a finding when chance does not explain them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from graph.rings.candidates import find_ring_candidates
from graph.rings.config import RingConfig
from graph.rings.pairs import coincidence_log_chance, rare_entity_pairs
from tests.graph.rings.helpers import edges, snapshot


def test_rare_entity_pairs_need_two_rare_entities_and_skip_pairs_a_group_ties_as_well():
    # accounts 0, 1 share entities 0 and 1; 2, 3 share entity 2 only; 4, 5 share 3 and 4;
    # entity 5 is used by all six
    uses = np.zeros((6, 6))
    uses[[0, 0, 1, 1, 2, 3, 4, 4, 5, 5], [0, 1, 0, 1, 2, 2, 3, 4, 3, 4]] = 1.0
    uses[:, 5] = 1.0
    matrix = sp.csr_matrix(uses)
    assert rare_entity_pairs(matrix, max_degree=5).tolist() == [[0, 1], [4, 5]]
    # entity 5 counts once it is rare enough: every pair shares it, 2 and 3 now share two
    assert rare_entity_pairs(matrix, max_degree=6).tolist() == [[0, 1], [2, 3], [4, 5]]
    # a group holding 4 and 5 whose third member uses neither of their entities hides nothing
    group = sp.csr_matrix(np.array([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]))
    assert rare_entity_pairs(matrix, max_degree=5, groups=group).tolist() == [[0, 1], [4, 5]]
    # once account 3 uses both, the group ties them as well as the pair does
    uses[3, [3, 4]] = 1.0
    assert rare_entity_pairs(sp.csr_matrix(uses), max_degree=5, groups=group).tolist() == [
        [0, 1]]
    # one of them is not enough: the pair's tie through entity 4 is its own
    uses[3, 4] = 0.0
    assert rare_entity_pairs(sp.csr_matrix(uses), max_degree=5, groups=group).tolist() == [
        [0, 1], [4, 5]]


def test_a_pair_sharing_two_devices_is_reported_a_device_and_a_card_are_one_place():
    people = [f"u{i}" for i in range(10_000)]
    own_devices = [(p, f"d{i}") for i, p in enumerate(people)]
    own_cards = [(p, f"c{i}") for i, p in enumerate(people)]
    # u0 and u1 share two devices and a card; u2 and u3 a device and a card (one household:
    # each type once, as a family's phone and card); u4 and u5 only a device
    devices = own_devices + [("u0", "dx"), ("u1", "dx"), ("u1", "d0"), ("u3", "d2"),
                             ("u5", "d4")]
    cards = own_cards + [("u1", "c0"), ("u3", "c2")]
    snap = snapshot(USED_DEVICE=edges(devices), PAID_WITH=edges(cards))
    found = find_ring_candidates(snap)
    pairs = [c for c in found if c.kind == "pair"]
    assert [c.members for c in pairs] == [["u0", "u1"]]
    assert pairs[0].features["surprise"] >= RingConfig().min_surprise
    assert set(pairs[0].evidence) == {"Device:d0", "Device:dx", "PaymentMethod:c0"}
    assert not find_ring_candidates(snap, RingConfig(pairs=False))


def test_a_generated_world_s_planted_pairs_are_found_and_its_households_are_not(tmp_path):
    import pandas as pd

    from ingest.synth import generate

    world = generate(tmp_path / "pairs", n_accounts=2_000, seed=3, progress=False,
                     pair_fraction=0.1)
    events = pd.read_parquet(world.events_dir)
    rings = pd.read_parquet(world.rings_path)
    truth = pd.read_parquet(world.truth_path)
    abusive = set(truth.loc[truth["is_abusive"], "account_id"])
    tables = {}
    for relation, column in (("USED_DEVICE", "device_id"), ("USED_IP", "ip"),
                             ("PAID_WITH", "payment_id"), ("TRANSACTED_WITH", "counterparty_id")):
        used = events.dropna(subset=[column]).groupby(["account_id", column])["ts"]
        table = used.agg(first_ts="min", last_ts="max", count="size").reset_index()
        tables[relation] = table.rename(columns={"account_id": "src", column: "dst"}).assign(
            amount_sum=0.0)
    found = {tuple(sorted(c.members)) for c in find_ring_candidates(snapshot(**tables))
             if len(c.members) == 2}
    planted = rings.loc[rings["kind"] == "pair", "members"].map(tuple)
    # a pair sharing two devices and two cards is more than a household: the null model says so
    users = {column: events.dropna(subset=[column]).groupby(column)["account_id"].agg(set)
             for column in ("device_id", "payment_id")}
    telling = [pair for pair in planted
               if all(sum(set(pair) <= u for u in users[c]) >= 2 for c in users)]
    recovered = [tuple(sorted(pair)) in found for pair in telling]
    assert len(recovered) >= 10 and np.mean(recovered) >= 0.8
    # no pair found is honest (households share one device and one card at most)
    assert all(set(pair) & abusive for pair in found)


def test_coincidence_counts_distinct_moments_the_two_accounts_meet_on_what_they_share():
    day = 86_400
    # pair 0 (accounts 0, 1) first uses entities 0 and 1 within a minute of each other and
    # last uses entity 0 together days later: two moments; pair 1 (accounts 2, 3) uses
    # entity 2 days apart, and the snapshot spans 30 days
    uses = pd.DataFrame({
        "row": [0, 1, 0, 1, 2, 3, 4],
        "col": [0, 0, 1, 1, 2, 2, 3],
        "first_ts": [day, day + 30, day + 5, day + 40, 2 * day, 9 * day, 0],
        "last_ts": [10 * day, 10 * day + 60, day + 5, day + 40, 3 * day, 12 * day, 30 * day],
    })
    shared = sp.csr_matrix(np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]))
    a, b = np.array([0, 2]), np.array([1, 3])
    chance, moments = coincidence_log_chance(uses, a, b, shared, 3600.0)
    p = 2 * 3600.0 / (30 * day)
    # 8 comparisons (4 on each entity), 2 distinct moments
    assert chance[0] == pytest.approx(np.log10(28) + 2 * np.log10(p))
    assert chance[1] == 0.0
    assert moments.tolist() == [2.0, 0.0]
    # the uses' order does not matter (stacked incidences are not sorted as a whole)
    shuffled = uses.iloc[[6, 3, 0, 5, 1, 4, 2]].reset_index(drop=True)
    assert coincidence_log_chance(shuffled, a, b, shared, 3600.0).log_chance == pytest.approx(
        chance)
    # an entity one of the two used at an unknown time is not compared: entity 1 goes, and
    # entity 0's 4 comparisons hold the same two moments
    unknown = uses.assign(first_ts=uses["first_ts"].where(uses.index != 2, -1))
    assert coincidence_log_chance(unknown, a, b, shared, 3600.0).log_chance[0] == pytest.approx(
        np.log10(6) + 2 * np.log10(p))
    assert coincidence_log_chance(uses, np.array([], dtype=np.int64),
                                  np.array([], dtype=np.int64), sp.csr_matrix((0, 4)),
                                  3600.0).log_chance.shape == (0,)


def test_uses_spanning_the_whole_log_are_no_coincidence():
    """Two household members using the family device every evening of the log "first" and
    "last" use it at its bounds: that is the log's edge, not two accounts acting together."""
    day = 86_400
    uses = pd.DataFrame({"row": [0, 1], "col": [0, 0], "first_ts": [60, 600],
                         "last_ts": [30 * day - 600, 30 * day]})
    shared = sp.csr_matrix(np.array([[1.0]]))
    met = coincidence_log_chance(uses, np.array([0]), np.array([1]), shared, 3600.0)
    assert met.log_chance.tolist() == [0.0] and met.moments.tolist() == [0.0]
    with pytest.raises(ValueError, match="window must be positive"):
        coincidence_log_chance(uses, np.array([0]), np.array([1]), shared, 0.0)
