"""The reviewer's covered takeover tools of benchmarks.probes_takeovers."""

import numpy as np

from benchmarks.probes_takeovers import COVER, TOOLS, VICTIMS, world_tr


def test_each_tool_gets_into_its_victims_on_fresh_fingerprints_covered_as_named():
    world = world_tr(0, base=1000)
    logins = world.table("logins")
    for name, cover in TOOLS.items():
        group = next(g for g in world.groups if g.id == name)
        ips = group.info["ips"]
        at_tool = logins[logins["ip"].isin(ips)]
        victims = at_tool[at_tool["user"].isin(group.members)]
        assert victims["user"].nunique() == VICTIMS == len(group.members)
        assert (victims.groupby("user")["ip"].nunique() <= 2).all()
        assert victims.groupby("user")["failed"].agg(["min", "max"]).eq([0, 1]).all().all()
        # a fingerprint of its own per victim, never seen elsewhere before the tool
        assert victims.groupby("device")["user"].nunique().max() == 1
        others = at_tool[~at_tool["user"].isin(group.members)]
        if cover == "aged":
            cover_group = next(g for g in world.groups if g.id == f"{name}_cover")
            assert set(others["user"]) == set(cover_group.members)
            assert len(others) == COVER and (others["failed"] == 0).all()
            assert (others.groupby("ip").size() == COVER // 4).all()  # 9 % of each IP's
            before = logins[logins["user"].isin(cover_group.members)
                            & ~logins["ip"].isin(ips)]
            assert set(others["device"]) <= set(before["device"])  # their own devices
        else:
            assert others.empty
        days = np.floor(victims["ts"] / 86400)
        if cover == "revisit":  # two campaign days; COVER of the first day's back on the second
            assert days.nunique() == 2
            back = victims.assign(day=days).groupby("user")["day"].nunique()
            assert (back == 2).sum() == COVER
            assert (victims.groupby("user")["ip"].nunique()[back == 2] == 2).all()  # arrivals
        else:
            assert days.nunique() == 1
