"""The generator's honest couples (``household_couple_share``): two members of a household of
three or more who share a second device and card besides the family's."""

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
    with pytest.raises(ValueError, match="household_couple_share"):
        SynthConfig(household_couple_share=1.5)


@pytest.mark.slow
def test_couples_share_a_second_device_and_card_and_only_with_the_option(tmp_path):
    with_couples = generate(tmp_path / "couples", n_accounts=3_000, seed=4, progress=False,
                            household_couple_share=0.5)
    without = generate(tmp_path / "default", n_accounts=3_000, seed=4, progress=False)
    couples = _honest_pairs_sharing_two(with_couples)
    assert len(couples) >= 5
    assert not _honest_pairs_sharing_two(without)
