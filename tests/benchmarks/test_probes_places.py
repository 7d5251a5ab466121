"""The reviewer's returning hostel farms of benchmarks.probes_places."""

import numpy as np

from benchmarks.probes_places import DESK_LOGINS, FARMS, world_dr, world_hr
from benchmarks.shapes.population import DAY


def test_each_farm_bursts_at_its_hostel_and_returns_as_its_name_says():
    world = world_hr(0, base=50)
    logins, orders = world.table("logins"), world.table("orders")
    for name, (later, per_card, spread) in FARMS.items():
        farm = next(g for g in world.groups if g.id == name).members
        assert len(farm) == 40
        theirs = logins[logins["user"].isin(farm)]
        span = theirs.groupby("user")["ts"].agg(lambda t: t.max() - t.min())
        signups = world.table("signups")
        days = np.floor(signups[signups["user"].isin(farm)]["ts"] / DAY)
        assert days.nunique() == (spread if spread else 1)  # a burst or ~7 a day
        if later:
            assert (span >= later[0][0] * DAY - 3600).all()
            assert theirs.groupby("user").size().min() == 1 + len(later)
        else:
            assert (span < DAY).all()
        guests = next(g for g in world.lookalikes if g.id == f"{name}_guests")
        pcs = set(guests.info["pcs"])
        assert set(theirs["device"]) <= pcs  # the hostel's PCs only
        cards = orders[orders["user"].isin(farm)]["card"]
        assert cards.nunique() == int(np.ceil(40 / per_card))


def test_desk_farms_log_in_through_the_carrier_pool_as_often_as_their_names_say():
    world = world_dr(0, base=50)
    logins = world.table("logins")
    carrier = set(range(40))  # the world's first 40 IPs
    for logins_made in DESK_LOGINS:
        farm = next(g for g in world.groups if g.id == f"farm_desk_first_mix{logins_made}")
        theirs = logins[logins["user"].isin(farm.members) & logins["ip"].isin(carrier)]
        assert len(farm.members) == 40
        assert (theirs.groupby("user").size().reindex(farm.members, fill_value=0)
                == logins_made).all()
