"""Labels at three levels (accounts, events, entities) through `abusenet run` end to end.

Event labels come from the generated world's truth: every event of an abusive account is
fraudulent, every event of a sample of the others genuine; entity labels mark the devices of
abusive accounts. A run without event or entity labels keeps its stage keys and its files.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from abusenet.pipeline.cache import StageCache
from abusenet.pipeline.config import load_run_config
from abusenet.pipeline.plan import PlannedRun, labels_stage, snapshot_stage, train_stage
from abusenet.pipeline.request import RunRequest
from abusenet.pipeline.stages.files import ENTITY_LABELS, EVENT_LABELS, SNAPSHOT, TRAIN_LABELS
from ingest.mapping import load_mapping
from tests.abusenet.conftest import seed_work
from tests.abusenet.test_pipeline_run import FAST, NO_EXPLAIN, SYNTH_MAPPING, invoke

UNMATCHED_EVENTS = ["evt_none_1", "evt_none_2"]


@pytest.fixture(scope="module")
def world(small_world, tmp_path_factory) -> dict[str, Path]:
    """A small generated world, and event and entity labels files made from its truth."""
    root = tmp_path_factory.mktemp("labels")
    synth = small_world
    truth = pd.read_parquet(synth / "truth_accounts.parquet")
    abusive = set(truth.loc[truth["is_abusive"], "account_id"])
    genuine = set(truth.loc[~truth["is_abusive"], "account_id"].iloc[::4])
    events = pd.read_parquet(synth / "events", columns=["event_id", "account_id", "device_id",
                                                        "ts"])
    labelled = events[events["account_id"].isin(abusive | genuine)]
    event_labels = pd.DataFrame({
        "txn": [*labelled["event_id"], *UNMATCHED_EVENTS],
        "status": [*labelled["account_id"].isin(abusive).map({True: "fraud", False: "ok"}),
                   "fraud", "ok"],
        "reported": [*(labelled["ts"] + pd.Timedelta(days=2)).dt.strftime("%Y-%m-%d %H:%M:%S"),
                     "", ""],
    })
    event_labels.to_csv(root / "chargebacks.csv", index=False)
    devices = events.dropna(subset=["device_id"])
    bad = sorted(set(devices.loc[devices["account_id"].isin(abusive), "device_id"]))
    good = sorted(set(devices.loc[devices["account_id"].isin(genuine), "device_id"]) - set(bad))
    pd.DataFrame({"device": [*bad, *good[:20], "dev_unknown"],
                  "banned": [1] * len(bad) + [0] * len(good[:20]) + [1]}).to_csv(
        root / "devices.csv", index=False)
    mapping = root / "mapping.yaml"
    mapping.write_text(SYNTH_MAPPING.read_text() + (
        "event_labels:\n  event_id: txn\n  label: status\n  known_at: reported\n"
        "  values: {fraud: 1, ok: 0}\n"
        "entity_labels:\n  entity_id: device\n  label: banned\n"
        "  constants: {node_type: Device}\n"))
    return {"synth": synth, "mapping": mapping, "events": root / "chargebacks.csv",
            "entities": root / "devices.csv", "root": root,
            "n_event_labels": len(labelled), "n_bad_devices": len(bad)}


def run_labels(world, out: Path, *extra) -> object:
    """A run with event and entity labels (no challenger: nothing here checks it)."""
    return invoke("run", "--input", world["synth"] / "events", "--mapping", world["mapping"],
                  "--event-labels", world["events"], "--entity-labels", world["entities"],
                  "--out", out, "--quiet", *FAST, *NO_EXPLAIN, "validation.challenger=false",
                  *extra)


@pytest.fixture(scope="module")
def finished(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    result = run_labels(world, out)
    assert result.exit_code == 0, result.output
    return out, result


def test_event_and_entity_labels_reach_the_snapshot_and_the_labels_stage(world, finished):
    out, result = finished
    snapshot = out / ".work" / "snapshot" / SNAPSHOT
    manifest = json.loads((snapshot / "manifest.json").read_text())
    assert manifest["event_labels"]["count"] == world["n_event_labels"]
    assert manifest["event_labels"]["unmatched"] == len(UNMATCHED_EVENTS)
    assert manifest["entity_labels"]["unmatched_by_type"] == {"Device": 1}
    assert manifest["entity_labels"]["positives"] == world["n_bad_devices"]
    events = pd.read_parquet(out / ".work" / "labels" / EVENT_LABELS)
    assert list(events.columns) == ["event_id", "account_id", "ts", "label", "known_at"]
    assert ((events["known_at"] - events["ts"]) == pd.Timedelta(days=2)).all()
    entities = pd.read_parquet(out / ".work" / "labels" / ENTITY_LABELS)
    assert set(entities["node_type"]) == {"Device"} and "dev_unknown" not in set(
        entities["entity_id"])
    text = " ".join(result.output.split())
    assert "2 naming no event of the graph" in text
    assert "1 naming no entity of the graph (1 Device)" in text


def test_account_labels_derived_from_event_labels_train_the_detector(world, finished):
    out, result = finished
    truth = pd.read_parquet(world["synth"] / "truth_accounts.parquet").set_index("account_id")
    train = pd.read_parquet(out / ".work" / "labels" / TRAIN_LABELS)
    assert (train["label"] == truth.loc[train["account_id"], "is_abusive"].to_numpy()).all()
    assert (out / "model").is_dir() and (out / "metrics.json").is_file()
    assert "Account labels derived from event labels" in " ".join(result.output.split())


def test_score_measures_a_saved_model_on_account_labels_derived_from_events(
    world, finished, tmp_path
):
    out, _ = finished
    scored = tmp_path / "scored"
    result = invoke("score", "--model", out / "model", "--input", world["synth"] / "events",
                    "--mapping", world["mapping"], "--event-labels", world["events"],
                    "--out", scored, "--quiet", *NO_EXPLAIN)
    assert result.exit_code == 0, result.output
    metrics = json.loads((scored / "metrics.json").read_text())
    assert metrics["labels"] == len(pd.read_parquet(out / ".work" / "labels" / TRAIN_LABELS)) + \
        len(pd.read_parquet(out / ".work" / "labels" / "holdout_labels.parquet"))
    assert not (scored / "model").exists()
    assert (scored / ".work" / "labels" / EVENT_LABELS).is_file()


def test_from_events_none_derives_no_account_labels(world, finished, tmp_path):
    out = tmp_path / "out"
    seed_work(finished[0], out)  # the same logs and labels: ingest, snapshot, candidates cached
    result = run_labels(world, out, "labels.from_events=none")
    assert result.exit_code == 0, result.output
    # no account labels: no account detector and no account metrics (the event model still trains)
    assert not (out / "model" / "model.pt").exists()
    assert "accounts" not in json.loads((out / "metrics.json").read_text())
    assert (out / ".work" / "labels" / EVENT_LABELS).is_file()


def test_contradictory_event_labels_stop_the_run_naming_the_lines(world, tmp_path):
    bad = tmp_path / "bad.csv"
    rows = pd.read_csv(world["events"])
    first = rows.iloc[0]
    pd.concat([rows, pd.DataFrame([{**first, "status": "ok" if first.status == "fraud"
                                    else "fraud"}])]).to_csv(bad, index=False)
    out = tmp_path / "out"
    result = invoke("run", "--input", world["synth"] / "events", "--mapping", world["mapping"],
                    "--event-labels", bad, "--out", out, "--quiet", *FAST)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "1 contradictory label" in text and f"{first.txn!r}" in text
    assert f"line {len(rows) + 2}" in text and "line 2" in text
    assert not (out / "account_scores.parquet").exists()


def test_an_unknown_node_type_stops_the_run_before_any_work(world, tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(world["mapping"].read_text().replace("node_type: Device",
                                                            "node_type: Terminal"))
    result = invoke("run", "--input", world["synth"] / "events", "--mapping", mapping,
                    "--entity-labels", world["entities"], "--out", tmp_path / "out")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "'Terminal' is not a node type" in text and "Device, IP, PaymentMethod" in text
    assert not (tmp_path / "out").exists()


def test_a_missing_event_labels_file_is_named(world, tmp_path):
    result = invoke("run", "--input", world["synth"] / "events", "--mapping", world["mapping"],
                    "--event-labels", tmp_path / "none.csv", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "none.csv does not exist" in " ".join(result.output.split())


def test_an_account_only_run_keeps_its_stage_keys(world, tmp_path):
    config = load_run_config(None)
    request = RunRequest(inputs=[str(world["synth"] / "events")], mapping=SYNTH_MAPPING,
                         out_dir=tmp_path / "out", config=config,
                         labels=world["synth"] / "labels.csv")
    run = PlannedRun(request, load_mapping(SYNTH_MAPPING), StageCache(tmp_path / "w"), None)
    assert snapshot_stage(run).key == {"mapping": run.mapping.fingerprint()}
    assert labels_stage(run).key == {"holdout_fraction": 0.2, "seed": 0,
                                     "unlabelled_as_negative": "auto", "rare_tie_users": 0}
    assert run.event_labels is None and run.entity_labels is None and run.training


def test_logs_timed_by_their_lines_validate_on_a_random_hold_out(world, tmp_path):
    """With ``timestamps: {missing: row_order}`` the latest labels are the file's last lines,
    not the newest: the detector's split has no out-of-time window (its stage key says so)."""
    config = load_run_config(None)
    assert config.validation.out_of_time_days > 0
    request = RunRequest(inputs=[str(world["synth"] / "events")], mapping=SYNTH_MAPPING,
                         out_dir=tmp_path / "out", config=config,
                         labels=world["synth"] / "labels.csv")
    timed = load_mapping(SYNTH_MAPPING)
    lines = dataclasses.replace(timed, row_order_times=True)
    for mapping, days in ((timed, config.validation.out_of_time_days), (lines, 0.0)):
        run = PlannedRun(request, mapping, StageCache(tmp_path / "w"), None)
        assert run.validation.out_of_time_days == days
        assert train_stage(run).key["validation"]["out_of_time_days"] == days
    assert config.validation.out_of_time_days > 0  # the run's own settings are unchanged


def test_an_account_only_run_writes_no_event_or_entity_labels(world, small_run, tmp_path):
    out = tmp_path / "out"
    seed_work(small_run[0], out)  # the same run, but for the report's settings
    result = invoke("run", "--input", world["synth"] / "events", "--mapping", SYNTH_MAPPING,
                    "--labels", world["synth"] / "labels.csv", "--out", out, "--quiet", *FAST,
                    *NO_EXPLAIN)
    assert result.exit_code == 0, result.output
    snapshot = out / ".work" / "snapshot" / SNAPSHOT
    assert sorted(p.name for p in snapshot.iterdir()) == [
        "edges", "labels.parquet", "manifest.json", "nodes"]
    manifest = json.loads((snapshot / "manifest.json").read_text())
    assert "event_labels" not in manifest and "entity_labels" not in manifest
    assert sorted(p.name for p in (out / ".work" / "labels").iterdir() if p.suffix) == [
        "holdout_labels.parquet", "train_labels.parquet"]
    assert "Event labels" not in result.output and "derived" not in result.output
