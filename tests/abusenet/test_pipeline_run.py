"""`abusenet run` and `abusenet score` end to end on a small generated dataset, without Neo4j.

The contract of ARCHITECTURE.md ("Batch run output") is checked file by file; bad runs must fail
with one paragraph naming the fix, a non-zero exit and no new or half-written output file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from abusenet.cli import app
from abusenet.pipeline.outputs import CONTRACT_FILES, check_outputs
from tests.abusenet.conftest import seed_work

ROOT = Path(__file__).resolve().parents[2]
SYNTH_MAPPING = ROOT / "configs" / "mappings" / "synth.yaml"
#: Small and quick: the tests check the plumbing, not the model.
FAST = ["detector.max_epochs=2", "detector.hidden_channels=16", "detector.patience=1",
        "report.top_rings=3", "ring_scoring.min_score=0", "detector.boost_choice_folds=0"]
NO_EXPLAIN = ["report.explain_members=0"]


def generate_small(directory: Path) -> Path:
    """400 generated accounts with planted rings and partial labels, in ``directory``."""
    from ingest.synth import generate

    return generate(directory / "data", n_accounts=400, seed=7, progress=False).out_dir


@pytest.fixture(scope="module")
def synth(small_world: Path) -> Path:
    return small_world


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def run_args(synth: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--input", synth / "events", "--mapping", SYNTH_MAPPING,
            "--labels", synth / "labels.csv", "--out", out, "--quiet", *FAST, *extra]


@pytest.fixture(scope="module")
def finished(small_run) -> tuple[Path, object]:
    """``run_args`` of the small world, run once for the session (tests/abusenet/conftest.py)."""
    return small_run


def contract_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def test_run_writes_every_contract_file_with_its_schema(finished):
    out, _ = finished
    names = check_outputs(out)
    assert {"account_scores.parquet", "entity_scores.parquet", "rings.parquet", "metrics.json",
            "report.html"} <= set(names)
    assert set(contract_files(out)) <= {*CONTRACT_FILES, "model", "explanations.parquet"}
    assert (out / "model" / "metadata.json").is_file()
    assert "Why the top members score high" in (out / "report.html").read_text()

    accounts = pd.read_parquet(out / "account_scores.parquet")
    assert accounts["account_id"].is_unique and len(accounts) >= 400
    assert set(accounts["score_kind"]) == {"probability"}
    rings = pd.read_parquet(out / "rings.parquet")
    assert len(rings) > 0 and rings["score"].is_monotonic_decreasing
    # chance explains no reported ring (money-flow shapes are judged by their own searches)
    by_flows = (rings["kind"].str.contains("flow_") | (rings["internal_flow"] > 0)
                | (rings["sharing"] == 0))
    assert ((rings["surprise"] >= 2.0) | by_flows).all()
    assert (rings["significant"] == (rings["surprise"] >= 2.0)).all()
    assert (rings["size"] == rings["members"].map(len)).all()
    in_rings = set(rings["ring_id"])
    assigned = accounts["ring_id"].dropna()
    assert len(assigned) > 0 and set(assigned) <= in_rings
    ring_members = set(rings["members"].explode())
    assert set(accounts.loc[accounts["ring_id"].notna(), "account_id"]) <= ring_members
    entities = pd.read_parquet(out / "entity_scores.parquet")
    assert {"Device", "IP", "PaymentMethod"} <= set(entities["node_type"])
    members_type = pq.read_schema(out / "rings.parquet").field("members").type
    assert str(members_type) == "list<element: string>"


def test_explanations_cover_the_riskiest_members_of_the_top_rings(finished):
    from abusenet.pipeline.stages.detect import EXPLANATION_COLUMNS

    out, _ = finished
    explanations = pd.read_parquet(out / "explanations.parquet")
    assert list(explanations.columns) == EXPLANATION_COLUMNS
    rings = pd.read_parquet(out / "rings.parquet").head(3).set_index("ring_id")
    assert set(explanations["ring_id"]) <= set(rings.index) and len(explanations) > 0
    for ring_id, part in explanations.groupby("ring_id"):
        assert set(part["account_id"]) <= set(rings.loc[ring_id, "members"])
        assert part["account_id"].nunique() <= 3
    assert {"neighbor", "feature"} <= set(explanations["kind"])
    scores = pd.read_parquet(out / "account_scores.parquet").set_index("account_id")["score"]
    explained = explanations.drop_duplicates("account_id").set_index("account_id")["score"]
    assert (explained - scores.reindex(explained.index)).abs().max() < 1e-6


def test_metrics_are_on_held_back_labels_only(finished, synth):
    out, _ = finished
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["evaluated_on"] == "held-back labels"
    labels = pd.read_csv(synth / "labels.csv")
    assert 0 < metrics["labels"] < len(labels)
    assert 0.0 <= metrics["accounts"]["auroc"] <= 1.0
    split = json.loads((out / ".work" / "stages" / "labels.json").read_text())["info"]
    assert split["holdout"] == metrics["labels"]
    assert split["train"] + split["holdout"] == split["labels"]


def test_summary_names_rows_graph_rings_and_outputs(finished):
    _, result = finished
    text = result.output
    assert "rows in" in text.lower() or "Rows:" in text
    assert "Graph:" in text and "Top " in text and "report.html" in text
    assert "structure scores" not in text


def test_rerun_skips_every_stage_and_keeps_the_outputs(finished, synth):
    out, _ = finished
    before = (out / "rings.parquet").read_bytes()
    result = invoke(*run_args(synth, out))
    assert result.exit_code == 0, result.output
    assert result.output.count("cached, unchanged inputs") >= 8
    assert (out / "rings.parquet").read_bytes() == before


def test_score_applies_the_saved_model_without_training(finished, synth, tmp_path):
    out, _ = finished
    scored = tmp_path / "scored"
    result = invoke("score", "--model", out / "model", "--input", synth / "events",
                    "--mapping", SYNTH_MAPPING, "--labels", synth / "labels.csv",
                    "--out", scored, "--quiet", *FAST, *NO_EXPLAIN)
    assert result.exit_code == 0, result.output
    assert "train the detector" not in result.output
    check_outputs(scored)
    assert not (scored / "model").exists()
    same = pd.read_parquet(scored / "account_scores.parquet").set_index("account_id")["score"]
    first = pd.read_parquet(out / "account_scores.parquet").set_index("account_id")["score"]
    pd.testing.assert_series_equal(same.sort_index(), first.sort_index(), atol=1e-6)
    metrics = json.loads((scored / "metrics.json").read_text())
    assert metrics["evaluated_on"].startswith("all given labels")


def test_score_counts_the_string_values_the_model_was_trained_on(finished, synth, tmp_path):
    """The synth mapping's string attributes feed share features; scoring logs that lack one
    of the model's values and hold one it never saw builds the model's columns, no others."""
    out, _ = finished
    trained = json.loads((out / "model" / "metadata.json").read_text())["attribute_shares"]
    assert list(trained) == ["channel", "status"] and "declined" in trained["status"]
    events = pd.concat([pd.read_parquet(p) for p in sorted((synth / "events").glob("*.parquet"))])
    events = events[events["status"] != "declined"].copy()
    events.loc[events.index[:5], "status"] = "timeout"
    logs = tmp_path / "logs.parquet"
    events.to_parquet(logs)
    scored = tmp_path / "scored"
    result = invoke("score", "--model", out / "model", "--input", logs, "--mapping",
                    SYNTH_MAPPING, "--out", scored, "--quiet", *FAST, *NO_EXPLAIN,
                    "validation.drift={max_feature_psi: 1000, max_score_psi: 1000}")
    assert result.exit_code == 0, result.output
    manifest = json.loads((scored / ".work" / "snapshot" / "snapshot" / "manifest.json")
                          .read_text())
    assert manifest["attribute_shares"] == trained
    features = [f for f in manifest["nodes"]["Account"]["features"] if f.startswith("attr_")]
    assert features == [c for values in trained.values() for c in values.values()]


# The blend applies XGB-Graph too; the XGB-Graph case alone (~9 s) is in `make test-all`.
@pytest.mark.parametrize("candidate", ["blend", pytest.param("xgb-graph", marks=pytest.mark.slow)])
def test_score_applies_the_published_candidate_as_the_run_did(synth, finished, tmp_path,
                                                             candidate):
    out, scored = tmp_path / "out", tmp_path / "scored"
    seed_work(finished[0], out)  # trained and scored: the candidates' stages run
    result = invoke(*run_args(synth, out, *NO_EXPLAIN, f"validation.publish={candidate}"))
    assert result.exit_code == 0, result.output
    published = json.loads((out / "model" / "published.json").read_text())
    assert published["candidate"] == candidate
    assert (out / "model" / "challenger" / "model.json").is_file()
    assert json.loads((out / "metrics.json").read_text())["published"] == candidate
    result = invoke("score", "--model", out / "model", "--input", synth / "events",
                    "--mapping", SYNTH_MAPPING, "--out", scored, "--quiet", *FAST, *NO_EXPLAIN)
    assert result.exit_code == 0, result.output
    same = pd.read_parquet(scored / "account_scores.parquet").set_index("account_id")["score"]
    first = pd.read_parquet(out / "account_scores.parquet").set_index("account_id")["score"]
    pd.testing.assert_series_equal(same.sort_index(), first.sort_index(), atol=1e-6, rtol=0)


def test_quarantine_parquet_lists_rejected_rows(finished, synth, tmp_path):
    events = pd.read_parquet(next((synth / "events").glob("*.parquet")))
    bad = events.head(2000).astype({"ts": str})
    bad.loc[bad.index[:3], "ts"] = "not a time"
    logs = tmp_path / "logs.csv"
    bad.to_csv(logs, index=False)
    out = tmp_path / "out"
    result = invoke("score", "--model", finished[0] / "model", "--input", logs, "--mapping",
                    SYNTH_MAPPING, "--out", out, "--quiet", *FAST, *NO_EXPLAIN,
                    "ingest.max_bad_fraction=0.05",
                    # 2,000 rows of the first days drift from the training data (exit 3).
                    "validation.drift={max_feature_psi: 1000, max_score_psi: 1000}")
    assert result.exit_code == 0, result.output
    quarantine = pd.read_parquet(out / "quarantine.parquet")
    assert len(quarantine) == 3
    assert {"source_file", "line", "reason"} <= set(quarantine.columns)
    check_outputs(out)


# ------------------------------------------------------------------------------ bad runs
def assert_failed_cleanly(result, out: Path, *needles: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output
    if out.exists():
        assert contract_files(out) == [], "a failed run left output files"


def test_missing_input_fails_before_any_work(synth, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", "--input", tmp_path / "nope" / "*.csv", "--mapping", SYNTH_MAPPING,
                    "--labels", synth / "labels.csv", "--out", out)
    assert_failed_cleanly(result, out, "bad input", "--input")
    assert not out.exists()


def test_wrong_mapping_fails_before_any_work(synth, tmp_path):
    mapping = tmp_path / "wrong.yaml"
    mapping.write_text(SYNTH_MAPPING.read_text().replace("account_id: account_id",
                                                        "account_id: user"))
    out = tmp_path / "out"
    result = invoke("run", "--input", synth / "events", "--mapping", mapping,
                    "--labels", synth / "labels.csv", "--out", out)
    assert_failed_cleanly(result, out, "mapping does not fit", "'user'")
    assert not out.exists()


def test_missing_mapping_and_labels_files_are_named(synth, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", "--input", synth / "events", "--mapping", tmp_path / "none.yaml",
                    "--labels", synth / "labels.csv", "--out", out)
    assert_failed_cleanly(result, out, "none.yaml does not exist")
    result = invoke("run", "--input", synth / "events", "--mapping", SYNTH_MAPPING,
                    "--labels", tmp_path / "none.csv", "--out", out)
    assert_failed_cleanly(result, out, "none.csv does not exist")


def test_without_labels_rings_are_ranked_by_structure_alone(tmp_path):
    from sklearn.metrics import roc_auc_score

    from ingest.synth import generate

    # Big enough that planted rings stand out from households and offices by structure.
    data = generate(tmp_path / "data", n_accounts=3000, seed=7, progress=False).out_dir
    out = tmp_path / "out"
    result = invoke("run", "--input", data / "events", "--mapping", SYNTH_MAPPING,
                    "--out", out, "report.top_rings=3")
    assert result.exit_code == 0, result.output
    assert "structure scores" in result.output and "not probabilities" in result.output
    names = check_outputs(out)
    assert "metrics.json" not in names and not (out / "model").exists()
    # every significant ring is reported, whatever its score, ranked by significance
    rings = pd.read_parquet(out / "rings.parquet")
    assert len(rings) > 0 and rings["score"].is_monotonic_decreasing
    assert (rings["surprise"] >= 2.0).all()
    # ranked by surprise, a trimmed core's times its kept share (gnn.ring_ranking)
    dropped = np.array([next((int(e.removeprefix("Trimmed:").split()[0]) for e in evidence
                              if e.startswith("Trimmed:")), 0) for evidence in rings["evidence"]])
    credited = rings["surprise"] * rings["size"] / (rings["size"] + dropped)
    expected = credited / (credited + 10.0)
    demoted = rings["score"] < expected - 1e-9  # fragments, at half their score
    assert np.allclose(rings.loc[demoted, "score"], 0.5 * expected[demoted])
    assert np.allclose(rings.loc[~demoted, "score"], expected[~demoted])
    accounts = pd.read_parquet(out / "account_scores.parquet").set_index("account_id")
    assert set(accounts["score_kind"]) == {"structure"}
    assert set(accounts["ring_id"].dropna()) <= set(rings["ring_id"])
    truth = pd.read_parquet(data / "truth_accounts.parquet", columns=["account_id", "is_abusive"])
    truth = truth.set_index("account_id")
    joined = accounts.join(truth, how="inner")
    assert roc_auc_score(joined["is_abusive"].astype(int), joined["score"]) >= 0.65


def test_a_failing_stage_keeps_the_previous_outputs_and_resumes(finished, synth, tmp_path):
    out, _ = finished
    before = {name: (out / name).read_bytes() for name in contract_files(out)
              if (out / name).is_file()}
    result = invoke(*run_args(synth, out, "detector.num_layers=3"))
    assert result.exit_code != 0
    assert "stage 'train' failed" in result.output and "resumes" in result.output
    assert "Traceback" not in result.output
    after = {name: (out / name).read_bytes() for name in contract_files(out)
             if (out / name).is_file()}
    assert after == before, "a failed run changed published outputs"
    assert (out / ".work" / "last_error.log").is_file()


def test_bad_override_is_one_clear_line(synth, tmp_path):
    out = tmp_path / "out"
    result = invoke(*run_args(synth, out, "detector.max_epoch=3"))
    assert_failed_cleanly(result, out, "unknown setting detector.max_epoch")


def test_a_bad_value_fails_before_ingest_naming_key_value_and_type(synth, tmp_path):
    out = tmp_path / "out"
    result = invoke(*run_args(synth, out, "detector.max_epochs=abc"))
    assert_failed_cleanly(result, out, "detector.max_epochs = 'abc' is not valid",
                          "Input should be a valid integer")
    assert not out.exists(), "ingest ran before the settings were checked"


def test_every_stage_code_scope_names_existing_code():
    from abusenet.pipeline import plan
    from abusenet.pipeline.cache import code_fingerprint

    scopes = [plan.INGEST_CODE, plan.SNAPSHOT_CODE, plan.GRAPH_CODE, plan.MODEL_CODE]
    assert len({code_fingerprint(scope) for scope in scopes}) == len(scopes)


def test_metrics_hold_the_reliability_of_account_and_ring_scores(synth, finished, tmp_path):
    # The 400-account world holds few labels and, with the defaults, few rings: half the labels
    # held back and every candidate scored (chance-explained flows too, no member bar) give the
    # reliability table rings with held-back members to count.
    out = tmp_path / "out"
    seed_work(finished[0], out)  # ingest, snapshot and candidates are the same
    result = invoke(*run_args(synth, out, "labels.holdout_fraction=0.5",
                              "ring_scoring.unsurprising=flows", "ring_scoring.min_member_pool=0",
                              *NO_EXPLAIN))
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    calibration = metrics["calibration"]
    assert calibration["count"] == metrics["labels"]
    assert sum(b["count"] for b in calibration["bins"]) == metrics["labels"]
    assert 0.0 <= calibration["ece"] <= 1.0 and 0.0 <= calibration["brier"] <= 1.0
    holdout = pd.read_parquet(out / ".work" / "labels" / "holdout_labels.parquet")
    label = dict(zip(holdout["account_id"].astype(str), holdout["label"], strict=True))
    rings = pd.read_parquet(out / "rings.parquet")
    known = []
    for members, score in zip(rings["members"], rings["score"], strict=True):
        labelled = [label[m] for m in members if m in label]
        if labelled:
            known.append((score, sum(labelled) >= len(labelled) / 2))
    reliability = metrics["rings"]["reliability"]
    assert reliability["rings"] == len(rings) == reliability["known"] + reliability["unknown"]
    assert reliability["known"] == len(known) > 0
    assert reliability["abusive_share"] == pytest.approx(np.mean([a for _, a in known]))
    assert sum(b["count"] for b in reliability["bins"]) == len(known)
    for b in reliability["bins"]:
        inside = [(s, a) for s, a in known
                  if b["lower"] <= s < b["upper"] or (s == b["upper"] == 1.0)]
        assert b["count"] == len(inside)
        assert b["observed_rate"] == pytest.approx(np.mean([a for _, a in inside]))
        assert b["observed_low"] <= b["observed_rate"] <= b["observed_high"]
