"""`abusenet run` with Neo4j: graph loaded, scores and rings written back; login problems fail
well."""

from __future__ import annotations

import pandas as pd
import pytest

from abusenet.report import TOP_RING_QUERY
from graph.store.server import free_port
from tests.abusenet.test_pipeline_run import (
    FAST,
    NO_EXPLAIN,
    SYNTH_MAPPING,
    assert_failed_cleanly,
    generate_small,
    invoke,
)

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate_small(tmp_path_factory.mktemp("synth"))


def neo4j_run(synth, out, uri):
    return invoke("run", "--input", synth / "events", "--mapping", SYNTH_MAPPING,
                  "--labels", synth / "labels.csv", "--out", out, "--neo4j-uri", uri,
                  "--quiet", *FAST, *NO_EXPLAIN)


def test_run_loads_the_graph_and_writes_scores_and_rings_back(
    synth, tmp_path, neo4j_settings, neo4j_driver, monkeypatch
):
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.password)
    out = tmp_path / "out"
    result = neo4j_run(synth, out, neo4j_settings.uri)
    assert result.exit_code == 0, result.output
    assert "load the graph into Neo4j" in result.output
    assert f"written to {neo4j_settings.uri}" in result.output
    assert TOP_RING_QUERY.splitlines()[0] in result.output

    accounts = pd.read_parquet(out / "account_scores.parquet")
    rings = pd.read_parquet(out / "rings.parquet")
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (a:Account) RETURN count(a) AS n, count(a.risk_score) AS scored")
    assert records[0]["n"] == records[0]["scored"] == len(accounts)
    records, _, _ = neo4j_driver.execute_query("MATCH (r:Ring) RETURN count(r) AS n")
    assert records[0]["n"] == len(rings)
    records, _, _ = neo4j_driver.execute_query(TOP_RING_QUERY)
    assert {r["r"]["id"] for r in records} == {rings["ring_id"].iloc[0]}
    assert {r["a"]["id"] for r in records} == set(rings["members"].iloc[0])
    assert "Neo4j" in (out / "report.html").read_text()


def test_wrong_password_fails_before_any_work(synth, tmp_path, neo4j_settings, monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", "not-the-password")
    out = tmp_path / "out"
    result = neo4j_run(synth, out, neo4j_settings.uri)
    assert_failed_cleanly(result, out, "refused the login", "NEO4J_PASSWORD")
    assert not out.exists()


def test_unreachable_neo4j_fails_before_any_work(synth, tmp_path, monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", "whatever")
    out = tmp_path / "out"
    result = neo4j_run(synth, out, f"bolt://127.0.0.1:{free_port()}")
    assert_failed_cleanly(result, out, "cannot reach", "abusenet neo4j start")
    assert not out.exists()
