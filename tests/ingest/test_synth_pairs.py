"""The generator's planted abusive pairs (configs/synth-pairs.yaml)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ingest.synth import SynthConfig, generate, load_config

PAIRS_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "synth-pairs.yaml"


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("pairs")
    knobs = {**load_config(PAIRS_CONFIG).to_dict(), "pair_fraction": 0.05}
    with_pairs = generate(root / "pairs", n_accounts=3_000, seed=4, progress=False, **knobs)
    without = generate(root / "default", n_accounts=3_000, seed=4, progress=False)
    return with_pairs, without


def test_the_config_plants_pairs_and_the_default_none():
    assert load_config(PAIRS_CONFIG).pair_fraction > 0
    assert SynthConfig().pair_fraction == 0
    with pytest.raises(ValueError, match="pair_fraction"):
        SynthConfig(pair_fraction=1.0)


def test_pairs_come_on_top_of_the_same_rings(worlds):
    with_pairs, without = worlds
    rings = pd.read_parquet(with_pairs.rings_path)
    default = pd.read_parquet(without.rings_path)
    pairs = rings[rings["kind"] == "pair"]
    assert len(pairs) == round(0.05 * 3_000 / 2)
    assert (pairs["size"] == 2).all() and pairs["members"].map(len).eq(2).all()
    others = rings[rings["kind"] != "pair"].reset_index(drop=True)
    pd.testing.assert_series_equal(others["kind"], default["kind"])
    assert others["members"].map(list).tolist() == default["members"].map(list).tolist()
    in_pairs = {a for m in pairs["members"] for a in m}
    in_rings = {a for m in others["members"] for a in m}
    assert len(in_pairs) == 2 * len(pairs) and not in_pairs & in_rings
    truth = pd.read_parquet(with_pairs.truth_path)
    assert truth.set_index("account_id").loc[sorted(in_pairs), "is_abusive"].all()
    # labelled like rings: some pairs have no labelled member, the others some
    labels = pd.read_csv(with_pairs.labels_path)
    labelled = pairs["members"].map(lambda m: bool(set(m) & set(labels["account_id"])))
    assert labelled.tolist() == pairs["labelled"].tolist()
    assert 0 < pairs["labelled"].mean() < 1


def test_a_pair_shares_devices_and_cards_and_one_pays_the_other(worlds):
    with_pairs, _ = worlds
    events = pd.read_parquet(with_pairs.events_dir)
    rings = pd.read_parquet(with_pairs.rings_path)
    for pair in rings[rings["kind"] == "pair"].itertuples():
        a, b = pair.members
        mine = events[events["account_id"].isin([a, b])]
        devices = mine.groupby("device_id")["account_id"].nunique()
        cards = mine.dropna(subset=["payment_id"]).groupby("payment_id")["account_id"].nunique()
        assert (devices == 2).any() and (cards == 2).any()
        kinds = {e.split(":")[0] for e in pair.entities}
        assert {"Device", "PaymentMethod"} <= kinds
        paid = mine[(mine["event_type"] == "transfer") & mine["counterparty_id"].isin([a, b])]
        assert (paid["ts"] >= pair.first_ts).any()
