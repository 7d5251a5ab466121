"""`abusenet run` with Neo4j: graph loaded, scores and rings written back; login problems fail
well."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from abusenet.report import TOP_RING_QUERY
from graph.store.server import free_port
from tests.abusenet.conftest import seed_work
from tests.abusenet.test_pipeline_run import (
    FAST,
    NO_EXPLAIN,
    SYNTH_MAPPING,
    assert_failed_cleanly,
    invoke,
)

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def synth(small_world):
    return small_world


def neo4j_run(synth, out, uri, *extra):
    return invoke("run", "--input", synth / "events", "--mapping", SYNTH_MAPPING,
                  "--labels", synth / "labels.csv", "--out", out, "--neo4j-uri", uri,
                  "--quiet", *FAST, *NO_EXPLAIN, *extra)


def test_run_loads_the_graph_and_writes_scores_and_rings_back(
    synth, small_run, tmp_path, neo4j_settings, neo4j_driver, monkeypatch
):
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.password)
    out = tmp_path / "out"
    seed_work(small_run[0], out)  # scored already: the Neo4j stages and the report run
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


WRITE_TIMES = ("scored_at", "detected_at")


def _graph_state(driver, graph: str) -> tuple[dict[str, int], str]:
    """Nodes per label, relationships per type and a digest of every property of one graph
    (but the time a run wrote its scores: ``scored_at``, ``detected_at``)."""
    nodes, _, _ = driver.execute_query(
        "MATCH (n {graph: $g}) WHERE NOT n:LoadRun RETURN labels(n)[0] AS k, n.id AS id, "
        "properties(n) AS p ORDER BY k, id", g=graph)
    rels, _, _ = driver.execute_query(
        "MATCH (a {graph: $g})-[r]->(b) RETURN labels(a)[0] AS ka, a.id AS a, type(r) AS t, "
        "b.id AS b, properties(r) AS p ORDER BY ka, a, t, b", g=graph)
    sizes: dict[str, int] = {}
    for key in [r["k"] for r in nodes] + [r["t"] for r in rels]:
        sizes[key] = sizes.get(key, 0) + 1
    text = repr([(tuple(r.values())[:-1],
                  sorted((k, v) for k, v in r["p"].items() if k not in WRITE_TIMES))
                 for r in [*nodes, *rels]])
    return sizes, hashlib.sha256(text.encode()).hexdigest()


def test_two_datasets_run_into_one_server_stay_two_intact_graphs(
    synth, small_run, tmp_path, neo4j_settings, neo4j_driver, monkeypatch
):
    from ingest.synth import generate

    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.password)
    other = generate(tmp_path / "other", n_accounts=400, seed=8, progress=False).out_dir
    seed_work(small_run[0], tmp_path / "shop-a")  # scored already: the Neo4j stages run
    first = neo4j_run(synth, tmp_path / "shop-a", neo4j_settings.uri)
    assert first.exit_code == 0, first.output
    assert "graph 'shop-a'" in first.output
    a_state = _graph_state(neo4j_driver, "shop-a")
    assert a_state[0]["Account"] == 400 and a_state[0]["MEMBER_OF"] > 0
    # a run of its own from ingest on, without the challenger and the serve start caches:
    # nothing here reads them (test_pipeline_challenger.py, serve/test_state_start.py do)
    second = neo4j_run(other, tmp_path / "shop-b", neo4j_settings.uri,
                       "validation.challenger=false", "serve.prepare_start=false")
    assert second.exit_code == 0, second.output
    assert _graph_state(neo4j_driver, "shop-a") == a_state  # untouched by the second run
    b_state = _graph_state(neo4j_driver, "shop-b")
    # Whether this small world yields a ring depends on the ring search, not on the graph
    # names: its ring memberships in Neo4j are exactly those of its own rings file.
    b_members = pd.read_parquet(tmp_path / "shop-b" / "rings.parquet")["members"].map(len).sum()
    assert b_state[0]["Account"] == 400 and b_state[0].get("MEMBER_OF", 0) == b_members
    assert b_state[1] != a_state[1]
    # The first run again (cached stages, scores written again): nothing changes but the
    # time of the scores, and the second graph stays as it was.
    again = neo4j_run(synth, tmp_path / "shop-a", neo4j_settings.uri)
    assert again.exit_code == 0, again.output
    assert _graph_state(neo4j_driver, "shop-a") == a_state
    assert _graph_state(neo4j_driver, "shop-b") == b_state
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (l:LoadRun) RETURN l.graph AS g, l.status AS s ORDER BY l.started")
    assert [(r["g"], r["s"]) for r in records] == [
        ("shop-a", "complete"), ("shop-b", "complete"), ("shop-a", "complete")]


def test_a_bad_graph_name_fails_before_any_work(synth, tmp_path, neo4j_settings, monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.password)
    out = tmp_path / "out"
    result = invoke("run", "--input", synth / "events", "--mapping", SYNTH_MAPPING,
                    "--out", out, "--neo4j-uri", neo4j_settings.uri, "--graph", "two words",
                    "--quiet")
    assert_failed_cleanly(result, out, "--graph", "not a valid graph name")
    assert not out.exists()


def test_the_load_stage_prunes_only_when_asked_and_within_the_limit(
    tmp_path, neo4j_settings, neo4j_driver
):
    from abusenet.pipeline.errors import PipelineError
    from abusenet.pipeline.stages.neo4j import neo4j_load_stage
    from graph.snapshot import write_snapshot
    from tests.graph.store.helpers import investigation_snapshot

    full = write_snapshot(investigation_snapshot(), tmp_path / "full")
    smaller = investigation_snapshot()
    smaller.nodes["Account"] = smaller.nodes["Account"].iloc[:5]  # a6 goes
    smaller.labels = smaller.labels[smaller.labels["account_id"] != "a6"]
    part = write_snapshot(smaller, tmp_path / "part")
    first = neo4j_load_stage(neo4j_settings, full, graph="g", progress=False)
    assert first["graph"] == "g" and first["written"] == 19 and first["fingerprint"]
    kept = neo4j_load_stage(neo4j_settings, part, graph="g", progress=False)
    assert (kept["stale"], kept["deleted"]) == (1, 0)
    with pytest.raises(PipelineError, match=r"would delete 1 of its 19 .*more than the 1%"):
        neo4j_load_stage(neo4j_settings, part, graph="g", prune=True, max_prune_fraction=0.01,
                         progress=False)
    pruned = neo4j_load_stage(neo4j_settings, part, graph="g", prune=True, progress=False)
    assert (pruned["stale"], pruned["deleted"]) == (0, 1)
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (a:Account {graph: 'g'}) RETURN count(a) AS n")
    assert records[0]["n"] == 5


# Stops, dumps and restarts the session's server (~21 s): in `make test-all`; the dump itself is
# checked in the default run by tests/graph/store/server/test_backup.py.
@pytest.mark.slow
def test_a_prune_on_the_local_server_dumps_its_database_first(
    tmp_path, neo4j_server, neo4j_settings, neo4j_driver, monkeypatch
):
    from abusenet.pipeline.errors import PipelineError
    from abusenet.pipeline.stages.neo4j import neo4j_load_stage
    from graph.snapshot import write_snapshot
    from tests.graph.store.helpers import investigation_snapshot

    full = write_snapshot(investigation_snapshot(), tmp_path / "full")
    neo4j_load_stage(neo4j_settings, full, graph="g", progress=False)
    # A server abusenet does not manage cannot be dumped: said, and nothing is pruned.
    with pytest.raises(PipelineError, match="not the local server"):
        neo4j_load_stage(neo4j_settings, full, graph="g", prune=True, dump_before_prune=True,
                         progress=False)
    monkeypatch.setattr("graph.store.connection.default_neo4j_home", lambda: neo4j_server.home)
    pruned = neo4j_load_stage(neo4j_settings, full, graph="g", prune=True,
                              dump_before_prune=True, progress=False)
    backup = pruned["backup"]
    assert backup and backup.startswith(str(neo4j_server.home / "backups" / "g-"))
    assert (neo4j_server.home / "backups").is_dir() and pruned["deleted"] == 0
    assert neo4j_server.status().running  # started again after the dump
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (a:Account {graph: 'g'}) RETURN count(a) AS n")
    assert records[0]["n"] == 6
