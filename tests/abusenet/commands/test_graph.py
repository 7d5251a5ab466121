"""``abusenet load`` and ``abusenet query`` against the session's Neo4j server."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from abusenet.cli import app
from graph.snapshot import write_snapshot
from graph.store.connection import Neo4jSettings
from tests.graph.store.helpers import TRICKY_IDS, investigation_snapshot

runner = CliRunner()
WIDE = {"COLUMNS": "250"}  # rich wraps tables to the terminal width


@pytest.fixture
def neo4j_env(neo4j_settings: Neo4jSettings, neo4j_driver, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NEO4J_URI", neo4j_settings.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings.password or "")
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path / "no-local-server"))


def test_query_list_names_every_query() -> None:
    result = runner.invoke(app, ["query", "--list"], env=WIDE)
    assert result.exit_code == 0, result.output
    for name in ("ring_of_account", "accounts_near_entity", "top_rings", "shared_between",
                 "new_accounts_on_risky_entities", "evidence_path"):
        assert name in result.output


def test_a_wrong_parameter_is_an_error_naming_the_parameters(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    result = runner.invoke(app, ["query", "ring_of_account", "--param", "acount_id=a1"], env=WIDE)
    assert result.exit_code == 1
    assert "acount_id" in result.output and "account_id=string" in result.output
    result = runner.invoke(app, ["query", "ring_of_account", "--param", "account_id"], env=WIDE)
    assert result.exit_code == 2 and "key=value" in result.output


def test_no_server_configured_is_a_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    result = runner.invoke(app, ["query", "top_rings"], env=WIDE)
    assert result.exit_code == 1
    assert "no Neo4j is configured" in result.output and "NEO4J_URI" in result.output


def test_an_unreachable_server_is_a_clear_error_that_never_shows_the_password(
        monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    result = runner.invoke(app, ["-vv", "query", "top_rings"], env=WIDE)
    assert result.exit_code == 1
    assert "cannot reach Neo4j at bolt://127.0.0.1:1" in result.output
    assert "INFO" in result.stderr and "connecting to Neo4j at bolt://127.0.0.1:1" in result.stderr
    assert "s3cret-pw" not in result.output
    quiet = runner.invoke(app, ["query", "top_rings"], env=WIDE)
    assert quiet.exit_code == 1 and "connecting to Neo4j" not in quiet.output


def test_a_password_in_the_uri_is_redacted(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    result = runner.invoke(app, ["query", "top_rings", "--neo4j-uri",
                                 "bolt://neo4j:s3cret-pw@127.0.0.1:1"], env=WIDE)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "s3cret-pw" not in result.output and "neo4j:***@127.0.0.1:1" in result.output


def test_local_without_a_local_server_says_how_to_install_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    result = runner.invoke(app, ["query", "top_rings", "--neo4j-uri", "local"], env=WIDE)
    assert result.exit_code == 1 and "abusenet neo4j install" in result.output


def test_load_of_a_missing_snapshot_says_so(tmp_path) -> None:
    result = runner.invoke(app, ["load", str(tmp_path / "nothing")], env=WIDE)
    assert result.exit_code == 1 and "is not a graph snapshot" in result.output


@pytest.mark.neo4j
def test_load_then_query_as_table_json_and_csv(neo4j_env, tmp_path) -> None:
    snapshot = investigation_snapshot()
    snapshot.nodes["Account"].loc[5, "id"] = TRICKY_IDS[0]  # a6 -> a quoted id
    snapshot.labels = None
    path = write_snapshot(snapshot, tmp_path / "snap")
    loaded = runner.invoke(app, ["load", str(path), "--no-progress"], env=WIDE)
    assert loaded.exit_code == 0, loaded.output
    assert "driver path" in loaded.output and "Account" in loaded.output
    again = runner.invoke(app, ["load", str(path), "--no-progress", "--no-bulk"], env=WIDE)
    assert again.exit_code == 0, again.output

    near = runner.invoke(app, ["query", "accounts_near_entity", "-p", "entity_type=Device",
                               "-p", "entity_id=d1", "-p", "k=1", "--json",
                               "--case", "CASE-7", "--analyst", "kim"], env=WIDE)
    assert near.exit_code == 0, near.output
    assert [r["account_id"] for r in json.loads(near.output)] == ["a1", "a2"]

    table = runner.invoke(app, ["query", "shared_between", "-p", "account_a=a1",
                                "-p", "account_b=a2"], env=WIDE)
    assert table.exit_code == 0, table.output
    assert "PaymentMethod" in table.output and "2 row(s)" in table.output

    csv = runner.invoke(app, ["query", "accounts_near_entity", "-p", "entity_type=Account",
                              "-p", f"entity_id={TRICKY_IDS[0]}", "-p", "k=1", "--csv"])
    assert csv.exit_code == 0, csv.output
    assert csv.output.splitlines()[0] == "account_id,hops,risk_score,first_ts,truncated,hubs"


@pytest.mark.neo4j
def test_bulk_without_a_local_server_is_refused(neo4j_env, tmp_path) -> None:
    path = write_snapshot(investigation_snapshot(), tmp_path / "snap")
    result = runner.invoke(app, ["load", str(path), "--bulk", "--no-progress"], env=WIDE)
    assert result.exit_code == 1
    assert "bulk import needs the local Neo4j server" in result.output


def test_the_prune_limit_shown_in_help_is_the_library_default() -> None:
    from abusenet.commands.graph import DEFAULT_MAX_PRUNE_FRACTION
    from graph.store.load import MAX_PRUNE_FRACTION

    assert DEFAULT_MAX_PRUNE_FRACTION == MAX_PRUNE_FRACTION


def test_an_invalid_graph_name_is_refused_before_connecting(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    loaded = runner.invoke(app, ["load", str(tmp_path), "--graph", "a/b"], env=WIDE)
    assert loaded.exit_code == 1 and "not a valid graph name" in loaded.output
    queried = runner.invoke(app, ["query", "top_rings", "--graph", "a b"], env=WIDE)
    assert queried.exit_code == 1 and "not a valid graph name" in queried.output


@pytest.mark.neo4j
def test_two_graphs_load_side_by_side_and_queries_name_theirs(neo4j_env, tmp_path) -> None:
    shop = write_snapshot(investigation_snapshot(), tmp_path / "shop" / ".work" / "snapshot")
    other = investigation_snapshot()
    accounts = other.nodes["Account"]
    other.nodes["Account"] = accounts[accounts["id"] != "a6"]
    other.labels = None
    other_path = write_snapshot(other, tmp_path / "other-snap")
    first = runner.invoke(app, ["load", str(shop), "--no-progress"], env=WIDE)
    assert first.exit_code == 0, first.output
    assert "as graph 'shop'" in first.output  # the run's output folder names the graph
    second = runner.invoke(app, ["load", str(other_path), "--no-progress"], env=WIDE)
    assert second.exit_code == 0, second.output
    assert "as graph 'other-snap'" in second.output

    both = runner.invoke(app, ["query", "top_rings"], env=WIDE)
    assert both.exit_code == 1 and "Traceback" not in both.output
    assert "2 graphs ('other-snap', 'shop')" in both.output and "-p graph=" in both.output
    near = runner.invoke(app, ["query", "accounts_near_entity", "-p", "entity_type=Device",
                               "-p", "entity_id=d1", "-p", "k=1", "-p", "graph=shop"], env=WIDE)
    assert near.exit_code == 0, near.output
    assert "graph 'shop'" in near.output and "2 row(s)" in near.output

    # The same graph again without a6: a6 stays unless pruned; a prune of most of it refused.
    kept = runner.invoke(app, ["load", str(other_path), "--no-progress", "--graph", "shop"],
                         env=WIDE)
    assert kept.exit_code == 0, kept.output
    assert "--prune deletes them" in kept.output
    refused = runner.invoke(app, ["load", str(other_path), "--no-progress", "--graph", "shop",
                                  "--prune", "--max-prune-fraction", "0.01"], env=WIDE)
    assert refused.exit_code == 1 and "more than the 1% allowed" in refused.output
    pruned = runner.invoke(app, ["load", str(other_path), "--no-progress", "--graph", "shop",
                                 "--prune"], env=WIDE)
    assert pruned.exit_code == 0, pruned.output
    assert "pruning graph 'shop': deleting 1 Account" in pruned.output


def _audit_lines(home) -> list[dict]:
    return [json.loads(line) for line in (home / "audit" / "queries.jsonl").read_text()
            .splitlines()]


@pytest.mark.parametrize(("params", "message"), [
    (["entity_type=device", "entity_id=d1"], "got 'device' (did you mean Device?)"),
    (["entity_type=Device", "entity_id=d1", "k=9"], "$k must be between 1 and 4"),
    (["entity_type=IP", "entity_id=x", "limit=5000"], "$limit must be between 1 and 1000"),
])
def test_values_the_docs_do_not_allow_are_one_line_errors_and_audited(
        monkeypatch, tmp_path, params: list[str], message: str) -> None:
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    args = [x for p in params for x in ("-p", p)]
    result = runner.invoke(app, ["query", "accounts_near_entity", *args, "--analyst", "kim"],
                           env=WIDE)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    (line,) = _audit_lines(tmp_path)
    assert line["status"] == "error" and message in line["error"]
    assert line["analyst"] == "kim" and line["query"] == "accounts_near_entity"
    assert line["rows"] == 0 and line["params"]["entity_id"] in ("d1", "x")


def test_the_query_timeout_shown_in_help_is_the_library_default() -> None:
    from abusenet.commands.graph import DEFAULT_QUERY_TIMEOUT
    from graph.query_pack import DEFAULT_TIMEOUT

    assert DEFAULT_QUERY_TIMEOUT == DEFAULT_TIMEOUT


def test_the_audit_log_never_holds_the_password(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-pw")
    for uri in ("bolt://neo4j:s3cret-pw@127.0.0.1:1", "bolt://127.0.0.1:1"):
        result = runner.invoke(app, ["query", "top_rings", "--neo4j-uri", uri], env=WIDE)
        assert result.exit_code == 1
    log = (tmp_path / "audit" / "queries.jsonl").read_text()
    assert "s3cret-pw" not in log and len(log.splitlines()) == 2
    assert all(line["status"] == "error" and "127.0.0.1:1" in line["error"]
               for line in _audit_lines(tmp_path))


def test_audit_lines_are_appended_one_write_each(tmp_path) -> None:
    from datetime import UTC, datetime

    from abusenet.audit import append_audit, query_record

    path = tmp_path / "a" / "queries.jsonl"
    record = query_record(started=datetime(2024, 5, 1, 12, tzinfo=UTC), query="top_rings",
                          params={"limit": "5"}, analyst=None, case="C-1", graph="g", rows=5,
                          truncated=True, seconds=0.12345, error=None)
    append_audit(record, path)
    path.write_text(path.read_text())  # an edit by hand keeps its lines; appends go after them
    append_audit({**record, "case": "C-2"}, path)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["case"] for x in lines] == ["C-1", "C-2"]
    assert lines[0]["time"] == "2024-05-01T12:00:00+00:00" and lines[0]["seconds"] == 0.123
    assert lines[0]["status"] == "ok" and lines[0]["error"] is None and lines[0]["truncated"]


@pytest.mark.neo4j
def test_queries_are_bounded_refuse_missing_ids_and_are_audited(neo4j_env, tmp_path) -> None:
    import os

    path = write_snapshot(investigation_snapshot(), tmp_path / "snap")
    assert runner.invoke(app, ["load", str(path), "--no-progress"], env=WIDE).exit_code == 0
    home = tmp_path / "no-local-server"
    missing = runner.invoke(app, ["query", "ring_of_account", "-p", "account_id=nobody"],
                            env=WIDE)
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    assert "there is no Account 'nobody' in graph 'snap'" in missing.output
    capped = runner.invoke(app, ["query", "accounts_near_entity", "-p", "entity_type=Device",
                                 "-p", "entity_id= d1 ", "-p", "k=4", "-p", "max_degree=2",
                                 "--case", "C-9", "--analyst", "kim"], env=WIDE)
    assert capped.exit_code == 0, capped.output
    assert "2 row(s)" in capped.output and "the result was truncated" in capped.stderr
    assert "PaymentMethod:c1 (3)" in capped.stderr
    whole = runner.invoke(app, ["query", "accounts_near_entity", "-p", "entity_type=Device",
                                "-p", "entity_id=d1", "-p", "k=4"], env=WIDE)
    assert whole.exit_code == 0 and "truncated" not in whole.output
    lines = _audit_lines(home)
    assert [(x["query"], x["status"], x["rows"], x["truncated"]) for x in lines] == [
        ("ring_of_account", "error", 0, False), ("accounts_near_entity", "ok", 2, True),
        ("accounts_near_entity", "ok", 5, False)]
    assert lines[1]["analyst"] == "kim" and lines[1]["case"] == "C-9"
    assert lines[1]["graph"] == "snap" and lines[1]["params"]["max_degree"] == "2"
    assert 0 < lines[1]["seconds"] < 30
    assert oct(os.stat(home / "audit" / "queries.jsonl").st_mode & 0o777) == "0o600"
