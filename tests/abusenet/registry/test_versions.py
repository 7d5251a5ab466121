import pytest

from abusenet.registry.errors import UnknownVersionError
from abusenet.registry.promotion import promote
from abusenet.registry.register import register_run
from abusenet.registry.versions import _ranges, get_version, list_versions


def test_list_is_newest_first_with_aliases_and_metrics(registered):
    store = registered
    promote(store, 1)
    records = list_versions(store)
    assert [r.version for r in records] == [2, 1]
    assert [r.aliases for r in records] == [(), ("production",)]
    assert [r.graph for r in records] == ["run-b", "run-a"]
    assert records[1].metrics["accounts.auroc"] == pytest.approx(0.91)
    assert records[0].model_version.startswith("gnn-")


def test_an_empty_registry_lists_nothing_and_creates_no_store(tmp_path, monkeypatch):
    from abusenet.registry.store import RegistryStore

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    store = RegistryStore.from_environment(home=tmp_path)
    assert list_versions(store) == []
    assert not (tmp_path / "mlflow").exists()


def test_show_by_number_or_alias_includes_settings(store, run_dirs):
    register_run(run_dirs[0], store=store)
    promote(store, 1)
    record = get_version(store, "production")
    assert record == get_version(store, 1) == get_version(store, "v1")
    assert record.params["model.max_epochs"] == "3"
    assert record.run_id is not None


@pytest.mark.parametrize(("name", "message"), [
    (3, r"has no version '3'.*holds versions 1 "),
    ("previous", r"has no alias 'previous'"),
])
def test_an_unknown_version_or_alias_is_a_clear_error(store, run_dirs, name, message):
    register_run(run_dirs[0], store=store)
    with pytest.raises(UnknownVersionError, match=message):
        get_version(store, name)


def test_an_empty_registry_says_how_to_fill_it(store):
    with pytest.raises(UnknownVersionError, match="holds no version yet"):
        get_version(store, 1)


def test_ranges():
    assert _ranges([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"
