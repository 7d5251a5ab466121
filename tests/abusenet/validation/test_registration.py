"""`abusenet run --promote` and `abusenet score` against a real MLflow store (a temporary
ABUSENET_HOME): a passed promotion, a model trained on shuffled labels refused by the gates,
scoring by the production alias, drift of another world (exit code 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from abusenet.cli import app
from abusenet.commands.run import DRIFT_EXIT_CODE
from tests.abusenet.conftest import seed_work

ROOT = Path(__file__).resolve().parents[3]
MAPPING = ROOT / "configs" / "mappings" / "synth.yaml"
FAST = ["detector.max_epochs=3", "detector.hidden_channels=16", "report.explain_members=0",
        "ring_scoring.min_score=0", "detector.boost_choice_folds=0"]
#: Gates loose enough for a small world, except the comparison with the champion.
LOOSE = ["validation.gates={max_ece: 0.5, min_slice_auroc: 0.0, min_auprc_margin: -1.0}"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from ingest.synth import generate

    root = tmp_path_factory.mktemp("world")
    out = generate(root / "data", n_accounts=2000, seed=7, progress=False).out_dir
    labels = pd.read_csv(out / "labels.csv")
    ts = pd.to_datetime(labels["ts"], utc=True)
    early = ts <= ts.max() - pd.Timedelta(days=14)
    labels.loc[early, "label"] = np.random.default_rng(0).permutation(
        labels.loc[early, "label"].to_numpy())
    labels.to_csv(root / "shuffled.csv", index=False)
    generate(root / "drifted", n_accounts=600, seed=11, progress=False,
             mean_events_per_account=40.0, night_shift_fraction=0.6)
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("home")
        patch.setenv("ABUSENET_HOME", str(path))
        yield path


def run(world: Path, out: Path, labels: Path, *extra):
    return invoke("run", "--input", world / "data" / "events", "--mapping", MAPPING,
                  "--labels", labels, "--out", out, "--quiet", "--promote", *FAST, *LOOSE,
                  *extra)


def test_promotion_by_rule_and_scoring_by_alias(world, home, tmp_path):
    first = run(world, tmp_path / "first", world / "data" / "labels.csv")
    assert first.exit_code == 0, first.output
    assert "Registered as version 1" in first.output
    assert "Promoted to production" in first.output
    metrics = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert metrics["challenger"]["name"] == "xgb-graph"
    assert metrics["published"] == metrics["selection"]["winner"]
    assert metrics["selection"]["chosen_on"].startswith("validation labels")
    assert metrics["out_of_time"]["labels"] > 0
    assert {"gnn", "xgb-graph", "blend"} <= set(metrics["out_of_time"]["candidates"])
    assert metrics["time_slices"] and "ece" in metrics["calibration"]
    assert (tmp_path / "first" / "model" / "reference.json").is_file()

    seed_work(tmp_path / "first", tmp_path / "shuffled")  # the same events: ingest to candidates
    shuffled = run(world, tmp_path / "shuffled", world / "shuffled.csv")
    assert shuffled.exit_code == 0, shuffled.output
    assert "Registered as version 2" in shuffled.output
    assert "Not promoted" in shuffled.output and "auroc_vs_champion" in shuffled.output
    assert "failed by" in shuffled.output

    same = invoke("score", "--input", world / "data" / "events", "--mapping", MAPPING,
                  "--out", tmp_path / "same", "--quiet", *FAST)
    assert same.exit_code == 0, same.output
    assert "Drift: none" in same.output
    drifted = invoke("score", "--input", world / "drifted" / "events", "--mapping", MAPPING,
                     "--out", tmp_path / "drifted", "--quiet", *FAST)
    assert drifted.exit_code == DRIFT_EXIT_CODE, drifted.output
    assert "PSI" in drifted.output
    assert (tmp_path / "drifted" / "account_scores.parquet").is_file()


def test_score_without_production_model_names_the_fix(world, tmp_path, monkeypatch):
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path / "empty-home"))
    result = invoke("score", "--input", world / "data" / "events", "--mapping", MAPPING,
                    "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 1
    assert "abusenet models promote VERSION" in " ".join(result.output.split())
