"""Read the registry: the versions of the registered model, one version in full, its aliases.

A version is named by its number or by an alias (``production``, ``previous``); every function
raises :class:`~abusenet.registry.errors.UnknownVersionError` for a name the registry lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from abusenet.registry.errors import UnknownVersionError
from abusenet.registry.store import RegistryStore

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

#: Model version tags written at registration (see :mod:`abusenet.registry.register`).
TAG_MODEL_VERSION = "model_version"
TAG_GRAPH = "graph"
TAG_FINGERPRINT = "data_fingerprint"
TAG_ABUSENET = "abusenet_version"
#: The metrics a version's summary shows: column title -> ``metrics.json``'s flattened name.
HEADLINE_METRICS = {"AUROC": "accounts.auroc", "AUPRC": "accounts.auprc",
                    "ECE": "calibration.ece"}


@dataclass(frozen=True)
class VersionRecord:
    """One registered model version, as ``abusenet models list`` and ``show`` present it.

    Attributes
    ----------
    version
        The registry's version number.
    created
        When it was registered (UTC).
    aliases
        Its aliases (``production``, ``previous``), sorted.
    model_version
        The model's content hash (``gnn-...``), as written to Neo4j's ``model_version``.
    graph
        The graph it was trained on.
    data_fingerprint
        The fingerprint of the training snapshot.
    run_id
        The MLflow run that holds its files, metrics and settings.
    metrics
        The run's metrics (``metrics.json`` flattened: ``accounts.auroc``, ...).
    params
        The run's settings (``detector.max_epochs``, ...); filled by :func:`get_version` only.
    tags
        Every tag of the version.
    """

    version: int
    created: datetime
    aliases: tuple[str, ...]
    model_version: str | None
    graph: str | None
    data_fingerprint: str | None
    run_id: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def list_versions(store: RegistryStore) -> list[VersionRecord]:
    """Every version of the registered model, newest first (empty when none is registered)."""
    if store.missing:
        return []
    client = store.client()

    def read() -> list[VersionRecord]:
        found = client.search_model_versions(f"name = '{store.model_name}'")
        aliases = aliases_of(client, store) if found else {}
        records = [_record(mv, aliases, _metrics(client, mv.run_id)) for mv in found]
        return sorted(records, key=lambda r: r.version, reverse=True)

    return store.call(read)


def get_version(store: RegistryStore, name: str | int) -> VersionRecord:
    """The version ``name`` (a number or an alias) with its metrics and settings.

    Raises
    ------
    UnknownVersionError
        When the registry holds no such version or alias.
    """
    client = store.client()

    def read() -> VersionRecord:
        mv = resolve(client, store, name)
        run = client.get_run(mv.run_id) if mv.run_id else None
        return _record(
            mv, aliases_of(client, store),
            dict(run.data.metrics) if run else {}, dict(run.data.params) if run else {},
        )

    return store.call(read)


def aliases_of(client: MlflowClient, store: RegistryStore) -> dict[str, int]:
    """Alias -> version number of the registered model (empty when it is not registered)."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(store.model_name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise
    return {alias: int(version) for alias, version in model.aliases.items()}


def resolve(client: MlflowClient, store: RegistryStore, name: str | int) -> ModelVersion:
    """The MLflow model version that ``name`` (a number or an alias) names.

    Raises
    ------
    UnknownVersionError
        When it names no version of the registered model.
    """
    from mlflow.exceptions import MlflowException

    text = str(name).strip()
    number = text.removeprefix("v")
    try:
        if number.isdigit():
            return client.get_model_version(store.model_name, number)
        return client.get_model_version_by_alias(store.model_name, text)
    except MlflowException as exc:
        if exc.error_code not in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            raise
    known = sorted(int(r.version) for r in client.search_model_versions(
        f"name = '{store.model_name}'"))
    have = (f"it holds versions {_ranges(known)} (`abusenet models list` shows them)" if known
            else "it holds no version yet (`abusenet run` with labels registers one)")
    kind = "version" if number.isdigit() else "alias"
    raise UnknownVersionError(
        f"model {store.model_name!r} has no {kind} {text!r} in the registry at "
        f"{store.shown_uri}; {have}"
    )


def _record(
    mv: ModelVersion, aliases: dict[str, int], metrics: dict[str, float],
    params: dict[str, str] | None = None,
) -> VersionRecord:
    version = int(mv.version)
    tags = dict(mv.tags or {})
    return VersionRecord(
        version=version,
        created=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC),
        aliases=tuple(sorted(a for a, v in aliases.items() if v == version)),
        model_version=tags.get(TAG_MODEL_VERSION),
        graph=tags.get(TAG_GRAPH),
        data_fingerprint=tags.get(TAG_FINGERPRINT),
        run_id=mv.run_id or None,
        metrics=metrics,
        params=params or {},
        tags=tags,
    )


def _metrics(client: MlflowClient, run_id: str | None) -> dict[str, Any]:
    return dict(client.get_run(run_id).data.metrics) if run_id else {}


def _ranges(numbers: list[int]) -> str:
    """``1-3, 5`` for ``[1, 2, 3, 5]``."""
    parts: list[str] = []
    for n in numbers:
        if parts and parts[-1].split("-")[-1] == str(n - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
        else:
            parts.append(str(n))
    return ", ".join(parts)
