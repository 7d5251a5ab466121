"""Tests of the card-transaction world (ingest/synth/cards*.py) and ``abusenet synth --world``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from abusenet.cli import app
from ingest.event_labels import load_entity_labels, load_event_labels
from ingest.mapping import load_mapping
from ingest.run import ingest_logs
from ingest.store import event_files
from ingest.synth import generate
from ingest.synth.cards import generate_cards
from ingest.synth.cards_config import CardsConfig, load_cards_config
from ingest.synth.cards_output import iso_seconds

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "configs" / "mappings" / "synth_cards.yaml"
DAY = pd.Timedelta(days=1)
KINDS = {"compromised_terminal", "stolen_card", "skimmed_card", "bust_out"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A small world with every fraud kind, bust-out rings included."""
    out = tmp_path_factory.mktemp("cards") / "world"
    generate_cards(out, n_accounts=600, seed=3, days=60, progress=False, ring_fraction=0.05,
                   compromised_terminals_per_day=6.0, part_events=20_000)
    return out


@pytest.fixture(scope="module")
def events(world) -> pd.DataFrame:
    frame = pd.read_parquet(world / "events")
    truth = pd.read_parquet(world / "truth_events.parquet")
    return frame.merge(truth[["event_id", "is_fraud", "fraud_kind"]], on="event_id",
                       validate="1:1")


@pytest.fixture(scope="module")
def entities(world) -> pd.DataFrame:
    return pd.read_parquet(world / "truth_entities.parquet")


def _digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_writes_every_file_with_consistent_counts(world, events, entities):
    counts = json.loads((world / "synth.json").read_text())
    assert counts["world"] == "cards"
    assert len(list((world / "events").glob("part-*.parquet"))) > 1
    assert counts["n_events"] == len(events) == len(pd.read_csv(world / "event_labels.csv"))
    assert events["event_id"].is_unique and events["ts"].is_monotonic_increasing
    assert counts["n_fraud_events"] == int(events["is_fraud"].sum())
    assert counts["n_accounts"] == 600 == events["account_id"].nunique()
    assert counts["n_terminals"] == 1200 == (entities["node_type"] == "Terminal").sum()
    assert counts["n_cards"] == (entities["node_type"] == "PaymentMethod").sum()
    assert counts["n_compromised_terminals"] == entities.query(
        "node_type == 'Terminal' and compromised").shape[0]
    assert set(counts["fraud_events_by_kind"]) == KINDS
    truth = pd.read_parquet(world / "truth_accounts.parquet")
    assert counts["n_abusive"] == int(truth["is_abusive"].sum())


def test_events_are_canonical_with_a_terminal(events):
    assert {"event_id", "ts", "account_id", "event_type", "device_id", "ip", "payment_id",
            "amount", "terminal_id", "channel"} <= set(events.columns)
    assert set(events["event_type"]) == {"payment"}
    assert (events["amount"] > 0).all() and events["terminal_id"].notna().all()
    online = events["channel"] == "online"
    assert events.loc[online, ["device_id", "ip"]].notna().all().all()
    assert events.loc[~online, ["device_id", "ip"]].isna().all().all()


def test_same_seed_same_files_and_another_seed_other_data(tmp_path, world):
    again = tmp_path / "again"
    generate_cards(again, n_accounts=600, seed=3, days=60, progress=False, ring_fraction=0.05,
                   compromised_terminals_per_day=6.0, part_events=20_000)
    first, second = _digest(world), _digest(again)
    assert first == second
    other = tmp_path / "other"
    generate_cards(other, n_accounts=600, seed=4, days=60, progress=False, ring_fraction=0.05,
                   compromised_terminals_per_day=6.0, part_events=20_000)
    assert _digest(other)["events/part-00000.parquet"] != first["events/part-00000.parquet"]


