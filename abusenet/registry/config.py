"""Settings of the model registry: whether a run registers its model, and under which name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: The registered model's name unless a config says otherwise.
DEFAULT_MODEL_NAME = "abusenet-detector"
#: What a registered model's name may hold (it is quoted in MLflow search filters).
MODEL_NAME_PATTERN = r"^[\w.\- ]+$"


class RegistryConfig(BaseModel):
    """The ``registry:`` section of a run config.

    Attributes
    ----------
    enabled
        Register the model each training run produces (``abusenet run`` with labels).
    model_name
        The registered model's name in MLflow; one name holds every version and the
        ``production`` alias.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    model_name: str = Field(default=DEFAULT_MODEL_NAME, min_length=1, pattern=MODEL_NAME_PATTERN)
