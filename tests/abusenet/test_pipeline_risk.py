"""Event and entity risk through `abusenet run` and `abusenet score` on a small card world: event
and entity labels -> event_scores.parquet, entity_scores.parquet with its method, metrics,
report sections, saved models reused, Neo4j properties; an account-only run unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from abusenet.pipeline.outputs import check_outputs
from tests.abusenet.test_pipeline_run import FAST, NO_EXPLAIN, invoke

ROOT = Path(__file__).resolve().parents[2]
CARDS_MAPPING = ROOT / "configs" / "mappings" / "synth_cards.yaml"
QUICK = [*FAST, *NO_EXPLAIN, "validation.challenger=false"]


@pytest.fixture(scope="module")
def cards(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cards") / "world"
    result = invoke("synth", "--world", "cards", "-n", 300, "--days", 30, "--seed", 3,
                    "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    return out


def risk_args(cards: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--input", cards / "events", "--mapping", CARDS_MAPPING,
            "--event-labels", cards / "event_labels.csv",
            "--entity-labels", cards / "entity_labels.csv", "--out", out, "--quiet", *QUICK,
            *extra]


@pytest.fixture(scope="module")
def risk_run(cards, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("risk") / "out"
    result = invoke(*risk_args(cards, out))
    assert result.exit_code == 0, result.output
    return out


def test_run_with_event_and_entity_labels_writes_event_and_entity_risk(cards, risk_run):
    out = risk_run
    assert "event_scores.parquet" in check_outputs(out)
    events = pd.read_parquet(out / "event_scores.parquet")
    truth = pd.read_parquet(cards / "truth_events.parquet")
    assert list(events.columns[:3]) == ["event_id", "account_id", "score"]
    assert "terminal_id" in events.columns and "payment_id" in events.columns
    assert events["event_id"].is_unique and set(events["event_id"]) == set(truth["event_id"])
    assert events["score"].between(0, 1).all()
    schema = pq.read_schema(out / "event_scores.parquet")
    assert str(schema.field("score").type) == "double"

    entities = pd.read_parquet(out / "entity_scores.parquet")
    methods = entities.groupby("node_type")["method"].unique()
    assert list(methods["Terminal"]) == ["supervised"]
    assert set(entities["method"]) <= {"supervised", "pooled"}
    assert (out / "model" / "events" / "model.json").is_file()
    assert (out / "model" / "entities" / "metadata.json").is_file()
    assert (out / "model" / "metadata.json").is_file()  # the detector, beside them
    saved = [p.read_text() for p in (out / "model" / "entities").glob("type-*/metadata.json")]
    assert saved and all("cpc_surprise" in text for text in saved)  # common point of compromise

    metrics = json.loads((out / "metrics.json").read_text())
    assert {"auroc", "auprc", "n", "positives"} <= set(metrics["events"])
    assert 0 < metrics["events"]["n"] < len(events)  # the latest labelled events, held back
    assert "accounts" in metrics  # the account metrics are kept
    terminal = metrics["entities"]["Terminal"]
    assert terminal["n"] > 0 and terminal["positives"] >= 1
    report = (out / "report.html").read_text()
    assert "Event risk" in report and "riskiest events" in report
    assert "Terminal (supervised)" in report and "derived from labelled events" in report


def test_score_applies_the_saved_event_and_entity_models(cards, risk_run, tmp_path):
    out = tmp_path / "scored"
    result = invoke("score", "--model", risk_run / "model", "--input", cards / "events",
                    "--mapping", CARDS_MAPPING, "--event-labels", cards / "event_labels.csv",
                    "--entity-labels", cards / "entity_labels.csv", "--out", out, "--quiet",
                    *NO_EXPLAIN)
    assert result.exit_code == 0, result.output
    assert "train the event model" not in result.output
    scored = pd.read_parquet(out / "event_scores.parquet")
    trained = pd.read_parquet(risk_run / "event_scores.parquet")
    # the same model on the same events and labels: the same scores
    pd.testing.assert_frame_equal(scored, trained)
    entities = pd.read_parquet(out / "entity_scores.parquet")
    assert set(entities.loc[entities["method"] == "supervised", "node_type"]) == set(
        pd.read_parquet(risk_run / "entity_scores.parquet").query("method == 'supervised'")
        ["node_type"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["events"]["n"] == len(scored)  # measured on every given label
    assert "model not retrained" in metrics["events"]["what"]
    assert "Terminal" in metrics["entities"]


def test_an_account_only_run_keeps_its_outputs(cards, tmp_path):
    out = tmp_path / "accounts"
    result = invoke("run", "--input", cards / "events", "--mapping", CARDS_MAPPING,
                    "--labels", cards / "labels.csv", "--out", out, "--quiet", *QUICK)
    assert result.exit_code == 0, result.output
    assert not (out / "event_scores.parquet").exists()
    assert not (out / "model" / "events").exists() and not (out / "model" / "entities").exists()
    work = out / ".work"
    published = pd.read_parquet(out / "entity_scores.parquet")
    assert set(published["method"]) == {"pooled"}
    # the score stage's pooled table, unchanged but for the method column
    pd.testing.assert_frame_equal(published.drop(columns="method"),
                                  pd.read_parquet(work / "score" / "entity_scores.parquet"))
    assert (out / "metrics.json").read_bytes() == (work / "evaluate" / "metrics.json").read_bytes()
    assert not (work / "risk_metrics").exists()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "account_scores.parquet"),
                                  pd.read_parquet(work / "rings" / "account_scores.parquet"))


@pytest.mark.neo4j
def test_neo4j_carries_entity_method_and_event_risk(cards, risk_run, neo4j_settings,
                                                    neo4j_driver, monkeypatch):
    from graph.query_pack import run_query
    from graph.store import connect

    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.password)
    result = invoke(*risk_args(cards, risk_run, "--neo4j-uri", neo4j_settings.uri))
    assert result.exit_code == 0, result.output
    entities = pd.read_parquet(risk_run / "entity_scores.parquet")
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (t:Terminal) RETURN t.id AS id, t.risk_score AS score, t.risk_method AS method")
    stored = pd.DataFrame([dict(r) for r in records]).set_index("id").sort_index()
    expected = entities[entities["node_type"] == "Terminal"].set_index("entity_id").sort_index()
    assert np.allclose(stored["score"], expected.loc[stored.index, "score"])
    assert set(stored["method"]) == {"supervised"}

    events = pd.read_parquet(risk_run / "event_scores.parquet")
    pair = events.dropna(subset=["terminal_id"]).groupby(["account_id", "terminal_id"])["score"]
    top = pair.max().sort_values(ascending=False)
    (account, terminal), best = top.index[0], top.iloc[0]
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (:Account {id: $a})-[r:USED_TERMINAL]->(:Terminal {id: $t}) "
        "RETURN r.max_event_risk AS risk, r.risky_events AS risky", a=account, t=terminal)
    assert records[0]["risk"] == pytest.approx(best)
    assert records[0]["risky"] == int((pair.get_group((account, terminal)) >= 0.5).sum())

    with connect(neo4j_settings) as store:
        risky = run_query(store, "risky_entities", {"node_type": "Terminal", "limit": 5})
        assert list(risky["method"]) == ["supervised"] * 5
        assert risky["risk_score"].is_monotonic_decreasing
        where = run_query(store, "account_risky_events", {"account_id": account})
        assert where.iloc[0]["max_event_risk"] == pytest.approx(best)


def test_labels_from_decisions_become_labels_of_their_level(cards, tmp_path):
    from abusenet.cases.decisions import CONFIRMED, DISMISSED, append_decision, new_decision

    out = tmp_path / "decided"
    terminal = pd.read_parquet(cards / "truth_entities.parquet").query(
        "node_type == 'Terminal'")["entity_id"].iloc[0]
    account = pd.read_csv(cards / "labels.csv").query("label == 1")["account_id"].iloc[0]
    for decision, kind, target_type, target in ((CONFIRMED, "entity", "Terminal", terminal),
                                                (DISMISSED, "account", "Account", account)):
        append_decision(new_decision(graph="decided", decision=decision, target_kind=kind,
                                     target_type=target_type, target_id=target, analyst="kim"))
    result = invoke("run", "--input", cards / "events", "--mapping", CARDS_MAPPING,
                    "--labels", cards / "labels.csv", "--labels-from-decisions", "--out", out,
                    "--quiet", *QUICK)
    assert result.exit_code == 0, result.output
    assert "Labels from analysts' decisions: 1 accounts, 0 events, 1 entities" in result.output
    entities = pd.read_parquet(out / ".work" / "labels" / "entity_labels.parquet")
    assert entities[["node_type", "entity_id", "label"]].values.tolist() == [
        ["Terminal", terminal, 1]]
    labels = pd.read_parquet(out / ".work" / "labels" / "train_labels.parquet")
    held = out / ".work" / "labels" / "holdout_labels.parquet"
    if held.is_file():
        labels = pd.concat([labels, pd.read_parquet(held)])
    # the analyst's dismissal wins over the given label 1
    assert labels.set_index("account_id").loc[account, "label"] == 0
    # one labelled terminal is too few to train on: pooled, and the report says why
    assert set(pd.read_parquet(out / "entity_scores.parquet")["method"]) == {"pooled"}
    report = (out / "report.html").read_text()
    assert "Entity model not trained" in report
    # the report says how many decisions became labels
    assert "labels from decisions" in report and "1 accounts, 0 events, 1 entities" in report


def test_the_card_reports_feed_the_compromise_evidence_of_both_stages(cards, risk_run, tmp_path):
    from abusenet.pipeline.stages import entities, events
    from abusenet.pipeline.stages.files import (
        ENTITY_LABELS,
        ENTITY_SCORES,
        EVENT_LABELS,
        EVENTS,
        SNAPSHOT,
    )

    work = risk_run / ".work"
    ingested, labels = work / "ingest" / EVENTS, work / "labels"
    reports = pd.read_parquet(labels / ENTITY_LABELS)
    reported = reports[(reports["node_type"] == "PaymentMethod") & (reports["label"] == 1)]
    assert len(reported) >= 1
    # Events: the saved model with and without the entity labels; the features, and so the
    # scores, of the events before the first report's day are the same, later ones move.
    scored = {}
    for name, path in (("with", labels / ENTITY_LABELS), ("without", None)):
        (tmp_path / name).mkdir()
        events.score_events_stage(ingested, risk_run / "model" / "events",
                                  labels / EVENT_LABELS, tmp_path / name, path)
        scored[name] = pd.read_parquet(tmp_path / name / events.EVENT_SCORES)
    first_day = pd.Timestamp(reported["known_at"].min()).floor("D") + pd.Timedelta(days=1)
    ts = pd.read_parquet(ingested, columns=["event_id", "ts"]).set_index("event_id")["ts"]
    early = scored["with"]["event_id"].map(ts).lt(first_day).to_numpy()
    assert early.any() and not early.all()
    np.testing.assert_array_equal(scored["with"]["score"].to_numpy()[early],
                                  scored["without"]["score"].to_numpy()[early])
    assert not np.array_equal(scored["with"]["score"], scored["without"]["score"])
    # Entities: the saved entity model reads the reports' compromise evidence.
    columns = {"Device": "device_id", "IP": "ip", "PaymentMethod": "payment_id",
               "Terminal": "terminal_id"}
    terminal = {}
    for name, path in (("with", labels / ENTITY_LABELS), ("without", None)):
        (tmp_path / f"e-{name}").mkdir()
        entities.apply_entities_stage(work / "snapshot" / SNAPSHOT, ingested, columns,
                                      risk_run / "model" / "entities",
                                      work / "score" / ENTITY_SCORES, labels / EVENT_LABELS,
                                      path, tmp_path / f"e-{name}")
        table = pd.read_parquet(tmp_path / f"e-{name}" / ENTITY_SCORES)
        terminal[name] = table[table["node_type"] == "Terminal"].set_index("entity_id")["score"]
    assert not terminal["with"].equals(terminal["without"])


def test_event_labels_that_cannot_train_leave_the_rest_of_the_run(cards, tmp_path):
    """Every fraudulent event in the latest held-back part (an attack is a burst in time): no
    event model, said in the stage's info, and the run publishes everything else."""
    labels = pd.read_csv(cards / "event_labels.csv")
    events = pd.read_parquet(cards / "events", columns=["event_id", "ts"])
    latest = set(events.nlargest(30, "ts")["event_id"])
    labels["label"] = labels["event_id"].isin(latest).astype(int)
    burst = tmp_path / "burst_labels.csv"
    labels.to_csv(burst, index=False)
    out = tmp_path / "out"
    result = invoke("run", "--input", cards / "events", "--mapping", CARDS_MAPPING,
                    "--event-labels", burst, "--out", out, "--quiet", *QUICK)
    assert result.exit_code == 0, result.output
    assert not (out / "event_scores.parquet").exists()
    assert (out / "account_scores.parquet").is_file() and (out / "rings.parquet").is_file()
    info = json.loads((out / ".work" / "stages" / "events.json").read_text())["info"]
    assert "0 fraudulent" in info["skipped"]
