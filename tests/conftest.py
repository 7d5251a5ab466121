"""Shared fixtures: one real Neo4j server per test session, on free ports, in a throwaway home.

The server reuses the jars that ``make`` installed into ``.abusenet/neo4j`` (linked, not copied);
without them it resolves its own with Maven. It is stopped at the end of the session even when
tests fail. A run of the whole suite (no paths given) starts it in a thread while pytest collects,
on the core collecting leaves idle; other runs start it when a test first asks for it. Under
pytest-xdist (``make test`` runs two workers) each worker has its own server and the controller,
which runs no test, none.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
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


def _install_and_start(home: Path) -> LocalNeo4j:
    server = LocalNeo4j(home)
    server.install(
        bolt_port=free_port(), http_port=free_port(), heap="768m", pagecache="256m",
        jars_from=_installed_jars(),
    )
    server.start()
    return server


class _EarlyServer:
    """The session's server, installed and started in a thread; :meth:`get` waits for it."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="abusenet-neo4j-home-"))
        self._server: LocalNeo4j | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="neo4j-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._server = _install_and_start(self.home)
        except BaseException as err:  # raised again by get(), in the test that needs it
            self._error = err

    def get(self) -> LocalNeo4j:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._server is not None
        return self._server

    def stop(self) -> None:
        self._thread.join()
        if self._server is not None:
            self._server.stop()
        shutil.rmtree(self.home, ignore_errors=True)


_EARLY = pytest.StashKey[_EarlyServer]()


def _xdist_controller(config: pytest.Config) -> bool:
    """Whether this process hands the tests to pytest-xdist workers (and runs none itself)."""
    return config.getoption("numprocesses", None) not in (None, 0) and \
        "PYTEST_XDIST_WORKER" not in os.environ


def pytest_sessionstart(session: pytest.Session) -> None:
    if session.config.args_source is pytest.Config.ArgsSource.TESTPATHS and \
            not _xdist_controller(session.config):
        session.config.stash[_EARLY] = _EarlyServer()


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    early = config.stash.get(_EARLY, None)
    if early is not None and not any("neo4j_server" in item.fixturenames for item in items):
        early.stop()  # no selected test needs it (say, -k or -m left them all out)
        del config.stash[_EARLY]


def pytest_sessionfinish(session: pytest.Session) -> None:
    early = session.config.stash.get(_EARLY, None)
    if early is not None:
        early.stop()


@pytest.fixture(scope="session")
def neo4j_server(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNeo4j]:
    """A started local Neo4j server for the whole test session."""
    early = request.config.stash.get(_EARLY, None)
    server = early.get() if early else _install_and_start(tmp_path_factory.mktemp("neo4j-home"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def neo4j_settings(neo4j_server: LocalNeo4j) -> Neo4jSettings:
    """Connection settings of the session's server."""
    return Neo4jSettings(uri=neo4j_server.read_settings()["uri"],
                         password=neo4j_server.read_password())


def empty_database(driver) -> None:
    """Delete every node and relationship of the default database, in batches."""
    with driver.session() as session:
        # CALL ... IN TRANSACTIONS needs an auto-commit transaction, hence session.run.
        session.run("MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS").consume()


@pytest.fixture
def neo4j_driver(neo4j_settings: Neo4jSettings):
    """A driver on an empty database: every node and relationship is deleted before the test."""
    import neo4j

    with neo4j.GraphDatabase.driver(neo4j_settings.uri, auth=neo4j_settings.auth) as driver:
        empty_database(driver)
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
