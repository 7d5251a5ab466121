"""A registered version's model directory on local disk, and the detector loaded from it.

Downloads are cached under the registry's cache directory, one folder per MLflow run (a run id
is unique across tracking servers, so two registries never share a folder); a download lands
in a temporary sibling first and is renamed into place whole. The detector is loaded by the
existing persistence code (:meth:`gnn.detector.AccountDetector.load`: ``weights_only=True``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from abusenet.registry.errors import RegistryError
from abusenet.registry.promotion import PRODUCTION
from abusenet.registry.register import MODEL_DIR
from abusenet.registry.store import RegistryStore
from abusenet.registry.versions import aliases_of, resolve

if TYPE_CHECKING:
    from gnn.detector import AccountDetector

#: The files of a saved detector (:mod:`gnn.persistence`), all present in a complete download.
MODEL_FILES = ("model.pt", "metadata.json")


def fetch_model_dir(store: RegistryStore, name: str | int) -> Path:
    """The local model directory of version ``name`` (a number or an alias), downloaded once.

    Raises
    ------
    UnknownVersionError
        When ``name`` names no version.
    RegistryError
        When the version's files are missing from the registry's artifact store.
    """
    client = store.client()

    def act() -> Path:
        mv = resolve(client, store, name)
        if not mv.run_id:
            raise RegistryError(
                f"version {mv.version} of {store.model_name!r} has no MLflow run to download "
                f"its files from (source {mv.source}); it was not registered by abusenet"
            )
        target = store.cache_dir / mv.run_id / MODEL_DIR
        if all((target / f).is_file() for f in MODEL_FILES):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
            downloaded = Path(client.download_artifacts(mv.run_id, MODEL_DIR, tmp))
            missing = [f for f in MODEL_FILES if not (downloaded / f).is_file()]
            if missing:
                raise RegistryError(
                    f"version {mv.version} of {store.model_name!r} lacks {', '.join(missing)} "
                    f"in its artifacts ({mv.source}); register the model again"
                )
            from ingest.files import replace_dir

            replace_dir(downloaded, target)
        return target

    return store.call(act)


def production_model_dir(store: RegistryStore | None = None) -> Path | None:
    """The local model directory of the production version, or ``None`` when none is promoted.

    For ``abusenet score`` without ``--model``.

    Raises
    ------
    RegistryUnreachableError
        When the registry cannot be reached (``None`` means "reached, nothing in production").
    """
    store = store or RegistryStore.from_environment()
    if store.missing:
        return None
    client = store.client()
    version = store.call(lambda: aliases_of(client, store).get(PRODUCTION))
    return None if version is None else fetch_model_dir(store, version)


def load_detector(store: RegistryStore, name: str | int) -> AccountDetector:
    """The detector of version ``name``, loaded from its cached model directory."""
    from gnn.detector import AccountDetector

    return AccountDetector.load(fetch_model_dir(store, name))