def test_every_fraud_kind_is_present_with_its_truth(events, entities, world):
    assert set(events.loc[events["is_fraud"], "fraud_kind"]) == KINDS
    assert set(events.loc[~events["is_fraud"], "fraud_kind"]) == {""}
    kinds = entities.groupby("node_type")["kind"].agg(set)
    assert kinds["Terminal"] == {"", "compromised_terminal"}
    assert kinds["PaymentMethod"] == {"", "stolen_card", "skimmed_card"}
    bad = entities[entities["compromised"]]
    assert (bad["compromised_until"] > bad["compromised_from"]).all()
    rings = pd.read_parquet(world / "rings.parquet")
    assert len(rings) > 0 and (rings["kind"] == "bust_out").all()
    assert (rings["size"] >= 3).all()


def test_compromised_terminals_turn_every_purchase_in_their_window_into_fraud(events, entities):
    bad = entities.query("node_type == 'Terminal' and compromised").set_index("entity_id")
    on_bad = events[events["terminal_id"].isin(bad.index)]
    window = bad.loc[on_bad["terminal_id"]]
    inside = ((on_bad["ts"].to_numpy() >= window["compromised_from"].to_numpy())
              & (on_bad["ts"].to_numpy() < window["compromised_until"].to_numpy()))
    assert inside.sum() > 100
    assert on_bad["is_fraud"].to_numpy()[inside].all()
    assert set(on_bad.loc[inside, "fraud_kind"]) <= KINDS
    terminal_kind = events["fraud_kind"] == "compromised_terminal"
    assert events.loc[terminal_kind, "terminal_id"].isin(bad.index).all()


def test_skimmed_cards_were_used_at_a_compromised_terminal_before(events, entities):
    skimmed = entities.query("kind == 'skimmed_card'")
    assert len(skimmed) >= 5
    terminals = entities.query("node_type == 'Terminal'").set_index("entity_id")
    assert terminals.loc[skimmed["source_terminal"], "compromised"].all()
    visits = events.merge(skimmed[["entity_id", "source_terminal", "compromised_from"]],
                          left_on=["payment_id", "terminal_id"],
                          right_on=["entity_id", "source_terminal"])
    first_visit = visits.groupby("payment_id")["ts"].min()
    began = skimmed.set_index("entity_id")["compromised_from"]
    assert (first_visit.reindex(began.index) < began).all()


def test_stolen_cards_buy_away_from_home_at_night_for_more_but_honest_ones_do_too(events):
    honest = events[~events["is_fraud"]]
    card_fraud = events[events["fraud_kind"].isin(["stolen_card", "skimmed_card"])]
    usual = honest.groupby("account_id")["amount"].median()

    def night(frame: pd.DataFrame) -> float:
        return float((frame["ts"].dt.hour < 6).mean())

    def big(frame: pd.DataFrame) -> float:
        return float((frame["amount"] > 3 * frame["account_id"].map(usual)).mean())

    assert night(card_fraud) > 1.5 * night(honest) and night(honest) > 0.03
    assert big(card_fraud) > 3 * big(honest) and big(honest) > 0.005
    used = set(zip(honest["payment_id"], honest["terminal_id"], strict=True))
    new = [(c, t) not in used for c, t in zip(card_fraud["payment_id"],
                                              card_fraud["terminal_id"], strict=True)]
    assert np.mean(new) > 0.5


def test_honest_customers_share_terminals(events, entities):
    honest = events[~events["is_fraud"]]
    degree = honest.groupby("terminal_id")["account_id"].nunique()
    online = set(entities.query("node_type == 'Terminal' and online")["entity_id"])
    assert degree[degree.index.isin(online)].median() >= 100
    physical = degree[~degree.index.isin(online)]
    assert physical.median() >= 5 and physical.max() >= 20
    # Nearly every customer shares a terminal with at least ten others.
    crowded = set(degree[degree >= 11].index)
    share = honest[honest["terminal_id"].isin(crowded)].groupby("account_id").size()
    assert len(share) >= 0.95 * honest["account_id"].nunique()


def test_event_labels_agree_with_truth_and_come_late(world, events):
    labels = pd.read_csv(world / "event_labels.csv", parse_dates=["known_at"])
    merged = events[["event_id", "ts", "is_fraud"]].merge(labels, on="event_id", validate="1:1")
    assert len(merged) == len(events)
    assert not (merged["label"] == 1).pipe(lambda p: p & ~merged["is_fraud"]).any()
    reported = merged.loc[merged["is_fraud"], "label"].mean()
    assert 0.85 < reported < 1.0
    delay = merged["known_at"] - merged["ts"]
    assert (delay > pd.Timedelta(0)).all()
    assert delay[merged["label"] == 1].median() > 5 * DAY
    assert (delay[~merged["is_fraud"]] == pd.Timedelta(days=7)).all()


