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


def test_a_wrong_parameter_is_a_usage_error_naming_the_parameters() -> None:
    result = runner.invoke(app, ["query", "ring_of_account", "--param", "acount_id=a1"], env=WIDE)
    assert result.exit_code == 2
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
                              "-p", f"entity_id={TRICKY_IDS[0]}", "-p", "k=0", "--csv"])
    assert csv.exit_code == 0, csv.output
    assert csv.output.splitlines()[0] == "account_id,hops,risk_score,first_ts"


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
    assert queried.exit_code == 2 and "not a valid graph name" in queried.output


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
