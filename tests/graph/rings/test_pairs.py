"""Pairs: two accounts tied by rare entities are a finding when chance does not explain them."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from graph.rings.candidates import find_ring_candidates
from graph.rings.config import RingConfig
from graph.rings.pairs import rare_entity_pairs
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
