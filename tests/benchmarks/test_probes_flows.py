"""The reviewer's mule worlds of benchmarks.probes_flows plant what they say."""

import pandas as pd
import pytest

from benchmarks.probes_flows import WORLDS, build


def _frame(name: str) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    log = build(name, 0, n_base=40)
    return log.frame(), log.groups


@pytest.mark.parametrize("name", list(WORLDS))
def test_five_groups_of_eight_mules_pass_victims_money_to_a_collector(name):
    frame, groups = _frame(name)
    assert len(groups) == 5
    *mules, sink = groups["mules0"]
    assert len(mules) == 8
    inside = frame[(frame["action"] == "transfer") & frame["user"].isin(mules)]
    outside = inside[~inside["peer"].isin([*mules, sink])]
    assert outside["amt"].isin([500.0, 600.0, 700.0]).all()  # rent, where they pay one
    assert (inside["peer"] == sink).sum() == 12  # one cash-out a week


@pytest.mark.parametrize("name", ["mule_bills_spender", "mule_weekly_spender"])
def test_spending_mules_buy_big_at_shops(name):
    frame, groups = _frame(name)
    mules = groups["mules0"][:-1]
    bought = frame[(frame["action"] == "purchase") & frame["user"].isin(mules)]
    assert bought.groupby("user").size().min() > 50
    assert 100 < bought["amt"].median() < 220 and (bought["amt"] > 260).mean() > 0.15


def test_rich_mules_are_salaried_and_pay_rent():
    frame, groups = _frame("mule_bills_rich")
    mules = groups["mules0"][:-1]
    paid_in = frame[(frame["action"] == "transfer") & frame["peer"].isin(mules)
                    & (frame["amt"] >= 1800)]
    assert set(paid_in["peer"]) == set(mules)
    rent = frame[(frame["action"] == "transfer") & frame["user"].isin(mules)
                 & frame["amt"].isin([500.0, 600.0, 700.0])]
    assert rent["user"].nunique() == len(mules)
