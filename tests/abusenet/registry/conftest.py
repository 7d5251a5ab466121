"""Fixtures of the registry tests: two runs' saved models and a real, empty SQLite MLflow store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from abusenet.registry.register import register_run
from abusenet.registry.store import RegistryStore
from gnn.detector import AccountDetector
from graph.snapshot import Snapshot
from tests.gnn.planted import planted_rings

#: A detector that trains in about a second on the tiny planted graph.
TINY = {"max_epochs": 3, "patience": 3, "batch_size": 64, "hidden_channels": 8, "lr": 0.01,
        "random_state": 0, "boost_choice_folds": 0}


def write_run(out: Path, snapshot: Snapshot, labels, seed: int) -> Path:
    """A run output directory as ``abusenet run`` leaves it: ``model/``, metrics and report."""
    torch.set_num_threads(1)
    detector = AccountDetector(**{**TINY, "random_state": seed}).fit(snapshot, labels)
    detector.save(out / "model")
    metrics = {"evaluated_on": "held-back labels", "labels": 20, "positives": 4,
               "accounts": {"auroc": 0.9 + seed / 100, "auprc": 0.5, "recall_at_k": 0.25},
               "calibration": {"brier": 0.1, "ece": 0.04, "bins": [{"n": 3}]},
               "rings": {"count": 2, "positives_in_a_ring": None}}
    (out / "metrics.json").write_text(json.dumps(metrics))
    (out / "report.html").write_text("<html>report</html>")
    return out


@pytest.fixture(scope="session")
def tiny_graph() -> tuple[Snapshot, object]:
    """The planted-ring snapshot the models are trained and compared on, and its labels."""
    return planted_rings(num_accounts=60, num_rings=2, ring_size=5)


@pytest.fixture(scope="session")
def run_dirs(tmp_path_factory, tiny_graph) -> tuple[Path, Path]:
    """Two run output directories, each with a differently seeded model."""
    snapshot, labels = tiny_graph
    root = tmp_path_factory.mktemp("runs")
    return (write_run(root / "run-a", snapshot, labels, seed=1),
            write_run(root / "run-b", snapshot, labels, seed=2))


@pytest.fixture(scope="session")
def _migrated_db(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store, created once (its schema migrations take seconds)."""
    home = tmp_path_factory.mktemp("template-home")
    RegistryStore.from_environment(home=home).client()
    return home / "mlflow" / "mlflow.db"


@pytest.fixture
def store(tmp_path, monkeypatch, _migrated_db) -> RegistryStore:
    """A fresh registry under ``tmp_path`` (a copy of the empty store); MLFLOW_* unset."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "mlflow").mkdir(parents=True)
    shutil.copy(_migrated_db, tmp_path / "home" / "mlflow" / "mlflow.db")
    return RegistryStore.from_environment()


@pytest.fixture
def registered(store, run_dirs) -> RegistryStore:
    """The fresh registry with both runs registered: versions 1 (run-a) and 2 (run-b)."""
    for out in run_dirs:
        register_run(out, store=store)
    return store
