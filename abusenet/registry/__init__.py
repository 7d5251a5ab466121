"""The model registry: every trained detector kept in MLflow, one alias for the one in production.

- :mod:`abusenet.registry.store`: where the registry lives (SQLite under the project home, or
  ``MLFLOW_TRACKING_URI``) and a quiet MLflow client for it;
- :mod:`abusenet.registry.register`: register a run's model (:func:`register_run`);
- :mod:`abusenet.registry.versions`: list versions, show one;
- :mod:`abusenet.registry.promotion`: promote a version to ``production``, roll back;
- :mod:`abusenet.registry.fetch`: a version's model directory on disk
  (:func:`production_model_dir`), the detector loaded from it.

Nothing here imports MLflow at module level: ``abusenet --help`` stays fast.
"""

from abusenet.registry.config import RegistryConfig
from abusenet.registry.errors import (
    NoProductionModelError,
    RegistryError,
    RegistryUnreachableError,
    UnknownVersionError,
)
from abusenet.registry.fetch import fetch_model_dir, load_detector, production_model_dir
from abusenet.registry.promotion import PREVIOUS, PRODUCTION, AliasChange, promote, rollback
from abusenet.registry.register import register_run
from abusenet.registry.store import RegistryStore
from abusenet.registry.versions import VersionRecord, get_version, list_versions

__all__ = [
    "PREVIOUS",
    "PRODUCTION",
    "AliasChange",
    "NoProductionModelError",
    "RegistryConfig",
    "RegistryError",
    "RegistryStore",
    "RegistryUnreachableError",
    "UnknownVersionError",
    "VersionRecord",
    "fetch_model_dir",
    "get_version",
    "list_versions",
    "load_detector",
    "production_model_dir",
    "promote",
    "register_run",
    "rollback",
]
