"""Fixtures for the command-line tests."""

from __future__ import annotations

import logging
import os
import shutil
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


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 400-account generated world of ``generate_small``, made once for every module."""
    from tests.abusenet.test_pipeline_run import generate_small

    return generate_small(tmp_path_factory.mktemp("small-world"))


@pytest.fixture(scope="session")
def small_run(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """``abusenet run`` of :func:`small_world` with the quick settings of ``run_args``, once:
    ``test_pipeline_run`` checks its outputs, other runs start from its stages (:func:`seed_work`).
    """
    from tests.abusenet.test_pipeline_run import invoke, run_args

    out = tmp_path_factory.mktemp("small-run") / "out"
    result = invoke(*run_args(small_world, out))
    assert result.exit_code == 0, result.output
    return out, result


def seed_work(finished: Path, out: Path) -> None:
    """Copy the work directory of the run written to ``finished`` into ``out``.

    A run into ``out`` then reruns only the stages whose inputs or settings differ from that
    run's (stage results are keyed by what they read, not by where they lie), so a test pays
    only for the stages it is about.
    """
    shutil.copytree(finished / ".work", out / ".work")
