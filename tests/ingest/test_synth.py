"""Tests of the synthetic log generator (ingest/synth): files, truth, realism, determinism."""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingest.synth import RING_KINDS, SynthConfig, generate

N_ACCOUNTS = 3_000
CHUNK = 1_500  # several chunks, so cross-chunk pools and numbering are exercised
ABUSE = 0.05  # enough rings per chunk for every kind


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("synth") / "logs"
    result = generate(out, n_accounts=N_ACCOUNTS, seed=7, progress=False, chunk_accounts=CHUNK,
                      abuse_fraction=ABUSE)
    return result


@pytest.fixture(scope="module")
def events(synth_dir) -> pd.DataFrame:
    return pd.read_parquet(synth_dir.events_dir)


@pytest.fixture(scope="module")
def rings(synth_dir) -> pd.DataFrame:
    return pd.read_parquet(synth_dir.rings_path)


@pytest.fixture(scope="module")
def truth(synth_dir) -> pd.DataFrame:
    return pd.read_parquet(synth_dir.truth_path)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_writes_all_files_with_counts(synth_dir, events, truth):
    assert [p.name for p in synth_dir.event_files] == [
        "part-00000.parquet", "part-00001.parquet"]
    assert len(events) == synth_dir.n_events
    assert events["event_id"].is_unique
    assert len(truth) == N_ACCOUNTS and truth["account_id"].is_unique
    assert (synth_dir.out_dir / "synth.json").is_file()
    assert not list(synth_dir.out_dir.parent.glob(".logs.*"))  # no temporary leftovers


def test_event_columns_follow_the_canonical_schema(events):
    assert list(events.columns) == [
        "event_id", "ts", "account_id", "event_type", "device_id", "ip", "payment_id",
        "counterparty_id", "amount", "channel", "status"]
    assert str(events["ts"].dtype) == "datetime64[us, UTC]"
    assert set(events["event_type"]) == {"signup", "login", "order", "payment", "transfer",
                                         "review"}
    money = events["event_type"].isin(["order", "payment"])
    assert events.loc[money, "payment_id"].notna().all()
    assert events.loc[~money, "payment_id"].isna().all()
    transfer = events["event_type"] == "transfer"
    assert events.loc[transfer, "counterparty_id"].notna().all()
    assert events.loc[transfer, "amount"].gt(0).all()
    assert (events["counterparty_id"] != events["account_id"]).all()


def test_each_part_is_in_time_order(synth_dir):
    for part in synth_dir.event_files:
        assert pd.read_parquet(part, columns=["ts"])["ts"].is_monotonic_increasing


def test_timestamps_stay_in_the_window(synth_dir, events):
    start = pd.Timestamp(SynthConfig().start, tz="UTC")
    assert events["ts"].min() >= start
    assert events["ts"].max() < start + pd.Timedelta(days=30)


def test_ips_are_valid_and_some_are_ipv6(events):
    versions = {ipaddress.ip_address(ip).version for ip in events["ip"].unique()}
    assert versions == {4, 6}


def test_abuse_fraction_and_ring_sizes(synth_dir, rings, truth):
    share = truth["is_abusive"].mean()
    assert ABUSE - 0.01 <= share <= ABUSE
    assert rings["size"].between(4, 30).all()
    assert rings["members"].map(len).eq(rings["size"]).all()
    assert synth_dir.n_abusive == truth["is_abusive"].sum() == rings["size"].sum()
    assert rings["ring_id"].is_unique


def test_truth_agrees_with_rings(rings, truth):
    members = rings[["ring_id", "members"]].explode("members")
    by_account = truth.set_index("account_id")
    assert (by_account.loc[members["members"], "ring_id"].to_numpy()
            == members["ring_id"].to_numpy()).all()
    assert truth.loc[~truth["is_abusive"], "ring_id"].isna().all()


def test_ring_members_act_and_share_ring_entities(events, rings):
    """Every member acts; every ring entity is used by members of its ring only, 2+ of them."""
    for ring in rings.itertuples():
        mine = events[events["account_id"].isin(ring.members)]
        assert set(mine["account_id"]) == set(ring.members)
        for entity in ring.entities:
            node_type, value = entity.split(":", 1)
            column = {"Device": "device_id", "PaymentMethod": "payment_id", "IP": "ip"}[node_type]
            users = set(events.loc[events[column] == value, "account_id"])
            assert users <= set(ring.members), entity
    sharing = rings[rings["kind"].isin(["device_farm", "card_testing", "review_ring"])]
    assert len(sharing) > 0
    for ring in sharing.itertuples():
        devices = [e.split(":", 1)[1] for e in ring.entities if e.startswith("Device:")]
        per_device = events[events["device_id"].isin(devices)].groupby("device_id")[
            "account_id"].nunique()
        assert per_device.max() >= 2
        # A chain, not a clique: no device joins the whole ring.
        assert per_device.max() < ring.size


def test_ring_kinds_leave_their_signatures(events, rings):
    planted = {k for k, w in SynthConfig().ring_kind_weights.items() if w > 0}
    assert planted and planted <= set(RING_KINDS)
    assert set(rings["kind"]) == planted
    cycles = rings[rings["kind"] == "mule_cycle"]
    for ring in cycles.itertuples():
        transfers = events[(events["event_type"] == "transfer")
                           & events["account_id"].isin(ring.members)
                           & events["counterparty_id"].isin(ring.members)]
        pairs = set(zip(transfers["account_id"], transfers["counterparty_id"], strict=True))
        hops = set(zip(ring.members, np.roll(ring.members, -1), strict=True))
        assert len(pairs & hops) >= ring.size - 1


