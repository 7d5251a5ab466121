"""The planted mule worlds plant what they say; the scorer counts groups found and honest."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.honest_flows import DAY
from benchmarks.mule_flows import WORLDS, build, score


def _events(name: str) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    log = build(name, 0, n_base=40)
    frame = log.frame()
    frame["t"] = (pd.to_datetime(frame["when"], utc=True)
                  - pd.Timestamp("2024-09-01", tz="UTC")).dt.total_seconds()
    return frame, log.groups


@pytest.mark.parametrize("name", list(WORLDS))
def test_a_mule_world_is_seeded_and_plants_its_groups(name) -> None:
    frame, groups = _events(name)
    assert len(groups) == (10 if "chain" in name else 5)
    assert frame["user"].tolist() == build(name, 0, n_base=40).frame()["user"].tolist()
    members = next(iter(groups.values()))
    inside = frame[(frame["action"] == "transfer") & frame["user"].isin(members)
                   & frame["peer"].isin(members)]
    assert len(inside) >= 8 * 5


def test_bills_mules_pass_what_victims_paid_to_one_collector_who_cashes_out() -> None:
    frame, groups = _events("mule_bills")
    *mules, sink = groups["mules0"]
    moved = frame[(frame["action"] == "transfer") & frame["user"].isin(mules)]
    assert set(moved["peer"]) == {mules[0], sink}
    assert set(moved[moved["user"] == mules[0]]["peer"]) == {sink}
    paid_in = frame[(frame["action"] == "transfer") & frame["peer"].isin(mules[1:])]
    assert not paid_in["user"].isin(mules).any() and paid_in["amt"].between(200, 900).all()
    assert set(paid_in["user"]) <= build("mule_bills", 0, n_base=40).victims


def test_smurf_mules_are_salaried_and_their_collector_turns_each_week() -> None:
    frame, groups = _events("mule_kitty_smurf")
    mules = groups["mules0"]
    kitty = frame[(frame["action"] == "transfer") & frame["user"].isin(mules)
                  & frame["peer"].isin(mules)]
    assert kitty["peer"].nunique() == 8
    salary = frame[(frame["action"] == "transfer") & frame["peer"].isin(mules)
                   & ~frame["user"].isin(mules)]
    assert salary["amt"].between(1800, 3000).all()


def test_a_floating_chain_has_two_mules_paying_on_before_they_are_paid() -> None:
    frame, groups = _events("mule_chain_float")
    path = groups["chain0"]
    hops = frame[(frame["action"] == "transfer") & frame["peer"].isin(path[1:])]
    first = hops[hops["t"] < hops["t"].min() + 5 * DAY].set_index("peer")["t"]
    paid_at = {m: first[m] for m in path[1:]}
    assert paid_at[path[2]] < paid_at[path[1]] and paid_at[path[3]] < paid_at[path[2]]
    assert paid_at[path[4]] > paid_at[path[3]]


def test_score_counts_a_group_found_when_one_ring_holds_half_of_it() -> None:
    rings = pd.DataFrame({"members": [["a", "b", "x"], ["c", "y", "z"]]})
    figures = score(rings, {"g1": ["a", "b", "c", "d"], "g2": ["e", "f"]}, {"z", "q"})
    assert figures["found"] == 1 and figures["found_groups"] == ["g1"]
    assert figures["honest_in_rings"] == 2 and figures["victims_in_rings"] == 1
    assert figures["rings"] == 2
    assert score(pd.DataFrame({"members": []}), {"g1": ["a"]})["found"] == 0


def test_an_unknown_mule_world_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown world 'mule_x'"):
        build("mule_x", 0)
