"""Label splits and filling: stratified, seeded, at least one of each class on each side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gnn.labels import fill_unlabelled, holdout_split, stratified_split


def labels_table(positives: int, negatives: int, with_ts: bool = True) -> pd.DataFrame:
    table = pd.DataFrame({
        "account_id": [f"p{i}" for i in range(positives)] + [f"n{i}" for i in range(negatives)],
        "label": np.r_[np.ones(positives), np.zeros(negatives)].astype(np.int8),
    })
    if with_ts:
        table["ts"] = pd.Timestamp("2025-01-02", tz="UTC")
    return table


def test_split_holds_back_the_fraction_of_each_class_and_is_seeded():
    labels = labels_table(20, 80)
    train, held = holdout_split(labels, 0.25, seed=3)
    assert (held["label"] == 1).sum() == 5 and (held["label"] == 0).sum() == 20
    assert set(train["account_id"]).isdisjoint(held["account_id"])
    assert len(train) + len(held) == 100
    again, _ = holdout_split(labels, 0.25, seed=3)
    pd.testing.assert_frame_equal(train, again)


@pytest.mark.parametrize(("positives", "fraction"), [(1, 0.2), (10, 0.0)])
def test_split_keeps_everything_when_it_cannot_hold_back(positives, fraction):
    train, held = holdout_split(labels_table(positives, 30), fraction, seed=0)
    assert held is None and len(train) == positives + 30


def test_split_refuses_a_fraction_of_one():
    with pytest.raises(ValueError, match="holdout_fraction"):
        holdout_split(labels_table(5, 5), 1.0, seed=0)


def test_holdout_split_is_the_stratified_split_of_the_label_column():
    labels = labels_table(7, 40).sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, held = holdout_split(labels, 0.3, seed=5)
    kept, val = stratified_split(labels["label"].to_numpy(), 0.3, seed=5)
    assert list(held["account_id"]) == list(labels["account_id"].iloc[val])
    assert list(train["account_id"]) == list(labels["account_id"].iloc[kept])


def test_stratified_positions_keep_one_of_each_class_on_each_side():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    train, val = stratified_split(y, 0.01, seed=0)
    assert sorted(np.r_[train, val]) == list(range(10))
    assert set(y[val]) == {0, 1} and set(y[train]) == {0, 1}
    assert list(val) == sorted(val)


def test_filling_labels_unlabelled_accounts_legitimate_only_when_asked():
    accounts = pd.Series(["p0", "p1", "u0", "u1", "u2"])
    positives = labels_table(2, 0)
    filled, did = fill_unlabelled(positives, accounts, "auto")
    assert did and len(filled) == 5 and filled["label"].sum() == 2
    assert filled["ts"].isna().sum() == 3
    mixed = pd.concat([labels_table(2, 0), pd.DataFrame({"account_id": ["u0"], "label": [0]})])
    same, did = fill_unlabelled(mixed, accounts, "auto")
    assert not did and len(same) == 3
    assert len(fill_unlabelled(mixed, accounts, True)[0]) == 5
    assert len(fill_unlabelled(positives, accounts, False)[0]) == 2


def test_an_account_labelled_twice_keeps_its_last_label():
    twice = pd.DataFrame({"account_id": ["a", "b", "a"], "label": [1, 0, 0]})
    labels, _ = fill_unlabelled(twice, pd.Series(["a", "b"]), False)
    assert dict(zip(labels["account_id"], labels["label"], strict=True)) == {"a": 0, "b": 0}


def test_accounts_beside_positives_share_a_rare_entity_with_one_not_a_hub():
    from gnn.labels import accounts_beside_positives

    ties = pd.DataFrame({
        "src": ["p", "a", "b", "p", *[f"h{i}" for i in range(12)], "c"],
        "dst": ["card1", "card1", "card1", "shop", *["shop"] * 12, "card2"],
    })
    beside = accounts_beside_positives(ties, pd.Series(["p"]), max_users=10)
    assert list(beside) == ["a", "b"]  # the shop's 13 users are a hub; c's card has no positive
    assert accounts_beside_positives(ties, pd.Series(["p"]), max_users=0).empty
    assert list(accounts_beside_positives(ties, pd.Series(["p"]), max_users=13)) == [
        "a", "b", *sorted(f"h{i}" for i in range(12))]


def test_filling_leaves_the_kept_accounts_unlabelled():
    labels = pd.DataFrame({"account_id": ["p"], "label": [1]})
    filled, done = fill_unlabelled(labels, pd.Series(["p", "a", "u"]), "auto",
                                   keep_unlabelled=pd.Series(["a"]))
    assert done and dict(zip(filled["account_id"], filled["label"], strict=True)) == {
        "p": 1, "u": 0}
