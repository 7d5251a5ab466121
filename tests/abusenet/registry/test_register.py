import json
import shutil

import pytest

from abusenet.pipeline.config import RunConfig
from abusenet.pipeline.stages.detect import model_version
from abusenet.registry.errors import RegistryError
from abusenet.registry.register import flatten_metrics, flatten_params, register_run


def test_a_run_is_registered_with_its_files_metrics_settings_and_tags(store, run_dirs):
    out = run_dirs[0]
    version = register_run(out, settings=RunConfig(), graph="shop", store=store)
    assert version == 1
    client = store.client()
    mv = client.get_model_version(store.model_name, "1")
    assert mv.tags["graph"] == "shop"
    assert mv.tags["model_version"] == model_version(out / "model")
    assert mv.tags["data_fingerprint"] == json.loads(
        (out / "model" / "metadata.json").read_text())["data_fingerprint"]
    run = client.get_run(mv.run_id)
    assert run.data.metrics["accounts.auroc"] == pytest.approx(0.91)
    assert run.data.metrics["calibration.ece"] == pytest.approx(0.04)
    assert run.data.params["ingest.max_bad_fraction"] == "0.01"
    assert run.data.params["detector"] == "{}", "a section left at its defaults is still shown"
    assert run.data.params["model.hidden_channels"] == "8"
    files = {f.path for f in client.list_artifacts(mv.run_id, "model")}
    assert files == {"model/model.pt", "model/metadata.json"}, "no pickled MLflow flavour"
    report = {f.path for f in client.list_artifacts(mv.run_id, "report")}
    assert report == {"report/metrics.json", "report/report.html", "report/model_card.md",
                      "report/settings.json"}


def test_registering_the_same_model_again_returns_its_version(store, run_dirs):
    first = register_run(run_dirs[0], store=store)
    second = register_run(run_dirs[1], store=store)
    again = register_run(run_dirs[0], store=store)
    assert (first, second, again) == (1, 2, 1)
    assert len(store.client().search_model_versions(f"name = '{store.model_name}'")) == 2


def test_the_graph_defaults_to_the_output_folder_name(store, run_dirs):
    register_run(run_dirs[1], store=store)
    assert store.client().get_model_version(store.model_name, "1").tags["graph"] == "run-b"


def test_register_run_uses_the_default_store_under_abusenet_home(store, run_dirs, tmp_path):
    assert register_run(run_dirs[0]) == 1
    assert (tmp_path / "home" / "mlflow" / "mlflow.db").is_file()
    assert any((tmp_path / "home" / "mlflow" / "artifacts").rglob("model.pt"))


def test_a_run_without_a_model_is_a_clear_error(store, tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(RegistryError, match=r"out/model holds no saved model"):
        register_run(tmp_path / "out", store=store)


def test_a_broken_metrics_file_names_the_line(store, run_dirs, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(run_dirs[0] / "model", out / "model")
    (out / "metrics.json").write_text('{"accounts":\n  {"auroc": }')
    with pytest.raises(RegistryError, match=r"metrics.json: not valid JSON \(line 2, column"):
        register_run(out, store=store)


def test_flatten_metrics_keeps_finite_numbers_only():
    document = {"labels": 3, "ok": True, "accounts": {"auroc": 0.5, "nan": float("nan")},
                "bins": [1, 2], "none": None, "odd key!": 1.0}
    assert dict(flatten_metrics(document)) == {"labels": 3.0, "accounts.auroc": 0.5,
                                               "odd key_": 1.0}


def test_flatten_params_writes_values_as_json():
    assert dict(flatten_params({"detector": {"lr": 0.1, "sizes": [1, 2], "name": "x"},
                                "empty": {}})) == {
        "detector.lr": "0.1", "detector.sizes": "[1, 2]", "detector.name": "x", "empty": "{}"}


def test_the_published_candidate_is_a_tag_and_travels_with_the_model(store, run_dirs,
                                                                       tiny_graph, tmp_path):
    from abusenet.validation.challenger import fit_challenger, save_published

    snapshot, labels = tiny_graph
    labels = labels.astype({"account_id": str})
    out = shutil.copytree(run_dirs[0], tmp_path / "blended")
    model, _ = fit_challenger(snapshot, labels.iloc[::2], labels.iloc[1::2])
    save_published(out / "model", model, "blend", 0.4)
    plain = register_run(run_dirs[0], store=store)
    blended = register_run(out, store=store)
    assert blended != plain, "the published candidate is part of the model's content"
    client = store.client()
    assert client.get_model_version(store.model_name, str(plain)).tags[
        "published_candidate"] == "gnn"
    mv = client.get_model_version(store.model_name, str(blended))
    assert mv.tags["published_candidate"] == "blend"
    files = {f.path for f in client.list_artifacts(mv.run_id, "model")}
    assert {"model/published.json", "model/challenger"} <= files
