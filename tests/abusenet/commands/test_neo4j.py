"""``abusenet neo4j dump`` and ``restore`` on the session's real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from abusenet.cli import app
from graph.store import Neo4jStore
from graph.store.server import LocalNeo4j

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


def test_dump_and_restore_without_an_installed_server_fail_in_one_line(tmp_path: Path) -> None:
    home = str(tmp_path / "nothing-here")
    for args in (["dump", "--to", str(tmp_path / "x.dump")], ["restore", str(tmp_path / "x")]):
        result = runner.invoke(app, ["neo4j", *args, "--home", home], env=WIDE)
        assert result.exit_code == 1, result.output
        assert "abusenet neo4j install" in result.output
        assert "Traceback" not in result.output and result.exception is not None


@pytest.mark.neo4j
def test_a_dump_target_that_cannot_be_written_fails_in_one_line(
    neo4j_server: LocalNeo4j, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, ["neo4j", "dump", "--to", str(blocker / "graph.dump"),
                                 "--home", str(neo4j_server.home)], env=WIDE)
    assert result.exit_code == 1 and result.output.startswith("error: ")
    assert "Traceback" not in result.output and str(blocker) in result.output
    assert neo4j_server.status().running


@pytest.mark.neo4j
@pytest.mark.slow  # 45-70 s; test_backup.py runs the same round trip by default
def test_dump_then_restore_from_the_command_line(
    neo4j_server: LocalNeo4j, store: Neo4jStore, tmp_path: Path
) -> None:
    home = str(neo4j_server.home)
    store.write([("CREATE (:Account {id: 'a1'}), (:Account {id: 'a2'})", {})])
    store.close()
    dump = tmp_path / "graph.dump"
    result = runner.invoke(app, ["neo4j", "dump", "--to", str(dump), "--home", home], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "Dumped database 'neo4j'" in result.output and "running again" in result.output

    again = runner.invoke(app, ["neo4j", "dump", "--to", str(dump), "--home", home], env=WIDE)
    assert again.exit_code == 1 and "--force" in again.output

    store.write([("MATCH (a:Account {id: 'a2'}) DETACH DELETE a", {})])
    store.close()
    result = runner.invoke(app, ["neo4j", "restore", str(dump), "--home", home], env=WIDE)
    assert result.exit_code == 0, result.output
    store.reconnect()
    ids = store.read("MATCH (a:Account) RETURN a.id AS id ORDER BY id").column("id")
    assert ids == ["a1", "a2"]

    bad = tmp_path / "bad.dump"
    bad.write_text("not a dump")
    result = runner.invoke(app, ["neo4j", "restore", str(bad), "--home", home], env=WIDE)
    assert result.exit_code == 1 and "not a Neo4j database dump" in result.output
    assert "Traceback" not in result.output


@pytest.mark.neo4j
def test_rotate_password_changes_it_on_the_server_and_in_the_file(
    neo4j_server: LocalNeo4j, tmp_path: Path
) -> None:
    import neo4j

    uri, old = neo4j_server.read_settings()["uri"], neo4j_server.read_password()
    result = runner.invoke(app, ["neo4j", "rotate-password", "--home", str(neo4j_server.home)],
                           env=WIDE)
    assert result.exit_code == 0, result.output
    new = neo4j_server.read_password()
    assert new != old and len(new) == len(old) and old not in result.output
    assert neo4j_server.password_path.stat().st_mode & 0o777 == 0o600
    assert not (neo4j_server.home / "password.new").exists()
    with neo4j.GraphDatabase.driver(uri, auth=("neo4j", new)) as driver:
        assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1
    with neo4j.GraphDatabase.driver(uri, auth=("neo4j", old)) as driver, pytest.raises(
        neo4j.exceptions.AuthError
    ):
        driver.execute_query("RETURN 1")
    # Put the session's password back, for the fixtures that read it once.
    with neo4j.GraphDatabase.driver(uri, auth=("neo4j", new)) as driver:
        driver.execute_query("ALTER CURRENT USER SET PASSWORD FROM $new TO $old", new=new,
                             old=old, database_="system")
    neo4j_server.password_path.write_text(old)


def test_rotate_password_needs_a_running_server(tmp_path: Path) -> None:
    result = runner.invoke(app, ["neo4j", "rotate-password", "--home", str(tmp_path)], env=WIDE)
    assert result.exit_code == 1 and "not installed" in result.output
    assert "Traceback" not in result.output
