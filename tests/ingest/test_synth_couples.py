"""The generator's honest couples (``household_couple_share``): two members of a household of
three or more who share a second device and card besides the family's; couples living alone
(``couple_alone_share``): households of two who share a second device, a second card or both;
and who take turns on their devices (``couple_turns_share``)."""

from __future__ import annotations

from itertools import combinations

import pandas as pd
import pytest

from ingest.synth import SynthConfig, generate


def _honest_pairs_sharing_two(world) -> set[tuple[str, str]]:
    """Honest account pairs sharing two or more devices or cards of one type and one or more
    of the other, each used by at most five accounts (households, not offices)."""
    events = pd.read_parquet(world.events_dir)
    truth = pd.read_parquet(world.truth_path)
    honest = set(truth.loc[~truth["is_abusive"], "account_id"])
    counts = []
    for column in ("device_id", "payment_id"):
        used = events.loc[events["account_id"].isin(honest), ["account_id", column]].dropna()
        users = used.drop_duplicates().groupby(column)["account_id"].agg(sorted)
        pairs = pd.Series([pair for members in users if len(members) <= 5
                           for pair in combinations(members, 2)], dtype=object)
        counts.append(pairs.value_counts())
    both = pd.concat(counts, axis=1).fillna(0)
    two = ((both.iloc[:, 0] >= 2) & (both.iloc[:, 1] >= 1)) | (
        (both.iloc[:, 0] >= 1) & (both.iloc[:, 1] >= 2))
    return set(both.index[two])


def test_couples_are_off_by_default_and_checked():
    assert SynthConfig().household_couple_share == 0
    assert SynthConfig().couple_alone_share == 0
    with pytest.raises(ValueError, match="household_couple_share"):
        SynthConfig(household_couple_share=1.5)
    with pytest.raises(ValueError, match="couple_alone_share"):
        SynthConfig(couple_alone_share=-0.1)
    assert SynthConfig().couple_turns_share == 0
    with pytest.raises(ValueError, match="couple_turns_share"):
        SynthConfig(couple_turns_share=1.0)


@pytest.mark.slow
def test_couples_alone_share_what_only_the_two_use_and_only_with_the_option(tmp_path):
    from benchmarks.pairs import exclusive_pairs

    def alone(world) -> pd.DataFrame:
        events = pd.read_parquet(world.events_dir, columns=["account_id", "device_id",
                                                             "payment_id"])
        truth = pd.read_parquet(world.truth_path)
        honest = events[events["account_id"].isin(truth.loc[~truth["is_abusive"],
                                                            "account_id"])]
        table = exclusive_pairs(honest, ("device_id", "payment_id"))
        return table[(table > 1).any(axis=1)]

    with_couples = alone(generate(tmp_path / "alone", n_accounts=3_000, seed=4, progress=False,
                                  couple_alone_share=0.9))
    without = alone(generate(tmp_path / "default", n_accounts=3_000, seed=4, progress=False))
    assert len(with_couples) >= 3 and without.empty
    # two devices and one card, one device and two cards, two of each
    assert (with_couples["device_id"] > 1).any() and (with_couples["payment_id"] > 1).any()


@pytest.mark.slow
def test_couples_share_a_second_device_and_card_and_only_with_the_option(tmp_path):
    with_couples = generate(tmp_path / "couples", n_accounts=3_000, seed=4, progress=False,
                            household_couple_share=0.5)
    without = generate(tmp_path / "default", n_accounts=3_000, seed=4, progress=False)
    couples = _honest_pairs_sharing_two(with_couples)
    assert len(couples) >= 5
    assert not _honest_pairs_sharing_two(without)


@pytest.mark.slow
def test_couples_alone_take_turns_on_their_devices_minutes_apart_only_with_the_option(tmp_path):
    def turns(**knobs) -> float:
        """The share of uses of devices only two accounts use that come 2-30 min after one
        of the other account's uses of it."""
        world = generate(tmp_path / str(len(knobs)), n_accounts=3_000, seed=4, progress=False,
                         couple_alone_share=0.9, **knobs)
        events = pd.read_parquet(world.events_dir, columns=["account_id", "ts", "device_id"])
        events = events.dropna()
        users = events.groupby("device_id")["account_id"].nunique()
        events = events[events["device_id"].isin(users.index[users == 2])]
        seconds = (events["ts"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
        accounts = events["account_id"].to_numpy()
        gaps = seconds[:, None] - seconds[None, :]
        other = (accounts[:, None] != accounts[None, :]) & (
            events["device_id"].to_numpy()[:, None] == events["device_id"].to_numpy()[None, :])
        return float((other & (gaps >= 120) & (gaps <= 1_800)).any(axis=1).mean())

    assert turns() < 0.02 and turns(couple_turns_share=0.8) > 0.06  # 0.011, 0.097


def test_turns_never_put_a_member_s_use_before_its_signup(tmp_path):
    # a follower's use moved after the first member's would come before the follower's own
    # signup when the follower signed up later (review G6, session 20: 5 accounts on this world)
    world = generate(tmp_path, n_accounts=3_000, seed=4, progress=False,
                     couple_alone_share=0.9, couple_turns_share=0.8)
    events = pd.read_parquet(world.events_dir, columns=["account_id", "ts", "event_type"])
    signup = events[events["event_type"] == "signup"].groupby("account_id")["ts"].min()
    first = events.groupby("account_id")["ts"].min()
    assert len(signup) > 100 and not (first.loc[signup.index] < signup).any()