def test_entity_labels_agree_with_truth(world, entities):
    labels = pd.read_csv(world / "entity_labels.csv", parse_dates=["known_at"])
    assert set(labels["node_type"]) == {"Terminal", "PaymentMethod"}
    merged = labels.merge(entities, on=["entity_id", "node_type"], validate="1:1")
    assert len(merged) == len(labels)
    assert (merged["label"] == merged["compromised"].astype(int)).all()
    found = merged[merged["label"] == 1]
    assert (found["known_at"] == found["detected_at"]).all()
    assert (found["known_at"] > found["compromised_from"]).all()
    bad = entities[entities["compromised"]]
    assert 0.6 < len(found) / len(bad) < 1.0
    cleared = (merged["label"] == 0).sum() / (~entities["compromised"]).sum()
    assert 0.1 < cleared < 0.3


def test_account_labels_follow_the_documented_rule(world, events):
    labels = pd.read_csv(world / "labels.csv", parse_dates=["ts"])
    truth = pd.read_parquet(world / "truth_accounts.parquet")
    merged = labels.merge(truth, on="account_id", validate="1:1")
    assert len(merged) == 600
    assert not (merged["label"].astype(bool) & ~merged["is_abusive"]).any()
    assert merged.loc[merged["is_abusive"], "label"].mean() > 0.8
    ring_members = set(truth.loc[truth["ring_id"].notna(), "account_id"])
    assert ring_members <= set(truth.loc[truth["is_abusive"], "account_id"])
    # Only terminal fraud: its customers stay 0 unless their card was stolen or skimmed.
    only_terminal = (set(events.loc[events["fraud_kind"] == "compromised_terminal", "account_id"])
                     - set(truth.loc[truth["is_abusive"], "account_id"]))
    assert only_terminal
    assert (merged.set_index("account_id").loc[sorted(only_terminal), "label"] == 0).all()


def test_bust_out_rings_share_devices(world, events):
    rings = pd.read_parquet(world / "rings.parquet")
    bust = events[events["fraud_kind"] == "bust_out"]
    for ring in rings.itertuples():
        devices = {e.split(":", 1)[1] for e in ring.entities if e.startswith("Device:")}
        acted = bust[bust["device_id"].isin(devices)]
        assert set(acted["account_id"]) <= set(ring.members)
        assert len(set(acted["account_id"])) >= 2


def test_no_collusion_by_default(tmp_path):
    result = generate_cards(tmp_path / "w", n_accounts=300, days=20, progress=False)
    assert result.n_rings == 0
    assert len(pd.read_parquet(tmp_path / "w" / "rings.parquet")) == 0
    fraud = pd.read_parquet(tmp_path / "w" / "truth_events.parquet")
    assert "bust_out" not in set(fraud["fraud_kind"])


def test_iso_seconds_matches_numpy():
    seconds = np.array([0, 1_735_689_599, 1_735_689_600, 1_740_787_261, 4_102_444_799])
    expected = [f"{t}Z" for t in np.datetime_as_string(seconds.astype("M8[s]"))]
    assert iso_seconds(seconds).to_pylist() == expected


def test_shipped_knobs_and_mapping(world):
    assert load_cards_config(ROOT / "configs" / "synth-cards.yaml") == CardsConfig()
    mapping = load_mapping(MAPPING)
    assert [(e.node_type, e.event_column) for e in mapping.entities] == [
        ("Terminal", "terminal_id")]
    assert mapping.event_labels is not None and mapping.entity_labels is not None


