"""A store whose server dies under it gives up within seconds, with one clear message."""

from __future__ import annotations

import os
import signal
import time

import neo4j
import pytest

from graph.store import Neo4jSettings, connect, explain_neo4j_error
from graph.store.server import LocalNeo4j
from graph.store.server.process import pid_alive

pytestmark = pytest.mark.neo4j


def test_a_server_killed_under_an_open_store_is_reported_within_ten_seconds(
    server: LocalNeo4j,
) -> None:
    if not server.status().running:
        server.start()
    settings = Neo4jSettings(uri=server.read_settings()["uri"], password=server.read_password())
    try:
        with connect(settings) as store:
            store.write([("CREATE (:Account {id: 'before'})", {})])
            pid = server.status().pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.05)
            started = time.perf_counter()
            with pytest.raises(neo4j.exceptions.ServiceUnavailable) as caught:
                store.write([("CREATE (:Account {id: 'after'})", {})])
            assert time.perf_counter() - started < 10
        message = explain_neo4j_error(caught.value, settings)
        assert message is not None and message.startswith("cannot reach Neo4j at")
        assert settings.password is not None and settings.password not in message
    finally:
        server.stop()
