"""A store on the session's Neo4j server, emptied before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graph.store import Neo4jStore, connect
from graph.store.connection import Neo4jSettings


@pytest.fixture
def store(neo4j_settings: Neo4jSettings, neo4j_driver) -> Iterator[Neo4jStore]:
    """A store on an empty database (``neo4j_driver`` empties it)."""
    with connect(neo4j_settings) as opened:
        yield opened