@pytest.mark.parametrize(("text", "message"), [
    ("travel_rate: [0.1\n", r"(?s)knobs.yaml: not valid YAML: .*knobs.yaml\", line 2, column 1"),
    ("- 1\n", r"knobs.yaml: expected a mapping of card-world knobs, got list"),
    ("travel_rates: 0.1\n", r"knobs.yaml: unknown card-world knob\(s\) \['travel_rates'\]"),
])
def test_a_bad_knobs_file_is_named(tmp_path, text, message):
    path = tmp_path / "knobs.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_cards_config(path)


def test_ingest_with_the_shipped_mapping_quarantines_nothing(tmp_path):
    src = tmp_path / "world"
    generate_cards(src, n_accounts=200, days=10, fmt="csv.gz", progress=False)
    summary = ingest_logs(src / "events", MAPPING, tmp_path / "events",
                          labels=src / "labels.csv", progress=False)
    n_events = json.loads((src / "synth.json").read_text())["n_events"]
    assert (summary.rows_in, summary.accepted, summary.quarantined) == (n_events, n_events, 0)
    assert summary.labels == 200
    stored = pd.concat(pd.read_parquet(p, columns=["event_id", "terminal_id"])
                       for p in event_files(tmp_path / "events"))
    assert stored["terminal_id"].notna().all()
    mapping = load_mapping(MAPPING)
    event_rows = load_event_labels(src / "event_labels.csv", mapping).table.to_pandas()
    assert set(event_rows["event_id"]) == set(stored["event_id"])
    assert event_rows["known_at"].notna().all()
    entity_rows = load_entity_labels(src / "entity_labels.csv", mapping).table.to_pandas()
    assert len(entity_rows) == len(pd.read_csv(src / "entity_labels.csv"))
    terminals = entity_rows.loc[entity_rows["node_type"] == "Terminal", "entity_id"]
    assert set(terminals) & set(stored["terminal_id"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_accounts": 50}, "n_accounts"),
        ({"days": 1}, "days"),
        ({"fmt": "xlsx"}, "fmt"),
        ({"skim_rat": 0.1}, "unknown card-world knob.*skim_rat"),
        ({"skim_rate": 1.5}, "skim_rate"),
        ({"ring_size_min": 1}, "ring_size_min"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_cards(tmp_path / "o", progress=False, **kwargs)


runner = CliRunner()


def test_cli_cards_world(tmp_path):
    out = tmp_path / "cards"
    result = runner.invoke(app, ["synth", "--world", "cards", "-n", "300", "--days", "10",
                                 "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "purchases of 300 customers at 600 terminals" in result.output
    assert (out / "event_labels.csv").is_file() and (out / "entity_labels.csv").is_file()


def test_cli_cards_rejects_a_social_knob_clearly(tmp_path):
    knobs = tmp_path / "knobs.yaml"
    knobs.write_text("abuse_fraction: 0.1\n")
    result = runner.invoke(app, ["synth", "--world", "cards", "-n", "300", "--out",
                                 str(tmp_path / "o"), "--config", str(knobs), "--no-progress"])
    assert result.exit_code == 2
    assert "unknown card-world knob" in result.output and "knobs.yaml" in result.output


def test_default_world_is_the_social_one_unchanged(tmp_path):
    plain, social = tmp_path / "plain", tmp_path / "social"
    for out, extra in ((plain, []), (social, ["--world", "social"])):
        result = runner.invoke(app, ["synth", "-n", "300", "--seed", "5", "--out", str(out),
                                     "--no-progress", *extra])
        assert result.exit_code == 0, result.output
    direct = generate(tmp_path / "direct", n_accounts=300, seed=5, progress=False)
    events = "events/part-00000.parquet"
    assert _digest(plain)[events] == _digest(social)[events] == \
        _digest(direct.out_dir)[events]
    assert not (plain / "event_labels.csv").exists()


@pytest.mark.parametrize(("arguments", "message"), [
    ({"n_accounts": 99}, r"n_accounts must be at least 100, got 99"),
    ({"days": 1}, r"days must be at least 2, got 1"),
    ({"fmt": "csv"}, r"fmt must be one of \('parquet', 'csv.gz'\), got 'csv'"),
])
def test_bad_arguments_are_named_before_anything_is_written(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        generate_cards(tmp_path / "cards", progress=False, **arguments)
    assert not (tmp_path / "cards").exists()
