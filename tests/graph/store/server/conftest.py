"""A local server of this package's own (not the session one), installed once and not started."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graph.store.server import LocalNeo4j, free_port
from tests.conftest import _installed_jars


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNeo4j]:
    """An installed server; tests may start it, and it is stopped at the end."""
    srv = LocalNeo4j(tmp_path_factory.mktemp("lifecycle-home"))
    srv.install(bolt_port=free_port(), http_port=free_port(), heap="512m", pagecache="128m",
                jars_from=_installed_jars())
    yield srv
    srv.stop()
