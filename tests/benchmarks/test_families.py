"""The family-laptop world of benchmarks.families."""

import numpy as np
import pandas as pd

from benchmarks.families import FAMILIES, MEMBERS, THROWAWAYS, fraud_families, given_labels


def test_each_fraudster_shares_his_laptop_with_his_family_and_his_throwaways():
    world = fraud_families(0)
    fraudsters = next(g for g in world.groups if g.kind == "fraudster").members
    relatives = next(g for g in world.lookalikes if g.kind == "family_of_fraudster").members
    assert len(fraudsters) == FAMILIES and len(relatives) == FAMILIES * (MEMBERS - 1)
    logins = world.table("logins")
    signups = world.table("signups")
    for i, fraudster in enumerate(fraudsters[:3]):
        family = np.arange(fraudster, fraudster + MEMBERS)
        devices = logins[logins["user"].isin(family)].groupby("user")["device"].agg(set)
        laptop = set.intersection(*devices)
        assert len(laptop) == 1  # the family laptop (each member's phone is his own)
        throw = next(g for g in world.groups if g.id == f"throwaways{i}").members
        assert len(throw) == THROWAWAYS
        assert set(signups.loc[signups["user"].isin(throw), "device"]) == laptop
        # the fraudster's own life is his relatives' kind: existing account, no signup
        assert not signups["user"].isin(family).any()


def test_the_run_gets_no_relative_and_half_the_throwaways():
    world = fraud_families(1)
    groups = {"groups": [{"kind": g.kind, "members": g.members.tolist()} for g in world.groups],
              "lookalikes": [{"kind": g.kind, "members": g.members.tolist()}
                             for g in world.lookalikes]}
    labels = pd.DataFrame({"user_id": [str(i) for i in range(world.counts["account"])],
                           "is_abuser": 0})
    given, relatives = given_labels(labels, groups, 1)
    assert len(relatives) == FAMILIES * (MEMBERS - 1)
    assert not set(given["user_id"]) & relatives
    throw = {str(m) for g in world.groups if g.kind == "throwaways" for m in g.members}
    kept = len(throw & set(given["user_id"])) / len(throw)
    assert 0.35 < kept < 0.65