def test_fresh_ring_members_sign_up_in_lockstep(events, rings):
    farms = rings[rings["kind"].isin(["device_farm", "card_testing"])]
    assert len(farms) > 0
    for ring in farms.itertuples():
        signups = events[(events["event_type"] == "signup")
                         & events["account_id"].isin(ring.members)]
        assert signups["account_id"].nunique() == ring.size
        assert signups["ts"].max() - signups["ts"].min() < pd.Timedelta(hours=1)


def test_every_account_created_in_the_window_signs_up_once(events, truth):
    signups = events[events["event_type"] == "signup"]
    assert signups["account_id"].is_unique
    first_seen = events.groupby("account_id")["ts"].min()
    signed_up = signups.set_index("account_id")["ts"]
    assert (first_seen.loc[signed_up.index] == signed_up).all()


def test_benign_activity_is_heavy_tailed(events, truth):
    benign = truth.loc[~truth["is_abusive"], "account_id"]
    per_account = events[events["account_id"].isin(benign)].groupby("account_id").size()
    assert per_account.max() > 10 * per_account.median()
    assert per_account.quantile(0.99) > 5 * per_account.median()


def test_hubs_households_and_shared_machines(events, truth):
    per_ip = events.groupby("ip")["account_id"].nunique()
    assert per_ip.max() >= 500  # carrier-NAT address shared by a large share of accounts
    per_device = events.groupby("device_id")["account_id"].nunique()
    assert per_device.max() >= 12  # office / library machines
    assert ((per_device >= 2) & (per_device <= 5)).sum() > 50  # household devices
    per_card = events.groupby("payment_id")["account_id"].nunique()
    assert (per_card >= 2).sum() > 50  # household cards


def test_activity_follows_time_of_day(events):
    hours = events["ts"].dt.hour.value_counts(normalize=True)
    assert hours.max() > 2 * hours.min()


def test_labels_are_partial_and_noisy(synth_dir, truth, rings):
    labels = pd.read_csv(synth_dir.labels_path)
    assert list(labels.columns) == ["account_id", "label", "ts"]
    assert labels["account_id"].is_unique
    assert len(labels) == synth_dir.n_labels
    merged = labels.merge(truth, on="account_id")
    assert len(merged) == len(labels)
    abusers = truth["is_abusive"].sum()
    assert 0 < (merged["is_abusive"]).sum() < abusers  # some abusers unlabelled
    assert ((merged["label"] == 1) & ~merged["is_abusive"]).any()  # benign mislabelled
    unlabelled = rings[~rings["labelled"]]
    assert len(unlabelled) > 0
    hidden = set(unlabelled["members"].explode())
    assert hidden.isdisjoint(labels["account_id"])
    assert pd.to_datetime(labels["ts"], utc=True).notna().all()


def test_same_seed_gives_identical_files(tmp_path, synth_dir):
    again = generate(tmp_path / "again", n_accounts=N_ACCOUNTS, seed=7, progress=False,
                     chunk_accounts=CHUNK, abuse_fraction=ABUSE)
    for name in ("labels.csv", "rings.parquet", "truth_accounts.parquet"):
        assert _digest(again.out_dir / name) == _digest(synth_dir.out_dir / name)
    for mine, theirs in zip(again.event_files, synth_dir.event_files, strict=True):
        assert _digest(mine) == _digest(theirs)


def test_another_seed_gives_other_data(tmp_path, events):
    other = generate(tmp_path / "other", n_accounts=N_ACCOUNTS, seed=8, progress=False,
                     chunk_accounts=CHUNK, abuse_fraction=ABUSE)
    other_events = pd.read_parquet(other.events_dir)
    assert len(set(other_events["device_id"]) & set(events["device_id"])) == 0


def test_csv_format_matches_parquet(tmp_path):
    kwargs = dict(n_accounts=500, seed=3, progress=False)
    as_parquet = pd.read_parquet(generate(tmp_path / "p", **kwargs).events_dir)
    result = generate(tmp_path / "c", fmt="csv.gz", **kwargs)
    assert [p.suffixes for p in result.event_files] == [[".csv", ".gz"]]
    as_csv = pd.read_csv(result.event_files[0])
    assert list(as_csv.columns) == list(as_parquet.columns)
    assert len(as_csv) == len(as_parquet)
    assert (pd.to_datetime(as_csv["ts"], utc=True) == as_parquet["ts"]).all()
    assert as_csv["ts"].iloc[0].endswith("Z")
    pd.testing.assert_series_equal(as_csv["device_id"], as_parquet["device_id"].astype(object),
                                   check_dtype=False)
    np.testing.assert_allclose(as_csv["amount"], as_parquet["amount"])


def test_refuses_to_overwrite_without_permission(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate(out, n_accounts=200, progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    generate(out, n_accounts=200, progress=False, overwrite=True)
    assert not (out / "keep.txt").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n_accounts=10), "n_accounts"),
        (dict(fmt="xml"), "fmt"),
        (dict(days=1), "days"),
        (dict(ring_sise_max=10), "unknown generator knob"),
        (dict(ring_kind_weights={"phishing": 1.0}), "unknown ring kind"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "x", progress=False, **kwargs)
    assert not (tmp_path / "x").exists()


def test_knobs_change_the_output(tmp_path):
    result = generate(tmp_path / "k", n_accounts=2_000, seed=1, progress=False,
                      abuse_fraction=0.0, mean_events_per_account=4.0)
    assert result.n_abusive == 0 and result.n_rings == 0
    assert pd.read_parquet(result.rings_path).empty
    assert result.n_events < 2_000 * 8
