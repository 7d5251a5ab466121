import pytest
from pydantic import ValidationError

from abusenet.registry.config import DEFAULT_MODEL_NAME, RegistryConfig


def test_defaults_register_under_the_default_name():
    assert RegistryConfig() == RegistryConfig(enabled=True, model_name=DEFAULT_MODEL_NAME)


@pytest.mark.parametrize("settings", [{"model_name": ""}, {"model_name": "a'b"},
                                      {"enabled": True, "typo": 1}])
def test_bad_settings_are_refused(settings):
    with pytest.raises(ValidationError):
        RegistryConfig(**settings)
