"""The local Neo4j server's life cycle, on a real server of its own (not the session one)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import neo4j
import pytest

from graph.store.server import ClassArchive, LocalNeo4j, Neo4jServerError, free_port
from tests.conftest import _installed_jars

pytestmark = pytest.mark.neo4j


def _driver(srv: LocalNeo4j, password: str | None = None) -> neo4j.Driver:
    return neo4j.GraphDatabase.driver(
        srv.read_settings()["uri"], auth=("neo4j", password or srv.read_password())
    )


def test_start_answers_bolt_and_stores_nodes(server: LocalNeo4j) -> None:
    status = server.start()
    assert status.running and status.pid is not None
    with _driver(server) as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS one")
        assert records[0]["one"] == 1
        driver.execute_query(
            "UNWIND $ids AS id CREATE (:Account {id: id})", ids=["a1", "a2", "a3"]
        )
        records, _, _ = driver.execute_query("MATCH (a:Account) RETURN a.id AS id ORDER BY id")
        assert [r["id"] for r in records] == ["a1", "a2", "a3"]


def test_wrong_password_is_refused(server: LocalNeo4j) -> None:
    assert server.status().running
    with _driver(server, password="not-the-password") as driver, pytest.raises(
        neo4j.exceptions.AuthError
    ):
        driver.execute_query("RETURN 1")


def test_second_start_on_same_data_is_refused(server: LocalNeo4j, tmp_path: Path) -> None:
    assert server.status().running
    with pytest.raises(Neo4jServerError, match="already running"):
        server.start()
    other = LocalNeo4j(tmp_path / "other-home")
    other.install(data_dir=server.read_settings()["data_dir"], bolt_port=free_port(),
                  http_port=free_port(), jars_from=_installed_jars() or server.home)
    with pytest.raises(Neo4jServerError, match="already running"):
        other.start()


def test_stop_is_clean_and_restart_keeps_data(server: LocalNeo4j) -> None:
    assert server.status().running
    assert server.stop() == 0
    assert server.status().state == "stopped"
    server.start()
    with _driver(server) as driver:
        records, _, _ = driver.execute_query("MATCH (a:Account) RETURN count(a) AS n")
        assert records[0]["n"] == 3


def test_restarted_server_maps_the_class_archive_of_its_jars(server: LocalNeo4j) -> None:
    # The server of the earlier tests stopped once: it wrote the archive then, if none existed.
    status = server.status()
    assert status.running and status.pid is not None
    java = Path(f"/proc/{status.pid}/exe").resolve()
    archive = ClassArchive("server", str(java), [server.home / "plugins", server.home / "lib"])
    assert archive.path.is_file()
    assert archive.path.parent == (server.home / "lib").resolve().parent / "cds"
    cmdline = Path(f"/proc/{status.pid}/cmdline").read_bytes().decode().split("\0")
    assert f"-XX:SharedArchiveFile={archive.path}" in cmdline


def test_killed_server_is_reported_stale_then_restarts(server: LocalNeo4j) -> None:
    status = server.status()
    assert status.running and status.pid is not None
    os.kill(status.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while server.status().state == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.status().state == "stale"
    assert not server.status().running
    server.start()
    assert server.status().running


def test_status_of_a_home_without_install(tmp_path: Path) -> None:
    assert LocalNeo4j(tmp_path).status().state == "not installed"
    with pytest.raises(Neo4jServerError, match="abusenet neo4j install"):
        LocalNeo4j(tmp_path).start()


def test_start_on_a_full_disk_names_the_problem_and_launches_nothing(
    server: LocalNeo4j, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = LocalNeo4j(tmp_path / "full-home")
    other.install(data_dir=tmp_path / "full-data", bolt_port=free_port(), http_port=free_port(),
                  jars_from=_installed_jars() or server.home)
    real = shutil.disk_usage
    seen: list[Path] = []

    def nearly_full(path: os.PathLike[str]) -> object:
        seen.append(Path(path))
        return real(path)._replace(free=300 * 2**20)

    monkeypatch.setattr(shutil, "disk_usage", nearly_full)
    full = r"only 300 MiB are free on the disk holding .*full-data"
    with pytest.raises(Neo4jServerError, match=full):
        other.start()
    assert seen and other.status().state == "stopped"
