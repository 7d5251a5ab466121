import numpy as np
import pandas as pd

from graph.rings.one_shot import (
    Activity,
    one_shot_accounts,
    one_shot_fans,
    product_log_chance,
    schedule_log_chance,
)

SHOP = 5000


def _log(shots: int, regulars: int, hubs: int = 300, per_hub: int = 6,
         background_shots: int = 0) -> pd.DataFrame:
    """Hub 0 paid once each by ``shots`` one-shot payers and ``regulars`` regular ones; hubs
    1..``hubs - 1`` by ``per_hub`` one-off payers each, ``background_shots`` of them one-shot
    (a regular payer also pays the shop, three times)."""
    src, dst, count = [], [], []
    payer = 1000

    def pay(hub: int, shot: bool) -> None:
        nonlocal payer
        src.append(payer)
        dst.append(hub)
        count.append(1)
        if not shot:
            src.append(payer)
            dst.append(SHOP)
            count.append(3)
        payer += 1

    for i in range(shots + regulars):
        pay(0, i < shots)
    for hub in range(1, hubs):
        for i in range(per_hub):
            pay(hub, i < background_shots)
    n = len(src)
    return pd.DataFrame({"src": src, "dst": dst, "count": count,
                         "ts": np.arange(n) * 3600.0, "last": np.arange(n) * 3600.0,
                         "amount": 300.0})


def _accounts(transfers: pd.DataFrame) -> pd.Index:
    return pd.Index([f"a{i}" for i in range(int(transfers[["src", "dst"]].max().max()) + 1)])


def test_one_shot_accounts_have_one_transfer():
    transfers = _log(shots=2, regulars=1, hubs=2, per_hub=1)
    single = one_shot_accounts(transfers, SHOP + 1)
    assert single[[1000, 1001]].all()
    assert not single[[1002, 1003, 0, SHOP]].any()


def test_hub_fed_by_one_shot_payers_is_a_fan():
    transfers = _log(shots=4, regulars=1)
    groups = one_shot_fans(transfers, _accounts(transfers), 3, 50, 64)
    assert len(groups) == 1
    group = groups[0]
    assert group.kind == "flow_fan_in"
    assert sorted(group.rows.tolist()) == [0, 1000, 1001, 1002, 1003]
    assert group.log_chance < -np.log10(group.tests) - np.log10(2.0)
    assert any(e.startswith("OneShot:4 of 5 one-off payers") for e in group.evidence)


def test_no_fan_where_one_shot_payers_are_the_log_s_habit():
    # every hub's payers are half one-shot: four of five at hub 0 is no surprise
    transfers = _log(shots=4, regulars=1, background_shots=3)
    assert one_shot_fans(transfers, _accounts(transfers), 3, 50, 64) == []


def test_busy_hubs_are_not_judged():
    transfers = _log(shots=4, regulars=1)
    assert one_shot_fans(transfers, _accounts(transfers), 3, 50, 4) == []


def test_schedule_chance_is_none_for_a_burst_and_counts_its_tests():
    assert schedule_log_chance(5, 5, 5, 5, 3, 50) == 0.0
    # three of three days, the middle one on the grid of 101: 1 / 99, times 3 pairs of ends
    assert np.isclose(schedule_log_chance(3, 3, 101, 3, 3, 50), np.log10(3 / 99))


def test_product_of_two_chances():
    t = 0.01
    assert np.isclose(product_log_chance(np.log10(t)), np.log10(t * (1 - np.log(t))))
    assert product_log_chance(0.0) == 0.0


def test_one_shot_payers_on_a_schedule_are_less_likely():
    chances = []
    for days in ((0, 300, 600), (0, 300, 457)):
        transfers = _log(shots=3, regulars=2)
        transfers.loc[:2, "ts"] = np.array(days) * 86400.0
        (group,) = one_shot_fans(transfers, _accounts(transfers), 3, 50, 64)
        chances.append(group.log_chance)
        assert any(e.startswith("OneShotSchedule:") for e in group.evidence) == (days[2] == 600)
    assert chances[0] < chances[1] - 0.5


def test_quiet_after_reads_what_an_account_does_after_being_paid():
    # account 1 paid by 0 at t = 100; it paid 2 at t = 50 (before), and 3 twice, at t = 130
    # and t = 400 (a pair's first and last times)
    transfers = pd.DataFrame({"src": [0, 1, 1], "dst": [1, 2, 3], "count": [1, 1, 2],
                              "ts": [100.0, 50.0, 130.0], "last": [100.0, 50.0, 400.0]})
    activity = Activity.of(transfers, 300.0)
    quiet = activity.quiet_after(np.array([1, 1, 1, 2]), np.array([100.0, 130.0, 400.0, 50.0]),
                                 20.0)
    # nothing within 20 s after 100, 130 or 400 (the transfers at those times not counted)
    assert quiet.tolist() == [True, True, True, True]
    wide = activity.quiet_after(np.array([1, 1, 2]), np.array([100.0, 131.0, 49.0]), 300.0)
    # 130 lies within 300 s after 100, 400 after 131; account 2's own 50 after 49
    assert wide.tolist() == [False, False, False]


def test_quiet_after_leaves_out_the_payments_own_pair():
    # account 1 paid by 0 at t = 100 and again at t = 150; it pays 0 back at t = 160
    transfers = pd.DataFrame({"src": [0, 1], "dst": [1, 0], "count": [2, 1],
                              "ts": [100.0, 160.0], "last": [150.0, 160.0]})
    activity = Activity.of(transfers, 300.0)
    at = np.array([100.0, 100.0])
    # 0 paying it again is not counted; its paying 0 back is
    assert activity.quiet_after(np.array([1, 1]), at, 55.0).tolist() == [False, False]
    assert activity.quiet_after(np.array([1, 1]), at, 55.0, np.array([0, 1]),
                                np.array([1, 0])).tolist() == [True, False]
    assert activity.quiet_after(np.array([1]), at[:1], 65.0, np.array([0]),
                                np.array([1])).tolist() == [False]
