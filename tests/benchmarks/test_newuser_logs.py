"""benchmarks.newuser_logs: each small world goes through `abusenet ingest` as the README says,
and what the user sees (the summary, the stored events, the quarantine) is what the log holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from abusenet.cli import app
from benchmarks.newuser_logs import DATASETS, ODD_IDS, NewUserWorld, write_worlds

needs_datasets = pytest.mark.skipif(not DATASETS.is_dir(), reason="needs ../shared/datasets")


def _ingest(world: NewUserWorld, out: Path, *extra: str) -> tuple[int, str]:
    labels = {k: v for k, v in world.labels.items() if k == "--labels"}
    argv = NewUserWorld(world.name, world.folder, world.inputs, world.mapping, labels).args(
        out, labels=True)
    result = CliRunner().invoke(app, ["ingest", *argv, "--no-progress", *extra])
    return result.exit_code, result.output


def _events(out: Path) -> pd.DataFrame:
    return pd.concat(pd.read_parquet(p) for p in sorted((out / "events").glob("day=*/*.parquet")))


def _world(tmp_path: Path, name: str) -> NewUserWorld:
    (world,) = write_worlds(tmp_path / "logs", small=True, names=(name,))
    return world


@needs_datasets
def test_otc_ratings_keep_signed_trust_fractional_epoch_times_and_word_verdicts(tmp_path):
    world = _world(tmp_path, "otc_ratings")
    code, said = _ingest(world, tmp_path / "out")
    assert code == 0, said
    assert "400 rows in = 400 accepted" in said and "1 labelled abusive" in said
    events = _events(tmp_path / "out").sort_values(["ts", "account_id", "counterparty_id"])
    given = pd.read_csv(world.folder / "ratings.csv", dtype=str).sort_values(
        ["created_utc", "rater", "ratee"])
    assert events["trust"].tolist() == given["trust"].astype(float).tolist()
    assert events["counterparty_id"].tolist() == given["ratee"].tolist()
    seconds = events["ts"].astype("int64") / 1e6  # microseconds since 1970
    assert (abs(seconds.to_numpy() - given["created_utc"].astype(float).to_numpy()) < 1e-5).all()


@needs_datasets
def test_yelp_reviews_read_nested_json_and_every_zone_offset(tmp_path):
    world = _world(tmp_path, "yelp_reviews")
    code, said = _ingest(world, tmp_path / "out")
    assert code == 0, said
    assert "Restaurant" in said and "USED_RESTAURANT" in said
    events = _events(tmp_path / "out").set_index("event_id")
    given = pd.read_json(world.folder / "reviews.jsonl", lines=True, dtype=False)
    # written at -05:00, -06:00, Z and +05:30 in turn: each is the same instant in UTC
    posted = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in given["posted"]]
    assert [t.to_pydatetime() for t in events.loc[given["review"], "ts"]] == posted
    assert events.loc["r0", "account_id"] == given["author"][0]["id"]


def test_logins_read_epoch_milliseconds_outcome_words_and_a_user_agent_entity(tmp_path):
    world = _world(tmp_path, "logins")
    code, said = _ingest(world, tmp_path / "out")
    assert code == 0, said
    assert "0 quarantined" in said and "UserAgent" in said
    events = _events(tmp_path / "out")
    assert events["ts"].min() >= pd.Timestamp("2026-09-01", tz="UTC")
    assert sorted(events["outcome"].unique()) == [0.0, 1.0]
    assert "is_fraud" not in events.columns, "an unmapped label column never becomes a feature"


def test_orders_keep_odd_ids_drop_missing_ones_and_read_european_numbers(tmp_path):
    world = _world(tmp_path, "orders")
    code, said = _ingest(world, tmp_path / "out", "--max-bad-fraction", "0.05")
    assert code == 0, said
    assert "Quarantine reasons: empty account_id 3" in said
    events = _events(tmp_path / "out").set_index("event_id")
    kept = {v for v in ODD_IDS.values() if v is not None}
    assert kept <= set(events["account_id"]) and kept <= set(events["payment_id"].dropna())
    assert events.loc["C-003":"C-005", "payment_id"].isna().all(), "NULL / nan / '' are no card"
    assert events["amount"].min() > 0 and (events["amount"] > 1000).any()
    first = events.loc["B-000"]
    assert first["account_id"] == "Müller; Hans" and first["amount"] == 12.0
    assert first["ts"] == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # 10:00 in Berlin (CET)
    quarantine = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    assert sorted(quarantine["order_no"]) == ["B-003", "B-004", "B-005"]


def test_orders_without_decimal_mark_are_refused_naming_it(tmp_path):
    world = _world(tmp_path, "orders")
    world.mapping.write_text(world.mapping.read_text().replace('decimal_mark: ","\n', ""))
    code, said = _ingest(world, tmp_path / "out")
    assert code == 1
    assert "non-numeric amount" in said and "decimal_mark: \",\"" in said
