"""A command's store access: one error line and exit code 1 for every failure it knows."""

from __future__ import annotations

from pathlib import Path

import neo4j
import pytest

from abusenet.commands.store_access import (
    CommandFailed,
    fail,
    fail_on_neo4j_error,
    open_store,
)
from graph.store.connection import Neo4jSettings


class _Store:
    """What :func:`fail_on_neo4j_error` reads of a store: its settings."""

    settings = Neo4jSettings(uri="bolt://kim:secret@example.invalid:7687", password="secret")


def test_fail_prints_one_error_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CommandFailed) as failure:
        fail("the graph is gone")
    assert failure.value.exit_code == 1 and failure.value.message == "the graph is gone"
    assert capsys.readouterr().err == "error: the graph is gone\n"


def test_no_configured_neo4j_says_what_to_set(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    monkeypatch.delenv("NEO4J_URI", raising=False)
    with pytest.raises(CommandFailed, match="no Neo4j is configured: pass --neo4j-uri"):
        open_store(None)


def test_a_server_error_names_what_was_done_and_what_next() -> None:
    err = neo4j.exceptions.ClientError("Invalid input 'X'")
    with pytest.raises(CommandFailed) as failure:
        fail_on_neo4j_error(err, _Store(), "query 'rings'", "; try again")  # type: ignore[arg-type]
    assert failure.value.message.startswith("query 'rings' failed on the server: ")
    assert failure.value.message.endswith("; try again")


def test_a_driver_error_has_its_password_redacted() -> None:
    err = neo4j.exceptions.ResultConsumedError(None, "bolt://kim:secret@host:7687 read twice")
    with pytest.raises(CommandFailed) as failure:
        fail_on_neo4j_error(err, _Store(), "connecting")  # type: ignore[arg-type]
    assert "failed in the Neo4j driver" in failure.value.message
    assert "secret" not in failure.value.message


def test_any_other_error_is_raised_as_it_is() -> None:
    err = KeyError("not a Neo4j failure")
    with pytest.raises(KeyError):
        fail_on_neo4j_error(err, _Store(), "loading")  # type: ignore[arg-type]
