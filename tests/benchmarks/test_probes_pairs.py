"""The reviewer's couples world of benchmarks.probes_pairs."""

import numpy as np
import pandas as pd

from benchmarks.probes_pairs import PAIRS, couples_world, given_labels, pairs_in_rings


def _shared(table: pd.DataFrame, column: str, a: int, b: int) -> set:
    used = table.groupby("user")[column].agg(set)
    return (used.get(a, set()) & used.get(b, set())) - {-1}


def test_each_kind_shares_what_its_docstring_says_and_nobody_else_uses_it():
    world = couples_world(0)
    logins, orders = world.table("logins"), world.table("orders")
    recorded = {g.kind: g for g in world.lookalikes + world.groups}
    expected = {"couple": (1, 1), "couple_two": (2, 2), "flatmates": (1, 0), "fresh_couple": (1, 1),
                "partner_of_fraudster": (1, 1), "planted_pair": (1, 1)}
    for kind, (devices, cards) in expected.items():
        pairs = recorded[kind].info["pairs"]
        assert len(pairs) == PAIRS[kind]
        for a, b in pairs[:5]:
            shared_devices = _shared(logins, "device", a, b)
            shared_cards = _shared(orders, "card", a, b)
            assert (len(shared_devices), len(shared_cards)) == (devices, cards), kind
            others = logins[logins["device"].isin(shared_devices)]["user"]
            assert set(others) == {a, b}
    fraudsters = recorded["fraudster"].members
    mixed = np.array(recorded["partner_of_fraudster"].info["pairs"])
    assert np.array_equal(fraudsters, mixed[:, 0])
    assert np.array_equal(recorded["partner_of_fraudster"].members, np.sort(mixed[:, 1]))
    # a fraudster buys with stolen cards his partner never uses
    assert orders[orders["user"].isin(fraudsters)]["card"].nunique() > 3 * len(fraudsters)


def test_the_run_gets_half_the_households_no_partner_and_half_the_planted_pairs():
    world = couples_world(1)

    def entry(g):
        pairs = [[str(a), str(b)] for a, b in g.info.get("pairs", [])]
        return {"kind": g.kind, "members": [str(m) for m in g.members], "info": {"pairs": pairs}}

    groups = {"groups": [entry(g) for g in world.groups],
              "lookalikes": [entry(g) for g in world.lookalikes]}
    labels = pd.DataFrame({"user_id": [str(i) for i in range(world.counts["account"])],
                           "is_abuser": 0})
    given = set(given_labels(labels, groups, 1)["user_id"])
    kinds = {g["kind"]: g for g in groups["lookalikes"] + groups["groups"]}
    assert not given & set(kinds["partner_of_fraudster"]["members"])
    for kind in ("couple", "couple_two", "flatmates"):
        pairs = kinds[kind]["info"]["pairs"]
        known = [set(p) <= given for p in pairs]
        assert all(set(p) <= given or not set(p) & given for p in pairs)  # whole pairs
        assert 0.2 < np.mean(known) < 0.8, kind
    planted = set(kinds["planted_pair"]["members"])
    assert 0.3 < len(planted & given) / len(planted) < 0.7
    assert set(kinds["fraudster"]["members"]) <= given


def test_pairs_in_rings_counts_pairs_held_together_and_in_small_rings():
    rings = [{"a", "b"}, {"c", "d", "e", "f", "g"}, {"h", "x"}]
    assert pairs_in_rings([["a", "b"], ["c", "d"], ["h", "i"]], rings) == (2, 1)
