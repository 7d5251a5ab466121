"""Where the model registry lives, and one MLflow client for it that stays quiet.

By default the registry is a SQLite MLflow store under the project home,
``<ABUSENET_HOME>/mlflow/mlflow.db``, with artifacts in ``<ABUSENET_HOME>/mlflow/artifacts``.
``MLFLOW_TRACKING_URI`` points it at a team's tracking server instead (``MLFLOW_REGISTRY_URI``
too, when the registry lives elsewhere); the server then chooses where artifacts go.

MLflow is imported only when a client is opened, so the command line stays fast. Before that
import, MLflow is told not to configure logging nor draw progress bars (its records then follow
the project's logging: warnings only), and to give up on an unreachable server after a couple
of seconds; a user's own ``MLFLOW_*`` variables win.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from abusenet.registry.config import DEFAULT_MODEL_NAME, MODEL_NAME_PATTERN
from abusenet.registry.errors import RegistryError, RegistryUnreachableError

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: The experiment that holds the runs of registered models.
EXPERIMENT = "abusenet"
#: MLflow settings applied before its import unless the environment already sets them.
QUIET_MLFLOW = {
    "MLFLOW_CONFIGURE_LOGGING": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}

T = TypeVar("T")


@dataclass(frozen=True)
class RegistryStore:
    """One model registry: its tracking and registry URIs, artifact root and model name.

    Attributes
    ----------
    tracking_uri
        Where runs (metrics, params, artifacts) are recorded.
    registry_uri
        Where model versions and aliases are kept (usually ``tracking_uri``).
    artifact_location
        The experiment's artifact root for a local store; ``None`` lets the server decide.
    cache_dir
        Where downloaded model directories are kept, one per MLflow run.
    model_name
        The registered model's name.
    """

    tracking_uri: str
    registry_uri: str
    artifact_location: str | None
    cache_dir: Path
    model_name: str = DEFAULT_MODEL_NAME

    def __post_init__(self) -> None:
        if not re.fullmatch(MODEL_NAME_PATTERN, self.model_name):
            raise RegistryError(
                f"model name {self.model_name!r}: use letters, digits, '_', '.', '-' and spaces"
            )

    @classmethod
    def from_environment(
        cls, home: str | os.PathLike[str] | None = None, model_name: str = DEFAULT_MODEL_NAME
    ) -> RegistryStore:
        """The registry the environment names, else the SQLite store under ``home``.

        Parameters
        ----------
        home
            The project home; default ``$ABUSENET_HOME`` or ``.abusenet``
            (:func:`graph.store.connection.state_dir`).
        model_name
            The registered model's name.
        """
        from graph.store.connection import state_dir

        root = (Path(home).resolve() if home is not None else state_dir()) / "mlflow"
        tracking = os.environ.get("MLFLOW_TRACKING_URI") or None
        registry = os.environ.get("MLFLOW_REGISTRY_URI") or None
        local = f"sqlite:///{root / 'mlflow.db'}"
        return cls(
            tracking_uri=tracking or local,
            registry_uri=registry or tracking or local,
            artifact_location=None if tracking else (root / "artifacts").as_uri(),
            cache_dir=root / "cache",
            model_name=model_name,
        )

    @property
    def shown_uri(self) -> str:
        """The tracking URI as messages show it (a password replaced by ``***``)."""
        from graph.store.connection import redact_uri

        return redact_uri(self.tracking_uri)

    @property
    def missing(self) -> bool:
        """Whether the registry is a local SQLite store never created (so it holds nothing)."""
        return self.registry_uri.startswith("sqlite:///") and not Path(
            self.registry_uri.removeprefix("sqlite:///")).is_file()

    def client(self) -> MlflowClient:
        """An MLflow client for this registry (a local SQLite store is created when missing)."""
        for name, value in QUIET_MLFLOW.items():
            os.environ.setdefault(name, value)
        # MLflow's SQL store uses a loader that SQLAlchemy 2.1 deprecates: not ours to fix
        warnings.filterwarnings(
            "ignore", message="The ``noload`` loader strategy is deprecated",
            category=DeprecationWarning,
        )

        def open_client() -> MlflowClient:
            from mlflow import MlflowClient

            for uri in {self.tracking_uri, self.registry_uri}:
                if uri.startswith("sqlite:///"):
                    Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            return MlflowClient(self.tracking_uri, self.registry_uri)

        return self.call(open_client)

    def call(self, action: Callable[[], T]) -> T:
        """``action()``, a failure to reach or open the store turned into a one-line error.

        Raises
        ------
        RegistryUnreachableError
            When the server does not answer or the store cannot be opened.
        """
        from mlflow.exceptions import MlflowException
        from requests.exceptions import RequestException
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with _quiet_retries():
                return action()
        except (RequestException, SQLAlchemyError, OSError) as exc:
            raise self.unreachable(exc) from None
        except MlflowException as exc:
            if str(exc.message).startswith("API request to") or isinstance(
                exc.__cause__ or exc.__context__, (RequestException, SQLAlchemyError)
            ):
                raise self.unreachable(exc) from None
            raise

    def unreachable(self, exc: BaseException) -> RegistryError:
        """The one-line error for a registry that cannot be reached, its password redacted."""
        from graph.store.connection import redact_uri

        reason = _last_line(redact_uri(str(getattr(exc, "message", exc))))
        return RegistryUnreachableError(
            f"cannot reach the model registry at {self.shown_uri}: {reason}; check "
            "MLFLOW_TRACKING_URI (unset: the local store under $ABUSENET_HOME/mlflow)"
        )


@contextmanager
def _quiet_retries() -> Iterator[None]:
    """Hide urllib3's warning on each retried request: the outcome is reported once, unless -vv.

    A failure to reach the server is reported in one line; the retries before it show with
    DEBUG logging only.
    """
    pool = logging.getLogger("urllib3.connectionpool")
    before = pool.level
    if not logging.getLogger("abusenet").isEnabledFor(logging.DEBUG):
        pool.setLevel(logging.ERROR)
    try:
        yield
    finally:
        pool.setLevel(before)


def _last_line(text: str) -> str:
    """The most specific part of a chained error message, on one line."""
    errno = re.search(r"\[Errno [^\]]+\][^\n]*", text)
    if errno:
        return errno.group(0).rstrip(')"')
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "unknown error")[:300]
