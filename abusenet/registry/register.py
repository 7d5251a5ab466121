"""Register a trained model: its files, metrics, settings and data fingerprint, as one version.

A version's MLflow run holds, as they are on disk (no pickled MLflow model flavour):

- ``model/``: ``model.pt`` (a ``state_dict``) and ``metadata.json``, the saved detector;
- ``report/``: ``metrics.json`` and ``report.html`` of the run (when it wrote them), the model
  card ``model_card.md`` (:mod:`abusenet.registry.card`) and ``settings.json`` (the run's
  settings);

with ``metrics.json``'s figures as metrics (``accounts.auroc``, ``calibration.ece``, ...), the
run's settings as params (``detector.max_epochs``, ...; the detector's own as ``model.*``) and
tags naming the graph, the model's content hash (``model_version``, as in Neo4j), the data
fingerprint and the abusenet version. Registration is idempotent: a model whose content hash
is already registered is not registered again.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abusenet.registry.card import model_card
from abusenet.registry.errors import RegistryError
from abusenet.registry.store import EXPERIMENT, RegistryStore
from abusenet.registry.versions import (
    TAG_ABUSENET,
    TAG_FINGERPRINT,
    TAG_GRAPH,
    TAG_MODEL_VERSION,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from pydantic import BaseModel

#: Files of a run's output directory logged beside the model, under ``report/``.
REPORT_FILES = ("metrics.json", "report.html")
#: The model directory inside a run's output directory.
MODEL_DIR = "model"
#: The tag naming the candidate the model publishes (``gnn``, ``xgb-graph`` or ``blend``).
TAG_PUBLISHED = "published_candidate"
#: MLflow's longest param value.
_MAX_PARAM = 6000


def register_run(
    out_dir: str | os.PathLike[str],
    *,
    settings: BaseModel | Mapping[str, Any] | None = None,
    graph: str | None = None,
    store: RegistryStore | None = None,
) -> int:
    """Register the model an ``abusenet run`` wrote into ``out_dir``; return its version.

    Parameters
    ----------
    out_dir
        The run's output directory: ``model/`` is registered, with ``metrics.json`` and
        ``report.html`` when present.
    settings
        The run's settings (a :class:`~abusenet.pipeline.config.RunConfig` or a mapping of
        sections), logged as params ``section.key``.
    graph
        The run's graph name; default the output directory's name.
    store
        The registry; default :meth:`RegistryStore.from_environment`.

    Returns
    -------
    int
        The version number: a new one, or the existing one of an identical model.

    Raises
    ------
    RegistryError
        When ``out_dir`` holds no saved model, or the registry cannot be reached.
    """
    from abusenet import __version__
    from abusenet.pipeline.stages.detect import model_version
    from graph.store.graphs import default_graph_name

    out = Path(out_dir)
    model_dir = out / MODEL_DIR
    metadata = _read_metadata(model_dir)
    store = store or RegistryStore.from_environment()
    content = model_version(model_dir)
    metrics_doc = _read_json(out / "metrics.json")
    metrics = dict(flatten_metrics(metrics_doc))
    settings_doc = _settings_dict(settings)
    tags = {
        TAG_GRAPH: graph or default_graph_name(out),
        TAG_MODEL_VERSION: content,
        TAG_FINGERPRINT: str(metadata.get("data_fingerprint")),
        TAG_ABUSENET: __version__,
        TAG_PUBLISHED: _published_candidate(model_dir),
    }
    card = model_card(metadata, metrics, model_version=content, graph=tags[TAG_GRAPH],
                      abusenet_version=__version__,
                      evaluated_on=metrics_doc.get("evaluated_on"))
    params = {**dict(flatten_params(settings_doc)),
              **dict(flatten_params({"model": metadata.get("config", {})}))}
    client = store.client()

    def act() -> int:
        _ensure_registered_model(client, store)
        existing = client.search_model_versions(
            f"name = '{store.model_name}' and tag.{TAG_MODEL_VERSION} = '{content}'")
        if existing:
            return min(int(mv.version) for mv in existing)
        run_id = _log_run(client, store, out, model_dir, metrics, params, tags, card, settings_doc)
        run = client.get_run(run_id)
        mv = client.create_model_version(
            store.model_name, f"{run.info.artifact_uri}/{MODEL_DIR}", run_id=run_id, tags=tags,
            description=f"{content} trained on graph {tags[TAG_GRAPH]}",
        )
        return int(mv.version)

    return store.call(act)


def flatten_metrics(document: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """The numeric leaves of ``metrics.json`` as ``(dotted.name, value)``; lists are skipped.

    ``None`` and non-finite values are skipped too (MLflow keeps no gaps).
    """
    for key, value in document.items():
        name = _key(f"{prefix}{key}")
        if isinstance(value, Mapping):
            yield from flatten_metrics(value, f"{name}.")
        elif (isinstance(value, int | float) and not isinstance(value, bool)
              and math.isfinite(value)):
            yield name, float(value)


def flatten_params(document: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Settings as ``(section.key, text)``: nested mappings flattened, other values as JSON."""
    for key, value in document.items():
        name = _key(f"{prefix}{key}")
        if isinstance(value, Mapping) and value:
            yield from flatten_params(value, f"{name}.")
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            yield name, text[:_MAX_PARAM]


