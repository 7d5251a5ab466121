"""The local Neo4j server's life cycle, on a real server of its own (not the session one)."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

import neo4j
import pytest

from graph.store.server.local import (
    PARQUET_IMPORT_JARS,
    ClassArchive,
    LocalNeo4j,
    Neo4jServerError,
    free_port,
)
from tests.conftest import _installed_jars

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = LocalNeo4j(tmp_path_factory.mktemp("lifecycle-home"))
    srv.install(bolt_port=free_port(), http_port=free_port(), heap="512m", pagecache="128m",
                jars_from=_installed_jars())
    yield srv
    srv.stop()


def _driver(srv: LocalNeo4j, password: str | None = None) -> neo4j.Driver:
    return neo4j.GraphDatabase.driver(
        srv.read_settings()["uri"], auth=("neo4j", password or srv.read_password())
    )


def test_password_file_is_private_and_strong(server: LocalNeo4j) -> None:
    mode = stat.S_IMODE(server.password_path.stat().st_mode)
    assert mode == 0o600
    assert len(server.read_password()) >= 24


def test_install_brings_the_jars_the_parquet_import_needs(server: LocalNeo4j) -> None:
    lib = server.home / "lib"
    for artifact in PARQUET_IMPORT_JARS:
        _, name, version = artifact.split(":")
        assert (lib / f"{name}-{version}.jar").is_file(), artifact


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


def test_generated_passwords_never_look_like_options() -> None:
    from graph.store.server.local import generate_password

    drawn = [generate_password() for _ in range(2000)]
    assert all(p[0].isalnum() and len(p) == 32 for p in drawn)
    assert len(set(drawn)) == len(drawn)


def _jar_home(tmp_path: Path) -> tuple[Path, Path]:
    lib = tmp_path / "home" / "lib"
    lib.mkdir(parents=True)
    (lib / "a.jar").write_bytes(b"jar a")
    java = tmp_path / "java"
    java.write_bytes(b"a java binary")
    return lib, java


def test_class_archive_is_named_by_the_java_and_the_jars(tmp_path: Path) -> None:
    lib, java = _jar_home(tmp_path)
    first = ClassArchive("server", str(java), [lib]).path
    assert first.parent == lib.parent / "cds" and first.name.startswith("server-")
    linked = tmp_path / "other-home" / "lib"
    linked.parent.mkdir()
    linked.symlink_to(lib, target_is_directory=True)
    assert ClassArchive("server", str(java), [linked]).path == first  # shared jars, shared archive
    assert ClassArchive("import", str(java), [lib]).path != first
    (lib / "b.jar").write_bytes(b"jar b")
    assert ClassArchive("server", str(java), [lib]).path != first


def test_class_archive_is_written_once_then_read(tmp_path: Path) -> None:
    lib, java = _jar_home(tmp_path)
    archive = ClassArchive("import", str(java), [lib])
    flags, pending = archive.jvm_flags()
    assert pending is not None and flags[0] == f"-XX:ArchiveClassesAtExit={pending}"
    assert pending.parent == archive.path.parent and not archive.path.exists()
    pending.write_bytes(b"classes")  # what the JVM writes as it exits
    older = archive.path.with_name("import-0000000000000000.jsa")
    older.write_bytes(b"stale")
    other_role = archive.path.with_name("server-0000000000000000.jsa")
    other_role.write_bytes(b"kept")
    archive.commit(pending)
    assert archive.path.read_bytes() == b"classes" and not pending.exists()
    assert not older.exists() and other_role.exists()
    assert archive.jvm_flags() == ([f"-XX:SharedArchiveFile={archive.path}"], None)


def test_class_archive_not_written_is_no_error(tmp_path: Path) -> None:
    lib, java = _jar_home(tmp_path)
    archive = ClassArchive("import", str(java), [lib])
    _, pending = archive.jvm_flags()
    archive.commit(pending)  # the JVM died before writing it
    archive.commit(None)
    assert not archive.path.exists()
    assert archive.jvm_flags()[1] is not None
