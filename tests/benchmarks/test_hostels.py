"""The hostel and sign-up-desk worlds of benchmarks.hostels."""

import numpy as np
import pandas as pd

from benchmarks.hostels import FAMILIES, FARM, MEMBERS, build, score


def test_hostel_guests_have_nothing_of_their_own_but_a_family_card_and_farms_a_card_per_3():
    world = build("H", 0, base=100)
    logins, orders = world.table("logins"), world.table("orders")
    guests = {g.id: g.members for g in world.lookalikes if g.kind == "hostel_guest"}
    assert len(guests) == 6 and all(len(m) == FAMILIES * MEMBERS for m in guests.values())
    stay = logins[logins["user"].isin(guests["hostel_families"])]
    assert stay["device"].nunique() == 3 and stay["ip"].nunique() == 2
    cards = orders[orders["user"].isin(guests["hostel_families"])].groupby("card")["user"]
    assert (cards.nunique() <= MEMBERS).all() and cards.ngroups == FAMILIES
    farms = {g.id: g.members for g in world.groups}
    assert len(farms) == 7 and all(len(m) == FARM for m in farms.values())
    first = orders[orders["user"].isin(farms["farm_cards3_first"])]
    assert len(first) == FARM and (first["promo"] == 0).all()
    assert first.groupby("card")["user"].nunique().max() == 3
    late = orders[orders["user"].isin(farms["farm_cards3"])].sort_values("ts")
    assert (late.groupby("user")["promo"].agg(list) == pd.Series([[-1, 0]] * FARM).values).all()
    # a farm at a hostel is on that hostel's PCs only
    pcs = set(stay["device"]) | set(logins.loc[logins["user"].isin(
        guests["hostel_farm_cheap_guests"]), "device"])
    cheap = logins[logins["user"].isin(farms["hostel_farm_cheap"])]
    assert set(cheap["device"]) - pcs and not set(cheap["device"]) & set(stay["device"])


def test_desk_farms_sign_up_on_two_desks_and_mix2_logs_in_twice_through_the_carrier():
    world = build("DESK", 1, base=100)
    signups, logins = world.table("signups"), world.table("logins")
    farms = {g.id: g.members for g in world.groups}
    assert set(farms) == {"farm_desk", "farm_desk_first", "farm_desk_mobile",
                          "farm_desk_mobile_first", "farm_desk_first_mix2"}
    for members in farms.values():
        assert signups.loc[signups["user"].isin(members), "device"].nunique() == 2
    carrier = set(range(40))  # the first 40 IPs: the carrier pool
    own = logins[logins["user"].isin(farms["farm_desk_first"])]
    assert not set(own["ip"]) & carrier
    mix = logins[logins["user"].isin(farms["farm_desk_first_mix2"]) & logins["ip"].isin(carrier)]
    assert (mix.groupby("user").size() == 2).all() and mix["user"].nunique() == FARM
    gaps = mix.groupby("user")["ts"].agg(lambda t: np.ptp(t)) / 86400
    assert gaps.min() >= 20 and gaps.max() <= 40


def test_score_counts_honest_guests_and_each_farm_s_best_ring():
    groups = {"groups": [{"id": "farm", "members": ["f1", "f2", "f3"]}],
              "lookalikes": [{"id": "hostel", "kind": "hostel_guest", "members": ["g1", "g2"]},
                             {"id": "drive_by", "kind": "drive_by", "members": ["d1"]}]}
    rings = pd.DataFrame({"members": [["f1", "f2", "g1"], ["f3", "d1"]]})
    out = score(rings, groups)
    assert out["honest_in_rings"] == 2 and out["lookalikes"] == {"hostel": 1}
    assert out["farms"]["farm"] == {"planted": 3, "best": 2, "in_rings": 3, "honest_beside": 2}
