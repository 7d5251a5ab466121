"""Fixtures for the command-line tests."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from abusenet.logs import PROJECT_PACKAGES

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def _tmp_abusenet_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A training run registers its model under ABUSENET_HOME: never the real one in tests.

    The real home's installed Neo4j jars stay visible (a link), so the server fixtures still
    start without downloading them.
    """
    real = Path(os.environ.get("ABUSENET_HOME", PROJECT_ROOT / ".abusenet"))
    home = tmp_path_factory.mktemp("abusenet-home")
    if (real / "neo4j").is_dir():
        (home / "neo4j").symlink_to((real / "neo4j").resolve())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABUSENET_HOME", str(home))
        yield home


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Each CLI invocation configures logging process-wide; put it back after every test."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    levels = {package: logging.getLogger(package).level for package in PROJECT_PACKAGES}
    yield
    root.setLevel(level)
    root.handlers[:] = handlers
    for package, saved in levels.items():
        logging.getLogger(package).setLevel(saved)
