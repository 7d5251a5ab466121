"""Run settings: defaults, the shipped config files, overrides and the errors for bad keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from abusenet.pipeline.config import DEFAULTS, ConfigError, load_run_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_default_yaml_spells_out_the_builtin_defaults():
    assert load_run_config(CONFIGS / "default.yaml") == load_run_config(None) == DEFAULTS


def test_demo_yaml_loads_and_only_changes_what_it_names():
    config = load_run_config(CONFIGS / "demo.yaml")
    assert config["detector"]["max_epochs"] == 12
    assert config["ingest"] == DEFAULTS["ingest"]


def test_overrides_are_parsed_as_yaml_and_win_over_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("detector:\n  max_epochs: 9\n")
    config = load_run_config(path, ["detector.max_epochs=3", "detector.num_neighbors=[4, 2]",
                                    "labels.unlabelled_as_negative=false"])
    assert config["detector"] == {"max_epochs": 3, "num_neighbors": [4, 2]}
    assert config["labels"]["unlabelled_as_negative"] is False


@pytest.mark.parametrize(
    ("text", "overrides", "needle"),
    [
        ("detectr:\n  max_epochs: 3\n", [], "unknown section 'detectr'"),
        ("rings:\n  max_sizee: 3\n", [], "unknown setting rings.max_sizee"),
        ("neo4j:\n  password: hunter2\n", [], "never put credentials"),
        ("", ["detector.max_epochs"], "is not SECTION.KEY=VALUE"),
        ("", ["report.top_rngs=3"], "known settings of 'report'"),
        ("- a\n- b\n", [], "must hold a mapping"),
    ],
)
def test_bad_settings_are_refused_with_the_key_named(tmp_path, text, overrides, needle):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_run_config(path, overrides)


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_run_config(tmp_path / "nope.yaml")