def _log_run(
    client: MlflowClient,
    store: RegistryStore,
    out: Path,
    model_dir: Path,
    metrics: dict[str, float],
    params: dict[str, str],
    tags: dict[str, str],
    card: str,
    settings: dict[str, Any],
) -> str:
    """Create the version's MLflow run, log everything into it, and return its id."""
    from mlflow.entities import Metric, Param
    from mlflow.utils.time import get_current_time_millis

    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = (experiment.experiment_id if experiment else client.create_experiment(
        EXPERIMENT, artifact_location=store.artifact_location))
    run = client.create_run(experiment_id, tags={**tags, "mlflow.runName": tags[TAG_MODEL_VERSION]},
                            run_name=tags[TAG_MODEL_VERSION])
    run_id = run.info.run_id
    try:
        now = get_current_time_millis()
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        client.log_artifacts(run_id, str(model_dir), MODEL_DIR)
        with tempfile.TemporaryDirectory(prefix="abusenet-registry-") as tmp:
            report = Path(tmp) / "report"
            report.mkdir()
            for name in REPORT_FILES:
                if (out / name).is_file():
                    (report / name).write_bytes((out / name).read_bytes())
            (report / "model_card.md").write_text(card)
            (report / "settings.json").write_text(json.dumps(settings, indent=2, default=str))
            client.log_artifacts(run_id, str(report), "report")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id)
    return run_id


def _ensure_registered_model(client: MlflowClient, store: RegistryStore) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(
            store.model_name, description="abusenet's account detector, one version per run")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _read_metadata(model_dir: Path) -> dict[str, Any]:
    """The saved model's metadata, checked the way :func:`gnn.persistence.read_model_dir` does."""
    from gnn.persistence import METADATA_FILE, WEIGHTS_FILE, read_model_dir

    if not (model_dir / METADATA_FILE).is_file() or not (model_dir / WEIGHTS_FILE).is_file():
        raise RegistryError(
            f"{model_dir} holds no saved model ({METADATA_FILE} and {WEIGHTS_FILE} expected): "
            "only a run with labels trains one"
        )
    try:
        metadata, _ = read_model_dir(model_dir)
    except (ValueError, OSError) as exc:
        raise RegistryError(f"{model_dir}: {exc}") from None
    return metadata


def _published_candidate(model_dir: Path) -> str:
    """The candidate ``model_dir`` publishes (``gnn`` for a model saved without one)."""
    from abusenet.validation.challenger import read_published

    try:
        return read_published(model_dir)["candidate"]
    except ValueError as exc:
        raise RegistryError(str(exc)) from None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RegistryError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None


def _settings_dict(settings: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    if settings is None:
        return {}
    if isinstance(settings, Mapping):
        return dict(settings)
    return settings.model_dump(mode="json")


def _key(name: str) -> str:
    """``name`` with characters MLflow refuses in a key replaced by ``_``."""
    return re.sub(r"[^\w\-./ ]", "_", name)
