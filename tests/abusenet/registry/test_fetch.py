import pandas as pd
import pytest

from abusenet.registry.errors import UnknownVersionError
from abusenet.registry.fetch import fetch_model_dir, load_detector, production_model_dir
from abusenet.registry.promotion import promote, rollback
from abusenet.registry.register import register_run
from gnn.detector import AccountDetector


def test_the_production_model_scores_like_the_original(registered, run_dirs, tiny_graph):
    store = registered
    snapshot, _ = tiny_graph
    assert production_model_dir(store) is None
    promote(store, 2)
    local = production_model_dir(store)
    assert local is not None and local.is_relative_to(store.cache_dir)
    original = AccountDetector.load(run_dirs[1] / "model").score_accounts(snapshot)
    pd.testing.assert_frame_equal(AccountDetector.load(local).score_accounts(snapshot), original)
    promote(store, 1)
    rollback(store)
    assert production_model_dir(store) == local


def test_versions_are_told_apart_and_downloaded_once(registered, run_dirs, tiny_graph):
    store = registered
    snapshot, _ = tiny_graph
    first, second = fetch_model_dir(store, 1), fetch_model_dir(store, 2)
    assert first != second
    before = (first / "model.pt").stat().st_mtime_ns
    assert fetch_model_dir(store, "1") == first
    assert (first / "model.pt").stat().st_mtime_ns == before
    scores_1 = load_detector(store, 1).score_accounts(snapshot)["score"]
    scores_2 = load_detector(store, 2).score_accounts(snapshot)["score"]
    assert not scores_1.equals(scores_2)


def test_production_model_dir_reads_the_default_store(store, run_dirs, tmp_path):
    register_run(run_dirs[0], store=store)
    promote(store, 1)
    assert production_model_dir() == tmp_path / "home" / "mlflow" / "cache" / store.client(
    ).get_model_version(store.model_name, "1").run_id / "model"


def test_no_registry_at_all_means_no_production_model(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    assert production_model_dir() is None
    assert not (tmp_path / "mlflow").exists()


def test_fetching_an_unknown_version_is_a_clear_error(store):
    with pytest.raises(UnknownVersionError):
        fetch_model_dir(store, 4)
