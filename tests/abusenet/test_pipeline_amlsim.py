"""`abusenet run` on the real AMLSim 10k transfers with their mapping, without and then with Neo4j.

The second run reuses the first one's work directory: every stage is cached except the Neo4j
ones, which load the graph and write the scores and rings back.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from abusenet.pipeline.outputs import check_outputs
from tests.abusenet.test_pipeline_run import ROOT, invoke

AMLSIM_MAPPING = ROOT / "configs" / "mappings" / "amlsim.yaml"
#: Few epochs: these tests check the run on real data, the benchmarks measure the model. No
#: challenger and no serve start caches: nothing here checks them (test_pipeline_run does).
SHORT = ["detector.max_epochs=5", "detector.patience=2", "labels.unlabelled_as_negative=true",
         "report.top_rings=3", "report.explain_members=0", "detector.boost_choice_folds=0",
         "validation.challenger=false", "serve.prepare_start=false"]


@pytest.fixture(scope="module")
def amlsim_run(datasets_dir, tmp_path_factory):
    data = datasets_dir / "amlsim-10k"
    out = tmp_path_factory.mktemp("amlsim") / "out"
    args = ["run", "--input", data / "transactions.csv.gz", "--mapping", AMLSIM_MAPPING,
            "--labels", data / "alert_accounts.csv.gz", "--out", out, "--quiet", *SHORT]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return out, args


def test_amlsim_run_writes_the_contract_files(amlsim_run, datasets_dir):
    out, _ = amlsim_run
    assert {"account_scores.parquet", "entity_scores.parquet", "rings.parquet", "metrics.json",
            "report.html"} <= set(check_outputs(out))
    transfers = pd.read_csv(datasets_dir / "amlsim-10k" / "transactions.csv.gz",
                            usecols=["orig_acct", "bene_acct"])
    accounts = pd.read_parquet(out / "account_scores.parquet")
    senders = set(transfers["orig_acct"].astype(str))
    assert senders <= set(accounts["account_id"])
    assert set(accounts["account_id"]) <= senders | set(transfers["bene_acct"].astype(str))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["evaluated_on"] == "held-back labels"
    assert metrics["accounts"]["auroc"] > 0.8
    assert len(pd.read_parquet(out / "rings.parquet")) > 0


@pytest.mark.neo4j
def test_amlsim_run_with_neo4j_writes_scores_and_rings_back(
    amlsim_run, neo4j_settings, neo4j_driver, monkeypatch
):
    out, args = amlsim_run
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.password)
    result = invoke(*args, "--neo4j-uri", neo4j_settings.uri)
    assert result.exit_code == 0, result.output
    assert "train the detector (cached" in result.output
    check_outputs(out)
    accounts = pd.read_parquet(out / "account_scores.parquet")
    rings = pd.read_parquet(out / "rings.parquet")
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (a:Account) RETURN count(a) AS n, count(a.risk_score) AS scored")
    assert records[0]["n"] == records[0]["scored"] == len(accounts)
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (r:Ring)<-[:MEMBER_OF]-(a:Account) RETURN r.id AS ring, count(a) AS size")
    sizes = dict(zip(rings["ring_id"], rings["size"], strict=True))
    assert {r["ring"]: r["size"] for r in records} == sizes
