"""The store's driver: bounded retries on an absent server, and no password in any message."""

from __future__ import annotations

import time
import traceback

import neo4j
import pytest

from graph.store import Neo4jSettings, connect, explain_neo4j_error
from graph.store.server import free_port


def test_an_absent_server_is_reported_within_ten_seconds() -> None:
    settings = Neo4jSettings(uri=f"bolt://127.0.0.1:{free_port()}", password="hunter2")
    started = time.perf_counter()
    with connect(settings) as store, pytest.raises(neo4j.exceptions.ServiceUnavailable) as caught:
        store.write([("CREATE (:Account {id: 'a1'})", {})])
    assert time.perf_counter() - started < 10
    message = explain_neo4j_error(caught.value, settings)
    assert message is not None and "cannot reach" in message and "hunter2" not in message


def test_shorter_bounds_are_honoured() -> None:
    settings = Neo4jSettings(uri=f"bolt://127.0.0.1:{free_port()}", retry_seconds=0.5)
    started = time.perf_counter()
    with connect(settings) as store, pytest.raises(neo4j.exceptions.ServiceUnavailable):
        store.read("RETURN 1 AS one")
    # One retry at most (the first waits about a second), not the default three.
    assert time.perf_counter() - started < 2.5


def test_a_password_inside_the_uri_appears_nowhere() -> None:
    settings = Neo4jSettings(uri="bolt://kim:hunter2@127.0.0.1:7687", user="kim",
                             password="hunter2")
    store = connect(settings)
    assert "hunter2" not in repr(store) and "hunter2" not in str(store)
    with pytest.raises(neo4j.exceptions.ConfigurationError) as caught:
        store.write([("RETURN 1", {})])
    printed = "".join(traceback.format_exception(caught.value))
    assert "hunter2" not in printed and "kim:***@127.0.0.1" in printed
    message = explain_neo4j_error(caught.value, settings)
    assert message is not None and "hunter2" not in message
