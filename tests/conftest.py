"""Shared fixtures: one real Neo4j server per test session, on free ports, in a throwaway home.

The server reuses the jars that ``make`` installed into ``.abusenet/neo4j`` (linked, not copied);
without them it resolves its own with Maven. It is stopped at the end of the session even when
tests fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.store import Neo4jStore, connect
from graph.store.connection import Neo4jSettings
from graph.store.server import LocalNeo4j, free_port

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"


def _installed_jars() -> Path | None:
    home = Path(os.environ.get("ABUSENET_HOME", PROJECT_ROOT / ".abusenet")) / "neo4j"
    return home if LocalNeo4j(home).is_installed() else None


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNeo4j]:
    """A started local Neo4j server for the whole test session."""
    server = LocalNeo4j(tmp_path_factory.mktemp("neo4j-home"))
    server.install(
        bolt_port=free_port(), http_port=free_port(), heap="768m", pagecache="256m",
        jars_from=_installed_jars(),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def neo4j_settings(neo4j_server: LocalNeo4j) -> Neo4jSettings:
    """Connection settings of the session's server."""
    return Neo4jSettings(uri=neo4j_server.read_settings()["uri"],
                         password=neo4j_server.read_password())


@pytest.fixture
def neo4j_driver(neo4j_settings: Neo4jSettings):
    """A driver on an empty database: every node and relationship is deleted before the test."""
    import neo4j

    with neo4j.GraphDatabase.driver(neo4j_settings.uri, auth=neo4j_settings.auth) as driver:
        with driver.session() as session:
            # CALL ... IN TRANSACTIONS needs an auto-commit transaction, hence session.run.
            session.run("MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS").consume()
        yield driver


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The shared real datasets (read-only); tests needing them skip when absent."""
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS}")
    return DATASETS


@pytest.fixture
def store(neo4j_settings: Neo4jSettings, neo4j_driver) -> Iterator[Neo4jStore]:
    """A store on an empty database (``neo4j_driver`` empties it)."""
    with connect(neo4j_settings) as opened:
        yield opened
