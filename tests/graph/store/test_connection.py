"""Neo4j connection settings: precedence, and the password kept out of sight."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.store.connection import Neo4jSettings, resolve_neo4j_settings


@pytest.fixture
def local_home(tmp_path: Path) -> Path:
    """A home that looks installed (settings, password and a kernel jar), without a server."""
    home = tmp_path / "neo4j"
    (home / "lib").mkdir(parents=True)
    (home / "lib" / "neo4j-kernel-5.26.30.jar").touch()
    (home / "server.json").write_text(json.dumps({"uri": "bolt://127.0.0.1:17687"}))
    (home / "password").write_text("local-secret\n")
    return home


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        monkeypatch.delenv(name, raising=False)


def test_nothing_configured_gives_none(tmp_path: Path) -> None:
    assert resolve_neo4j_settings(neo4j_home=tmp_path / "absent") is None


def test_local_server_supplies_uri_and_password(local_home: Path) -> None:
    s = resolve_neo4j_settings(neo4j_home=local_home)
    assert s == Neo4jSettings("bolt://127.0.0.1:17687", "neo4j", "local-secret", "neo4j")


def test_environment_beats_config_beats_local(
    local_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"uri": "bolt://config:7687", "user": "cfg", "database": "cfgdb"}
    s = resolve_neo4j_settings(config, neo4j_home=local_home)
    assert (s.uri, s.user, s.database, s.password) == ("bolt://config:7687", "cfg", "cfgdb", None)
    monkeypatch.setenv("NEO4J_URI", "neo4j+s://aura.example")
    monkeypatch.setenv("NEO4J_PASSWORD", "env-secret")
    s = resolve_neo4j_settings(config, neo4j_home=local_home)
    assert (s.uri, s.password) == ("neo4j+s://aura.example", "env-secret")
    s = resolve_neo4j_settings(config, uri="bolt://flag:1", neo4j_home=local_home)
    assert s.uri == "bolt://flag:1"


def test_local_password_is_not_sent_to_another_server(
    local_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEO4J_URI", "bolt://elsewhere:7687")
    assert resolve_neo4j_settings(neo4j_home=local_home).password is None


def test_password_hidden_from_repr() -> None:
    s = Neo4jSettings("bolt://x:1", password="hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    assert s.auth == ("neo4j", "hunter2")
