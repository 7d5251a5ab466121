"""Groups of high-scoring linked accounts judged by their anchored surprise (issue 19)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.rings.anchored import ANCHORED_FEATURE
from graph.rings.candidates import RingCandidate, find_ring_candidates, ring_id_for, ring_inputs
from graph.rings.config import RingConfig
from graph.rings.scored import SCORED_KIND, entity_surprise, scored_candidates
from graph.snapshot import Snapshot
from tests.graph.rings.helpers import edges, snapshot

FARM = [f"f{i:02d}" for i in range(40)]
HONEST = [f"h{i:04d}" for i in range(2000)]
#: 150 honest customers of a kiosk's Wi-Fi, and 300 students behind a university NAT (a hub)
KIOSK = HONEST[:150]
CAMPUS = HONEST[1000:1300]


def farm_world(seed: int = 0) -> Snapshot:
    """A farm of 40 accounts on one device, each with its own IP, among 2,000 honest accounts
    in families of 4 (a shared laptop), on 400 home IPs, a kiosk's and a campus's."""
    rng = np.random.default_rng(seed)
    devices = [(a, "farm-phone") for a in FARM] + [(a, f"laptop{i // 4}")
                                                   for i, a in enumerate(HONEST)]
    ips = [(a, f"home{rng.integers(0, 400)}") for a in HONEST]
    ips += [(a, f"proxy{i}") for i, a in enumerate(FARM)]
    ips += [(a, "kiosk") for a in KIOSK] + [(a, "campus") for a in CAMPUS]
    return snapshot(USED_DEVICE=edges(devices), USED_IP=edges(ips))


def world_scores(seed: int = 0, farm: float = 0.9) -> pd.DataFrame:
    """The farm at ``farm``, honest accounts at 0.0-0.3, except one member of each of 30
    families (a fraudster's household), 25 kiosk customers and 40 students at 0.8."""
    rng = np.random.default_rng(seed)
    honest = pd.Series(rng.uniform(0.0, 0.3, len(HONEST)), index=HONEST)
    honest.iloc[np.arange(1400, 1520, 4)] = 0.8
    honest[KIOSK[1::6]] = 0.8
    honest[CAMPUS[::7][:40]] = 0.8
    scores = pd.concat([pd.Series(farm, index=FARM), honest])
    return pd.DataFrame({"account_id": scores.index, "score": scores.to_numpy()})


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return farm_world()


def test_the_search_keeps_no_candidate_for_a_farm_on_one_device(world):
    # the premise: one device's accounts are what the null model explains
    assert not [c for c in find_ring_candidates(world) if set(FARM) & set(c.members)]


def test_a_farm_on_one_device_scored_high_is_one_group_with_its_reason(world):
    found = scored_candidates(ring_inputs(world), world_scores(), 0.5, 2.0)
    assert [c.members for c in found] == [FARM]
    farm = found[0]
    assert farm.kind == SCORED_KIND and farm.ring_id == ring_id_for(FARM)
    assert farm.evidence[0] == "Device:farm-phone"
    assert farm.evidence[-1].startswith(
        "Scored:40 of the 40 users of Device:farm-phone score at least 0.5")
    # its structure alone is what chance makes; its members' scores are not
    assert farm.features["significant"] == 0.0 and farm.features["surprise"] < 2.0
    assert farm.features[ANCHORED_FEATURE] >= 2.0


def test_honest_households_kiosk_customers_and_students_make_no_group(world):
    scores = world_scores(farm=0.1)
    assert scored_candidates(ring_inputs(world), scores, 0.5, 2.0) == []


def test_the_training_labels_alone_make_no_group(world):
    scores = world_scores()
    assert scored_candidates(ring_inputs(world), scores, 0.5, 2.0, known=set(FARM)) == []
    half = scored_candidates(ring_inputs(world), scores, 0.5, 2.0, known=set(FARM[:20]))
    assert [c.members for c in half] == [FARM]
    assert half[0].evidence[-1].startswith(
        "Scored:20 of the 20 users of Device:farm-phone outside the training labels (of 40 in "
        "all) score at least 0.5")


def test_a_group_the_search_found_is_left_to_it(world):
    searched = RingCandidate(ring_id_for(FARM), FARM, "dense_block")
    assert scored_candidates(ring_inputs(world), world_scores(), 0.5, 2.0,
                             candidates=[searched]) == []


def test_a_member_under_the_anchor_bar_is_left_out_and_counted():
    snap = farm_world()
    scores = world_scores()
    scores.loc[scores["account_id"].isin(FARM[:2]), "score"] = 0.3
    found = scored_candidates(ring_inputs(snap), scores, 0.5, 2.0)
    assert [c.members for c in found] == [FARM[2:]]
    assert found[0].evidence[-1].startswith(
        "Scored:38 of the 40 users of Device:farm-phone score at least 0.5")


def test_an_entity_most_of_whose_users_score_low_implicates_nobody():
    # 12 high-scoring accounts among a shared device's 30 users: under half
    snap = snapshot(USED_DEVICE=edges([(a, "farm-phone") for a in FARM[:30]]
                                      + [(a, f"laptop{i // 4}") for i, a in enumerate(HONEST)]))
    scores = world_scores(farm=0.1)
    scores.loc[scores["account_id"].isin(FARM[:12]), "score"] = 0.9
    assert scored_candidates(ring_inputs(snap), scores, 0.5, 2.0) == []


def test_scores_permuted_across_accounts_make_no_group(world):
    # the control: with the same scores shuffled, every group kept would be false
    scores = world_scores()
    rng = np.random.default_rng(1)
    kept = 0
    for _ in range(20):
        shuffled = scores.assign(score=rng.permutation(scores["score"].to_numpy()))
        kept += len(scored_candidates(ring_inputs(world), shuffled, 0.5, 2.0))
    assert kept == 0


def test_without_high_scores_nothing_is_read(world):
    scores = world_scores(farm=0.1).assign(score=0.2)
    assert scored_candidates(ring_inputs(world), scores, 0.5, 2.0) == []


def test_a_farm_larger_than_the_group_bound_stays_whole(world):
    # one device's 40 users are one clique: nothing to split at max_group_size 20
    found = scored_candidates(ring_inputs(world), world_scores(), 0.5, 2.0,
                              RingConfig(max_size=10, max_group_size=20))
    assert [c.members for c in found] == [FARM]


def test_linked_farms_above_the_group_bound_are_split_where_they_split():
    # two farms of 40 on their own devices, tied by one account on both: 80 > max_group_size
    # 50, so Leiden splits them at the tie; under the bound they are one group
    second = [f"g{i:02d}" for i in range(40)]
    snap = snapshot(USED_DEVICE=edges(
        [(a, "farm-phone") for a in FARM] + [(a, "farm-tablet") for a in [*second, FARM[0]]]
        + [(a, f"laptop{i // 4}") for i, a in enumerate(HONEST)]))
    scores = pd.concat([world_scores(), pd.DataFrame({"account_id": second, "score": 0.9})])
    split = scored_candidates(ring_inputs(snap), scores, 0.5, 2.0, RingConfig(max_group_size=50))
    assert sorted(len(c.members) for c in split) == [40, 40]
    whole = scored_candidates(ring_inputs(snap), scores, 0.5, 2.0)
    assert [len(c.members) for c in whole] == [80]


def test_a_transfer_hub_whose_payers_score_high_implicates_them():
    # 12 fresh accounts each paying one collector, which pays nobody back
    payers = [f"p{i:02d}" for i in range(12)]
    snap = snapshot(USED_DEVICE=edges([(a, f"laptop{i // 4}") for i, a in enumerate(HONEST)]
                                      + [(a, f"own{a}") for a in payers]),
                    TRANSACTED_WITH=edges([(a, "collector") for a in payers]))
    scores = pd.concat([world_scores(farm=0.1), pd.DataFrame(
        {"account_id": [*payers, "collector"], "score": [0.9] * 12 + [0.2]})])
    found = scored_candidates(ring_inputs(snap), scores, 0.5, 2.0)
    assert [c.members for c in found] == [payers]
    assert found[0].evidence[-1].startswith(
        "Scored:12 of the 12 counterparties of Account:collector")


def test_entity_surprise_is_the_binomial_tail():
    # every user an anchor: the anchored surprise's -k log10 pi; none: 0; rate 0 or 1: 0
    np.testing.assert_allclose(entity_surprise(np.array([6, 10, 4]), np.array([6, 0, 1]), 0.1),
                               [6.0, 0.0, -np.log10(1 - 0.9 ** 4)])
    assert (entity_surprise(np.array([6]), np.array([6]), 1.0) == 0.0).all()
    assert (entity_surprise(np.array([6]), np.array([6]), 0.0) == 0.0).all()
