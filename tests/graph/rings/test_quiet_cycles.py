import numpy as np
import pandas as pd

from graph.rings.quiet_cycles import LoopNull, pair_degrees, quiet_cycles


def _table(src: list[int] | np.ndarray, dst: list[int] | np.ndarray) -> pd.DataFrame:
    """A transfer table of one transfer per pair."""
    n = len(src)
    return pd.DataFrame({"src": np.asarray(src, np.int64), "dst": np.asarray(dst, np.int64),
                         "count": np.ones(n, np.int64), "ts": np.zeros(n), "last": np.zeros(n),
                         "amount": np.full(n, 100.0)})


def _busy_log(n: int, per_account: int, seed: int) -> tuple[list[int], list[int]]:
    """``n`` accounts each paying ``per_account`` random others (a busy honest log)."""
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(n), per_account)
    dst = rng.integers(0, n, len(src))
    keep = src != dst
    return src[keep].tolist(), dst[keep].tolist()


def test_loop_null_counts_every_loop_for_equal_weights():
    # every account weighs w: all (sum w / m) ** k / k loops of length k are at most as heavy
    weights = np.full(50, 4.0)
    null = LoopNull(weights, 100, max_length=5)
    for k in (3, 4, 5):
        assert np.isclose(null.log_expected(k, k * np.log10(4.0) + 1e-6),
                          k * np.log10(200.0 / 100.0) - np.log10(k))
    # lighter than every account: none
    assert null.log_expected(3, 1.0) == -np.inf


def test_pair_degrees_count_distinct_pairs():
    payees, payers, pairs = pair_degrees(_table([0, 0, 0, 1, 2], [1, 1, 2, 2, 2]), 3)
    assert pairs == 3  # 0->1, 0->2, 1->2; 2->2 left out
    assert payees.tolist() == [2, 1, 0]
    assert payers.tolist() == [0, 1, 2]


def test_a_loop_through_quiet_accounts_and_busy_hubs_is_found_alone():
    src, dst = _busy_log(3000, 8, seed=1)
    # hubs 10 and 20 (busy) joined by two chains of new accounts, each paying once
    first, second = [5000, 5001, 5002], [5003, 5004, 5005]
    loop = [10, *first, 20, *second]
    src += loop
    dst += loop[1:] + loop[:1]
    # a detour of the loop through busy account 30: no evidence beyond the loop
    src += [5001, 30]
    dst += [30, 5002]
    groups = quiet_cycles(_table(src, dst), 6000, 3, 50, 2.0)
    assert [sorted(g.rows.tolist()) for g in groups] == [sorted(loop)]
    group = groups[0]
    assert group.kind == "flow_cycle"
    assert group.tests == 10  # lengths 3 to 12
    assert -group.log_chance - np.log10(group.tests) - np.log10(2.0) >= 2.0
    assert group.evidence[0].startswith("QuietCycle:a loop of 8 accounts")


def test_a_loop_with_one_direct_transfer_between_busy_accounts_is_found():
    src, dst = _busy_log(3000, 8, seed=2)
    loop = [10, 20, 5000, 5001, 5002, 5003]  # 10 -> 20 direct, then a chain back to 10
    src += loop
    dst += loop[1:] + loop[:1]
    groups = quiet_cycles(_table(src, dst), 6000, 3, 50, 2.0)
    assert [sorted(g.rows.tolist()) for g in groups] == [sorted(loop)]


def test_a_loop_of_quiet_accounts_alone_is_found():
    src, dst = _busy_log(3000, 8, seed=3)
    loop = [5000, 5001, 5002, 5003, 5004]
    src += loop + [7, 8]
    dst += loop[1:] + loop[:1] + [5000, 5002]  # paid into by busy accounts too
    groups = quiet_cycles(_table(src, dst), 6000, 3, 50, 2.0)
    assert [sorted(g.rows.tolist()) for g in groups] == [sorted(loop)]


def test_loops_of_configuration_model_logs_are_not_significant():
    # honest logs without planted loops, many quiet accounts among them: heavy-tailed numbers
    # of payees (a third pay one payee only) and payees drawn by popularity
    found = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n = 4000
        payees = np.maximum(rng.lognormal(0.3, 1.0, n).astype(np.int64), 1)
        popularity = rng.lognormal(0.0, 1.2, n)
        src = np.repeat(np.arange(n), payees)
        dst = rng.choice(n, len(src), p=popularity / popularity.sum())
        keep = src != dst
        table = _table(src[keep], dst[keep]).drop_duplicates(["src", "dst"])
        found += len(quiet_cycles(table, n, 3, 50, 2.0))
    assert found <= 1


def test_busy_loops_are_not_significant():
    # a ring of busy accounts (each pays 8) is what chance makes
    src, dst = _busy_log(3000, 8, seed=4)
    loop = [1, 2, 3, 4, 5]
    src += loop
    dst += loop[1:] + loop[:1]
    assert quiet_cycles(_table(src, dst), 3000, 3, 50, 2.0) == []
