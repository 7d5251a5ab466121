"""Dump and restore of the local server's database, on the session's real server.

Every dump and every load stops the session's server and starts it again (seconds each), so the
module dumps once (:func:`dumped`) and its tests read that one file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple

import neo4j
import pytest

from graph.store import Neo4jStore, connect
from graph.store.connection import Neo4jSettings
from graph.store.server import LocalNeo4j, Neo4jServerError
from graph.store.server.backup import BackupResult, dump_database, restore_database
from tests.conftest import empty_database
from tests.graph.store.helpers import TRICKY_IDS

pytestmark = pytest.mark.neo4j

#: A small graph with every kind of property the store writes: strings (tricky ones), integers,
#: floats, datetimes, lists; a ring with its members.
GRAPH = """
UNWIND range(0, size($ids) - 1) AS i
CREATE (a:Account {id: $ids[i], risk_score: i / 10.0, label: i % 2,
                   first_ts: datetime('2024-01-01T00:00:00Z') + duration({hours: i})})
CREATE (a)-[:USED_DEVICE {count: i + 1, first_ts: datetime('2024-02-01T03:04:05.123456Z')}]
       ->(:Device {id: 'd' + toString(i % 3)})
WITH collect(a) AS accounts
CREATE (r:Ring {id: 'ring-1', score: 0.75, members: [x IN accounts | x.id][0..3]})
FOREACH (a IN accounts[0..3] | CREATE (a)-[:MEMBER_OF]->(r))
"""


def _fingerprint(store: Neo4jStore) -> tuple[int, int, str]:
    """Node count, relationship count and a hash of every node's and relationship's content."""
    nodes = store.read(
        "MATCH (n) RETURN labels(n) AS labels, properties(n) AS props"
    ).records
    rels = store.read(
        "MATCH (a)-[r]->(b) RETURN a.id AS src, type(r) AS type, b.id AS dst, "
        "properties(r) AS props"
    ).records
    lines = sorted(json.dumps([list(r[0]), sorted(r[1].items())], default=str) for r in nodes)
    lines += sorted(json.dumps([r[0], r[1], r[2], sorted(r[3].items())], default=str)
                    for r in rels)
    return len(nodes), len(rels), hashlib.sha256("\n".join(lines).encode()).hexdigest()


class Dumped(NamedTuple):
    """The module's dump: its file, what :func:`dump_database` said, the graph's fingerprint."""

    path: Path
    result: BackupResult
    before: tuple[int, int, str]


@pytest.fixture(scope="module")
def dumped(neo4j_server: LocalNeo4j, neo4j_settings: Neo4jSettings,
           tmp_path_factory: pytest.TempPathFactory) -> Dumped:
    """:data:`GRAPH` dumped from the running server, with ``force``, over a file that was there."""
    with neo4j.GraphDatabase.driver(neo4j_settings.uri, auth=neo4j_settings.auth) as driver:
        empty_database(driver)
    with connect(neo4j_settings) as store:
        store.write([(GRAPH, {"ids": TRICKY_IDS})])
        before = _fingerprint(store)
    path = tmp_path_factory.mktemp("backups") / "graph.dump"
    path.write_text("precious")
    return Dumped(path, dump_database(neo4j_server, path, force=True), before)


def test_dump_then_restore_gives_back_the_same_graph(
    neo4j_server: LocalNeo4j, dumped: Dumped, store: Neo4jStore
) -> None:
    assert dumped.before[0] > 0 and dumped.before[1] > 0
    done = dumped.result
    assert dumped.path.is_file() and done.size == dumped.path.stat().st_size > 0
    assert done.restarted and neo4j_server.status().running
    assert [p.name for p in dumped.path.parent.iterdir()] == ["graph.dump"]  # no temporary left

    # ``store`` emptied the database after the dump.
    store.write([("CREATE (:Account {id: 'later'})", {})])
    assert _fingerprint(store)[:2] == (1, 0)
    store.close()

    restore_database(neo4j_server, dumped.path)
    assert neo4j_server.status().running
    store.reconnect()
    assert _fingerprint(store) == dumped.before


def test_dump_refuses_to_overwrite_without_force(
    neo4j_server: LocalNeo4j, dumped: Dumped, tmp_path: Path
) -> None:
    dump = tmp_path / "kept.dump"
    dump.write_text("precious")
    with pytest.raises(Neo4jServerError, match="already exists.*--force"):
        dump_database(neo4j_server, dump)
    assert dump.read_text() == "precious"
    # With force the file is replaced: the module's dump was written over such a file.
    assert dumped.path.read_bytes() != b"precious" and dumped.result.size > len("precious")
    assert neo4j_server.status().running


def test_restore_refuses_missing_empty_and_corrupt_files_and_keeps_the_graph(
    neo4j_server: LocalNeo4j, store: Neo4jStore, tmp_path: Path
) -> None:
    store.write([("CREATE (:Account {id: 'stays'})", {})])
    with pytest.raises(Neo4jServerError, match="no such file"):
        restore_database(neo4j_server, tmp_path / "missing.dump")
    empty = tmp_path / "empty.dump"
    empty.touch()
    with pytest.raises(Neo4jServerError, match="empty"):
        restore_database(neo4j_server, empty)
    corrupt = tmp_path / "corrupt.dump"
    corrupt.write_bytes(b"this is not a neo4j dump\n" * 100)
    with pytest.raises(Neo4jServerError, match="not a Neo4j database dump"):
        restore_database(neo4j_server, corrupt)
    assert neo4j_server.status().running
    assert store.read("MATCH (a:Account) RETURN a.id AS id").column("id") == ["stays"]


def test_a_failed_load_puts_the_database_back(
    neo4j_server: LocalNeo4j, dumped: Dumped, store: Neo4jStore, tmp_path: Path
) -> None:
    store.write([("CREATE (:Account {id: 'a1'})-[:USED_IP {count: 1}]->(:IP {id: 'ip'})", {})])
    before = _fingerprint(store)
    store.close()
    # The header is whole (so the check passes) but the archive's body is cut off.
    good = dumped.path.read_bytes()
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(Neo4jServerError, match="kept as it was"):
        restore_database(neo4j_server, truncated)
    assert neo4j_server.status().running
    store.reconnect()
    assert _fingerprint(store) == before
