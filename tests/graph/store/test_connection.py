"""Neo4j connection settings: precedence, the local server, error messages, the password hidden."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.store.connection import (
    Neo4jConfigError,
    Neo4jSettings,
    explain_neo4j_error,
    local_browser_url,
    local_server_for,
    redact_uri,
    resolve_neo4j_settings,
)


@pytest.fixture
def local_home(tmp_path: Path) -> Path:
    """A home that looks installed (settings, password and a kernel jar), without a server."""
    home = tmp_path / "neo4j"
    (home / "lib").mkdir(parents=True)
    (home / "lib" / "neo4j-kernel-5.26.30.jar").touch()
    (home / "server.json").write_text(
        json.dumps({"uri": "bolt://127.0.0.1:17687", "http_port": 17474})
    )
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
    assert s == Neo4jSettings(uri="bolt://127.0.0.1:17687", user="neo4j", password="local-secret",
                              database="neo4j")


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
    s = Neo4jSettings(uri="bolt://x:1", password="hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    assert s.auth == ("neo4j", "hunter2")


def test_settings_read_the_environment_but_keywords_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", "bolt://env:1")
    monkeypatch.setenv("NEO4J_DATABASE", "envdb")
    monkeypatch.setenv("NEO4J_USER", "")
    s = Neo4jSettings()
    assert (s.uri, s.user, s.database, s.password) == ("bolt://env:1", "neo4j", "envdb", None)
    assert Neo4jSettings(uri="bolt://kw:2").uri == "bolt://kw:2"


def test_local_server_for_matches_the_installed_uri_only(local_home: Path) -> None:
    here = Neo4jSettings(uri="bolt://127.0.0.1:17687")
    assert local_server_for(here, local_home).home == local_home.resolve()
    assert local_server_for(Neo4jSettings(uri="bolt://127.0.0.1:1"), local_home) is None
    assert local_server_for(here, local_home.parent / "absent") is None
    assert local_browser_url(here, local_home) == "http://127.0.0.1:17474/browser/"
    assert local_browser_url(Neo4jSettings(uri="bolt://other:7687"), local_home) is None


@pytest.mark.parametrize("uri", ["neo4j://127.0.0.1:17687", "bolt://localhost:17687",
                                 "neo4j://LOCALHOST:17687"])
def test_a_routing_or_localhost_uri_to_the_local_server_is_local(local_home: Path,
                                                                  uri: str) -> None:
    assert local_browser_url(Neo4jSettings(uri=uri), local_home) == \
        "http://127.0.0.1:17474/browser/"


@pytest.mark.parametrize("uri", ["neo4j+s://127.0.0.1:17687", "neo4j://127.0.0.1:7687",
                                 "http://127.0.0.1:17687", "neo4j://10.0.0.5:17687"])
def test_other_endpoints_are_not_the_local_server(local_home: Path, uri: str) -> None:
    assert local_server_for(Neo4jSettings(uri=uri), local_home) is None


def test_uri_local_names_the_installed_server(
    local_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = resolve_neo4j_settings({"user": "cfg"}, uri="local", neo4j_home=local_home)
    assert (s.uri, s.user, s.password) == ("bolt://127.0.0.1:17687", "cfg", "local-secret")
    monkeypatch.setenv("NEO4J_URI", "local")
    assert resolve_neo4j_settings(neo4j_home=local_home).uri == "bolt://127.0.0.1:17687"


def test_uri_local_without_a_local_server_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(Neo4jConfigError, match="abusenet neo4j install"):
        resolve_neo4j_settings(uri="local", neo4j_home=tmp_path / "absent")


def test_without_local_fallback_only_a_named_server_is_used(local_home: Path) -> None:
    assert resolve_neo4j_settings(neo4j_home=local_home, local_fallback=False) is None
    s = resolve_neo4j_settings({"uri": "bolt://cfg:1"}, neo4j_home=local_home,
                               local_fallback=False)
    assert s.uri == "bolt://cfg:1"


def test_uri_passwords_are_redacted() -> None:
    assert redact_uri("bolt://kim:s3cret@db.example:7687") == "bolt://kim:***@db.example:7687"
    assert redact_uri("bolt://db.example:7687") == "bolt://db.example:7687"


def _bad_port_error() -> BaseException:
    """The ValueError the driver itself raises for a port that is not a number."""
    import neo4j

    try:
        with neo4j.GraphDatabase.driver("bolt://127.0.0.1:abc", auth=("a", "b")) as driver:
            driver.verify_connectivity()
    except ValueError as err:
        return err
    raise AssertionError("the driver accepted a port that is not a number")


def _userinfo_error() -> BaseException:
    """The ConfigurationError the driver raises for a password inside a bolt:// URI."""
    import neo4j

    try:
        neo4j.GraphDatabase.driver("bolt://kim:hunter2@db.example:7687", auth=("a", "b"))
    except neo4j.exceptions.ConfigurationError as err:
        return err
    raise AssertionError("the driver accepted a password inside a bolt:// URI")


@pytest.mark.parametrize(
    ("make_error", "needles"),
    [
        (lambda nex: nex.AuthError("The client is unauthorized due to authentication failure."),
         ("refused the login", "NEO4J_PASSWORD")),
        (lambda nex: nex.ServiceUnavailable("Couldn't connect to db.example:7687 (hunter2)"),
         ("cannot reach", "abusenet neo4j start")),
        (lambda nex: ConnectionRefusedError("refused"), ("cannot reach", "abusenet neo4j start")),
        (lambda nex: _bad_port_error(), ("cannot reach", "127.0.0.1:abc")),
        (lambda nex: _userinfo_error(), ("cannot be used as given", "NEO4J_PASSWORD")),
    ],
)
def test_neo4j_errors_are_explained_without_the_password(make_error, needles) -> None:
    import neo4j.exceptions as nex

    settings = Neo4jSettings(uri="bolt://kim:hunter2@db.example:7687", user="kim",
                             password="hunter2")
    message = explain_neo4j_error(make_error(nex), settings)
    assert message is not None
    assert all(needle in message for needle in needles), message
    assert "hunter2" not in message and "bolt://kim:***@db.example:7687" in message


def test_other_errors_are_not_neo4j_errors() -> None:
    settings = Neo4jSettings(uri="bolt://x:1")
    assert explain_neo4j_error(ValueError("a bad column"), settings) is None
    assert explain_neo4j_error(FileNotFoundError("no such file"), settings) is None
