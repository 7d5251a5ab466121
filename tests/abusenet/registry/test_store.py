import time
from pathlib import Path

import pytest

from abusenet.registry.errors import RegistryError, RegistryUnreachableError
from abusenet.registry.store import RegistryStore
from abusenet.registry.versions import list_versions


def test_the_default_store_is_sqlite_under_the_project_home(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("ABUSENET_HOME", str(tmp_path))
    store = RegistryStore.from_environment()
    assert store.tracking_uri == store.registry_uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert store.artifact_location == (tmp_path / "mlflow" / "artifacts").as_uri()
    assert store.cache_dir == tmp_path / "mlflow" / "cache"
    assert store.missing


def test_a_team_server_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "")
    store = RegistryStore.from_environment(home=tmp_path, model_name="fraud")
    assert store.tracking_uri == store.registry_uri == "http://mlflow.internal:5000"
    assert store.artifact_location is None, "the server chooses where artifacts go"
    assert (store.model_name, store.missing) == ("fraud", False)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:///elsewhere.db")
    assert RegistryStore.from_environment(home=tmp_path).registry_uri == "sqlite:///elsewhere.db"


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team:s3cret@127.0.0.1:9")
    store = RegistryStore.from_environment(home=tmp_path)
    started = time.perf_counter()
    with pytest.raises(RegistryUnreachableError) as caught:
        list_versions(store)
    message = str(caught.value)
    assert time.perf_counter() - started < 15
    assert "\n" not in message and "s3cret" not in message
    assert message.startswith("cannot reach the model registry at http://team:***@127.0.0.1:9:")
    assert "Connection refused" in message and "MLFLOW_TRACKING_URI" in message


def test_a_store_that_cannot_be_opened_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/file/sub/mlflow.db")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with pytest.raises(RegistryUnreachableError, match=r"^cannot reach the model registry at "
                       r"sqlite:///.*file/sub/mlflow.db: .*[^\n]$"):
        RegistryStore.from_environment(home=tmp_path).client()
    assert Path(tmp_path / "file").is_file()


def test_a_model_name_that_would_break_a_search_filter_is_refused(tmp_path):
    with pytest.raises(RegistryError, match=r"model name \"it's\": use letters"):
        RegistryStore.from_environment(home=tmp_path, model_name="it's")
