"""Fixtures for the command-line tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from abusenet.logs import PROJECT_PACKAGES


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
