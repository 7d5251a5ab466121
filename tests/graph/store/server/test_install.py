"""Installing the local server: the jars, the config, the password."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from graph.store.server import LocalNeo4j
from graph.store.server.install import PARQUET_IMPORT_JARS, generate_password, write_conf


@pytest.mark.neo4j
def test_password_file_is_private_and_strong(server: LocalNeo4j) -> None:
    mode = stat.S_IMODE(server.password_path.stat().st_mode)
    assert mode == 0o600
    assert len(server.read_password()) >= 24


@pytest.mark.neo4j
def test_install_brings_the_jars_the_parquet_import_needs(server: LocalNeo4j) -> None:
    lib = server.home / "lib"
    for artifact in PARQUET_IMPORT_JARS:
        _, name, version = artifact.split(":")
        assert (lib / f"{name}-{version}.jar").is_file(), artifact


def test_generated_passwords_never_look_like_options() -> None:
    drawn = [generate_password() for _ in range(2000)]
    assert all(p[0].isalnum() and len(p) == 32 for p in drawn)
    assert len(set(drawn)) == len(drawn)


def test_conf_binds_to_localhost_with_authentication(tmp_path: Path) -> None:
    settings = {"data_dir": tmp_path / "data", "bolt_port": 17687, "http_port": 17474,
                "pagecache": "128m"}
    write_conf(tmp_path, settings)
    conf = dict(line.split("=", 1) for line in (tmp_path / "conf" / "neo4j.conf").read_text()
                .splitlines())
    assert conf["server.default_listen_address"] == "127.0.0.1"
    assert conf["server.bolt.listen_address"] == "127.0.0.1:17687"
    assert conf["dbms.security.auth_enabled"] == "true"
    assert conf["server.directories.data"] == str(tmp_path / "data")
